//! The digest's state: `digest-state.sqlite` (SQLite, WAL) in the index folder, beside the web
//! fetch cache. It remembers every item recorded (key, content hash, the documents it was
//! indexed as, its claims), which digest run recorded it, each run's verdicts (so the next
//! digest can say what changed), and runs that did not finish (a killed digest is resumed:
//! items it recorded are not fetched again). Every item is committed on its own.

use super::feeds::FeedItem;
use crate::artifact::{Claim, Reviewed, Skipped};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "digest-state.sqlite";

#[derive(Debug, thiserror::Error)]
#[error("the digest state {path} is unusable ({detail}); move it aside to start afresh")]
pub struct StateError {
    pub path: PathBuf,
    pub detail: String,
}

/// What the digest keeps of one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRecord {
    pub item: FeedItem,
    pub topics: Vec<String>,
    /// The item's own document (title and summary) in the index.
    pub doc_id: String,
    /// The linked article's document, when it was fetched.
    pub article_doc: Option<String>,
    /// Why the article was not fetched, when it was not (older states hold the reason alone).
    #[serde(default, deserialize_with = "skipped_or_reason")]
    pub article_skipped: Option<Skipped>,
    pub claims: Vec<Claim>,
}

/// An article skip as recorded now, or as a `kind: detail` line by an older digest.
fn skipped_or_reason<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Skipped>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Typed(Skipped),
        Reason(String),
    }
    Ok(match Option::<Stored>::deserialize(d)? {
        None => None,
        Some(Stored::Typed(s)) => Some(s),
        Some(Stored::Reason(reason)) => Some(Skipped::from_reason("", reason)),
    })
}

/// A digest run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: i64,
    pub started: String,
    pub finished: Option<String>,
    pub report: Option<String>,
}

/// How an item entered a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Entry {
    New,
    Updated,
}

impl Entry {
    fn as_str(self) -> &'static str {
        match self {
            Entry::New => "new",
            Entry::Updated => "updated",
        }
    }
}

pub struct State {
    path: PathBuf,
    conn: Connection,
}

impl State {
    pub fn open(dir: &Path) -> Result<State, StateError> {
        let path = dir.join(FILE_NAME);
        let err = |e: rusqlite::Error| StateError {
            path: path.clone(),
            detail: crate::text::squash_whitespace(&e.to_string()),
        };
        let conn = crate::sqlite::open(
            &path,
            "CREATE TABLE IF NOT EXISTS runs (
                id       INTEGER PRIMARY KEY,
                started  TEXT NOT NULL,
                finished TEXT,
                report   TEXT
            );
            CREATE TABLE IF NOT EXISTS items (
                key          TEXT PRIMARY KEY,
                content_hash TEXT NOT NULL,
                record       TEXT NOT NULL,
                first_run    INTEGER NOT NULL,
                last_run     INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS items_hash ON items(content_hash);
            CREATE TABLE IF NOT EXISTS run_items (
                run   INTEGER NOT NULL,
                seq   INTEGER NOT NULL,
                key   TEXT NOT NULL,
                entry TEXT NOT NULL,
                PRIMARY KEY (run, key)
            );
            CREATE TABLE IF NOT EXISTS verdicts (
                run      INTEGER NOT NULL,
                claim_id TEXT NOT NULL,
                key      TEXT NOT NULL,
                reviewed TEXT NOT NULL,
                PRIMARY KEY (run, claim_id)
            );",
        )
        .map_err(err)?;
        Ok(State { path, conn })
    }

    fn err(&self, e: impl std::fmt::Display) -> StateError {
        StateError {
            path: self.path.clone(),
            detail: crate::text::squash_whitespace(&e.to_string()),
        }
    }

    fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
        Ok(RunRow {
            id: r.get(0)?,
            started: r.get(1)?,
            finished: r.get(2)?,
            report: r.get(3)?,
        })
    }

    /// The newest run that did not finish (killed midway), if any.
    pub fn unfinished_run(&self) -> Result<Option<RunRow>, StateError> {
        self.conn
            .query_row(
                "SELECT id, started, finished, report FROM runs WHERE finished IS NULL
                 ORDER BY id DESC LIMIT 1",
                [],
                Self::run_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The newest finished run before `run`.
    pub fn previous_run(&self, run: i64) -> Result<Option<RunRow>, StateError> {
        self.conn
            .query_row(
                "SELECT id, started, finished, report FROM runs
                 WHERE finished IS NOT NULL AND id < ?1 ORDER BY id DESC LIMIT 1",
                params![run],
                Self::run_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every finished digest before `run`, oldest first.
    pub fn earlier_runs(&self, run: i64) -> Result<Vec<i64>, StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM runs WHERE finished IS NOT NULL AND id < ?1 ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![run], |r| r.get::<_, i64>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<i64>, _>>()
            .map_err(|e| self.err(e))
    }

    pub fn start_run(&self, started: &str) -> Result<i64, StateError> {
        self.conn
            .execute("INSERT INTO runs (started) VALUES (?1)", params![started])
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn finish_run(&self, run: i64, finished: &str, report: &str) -> Result<(), StateError> {
        self.conn
            .execute(
                "UPDATE runs SET finished = ?2, report = ?3 WHERE id = ?1",
                params![run, finished, report],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Forget a run that recorded nothing (every feed failed).
    pub fn drop_run_if_empty(&self, run: i64) -> Result<(), StateError> {
        self.conn
            .execute(
                "DELETE FROM runs WHERE id = ?1
                 AND NOT EXISTS (SELECT 1 FROM run_items WHERE run = ?1)",
                params![run],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The stored record of an item and its content hash.
    pub fn item(&self, key: &str) -> Result<Option<(String, ItemRecord)>, StateError> {
        let row: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT content_hash, record FROM items WHERE key = ?1",
                params![key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        match row {
            None => Ok(None),
            Some((hash, record)) => {
                let record = serde_json::from_str(&record).map_err(|e| self.err(e))?;
                Ok(Some((hash, record)))
            }
        }
    }

    /// The key of an item recorded with this content hash, if any.
    pub fn key_of_hash(&self, hash: &str) -> Result<Option<String>, StateError> {
        self.conn
            .query_row(
                "SELECT key FROM items WHERE content_hash = ?1 LIMIT 1",
                params![hash],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Whether `run` already recorded the item (a resumed run).
    pub fn in_run(&self, run: i64, key: &str) -> Result<bool, StateError> {
        self.conn
            .query_row(
                "SELECT 1 FROM run_items WHERE run = ?1 AND key = ?2",
                params![run, key],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(|e| self.err(e))
    }

    /// Record an item as part of `run`, in one transaction: after this returns, a killed
    /// digest does not redo it. Returns its sequence number in the run.
    pub fn record(&mut self, run: i64, rec: &ItemRecord, entry: Entry) -> Result<i64, StateError> {
        let json = serde_json::to_string(rec).map_err(|e| self.err(e))?;
        let tx = self.conn.transaction().map_err(|e| StateError {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        let result = (|| -> rusqlite::Result<i64> {
            tx.execute(
                "INSERT INTO items (key, content_hash, record, first_run, last_run)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT(key) DO UPDATE SET content_hash = ?2, record = ?3, last_run = ?4",
                params![rec.item.key, rec.item.content_hash, json, run],
            )?;
            let seq: i64 = tx.query_row(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM run_items WHERE run = ?1",
                params![run],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT OR REPLACE INTO run_items (run, seq, key, entry) VALUES (?1, ?2, ?3, ?4)",
                params![run, seq, rec.item.key, entry.as_str()],
            )?;
            Ok(seq)
        })();
        match result {
            Ok(seq) => {
                tx.commit().map_err(|e| StateError {
                    path: self.path.clone(),
                    detail: e.to_string(),
                })?;
                Ok(seq)
            }
            Err(e) => Err(StateError {
                path: self.path.clone(),
                detail: e.to_string(),
            }),
        }
    }

    /// Update a recorded item's claims (their ids are made once its sequence number is known).
    pub fn set_record(&self, rec: &ItemRecord) -> Result<(), StateError> {
        let json = serde_json::to_string(rec).map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "UPDATE items SET record = ?2 WHERE key = ?1",
                params![rec.item.key, json],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The items of a run in the order they were recorded.
    pub fn run_items(&self, run: i64) -> Result<Vec<(ItemRecord, Entry)>, StateError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT i.record, r.entry FROM run_items r JOIN items i ON i.key = r.key
                 WHERE r.run = ?1 ORDER BY r.seq",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![run], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (record, entry) = row.map_err(|e| self.err(e))?;
            let record: ItemRecord = serde_json::from_str(&record).map_err(|e| self.err(e))?;
            let entry = if entry == "updated" {
                Entry::Updated
            } else {
                Entry::New
            };
            out.push((record, entry));
        }
        Ok(out)
    }

    /// Replace a run's verdicts.
    pub fn set_verdicts(
        &mut self,
        run: i64,
        verdicts: &[(String, Reviewed)],
    ) -> Result<(), StateError> {
        let tx = self.conn.transaction().map_err(|e| StateError {
            path: self.path.clone(),
            detail: e.to_string(),
        })?;
        let result = (|| -> Result<(), String> {
            tx.execute("DELETE FROM verdicts WHERE run = ?1", params![run])
                .map_err(|e| e.to_string())?;
            for (key, r) in verdicts {
                let json = serde_json::to_string(r).map_err(|e| e.to_string())?;
                tx.execute(
                    "INSERT OR REPLACE INTO verdicts (run, claim_id, key, reviewed)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![run, r.claim.id, key, json],
                )
                .map_err(|e| e.to_string())?;
            }
            Ok(())
        })();
        match result {
            Ok(()) => tx.commit().map_err(|e| StateError {
                path: self.path.clone(),
                detail: e.to_string(),
            }),
            Err(detail) => Err(StateError {
                path: self.path.clone(),
                detail,
            }),
        }
    }

    /// A run's verdicts: (item key, reviewed claim).
    pub fn verdicts(&self, run: i64) -> Result<Vec<(String, Reviewed)>, StateError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, reviewed FROM verdicts WHERE run = ?1 ORDER BY claim_id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![run], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (key, json) = row.map_err(|e| self.err(e))?;
            out.push((key, serde_json::from_str(&json).map_err(|e| self.err(e))?));
        }
        Ok(out)
    }
}
