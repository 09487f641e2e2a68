//! The sample corpus compiled into the binary, so `research "question"` gives a real report on a
//! fresh machine with nothing else installed.

use crate::artifact::Document;
use crate::ingest::{document_from_bytes, format_for_path, Unusable};
use include_dir::{include_dir, Dir};
use std::path::Path;

static BATTERIES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/corpora/batteries");

/// The corpus id used to scope retrieval to the bundled documents.
pub const CORPUS_ID: &str = "bundled:corpora/batteries";

/// (document id, raw bytes) of every bundled file, in path order.
pub fn files() -> Vec<(String, &'static [u8])> {
    let mut out = Vec::new();
    collect(&BATTERIES, &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn collect(dir: &'static Dir<'static>, out: &mut Vec<(String, &'static [u8])>) {
    for f in dir.files() {
        out.push((format!("{CORPUS_ID}/{}", f.path().display()), f.contents()));
    }
    for d in dir.dirs() {
        collect(d, out);
    }
}

/// Extract one bundled file. Files of an unsupported kind are skipped with their reason.
pub fn document(id: &str, bytes: &[u8]) -> Result<Document, Unusable> {
    let path = id.strip_prefix("bundled:").unwrap_or(id);
    let format = format_for_path(Path::new(path))
        .ok_or_else(|| Unusable::UnsupportedType(path.to_string()))?;
    document_from_bytes(id, path, CORPUS_ID, format, bytes, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_corpus_extracts_with_exact_spans() {
        let files = files();
        assert!(
            files.len() >= 30,
            "bundled corpus has {} files",
            files.len()
        );
        for (id, bytes) in files {
            let doc = document(&id, bytes).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(!doc.passages.is_empty(), "{id} has no passages");
            for p in &doc.passages {
                assert_eq!(&doc.text[p.start..p.end], p.text);
            }
        }
    }
}
