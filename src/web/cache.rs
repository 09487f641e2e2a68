//! The fetch cache: one SQLite table (WAL mode) beside the index, `fetch-cache.sqlite` in the
//! index folder. For every URL fetched: the final URL after redirects, the fetch time, the
//! validators (ETag, Last-Modified), the hash of the raw body and of the stored text. A later
//! run revalidates with If-None-Match / If-Modified-Since and, on 304, uses the stored document
//! without downloading or indexing it again.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const FILE_NAME: &str = "fetch-cache.sqlite";

#[derive(Debug, thiserror::Error)]
#[error("the fetch cache {path} is unusable ({detail}); delete it to start a new one")]
pub struct CacheError {
    pub path: PathBuf,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CacheEntry {
    /// Canonical URL as requested (the key).
    pub url: String,
    pub final_url: String,
    /// When the body was last downloaded (RFC 3339).
    pub fetched: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// blake3 of the raw body.
    pub raw_hash: String,
    /// The stored document: its id and the blake3 of its text.
    pub doc_id: String,
    pub doc_hash: String,
    pub content_type: Option<String>,
}

pub struct FetchCache {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl FetchCache {
    /// Open (or create) the cache in `dir`.
    pub fn open(dir: &Path) -> Result<FetchCache, CacheError> {
        let path = dir.join(FILE_NAME);
        let err = |e: rusqlite::Error| CacheError {
            path: path.clone(),
            detail: crate::text::squash_whitespace(&e.to_string()),
        };
        let conn = crate::sqlite::open(
            &path,
            "CREATE TABLE IF NOT EXISTS fetches (
                url           TEXT PRIMARY KEY,
                final_url     TEXT NOT NULL,
                fetched       TEXT NOT NULL,
                etag          TEXT,
                last_modified TEXT,
                raw_hash      TEXT NOT NULL,
                doc_id        TEXT NOT NULL,
                doc_hash      TEXT NOT NULL,
                content_type  TEXT,
                validated     TEXT
            );",
        )
        .map_err(err)?;
        Ok(FetchCache {
            path,
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> CacheError {
        CacheError {
            path: self.path.clone(),
            detail: crate::text::squash_whitespace(&e.to_string()),
        }
    }

    pub fn get(&self, url: &str) -> Result<Option<CacheEntry>, CacheError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.query_row(
            "SELECT url, final_url, fetched, etag, last_modified, raw_hash, doc_id, doc_hash,
                    content_type
             FROM fetches WHERE url = ?1",
            params![url],
            |r| {
                Ok(CacheEntry {
                    url: r.get(0)?,
                    final_url: r.get(1)?,
                    fetched: r.get(2)?,
                    etag: r.get(3)?,
                    last_modified: r.get(4)?,
                    raw_hash: r.get(5)?,
                    doc_id: r.get(6)?,
                    doc_hash: r.get(7)?,
                    content_type: r.get(8)?,
                })
            },
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    pub fn put(&self, e: &CacheEntry) -> Result<(), CacheError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute(
            "INSERT INTO fetches (url, final_url, fetched, etag, last_modified, raw_hash, doc_id,
                                  doc_hash, content_type, validated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?3)
             ON CONFLICT(url) DO UPDATE SET
                final_url = excluded.final_url, fetched = excluded.fetched,
                etag = excluded.etag, last_modified = excluded.last_modified,
                raw_hash = excluded.raw_hash, doc_id = excluded.doc_id,
                doc_hash = excluded.doc_hash, content_type = excluded.content_type,
                validated = excluded.validated",
            params![
                e.url,
                e.final_url,
                e.fetched,
                e.etag,
                e.last_modified,
                e.raw_hash,
                e.doc_id,
                e.doc_hash,
                e.content_type
            ],
        )
        .map(|_| ())
        .map_err(|e| self.err(e))
    }

    /// Record that a cached copy was confirmed current (a 304) at `when`.
    pub fn revalidated(&self, url: &str, when: &str) -> Result<(), CacheError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute(
            "UPDATE fetches SET validated = ?2 WHERE url = ?1",
            params![url, when],
        )
        .map(|_| ())
        .map_err(|e| self.err(e))
    }

    pub fn len(&self) -> Result<usize, CacheError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.query_row("SELECT COUNT(*) FROM fetches", [], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(|e| self.err(e))
    }

    pub fn is_empty(&self) -> Result<bool, CacheError> {
        Ok(self.len()? == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_updates_entries() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FetchCache::open(dir.path()).unwrap();
        assert!(cache.is_empty().unwrap());
        let mut e = CacheEntry {
            url: "https://a.org/x".into(),
            final_url: "https://a.org/y".into(),
            fetched: "2026-11-21T08:00:00Z".into(),
            etag: Some("\"v1\"".into()),
            last_modified: None,
            raw_hash: "r".into(),
            doc_id: "https://a.org/y".into(),
            doc_hash: "d".into(),
            content_type: Some("text/html".into()),
        };
        cache.put(&e).unwrap();
        assert_eq!(cache.get(&e.url).unwrap().as_ref(), Some(&e));
        e.etag = Some("\"v2\"".into());
        cache.put(&e).unwrap();
        cache.revalidated(&e.url, "2026-11-22T08:00:00Z").unwrap();
        drop(cache);
        let again = FetchCache::open(dir.path()).unwrap();
        assert_eq!(again.get(&e.url).unwrap(), Some(e));
        assert_eq!(again.len().unwrap(), 1);
        assert_eq!(again.get("https://nope/").unwrap(), None);
    }

    #[test]
    fn a_damaged_file_is_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), vec![7u8; 8192]).unwrap();
        let err = FetchCache::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("delete it"), "{err}");
    }
}
