//! The run journal: every run has an id and a record in a SQLite file (WAL mode) beside the
//! index: the command line that started it, every stage's artifact as it is produced, and every
//! model call (request hash -> reply and usage). A killed or stopped run resumes from it without
//! redoing finished stages or paying for a call twice; `research replay` re-reads it without any
//! network.

use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub const FILE: &str = "runs.sqlite";

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY, question TEXT NOT NULL, args TEXT NOT NULL,
        status TEXT NOT NULL, started TEXT NOT NULL, finished TEXT,
        seconds REAL, tokens INTEGER NOT NULL DEFAULT 0, cost REAL NOT NULL DEFAULT 0,
        report TEXT, error TEXT, version TEXT NOT NULL);
     CREATE TABLE IF NOT EXISTS artifacts (
        run TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL,
        at TEXT NOT NULL, PRIMARY KEY (run, key));
     CREATE TABLE IF NOT EXISTS tasks (
        run TEXT NOT NULL, role TEXT NOT NULL, input TEXT NOT NULL, status TEXT NOT NULL,
        started TEXT NOT NULL, seconds REAL NOT NULL);
     CREATE TABLE IF NOT EXISTS calls (
        run TEXT NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL, at TEXT NOT NULL,
        PRIMARY KEY (run, hash));";

/// What a journaled artifact is. Every stage names its record here, so the keys a run writes
/// and the keys a resumed run reads cannot drift apart. The spelled-out form is what the
/// journal stores (and what journals written by earlier builds hold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// The corpora prepared for the run.
    Prepared,
    Plan,
    /// What the gathering agents brought.
    Gather,
    Claims,
    /// One reviewer's votes, by reviewer name.
    Votes(String),
    /// The writer's sections, by a digest of the kept claims they rest on.
    Sections(String),
    /// The writer's answer, by a digest of the kept claims it rests on.
    Answer(String),
    /// One web search, by a digest of the providers and the query.
    Search(String),
    /// One fetched and indexed page, by a digest of its cache key.
    Page(String),
    /// The rendered report set and its chosen name.
    Report,
    /// One file of the report set in place, by file name.
    ReportFile(String),
    /// The claims a verify run was given (a resumed run reads these, not the file again).
    Inputs,
    /// The verdicts of one step of a verify run, by step number.
    Verdicts(usize),
    /// One angle's checks of a plan, by angle name and a digest of the plan.
    Angle(String),
    /// One stage of a later research round (follow-ups, gather, claims, votes/<reviewer>).
    Round(usize, String),
}

impl Key {
    /// A digest short enough for a key, of anything that names a record.
    pub fn digest(s: &str) -> String {
        blake3::hash(s.as_bytes()).to_hex()[..16].to_string()
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Prepared => f.write_str("prepared"),
            Key::Plan => f.write_str("plan"),
            Key::Gather => f.write_str("gather"),
            Key::Claims => f.write_str("claims"),
            Key::Votes(r) => write!(f, "votes/{r}"),
            Key::Sections(d) => write!(f, "sections/{d}"),
            Key::Answer(d) => write!(f, "answer/{d}"),
            Key::Search(d) => write!(f, "search/{d}"),
            Key::Page(d) => write!(f, "page/{d}"),
            Key::Report => f.write_str("report"),
            Key::ReportFile(name) => write!(f, "report-file/{name}"),
            Key::Inputs => f.write_str("inputs"),
            Key::Verdicts(n) => write!(f, "verdicts/{n}"),
            Key::Angle(a) => write!(f, "angle/{a}"),
            Key::Round(n, what) => write!(f, "round-{n}/{what}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("the run journal {path} is damaged ({detail}); move it aside or delete it to start over (reports already written are not affected)")]
    Damaged { path: PathBuf, detail: String },
    #[error("cannot write the run journal {path}: {detail}")]
    Write { path: PathBuf, detail: String },
    #[error("the disk holding the run journal {path} is full: free some space and run again (the journal itself is not damaged)")]
    DiskFull { path: PathBuf },
    #[error("no run {0} in this index's journal; `research runs` lists them")]
    NoSuchRun(String),
    #[error("run {0} was started by another version of research and cannot be resumed")]
    Incompatible(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Stopped,
    Failed,
    Done,
}

impl RunStatus {
    fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Stopped => "stopped",
            RunStatus::Failed => "failed",
            RunStatus::Done => "done",
        }
    }

    fn parse(s: &str) -> RunStatus {
        match s {
            "stopped" => RunStatus::Stopped,
            "failed" => RunStatus::Failed,
            "done" => RunStatus::Done,
            _ => RunStatus::Running,
        }
    }
}

/// One line of `research runs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub id: String,
    /// What kind of job: "question", "verify"... (runs of earlier builds are questions).
    pub kind: String,
    pub question: String,
    pub status: RunStatus,
    pub started: String,
    pub finished: Option<String>,
    pub seconds: Option<f64>,
    pub tokens: u64,
    pub cost_usd: f64,
    pub report: Option<String>,
    pub error: Option<String>,
}

/// `research runs show`: a run and what it journaled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDetail {
    pub summary: RunSummary,
    /// What the run was asked to do, as its command recorded it (a command line, for runs of
    /// earlier builds).
    pub settings: serde_json::Value,
    /// (sequence, key, bytes) of every recorded artifact.
    pub artifacts: Vec<(i64, String, usize)>,
    pub calls: u64,
    pub failed_votes: u64,
    /// (role, input hash, status, seconds) of every agent task.
    pub tasks: Vec<(String, String, String, f64)>,
}

/// The journal file of one index folder.
pub struct Journal {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Journal {
    pub fn open(dir: &Path) -> Result<Journal, JournalError> {
        let path = dir.join(FILE);
        let failed = |e: rusqlite::Error| {
            let detail = crate::text::squash_whitespace(&e.to_string());
            if crate::sqlite::is_full(&e) {
                JournalError::DiskFull { path: path.clone() }
            } else if crate::sqlite::is_busy(&e) {
                JournalError::Write {
                    path: path.clone(),
                    detail: format!("{detail}; another research process keeps it locked"),
                }
            } else {
                JournalError::Damaged {
                    path: path.clone(),
                    detail,
                }
            }
        };
        let conn = crate::sqlite::open(&path, SCHEMA).map_err(failed)?;
        // A damaged file can open and still fail on read: check now, with advice, not mid-run.
        let ok: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(failed)?;
        if ok != "ok" {
            return Err(JournalError::Damaged { path, detail: ok });
        }
        Ok(Journal {
            path,
            conn: Mutex::new(conn),
        })
    }

    fn write_err(&self, e: rusqlite::Error) -> JournalError {
        if crate::sqlite::is_full(&e) {
            return JournalError::DiskFull {
                path: self.path.clone(),
            };
        }
        JournalError::Write {
            path: self.path.clone(),
            detail: crate::text::squash_whitespace(&e.to_string()),
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A poisoned lock only means another thread panicked mid-call; SQLite kept its state.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start a new run recording the settings that reproduce it; `question` is what `research
    /// runs` shows of it.
    pub fn start<S: Serialize>(
        self: &Arc<Self>,
        question: &str,
        settings: &S,
    ) -> Result<RunJournal, JournalError> {
        let now = chrono::Utc::now();
        let id = format!(
            "{}-{}",
            now.format("%Y%m%d-%H%M%S"),
            &blake3::hash(format!("{now:?}{question}{}", std::process::id()).as_bytes()).to_hex()
                [..6]
        );
        self.conn()
            .execute(
                "INSERT INTO runs (id, question, args, status, started, version) VALUES (?1, ?2, ?3, 'running', ?4, ?5)",
                params![id, question, serde_json::to_string(settings).unwrap_or_default(), now.to_rfc3339(), env!("CARGO_PKG_VERSION")],
            )
            .map_err(|e| self.write_err(e))?;
        Ok(RunJournal::new(Arc::clone(self), id, Mode::Record))
    }

    /// The settings a run was started with.
    pub fn settings(&self, id: &str) -> Result<serde_json::Value, JournalError> {
        let row: Option<(String, String)> = self
            .conn()
            .query_row(
                "SELECT args, version FROM runs WHERE id = ?1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.write_err(e))?;
        let (args, version) = row.ok_or_else(|| JournalError::NoSuchRun(id.into()))?;
        if version != env!("CARGO_PKG_VERSION") {
            return Err(JournalError::Incompatible(id.into()));
        }
        serde_json::from_str(&args).map_err(|e| JournalError::Damaged {
            path: self.path.clone(),
            detail: format!("run {id}: {e}"),
        })
    }

    /// Continue a run: artifacts and calls it journaled are answered from the journal.
    pub fn resume(self: &Arc<Self>, id: &str) -> Result<RunJournal, JournalError> {
        self.settings(id)?;
        self.set_status(id, RunStatus::Running, None)?;
        Ok(RunJournal::new(Arc::clone(self), id.into(), Mode::Record))
    }

    /// Read a run without writing to it (replay).
    pub fn replay(self: &Arc<Self>, id: &str) -> Result<RunJournal, JournalError> {
        self.settings(id)?;
        Ok(RunJournal::new(Arc::clone(self), id.into(), Mode::Replay))
    }

    fn set_status(
        &self,
        id: &str,
        status: RunStatus,
        error: Option<&str>,
    ) -> Result<(), JournalError> {
        self.conn()
            .execute(
                "UPDATE runs SET status = ?2, error = ?3 WHERE id = ?1",
                params![id, status.as_str(), error],
            )
            .map_err(|e| self.write_err(e))?;
        Ok(())
    }

    pub fn list(&self) -> Result<Vec<RunSummary>, JournalError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT id, question, status, started, finished, seconds, tokens, cost, report, error, args FROM runs ORDER BY started DESC, id DESC")
            .map_err(|e| self.write_err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let settings: String = r.get(10)?;
                let kind = serde_json::from_str::<serde_json::Value>(&settings)
                    .ok()
                    .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(String::from))
                    .unwrap_or_else(|| "question".into());
                Ok(RunSummary {
                    id: r.get(0)?,
                    kind,
                    question: r.get(1)?,
                    status: RunStatus::parse(&r.get::<_, String>(2)?),
                    started: r.get(3)?,
                    finished: r.get(4)?,
                    seconds: r.get(5)?,
                    tokens: r.get::<_, i64>(6)?.max(0) as u64,
                    cost_usd: r.get(7)?,
                    report: r.get(8)?,
                    error: r.get(9)?,
                })
            })
            .map_err(|e| self.write_err(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.write_err(e))
    }

    pub fn show(&self, id: &str) -> Result<RunDetail, JournalError> {
        let summary = self
            .list()?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| JournalError::NoSuchRun(id.into()))?;
        let settings = self.settings(id).unwrap_or_default();
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT seq, key, length(body) FROM artifacts WHERE run = ?1 ORDER BY seq")
            .map_err(|e| self.write_err(e))?;
        let artifacts = stmt
            .query_map(params![id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?.max(0) as usize))
            })
            .map_err(|e| self.write_err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.write_err(e))?;
        let calls: i64 = conn
            .query_row(
                "SELECT count(*) FROM calls WHERE run = ?1",
                params![id],
                |r| r.get(0),
            )
            .map_err(|e| self.write_err(e))?;
        drop(stmt);
        let mut stmt = conn
            .prepare("SELECT role, input, status, seconds FROM tasks WHERE run = ?1 ORDER BY rowid")
            .map_err(|e| self.write_err(e))?;
        let tasks = stmt
            .query_map(params![id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(|e| self.write_err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.write_err(e))?;
        drop(stmt);
        let failed_votes = conn
            .query_row(
                "SELECT coalesce(sum((length(body) - length(replace(body, '\"stance\":\"error\"', ''))) / 16), 0) FROM artifacts WHERE run = ?1 AND key LIKE 'votes/%'",
                params![id],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .unwrap_or(0);
        Ok(RunDetail {
            summary,
            settings,
            artifacts,
            calls: calls.max(0) as u64,
            failed_votes,
            tasks,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Answer from the journal where it can, record what is new.
    Record,
    /// Answer from the journal only; record nothing.
    Replay,
}

/// One run's view of the journal. Cheap to share (Arc).
pub struct RunJournal {
    journal: Arc<Journal>,
    pub id: String,
    mode: Mode,
    events: AtomicU64,
    interrupted: AtomicBool,
    /// Test hook (`RESEARCH_TEST_KILL_AFTER_EVENTS=N` or `=PREFIX:N`): after the N-th recorded
    /// event (whose key starts with PREFIX) the process SIGKILLs itself, so the kill harness can
    /// stop a run at every point between two journal writes.
    kill_after: Option<(String, u64)>,
    matching: AtomicU64,
    json_events: AtomicBool,
}

impl std::fmt::Debug for RunJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunJournal")
            .field("id", &self.id)
            .field("mode", &self.mode)
            .finish()
    }
}

impl RunJournal {
    fn new(journal: Arc<Journal>, id: String, mode: Mode) -> RunJournal {
        RunJournal {
            journal,
            id,
            mode,
            events: AtomicU64::new(0),
            interrupted: AtomicBool::new(false),
            kill_after: std::env::var("RESEARCH_TEST_KILL_AFTER_EVENTS")
                .ok()
                .and_then(|v| {
                    let (prefix, n) = v.rsplit_once(':').unwrap_or(("", v.as_str()));
                    n.parse().ok().map(|n| (prefix.to_string(), n))
                }),
            matching: AtomicU64::new(0),
            json_events: AtomicBool::new(false),
        }
    }

    pub fn is_replay(&self) -> bool {
        self.mode == Mode::Replay
    }

    /// Print one JSON object a line on stderr for every recorded event (`--progress json`).
    pub fn emit_json_events(&self, yes: bool) {
        self.json_events.store(yes, Ordering::Relaxed);
    }

    /// The user asked to stop: no new work is dispatched or recorded.
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
    }

    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    fn err(&self, e: rusqlite::Error) -> JournalError {
        self.journal.write_err(e)
    }

    /// A stage's artifact, when this run already produced it.
    pub fn artifact<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, JournalError> {
        let key = key.to_string();
        let body: Option<String> = self
            .journal
            .conn()
            .query_row(
                "SELECT body FROM artifacts WHERE run = ?1 AND key = ?2",
                params![self.id, key],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        match body {
            None => Ok(None),
            Some(b) => serde_json::from_str(&b)
                .map(Some)
                .map_err(|e| JournalError::Damaged {
                    path: self.journal.path.clone(),
                    detail: format!("artifact {key} of run {}: {e}", self.id),
                }),
        }
    }

    /// Record a stage's artifact (one transaction: it is there whole or not at all).
    pub fn record<T: Serialize>(&self, key: &Key, value: &T) -> Result<(), JournalError> {
        let key = key.to_string();
        if self.mode == Mode::Replay || self.interrupted() {
            return Ok(());
        }
        let body = serde_json::to_string(value).map_err(|e| JournalError::Write {
            path: self.journal.path.clone(),
            detail: e.to_string(),
        })?;
        {
            let conn = self.journal.conn();
            conn.execute(
                "INSERT OR REPLACE INTO artifacts (run, seq, key, body, at) VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM artifacts WHERE run = ?1), ?2, ?3, ?4)",
                params![self.id, key, body, chrono::Utc::now().to_rfc3339()],
            )
            .map_err(|e| self.err(e))?;
        }
        self.event(&key);
        Ok(())
    }

    /// Record one agent task: its role, a hash of its input, how it ended and how long it took.
    pub fn task(
        &self,
        role: &str,
        input: &str,
        status: &str,
        started: chrono::DateTime<chrono::Utc>,
        seconds: f64,
    ) {
        if self.mode == Mode::Replay {
            return;
        }
        let hash = blake3::hash(input.as_bytes()).to_hex()[..16].to_string();
        // Bookkeeping only: a failure here must not fail the run.
        let _ = self.journal.conn().execute(
            "INSERT INTO tasks (run, role, input, status, started, seconds) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![self.id, role, hash, status, started.to_rfc3339(), seconds],
        );
    }

    /// A model call this run already completed: its recorded reply.
    pub fn call(&self, hash: &str) -> Option<String> {
        self.journal
            .conn()
            .query_row(
                "SELECT body FROM calls WHERE run = ?1 AND hash = ?2",
                params![self.id, hash],
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten()
    }

    /// Every call this run journaled, in the order they completed.
    pub fn calls(&self) -> Vec<String> {
        let conn = self.journal.conn();
        let Ok(mut stmt) = conn.prepare("SELECT body FROM calls WHERE run = ?1 ORDER BY rowid")
        else {
            return Vec::new();
        };
        stmt.query_map(params![self.id], |r| r.get::<_, String>(0))
            .map(|rows| rows.filter_map(Result::ok).collect())
            .unwrap_or_default()
    }

    pub fn record_call(&self, hash: &str, body: &str) -> Result<(), JournalError> {
        if self.mode == Mode::Replay {
            return Ok(());
        }
        self.journal
            .conn()
            .execute(
                "INSERT OR REPLACE INTO calls (run, hash, body, at) VALUES (?1, ?2, ?3, ?4)",
                params![self.id, hash, body, chrono::Utc::now().to_rfc3339()],
            )
            .map_err(|e| self.err(e))?;
        self.event("call");
        Ok(())
    }

    fn event(&self, key: &str) {
        let n = self.events.fetch_add(1, Ordering::SeqCst) + 1;
        if self.json_events.load(Ordering::Relaxed) {
            eprintln!(
                "{}",
                serde_json::json!({"event": "journal", "run": self.id, "seq": n, "key": key})
            );
        }
        let hit = self.kill_after.as_ref().is_some_and(|(prefix, at)| {
            key.starts_with(prefix.as_str())
                && self.matching.fetch_add(1, Ordering::SeqCst) + 1 == *at
        });
        if hit {
            eprintln!("research: test hook: killed after journal event {n} ({key})");
            // SAFETY: kill(2) on our own pid with SIGKILL has no memory-safety preconditions.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    }

    /// Close the run's record.
    pub fn finish(
        &self,
        status: RunStatus,
        report: Option<&Path>,
        tokens: u64,
        cost: f64,
        error: Option<&str>,
        seconds: f64,
    ) -> Result<(), JournalError> {
        if self.mode == Mode::Replay {
            return Ok(());
        }
        self.journal
            .conn()
            .execute(
                "UPDATE runs SET status = ?2, finished = ?3, seconds = coalesce(seconds, 0) + ?4, tokens = ?5, cost = ?6, report = coalesce(?7, report), error = ?8 WHERE id = ?1",
                params![
                    self.id,
                    status.as_str(),
                    chrono::Utc::now().to_rfc3339(),
                    seconds,
                    tokens as i64,
                    cost,
                    report.map(|p| p.display().to_string()),
                    error
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_and_calls_round_trip_and_replay_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let j = Arc::new(Journal::open(dir.path()).unwrap());
        let run = j.start("why?", &["why?".to_string()]).unwrap();
        assert_eq!(run.artifact::<Vec<u32>>(&Key::Plan).unwrap(), None);
        run.record(&Key::Plan, &vec![1u32, 2]).unwrap();
        run.record_call("h1", "{\"text\":\"x\"}").unwrap();
        let again = j.resume(&run.id).unwrap();
        assert_eq!(
            again.artifact::<Vec<u32>>(&Key::Plan).unwrap(),
            Some(vec![1, 2])
        );
        assert_eq!(again.call("h1").as_deref(), Some("{\"text\":\"x\"}"));
        let replay = j.replay(&run.id).unwrap();
        replay.record(&Key::Sections("x".into()), &1u8).unwrap();
        assert_eq!(
            replay.artifact::<u8>(&Key::Sections("x".into())).unwrap(),
            None
        );
        run.finish(RunStatus::Done, Some(Path::new("r.md")), 10, 0.5, None, 1.0)
            .unwrap();
        let list = j.list().unwrap();
        assert_eq!(list[0].status, RunStatus::Done);
        assert_eq!(j.settings(&run.id).unwrap(), serde_json::json!(["why?"]));
        assert!(matches!(
            j.settings("nope"),
            Err(JournalError::NoSuchRun(_))
        ));
    }

    #[test]
    fn a_full_disk_is_said_to_be_full_not_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let j = Arc::new(Journal::open(dir.path()).unwrap());
        let run = j.start("why?", &["why?".to_string()]).unwrap();
        // The file may not grow: SQLite answers exactly as on a full disk (SQLITE_FULL).
        j.conn().execute_batch("PRAGMA max_page_count = 1").unwrap();
        let big = "x".repeat(64 * 1024);
        let err = run.record(&Key::Plan, &big).unwrap_err();
        assert!(matches!(err, JournalError::DiskFull { .. }), "{err}");
        assert!(err.to_string().contains("is full"), "{err}");
        assert!(!err.to_string().contains("delete"), "{err}");
    }

    #[test]
    fn a_damaged_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE),
            b"this is not a database, just garbage bytes....",
        )
        .unwrap();
        let err = Journal::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("move it aside"), "{err}");
    }
}
