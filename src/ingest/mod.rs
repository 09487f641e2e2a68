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

use crate::artifact::{Document, FileMeta, Format, Skipped};

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
    /// Sphinx keeps each page's source text beside the rendered page (`_sources/*.rst.txt`):
    /// indexed too, every fact would be found, quoted and voted on twice.
    #[error("a copy of a page rendered beside it (Sphinx _sources)")]
    SourceCopy,
    /// Sphinx's scripts, styles, images and downloads (`_static`, `_images`, `_downloads`).
    #[error("a Sphinx build file ({0})")]
    BuildFile(&'static str),
    /// A page of links (a keyword index, a site map, a table of contents): its entries name
    /// other pages and state nothing.
    #[error("a page of links (an index, a site map or a table of contents)")]
    Navigation,
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
            Unusable::SourceCopy => "duplicate",
            Unusable::BuildFile(_) => "build-file",
            Unusable::Navigation => "navigation",
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
    /// Read and hash every file, even those whose metadata says they are unchanged: catches an
    /// edit that kept a file's size and modification time.
    pub rehash: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            max_file_bytes: 64 * 1024 * 1024,
            rehash: false,
        }
    }
}

/// What the index holds of a file, asked before the file is read.
#[derive(Debug, Clone, PartialEq)]
pub struct Prior {
    pub raw_hash: String,
    /// The metadata it was read with; None: do not trust it without reading.
    pub file: Option<FileMeta>,
}

/// Metadata taken this soon after a file's modification is not trusted: an edit within the same
/// clock tick would keep both its size and its mtime (git's "racily clean" entries).
const RACY_WINDOW_NS: i64 = 2_000_000_000;

/// Documents extracted but not yet taken by the consumer of [`ingest_each`]: the bound on what
/// ingest holds in memory besides the files being extracted right now.
const CHANNEL_BOUND: usize = 32;

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
    /// Files the index already holds as they are (not extracted).
    pub unchanged: usize,
    /// Files whose bytes were read (the others were trusted by their metadata or skipped).
    pub read: usize,
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

/// A file inside one of the folders Sphinx writes beside the pages it renders: a folder named
/// `_sources`, `_static`, `_images` or `_downloads` whose parent holds `searchindex.js`, the
/// mark of a Sphinx HTML build. Elsewhere such names are ordinary folders.
fn sphinx_build_file(path: &Path) -> Option<Unusable> {
    let mut dir = path.parent();
    while let Some(d) = dir {
        let name = d.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let kind = match name {
            "_sources" => Some(Unusable::SourceCopy),
            "_static" => Some(Unusable::BuildFile("_static")),
            "_images" => Some(Unusable::BuildFile("_images")),
            "_downloads" => Some(Unusable::BuildFile("_downloads")),
            _ => None,
        };
        if let Some(kind) = kind {
            if d.parent()
                .is_some_and(|p| p.join("searchindex.js").is_file())
            {
                return Some(kind);
            }
        }
        dir = d.parent();
    }
    None
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().starts_with(b".")
}

/// What happened to one file.
#[derive(Debug)]
pub enum Outcome {
    /// New or changed: to be indexed.
    Document(Box<Document>),
    /// The index holds it as it is. `read`: its bytes were read and hashed (its metadata had
    /// changed, or a re-hash was asked); `touched`: the metadata to remember for it from now on.
    Unchanged {
        id: String,
        read: bool,
        touched: Option<FileMeta>,
    },
    Skipped(Skipped),
}

/// Read + decode + extract each file in parallel (rayon), handing each outcome to `sink` on
/// the caller's thread through a bounded channel, so no more than a few documents are held at
/// once whatever the number of files. `prior(doc_id)` is what the index holds of a file: a
/// file whose metadata matches it is not read (unless `opts.rehash`); one whose raw bytes hash
/// the same is not extracted. Files that cannot be used become [`Outcome::Skipped`]. An error
/// from `sink` stops the walk and is returned.
pub fn ingest_each<E>(
    files: &[SourceFile],
    opts: &IngestOptions,
    prior: &(dyn Fn(&str) -> Option<Prior> + Sync),
    mut sink: impl FnMut(Outcome) -> Result<(), E>,
) -> Result<(), E> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Outcome>(CHANNEL_BOUND);
    // A pool of its own: its threads block on the full channel while the consumer waits (for
    // the index writer another ingest holds, say), and blocked threads of the shared pool would
    // stall that other ingest's extraction.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(rayon::current_num_threads())
        .thread_name(|i| format!("research-ingest-{i}"))
        .build();
    std::thread::scope(|s| {
        s.spawn(move || {
            // A send fails only when the consumer has stopped: stop too.
            let walk = || {
                let _ = files.par_iter().try_for_each_with(tx, |tx, file| {
                    let outcome = ingest_one(file, opts, prior).unwrap_or_else(|why| {
                        Outcome::Skipped(why.skipped(file.path.to_string_lossy()))
                    });
                    tx.send(outcome)
                });
            };
            match pool {
                Ok(pool) => pool.install(walk),
                // No thread could be started: the shared pool it is.
                Err(_) => walk(),
            }
        });
        // Dropping the receiver on an error (the loop owns it) ends the walk above.
        for outcome in rx {
            sink(outcome)?;
        }
        Ok(())
    })
}

/// [`ingest_each`] collected: every document in memory at once, in the order of the input
/// files. For small sets (tests, a few files); corpora go through [`ingest_each`]. Returns
/// [`IngestError::NoDocuments`] when none of the files was usable and none was unchanged.
pub fn ingest_files(
    files: &[SourceFile],
    opts: &IngestOptions,
    prior: &(dyn Fn(&str) -> Option<Prior> + Sync),
) -> Result<Ingested, IngestError> {
    let mut ingested = Ingested {
        documents: Vec::new(),
        unchanged: 0,
        read: 0,
        skipped: Vec::new(),
    };
    ingest_each(files, opts, prior, |outcome| {
        match outcome {
            Outcome::Document(document) => {
                ingested.read += 1;
                ingested.documents.push(*document);
            }
            Outcome::Unchanged { read, .. } => {
                ingested.unchanged += 1;
                ingested.read += usize::from(read);
            }
            Outcome::Skipped(skipped) => ingested.skipped.push(skipped),
        }
        Ok::<(), IngestError>(())
    })?;
    // Extraction finishes in any order; callers see the files' order.
    let rank: std::collections::HashMap<String, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.path.to_string_lossy().into_owned(), i))
        .collect();
    ingested
        .documents
        .sort_by_key(|d| rank.get(&d.id).copied().unwrap_or(usize::MAX));
    ingested
        .skipped
        .sort_by_key(|s| rank.get(&s.location).copied().unwrap_or(usize::MAX));
    if ingested.documents.is_empty() && ingested.unchanged == 0 {
        return Err(IngestError::NoDocuments(root_of(files)));
    }
    Ok(ingested)
}

/// The corpus root to name when a set of files yields nothing.
pub fn root_of(files: &[SourceFile]) -> PathBuf {
    files
        .first()
        .map(|f| PathBuf::from(&f.corpus))
        .unwrap_or_default()
}

/// Ingests one file; `Err` is why it is skipped.
fn ingest_one(
    file: &SourceFile,
    opts: &IngestOptions,
    prior: &(dyn Fn(&str) -> Option<Prior> + Sync),
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
    if let Some(why) = sphinx_build_file(path) {
        return Err(why);
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
    let id = path.to_string_lossy().into_owned();
    let meta = FileMeta::of(&metadata);
    let prior = prior(&id);
    if !opts.rehash
        && prior
            .as_ref()
            .is_some_and(|p| p.file == Some(meta) && current_extraction(&p.raw_hash))
    {
        return Ok(Outcome::Unchanged {
            id,
            read: false,
            touched: None,
        });
    }
    let bytes = read_at_most(path, opts.max_file_bytes)?;
    let trusted = trusted(meta);
    let raw_hash = raw_hash(&bytes);
    if let Some(p) = prior.filter(|p| p.raw_hash == raw_hash) {
        return Ok(Outcome::Unchanged {
            id,
            read: true,
            touched: trusted.filter(|m| p.file != Some(*m)),
        });
    }
    let mut document = build_document(&id, &id, &file.corpus, format, &bytes, None, raw_hash)?;
    document.file = trusted;
    Ok(Outcome::Document(Box::new(document)))
}

/// What text extraction is: raised whenever a change to it would make different passages from
/// the same bytes (v2: SQLite's `<h>` entry headings). It opens every raw hash, so documents
/// indexed by an earlier extraction differ from their files and are read again once.
const EXTRACTION: &str = "x2";

/// The identity of a source's bytes as extraction read them: the same bytes under another
/// extraction are another document.
pub fn raw_hash(bytes: &[u8]) -> String {
    format!("{EXTRACTION}:{}", blake3::hash(bytes).to_hex())
}

/// Whether a stored raw hash was made by this extraction (file metadata alone may not then
/// vouch for it).
fn current_extraction(raw_hash: &str) -> bool {
    raw_hash
        .strip_prefix(EXTRACTION)
        .is_some_and(|rest| rest.starts_with(':'))
}

/// `meta` if it may be trusted on the next run (see [`RACY_WINDOW_NS`]).
fn trusted(meta: FileMeta) -> Option<FileMeta> {
    let now = FileMeta::now_ns();
    (now.saturating_sub(meta.mtime_ns) >= RACY_WINDOW_NS).then_some(meta)
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
    let raw_hash = raw_hash(bytes);
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
    if extracted.is_navigation() {
        return Err(Unusable::Navigation);
    }
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
        file: None,
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
