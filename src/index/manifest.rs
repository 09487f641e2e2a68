//! The index's manifest: one row per stored document with what a warm run and a scoped search
//! need without opening the document's stored text: its corpus, raw hash, the file metadata it
//! was read with, and the BM25 statistics of its passages. SQLite triggers keep the per-corpus
//! sums, so a scoped search reads a few rows instead of scanning the corpus's passages, and a
//! warm run's cost does not grow with the rest of the index.
//!
//! The `terms` table keeps, per corpus, how many passages hold each indexed term in each scored
//! field (a scoped document frequency), updated with every commit from the terms of the
//! passages added and removed: a scoped search looks its terms up instead of counting them in
//! the index's postings, whose length grows with every corpus the index holds.
//!
//! The manifest records the tantivy opstamp it matches. A manifest behind or ahead of the index
//! (a process killed between the two commits, or an index made before the manifest existed) is
//! rebuilt from the index when the store opens; rows rebuilt that way have no file metadata, so
//! their files are read once more on the next run.

use crate::artifact::FileMeta;
use crate::sqlite;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

pub(super) const FILE: &str = "manifest.sqlite";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    corpus TEXT NOT NULL,
    raw_hash TEXT NOT NULL,
    size INTEGER,
    mtime_ns INTEGER,
    inode INTEGER,
    passages INTEGER NOT NULL,
    body_tokens INTEGER NOT NULL,
    heading_tokens INTEGER NOT NULL,
    title_tokens INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_by_corpus ON documents(corpus);
CREATE TABLE IF NOT EXISTS corpora (
    corpus TEXT PRIMARY KEY,
    documents INTEGER NOT NULL,
    passages INTEGER NOT NULL,
    body_tokens INTEGER NOT NULL,
    heading_tokens INTEGER NOT NULL,
    title_tokens INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS documents_in AFTER INSERT ON documents BEGIN
    INSERT INTO corpora VALUES (NEW.corpus, 0, 0, 0, 0, 0) ON CONFLICT(corpus) DO NOTHING;
    UPDATE corpora SET documents = documents + 1, passages = passages + NEW.passages,
        body_tokens = body_tokens + NEW.body_tokens,
        heading_tokens = heading_tokens + NEW.heading_tokens,
        title_tokens = title_tokens + NEW.title_tokens
    WHERE corpus = NEW.corpus;
END;
CREATE TRIGGER IF NOT EXISTS documents_out AFTER DELETE ON documents BEGIN
    UPDATE corpora SET documents = documents - 1, passages = passages - OLD.passages,
        body_tokens = body_tokens - OLD.body_tokens,
        heading_tokens = heading_tokens - OLD.heading_tokens,
        title_tokens = title_tokens - OLD.title_tokens
    WHERE corpus = OLD.corpus;
    DELETE FROM corpora WHERE corpus = OLD.corpus AND documents <= 0;
END;
CREATE TABLE IF NOT EXISTS terms (
    corpus TEXT NOT NULL,
    field INTEGER NOT NULL,
    term TEXT NOT NULL,
    passages INTEGER NOT NULL,
    PRIMARY KEY (corpus, field, term)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

/// The state row saying the `terms` table is kept: a manifest written before it existed has
/// none, and is rebuilt from the index like a manifest behind it. Its second version ("-2")
/// dates from the fix that made a writing session see what the writer it waited for committed:
/// counts kept before it may have been doubled by runs over nested folders at once, so such a
/// manifest is rebuilt once too.
const TERMS_KEPT: &str = "terms-2";

/// The scored fields whose terms are counted, as stored in `terms.field`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scored {
    Body = 0,
    Heading = 1,
    Title = 2,
}

/// Passages holding each term, per corpus and field: added passages count +1, removed -1.
pub(super) type TermDeltas = HashMap<String, HashMap<(Scored, String), i64>>;

/// What the index remembers of a document without loading its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Known {
    pub raw_hash: String,
    pub corpus: String,
    /// The file's metadata when it was last read; None: read it before trusting it.
    pub file: Option<FileMeta>,
}

/// BM25 statistics of a set of passages: how many, and their tokens per scored field (as
/// tantivy's field norms count them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassageStats {
    pub passages: u64,
    pub body: u64,
    pub heading: u64,
    pub title: u64,
}

impl PassageStats {
    fn add(&mut self, o: &PassageStats) {
        self.passages += o.passages;
        self.body += o.body;
        self.heading += o.heading;
        self.title += o.title;
    }
}

/// One document's row.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub doc_id: String,
    pub known: Known,
    pub stats: PassageStats,
}

/// Changes of one commit, applied in one transaction together with the opstamp they match.
#[derive(Debug, Default)]
pub(super) struct Changes {
    pub upserts: Vec<Row>,
    pub deletes: Vec<String>,
    /// Files read again whose content had not changed: only their metadata is new.
    pub touched: Vec<(String, FileMeta)>,
    /// How the scoped document frequencies change.
    pub terms: TermDeltas,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty()
            && self.deletes.is_empty()
            && self.touched.is_empty()
            && self.terms.is_empty()
    }
}

pub(super) struct Manifest {
    conn: Mutex<Connection>,
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn file_of(size: Option<i64>, mtime_ns: Option<i64>, inode: Option<i64>) -> Option<FileMeta> {
    Some(FileMeta {
        size: u64::try_from(size?).ok()?,
        mtime_ns: mtime_ns?,
        inode: u64::try_from(inode?).ok()?,
    })
}

impl Manifest {
    pub fn open(dir: &Path) -> rusqlite::Result<Manifest> {
        Ok(Manifest {
            conn: Mutex::new(sqlite::open(&dir.join(FILE), SCHEMA)?),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The tantivy opstamp the manifest matches (None: never written, or written before the
    /// term counts were kept).
    pub fn opstamp(&self) -> rusqlite::Result<Option<u64>> {
        let v: Option<i64> = self
            .conn()
            .query_row(
                "SELECT value FROM state WHERE key = 'opstamp'
                 AND EXISTS (SELECT 1 FROM state WHERE key = ?1)",
                [TERMS_KEPT],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.and_then(|v| u64::try_from(v).ok()))
    }

    /// Apply one commit's changes and record the opstamp the index reached with them.
    pub fn apply(&self, changes: &Changes, opstamp: u64) -> rusqlite::Result<()> {
        self.write(false, changes, Some(opstamp))
    }

    /// Remember new metadata of files whose content had not changed. The index is not
    /// involved, so this needs no commit of it (nor its writer lock).
    pub fn touch(&self, touched: Vec<(String, FileMeta)>) -> rusqlite::Result<()> {
        let changes = Changes {
            touched,
            ..Changes::default()
        };
        self.write(false, &changes, None)
    }

    /// Replace every row with `rows` and the term counts with `terms` (a rebuild from the
    /// index), at `opstamp`.
    pub fn replace_all(
        &self,
        rows: Vec<Row>,
        terms: TermDeltas,
        opstamp: u64,
    ) -> rusqlite::Result<()> {
        let changes = Changes {
            upserts: rows,
            terms,
            ..Changes::default()
        };
        self.write(true, &changes, Some(opstamp))
    }

    fn write(&self, clear: bool, changes: &Changes, opstamp: Option<u64>) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if let (false, Some(opstamp)) = (clear, opstamp) {
            // Another process rebuilt the manifest from the index after this commit reached
            // it: the rebuild holds these changes already, and the term counts must not be
            // added twice.
            let current: Option<i64> = tx
                .query_row("SELECT value FROM state WHERE key = 'opstamp'", [], |r| {
                    r.get(0)
                })
                .optional()?;
            if current.is_some_and(|c| c >= to_i64(opstamp)) {
                return Ok(());
            }
        }
        if clear {
            tx.execute_batch("DELETE FROM documents; DELETE FROM corpora; DELETE FROM terms;")?;
        }
        {
            // Delete then insert (not REPLACE): the triggers keep the corpus sums right.
            let mut delete = tx.prepare_cached("DELETE FROM documents WHERE doc_id = ?1")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO documents VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let mut touch = tx.prepare_cached(
                "UPDATE documents SET size = ?2, mtime_ns = ?3, inode = ?4 WHERE doc_id = ?1",
            )?;
            for id in &changes.deletes {
                delete.execute([id])?;
            }
            for r in &changes.upserts {
                delete.execute([&r.doc_id])?;
                let f = r.known.file;
                insert.execute(params![
                    r.doc_id,
                    r.known.corpus,
                    r.known.raw_hash,
                    f.map(|f| to_i64(f.size)),
                    f.map(|f| f.mtime_ns),
                    f.map(|f| to_i64(f.inode)),
                    to_i64(r.stats.passages),
                    to_i64(r.stats.body),
                    to_i64(r.stats.heading),
                    to_i64(r.stats.title),
                ])?;
            }
            for (id, f) in &changes.touched {
                touch.execute(params![id, to_i64(f.size), f.mtime_ns, to_i64(f.inode)])?;
            }
            let mut count = tx.prepare_cached(
                "INSERT INTO terms VALUES (?1, ?2, ?3, ?4) ON CONFLICT(corpus, field, term)
                 DO UPDATE SET passages = passages + excluded.passages",
            )?;
            let mut drop_empty = tx.prepare_cached(
                "DELETE FROM terms WHERE corpus = ?1 AND field = ?2 AND term = ?3
                 AND passages <= 0",
            )?;
            for (corpus, deltas) in &changes.terms {
                for ((field, term), delta) in deltas {
                    if *delta == 0 {
                        continue;
                    }
                    count.execute(params![corpus, *field as i64, term, delta])?;
                    if *delta < 0 {
                        drop_empty.execute(params![corpus, *field as i64, term])?;
                    }
                }
            }
            if let Some(opstamp) = opstamp {
                tx.execute(
                    "INSERT INTO state VALUES ('opstamp', ?1)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [to_i64(opstamp)],
                )?;
                tx.execute(
                    "INSERT INTO state VALUES (?1, 1) ON CONFLICT(key) DO NOTHING",
                    [TERMS_KEPT],
                )?;
            }
        }
        tx.commit()
    }

    /// Documents stored under any of `corpora`: id -> what incremental indexing needs.
    pub fn known_in(&self, corpora: &[String]) -> rusqlite::Result<HashMap<String, Known>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT doc_id, corpus, raw_hash, size, mtime_ns, inode FROM documents WHERE corpus = ?1",
        )?;
        let mut out = HashMap::new();
        for c in corpora {
            let rows = stmt.query_map([c], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Known {
                        corpus: r.get(1)?,
                        raw_hash: r.get(2)?,
                        file: file_of(r.get(3)?, r.get(4)?, r.get(5)?),
                    },
                ))
            })?;
            for row in rows {
                let (id, k) = row?;
                out.insert(id, k);
            }
        }
        Ok(out)
    }

    /// One document, wherever it is stored.
    pub fn known(&self, doc_id: &str) -> rusqlite::Result<Option<Known>> {
        self.conn()
            .prepare_cached(
                "SELECT corpus, raw_hash, size, mtime_ns, inode FROM documents WHERE doc_id = ?1",
            )?
            .query_row([doc_id], |r| {
                Ok(Known {
                    corpus: r.get(0)?,
                    raw_hash: r.get(1)?,
                    file: file_of(r.get(2)?, r.get(3)?, r.get(4)?),
                })
            })
            .optional()
    }

    /// Every stored document (ids, corpora, hashes), for `index verify` and tests.
    pub fn all(&self) -> rusqlite::Result<HashMap<String, Known>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT doc_id, corpus, raw_hash, size, mtime_ns, inode FROM documents",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Known {
                    corpus: r.get(1)?,
                    raw_hash: r.get(2)?,
                    file: file_of(r.get(3)?, r.get(4)?, r.get(5)?),
                },
            ))
        })?;
        rows.collect()
    }

    /// Passage statistics of the passages of `corpora` and of `documents` (a union: a document
    /// inside one of the corpora counts once).
    pub fn stats_of(
        &self,
        corpora: &[String],
        documents: &[String],
    ) -> rusqlite::Result<PassageStats> {
        let conn = self.conn();
        let mut total = PassageStats::default();
        let read = |r: &rusqlite::Row| -> rusqlite::Result<PassageStats> {
            let n = |i: usize| r.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
            Ok(PassageStats {
                passages: n(0)?,
                body: n(1)?,
                heading: n(2)?,
                title: n(3)?,
            })
        };
        let mut by_corpus = conn.prepare_cached(
            "SELECT passages, body_tokens, heading_tokens, title_tokens FROM corpora WHERE corpus = ?1",
        )?;
        let mut seen = std::collections::HashSet::new();
        for c in corpora {
            if seen.insert(c) {
                if let Some(s) = by_corpus.query_row([c], read).optional()? {
                    total.add(&s);
                }
            }
        }
        let mut by_doc = conn.prepare_cached(
            "SELECT passages, body_tokens, heading_tokens, title_tokens, corpus FROM documents
             WHERE doc_id = ?1",
        )?;
        let mut seen_docs = std::collections::HashSet::new();
        for d in documents {
            if !seen_docs.insert(d) {
                continue;
            }
            let row = by_doc
                .query_row([d], |r| Ok((read(r)?, r.get::<_, String>(4)?)))
                .optional()?;
            if let Some((s, corpus)) = row {
                if !corpora.contains(&corpus) {
                    total.add(&s);
                }
            }
        }
        Ok(total)
    }

    /// Passages of `corpora` holding `term` in `field`.
    pub fn doc_freq(&self, corpora: &[String], field: Scored, term: &str) -> rusqlite::Result<u64> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT passages FROM terms WHERE corpus = ?1 AND field = ?2 AND term = ?3",
        )?;
        let mut seen = std::collections::HashSet::new();
        let mut total = 0u64;
        for c in corpora {
            if seen.insert(c) {
                let n: Option<i64> = stmt
                    .query_row(params![c, field as i64, term], |r| r.get(0))
                    .optional()?;
                total += n.map_or(0, |n| u64::try_from(n).unwrap_or(0));
            }
        }
        Ok(total)
    }

    /// Documents per corpus, sorted by corpus.
    pub fn corpora(&self) -> rusqlite::Result<Vec<(String, u64)>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT corpus, documents FROM corpora ORDER BY corpus")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            ))
        })?;
        rows.collect()
    }
}
