//! Ingest: find source files, decode them, extract their main text and cut it into passages.
//!
//! The promise downstream stages rely on: for every passage of a [`Document`],
//! `passage.text == document.text[passage.start..passage.end]`.

mod decode;
mod html;
mod markdown;
mod passages;
pub mod pdf;
mod plain;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::artifact::{Document, Format, Skipped};

/// Why a file (or a fetched body) could not be used. [`Unusable::kind`] is the stable slug a
/// report counts by; the message is what a reader sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("unreadable: {0}")]
    Unreadable(String),
    #[error("unreadable folder: {0}")]
    UnreadableFolder(String),
    #[error("a folder, not a file")]
    Folder,
    /// A FIFO or a device: reading it could block forever or never end.
    #[error("not a regular file")]
    NotRegular,
    #[error("unsupported file type: {0}")]
    UnsupportedType(String),
    #[error("larger than max_file_bytes ({len} > {max} bytes)")]
    TooLarge { len: u64, max: u64 },
    #[error("{0}")]
    Undecodable(String),
    #[error("pdf: {0}")]
    Pdf(String),
    #[error("empty after extraction")]
    Empty,
}

impl Unusable {
    pub fn kind(&self) -> &'static str {
        match self {
            Unusable::Unreadable(_) | Unusable::UnreadableFolder(_) => "unreadable",
            Unusable::Folder | Unusable::NotRegular => "not-a-file",
            Unusable::UnsupportedType(_) => "unsupported-type",
            Unusable::TooLarge { .. } => "too-large",
            Unusable::Undecodable(_) => "undecodable",
            Unusable::Pdf(_) => "pdf",
            Unusable::Empty => "empty",
        }
    }

    pub fn skipped(&self, location: impl Into<String>) -> Skipped {
        Skipped::new(location, self.kind(), self.to_string())
    }
}

/// Limits applied while ingesting files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOptions {
    /// Files larger than this are skipped without being read.
    pub max_file_bytes: u64,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            max_file_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A file found by [`discover`].
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    /// Canonical root given by the user that the file was found under.
    pub corpus: String,
    /// Size from metadata at discovery time (0 when it could not be read).
    pub len: u64,
}

/// The outcome of [`ingest_files`].
#[derive(Debug, Clone, PartialEq)]
pub struct Ingested {
    /// Extracted documents, in the order of the input files.
    pub documents: Vec<Document>,
    /// Files the caller reported as unchanged (not extracted).
    pub unchanged: usize,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("path not found: {}", .0.display())]
    NotFound(PathBuf),
    #[error("no usable documents in {}", describe_root(.0))]
    NoDocuments(PathBuf),
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn describe_root(path: &Path) -> String {
    if path.as_os_str().is_empty() {
        "(no files given)".to_string()
    } else {
        path.display().to_string()
    }
}

/// Walk each path (a folder recursively, or a single file). Hidden files/dirs (name starting
/// with '.') are ignored silently. Missing path -> [`IngestError::NotFound`]. Sorted by path for
/// determinism. `corpus` = canonical absolute root given by the user.
///
/// Symlinks are followed (loops are ignored); a file reached through a symlink gets its
/// canonical path. Entries that cannot be inspected (a dangling symlink, an unlistable folder)
/// are still returned, so that [`ingest_files`] reports them as skipped with the reason.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<SourceFile>, IngestError> {
    let mut files = Vec::new();
    for root in paths {
        let canonical_root = std::fs::canonicalize(root).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                IngestError::NotFound(root.clone())
            } else {
                IngestError::Io {
                    path: root.clone(),
                    source,
                }
            }
        })?;
        let corpus = canonical_root.to_string_lossy().into_owned();
        // Paths below a symlinked folder are not canonical and must be resolved.
        let mut symlinked_dirs: Vec<PathBuf> = Vec::new();
        let walker = walkdir::WalkDir::new(&canonical_root)
            .follow_links(true)
            .into_iter()
            .filter_entry(|entry| entry.depth() == 0 || !is_hidden(entry.file_name()));
        for entry in walker {
            let entry = match entry {
                Ok(entry) => entry,
                Err(error) if error.loop_ancestor().is_some() => continue,
                Err(error) => {
                    let Some(path) = error.path().map(Path::to_path_buf) else {
                        continue;
                    };
                    // A broken hidden entry fails before `filter_entry` sees it.
                    if error.depth() > 0 && path.file_name().is_some_and(is_hidden) {
                        continue;
                    }
                    if error.depth() == 0 {
                        let source = error
                            .into_io_error()
                            .unwrap_or_else(|| std::io::Error::other("cannot walk"));
                        return Err(IngestError::Io { path, source });
                    }
                    files.push(SourceFile {
                        path,
                        corpus: corpus.clone(),
                        len: 0,
                    });
                    continue;
                }
            };
            if entry.file_type().is_dir() {
                if entry.path_is_symlink() {
                    symlinked_dirs.push(entry.path().to_path_buf());
                }
                continue;
            }
            let needs_resolving = entry.path_is_symlink()
                || symlinked_dirs.iter().any(|d| entry.path().starts_with(d));
            let path = if needs_resolving {
                std::fs::canonicalize(entry.path()).unwrap_or_else(|_| entry.path().to_path_buf())
            } else {
                entry.path().to_path_buf()
            };
            let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
            files.push(SourceFile {
                path,
                corpus: corpus.clone(),
                len,
            });
        }
    }
    // Stable sort: when roots overlap, the first root given keeps the file.
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|later, earlier| later.path == earlier.path);
    Ok(files)
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().starts_with(b".")
}

/// What happened to one file.
enum Outcome {
    Document(Box<Document>),
    Unchanged,
    Skipped(Skipped),
}

/// Read + decode + extract each file in parallel. `is_unchanged(doc_id, raw_hash)` is asked after
/// reading and hashing the raw bytes and before extraction; when it answers true the file is
/// counted in `unchanged` and not extracted. Files that cannot be used become
/// [`Skipped`] (never an error). Returns [`IngestError::NoDocuments`] when none of the files was
/// usable and none was unchanged.
pub fn ingest_files(
    files: &[SourceFile],
    opts: &IngestOptions,
    is_unchanged: &(dyn Fn(&str, &str) -> bool + Sync),
) -> Result<Ingested, IngestError> {
    let outcomes: Vec<Outcome> = files
        .par_iter()
        .map(|file| {
            ingest_one(file, opts, is_unchanged)
                .unwrap_or_else(|why| Outcome::Skipped(why.skipped(file.path.to_string_lossy())))
        })
        .collect();

    let mut ingested = Ingested {
        documents: Vec::new(),
        unchanged: 0,
        skipped: Vec::new(),
    };
    for outcome in outcomes {
        match outcome {
            Outcome::Document(document) => ingested.documents.push(*document),
            Outcome::Unchanged => ingested.unchanged += 1,
            Outcome::Skipped(skipped) => ingested.skipped.push(skipped),
        }
    }
    if ingested.documents.is_empty() && ingested.unchanged == 0 {
        let root = files
            .first()
            .map(|f| PathBuf::from(&f.corpus))
            .unwrap_or_default();
        return Err(IngestError::NoDocuments(root));
    }
    Ok(ingested)
}

/// Ingests one file; `Err` is why it is skipped.
fn ingest_one(
    file: &SourceFile,
    opts: &IngestOptions,
    is_unchanged: &(dyn Fn(&str, &str) -> bool + Sync),
) -> Result<Outcome, Unusable> {
    let path = &file.path;
    // Metadata follows symlinks; a dangling one fails here.
    let metadata = std::fs::metadata(path).map_err(|e| Unusable::Unreadable(e.to_string()))?;
    if metadata.is_dir() {
        // Only reaches here when discovery could not list the folder.
        return Err(match std::fs::read_dir(path) {
            Err(e) => Unusable::UnreadableFolder(e.to_string()),
            Ok(_) => Unusable::Folder,
        });
    }
    if !metadata.is_file() {
        return Err(Unusable::NotRegular);
    }
    let format = format_for_path(path).ok_or_else(|| {
        let extension = path.extension().unwrap_or_default().to_string_lossy();
        Unusable::UnsupportedType(format!(".{extension}"))
    })?;
    if metadata.len() > opts.max_file_bytes {
        return Err(Unusable::TooLarge {
            len: metadata.len(),
            max: opts.max_file_bytes,
        });
    }
    let bytes = read_at_most(path, opts.max_file_bytes)?;

    let id = path.to_string_lossy().into_owned();
    let raw_hash = blake3::hash(&bytes).to_hex().to_string();
    if is_unchanged(&id, &raw_hash) {
        return Ok(Outcome::Unchanged);
    }
    let document = build_document(&id, &id, &file.corpus, format, &bytes, None, raw_hash)?;
    Ok(Outcome::Document(Box::new(document)))
}

/// Reads the file, refusing it if it grew past `max` since its metadata was read.
fn read_at_most(path: &Path, max: u64) -> Result<Vec<u8>, Unusable> {
    let file = File::open(path).map_err(|e| Unusable::Unreadable(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Unusable::Unreadable(e.to_string()))?;
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if len > max {
        return Err(Unusable::TooLarge { len, max });
    }
    Ok(bytes)
}

/// Extract one in-memory source (used for the corpus embedded in the binary, and later for
/// fetched web pages). `format` chosen by the caller. `Err` says why it is unusable.
pub fn document_from_bytes(
    id: &str,
    location: &str,
    corpus: &str,
    format: Format,
    bytes: &[u8],
    content_type_charset: Option<&str>,
) -> Result<Document, Unusable> {
    let raw_hash = blake3::hash(bytes).to_hex().to_string();
    build_document(
        id,
        location,
        corpus,
        format,
        bytes,
        content_type_charset,
        raw_hash,
    )
}

/// [`document_from_bytes`] with the raw hash already computed.
fn build_document(
    id: &str,
    location: &str,
    corpus: &str,
    format: Format,
    bytes: &[u8],
    content_type_charset: Option<&str>,
    raw_hash: String,
) -> Result<Document, Unusable> {
    if format == Format::Pdf {
        return pdf::document(id, location, corpus, bytes, raw_hash).map_err(Unusable::Pdf);
    }
    let decoded =
        decode::decode(bytes, format, content_type_charset).map_err(Unusable::Undecodable)?;
    let extracted = match format {
        Format::Html => html::extract(&decoded),
        Format::Markdown => markdown::extract(&decoded),
        Format::Text | Format::Pdf => plain::extract(&decoded),
    };
    let passages = passages::build_passages(id, &extracted);
    if passages.is_empty() {
        return Err(Unusable::Empty);
    }
    let title = extracted
        .title
        .clone()
        .unwrap_or_else(|| file_stem(location));
    Ok(Document {
        id: id.to_string(),
        location: location.to_string(),
        corpus: corpus.to_string(),
        title,
        format,
        hash: blake3::hash(extracted.text.as_bytes()).to_hex().to_string(),
        raw_hash,
        text: extracted.text,
        passages,
        fetched: None,
    })
}

/// The last path (or URL) segment without its extension.
fn file_stem(location: &str) -> String {
    let trimmed = location.trim_end_matches('/');
    Path::new(trimmed)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| trimmed.to_string())
}

/// Format from a file extension: html/htm/xhtml -> Html, md/markdown -> Markdown,
/// txt/text/rst or no extension -> Text, pdf -> Pdf, else None.
pub fn format_for_path(path: &Path) -> Option<Format> {
    let Some(extension) = path.extension() else {
        return Some(Format::Text);
    };
    match extension.to_string_lossy().to_ascii_lowercase().as_str() {
        "html" | "htm" | "xhtml" => Some(Format::Html),
        "md" | "markdown" => Some(Format::Markdown),
        "txt" | "text" | "rst" => Some(Format::Text),
        "pdf" => Some(Format::Pdf),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
