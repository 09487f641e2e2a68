//! The one way this tool opens its SQLite files (run journal, fetch cache, digest state): WAL
//! with NORMAL sync, a busy timeout, and patience with another research process that holds the
//! file's lock while it opens the same file (switching to WAL or creating tables).

use rusqlite::{Connection, ErrorCode};
use std::path::Path;
use std::time::Duration;

/// Open `path` and apply `schema` (idempotent `CREATE ... IF NOT EXISTS` statements).
pub fn open(path: &Path, schema: &str) -> rusqlite::Result<Connection> {
    let mut attempts = 0;
    loop {
        match open_once(path, schema) {
            Err(e) if is_busy(&e) && attempts < 100 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

fn open_once(path: &Path, schema: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(schema)?;
    Ok(conn)
}

/// Whether an error only means another connection holds the lock.
pub fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// The disk (or the database's size limit) is full: SQLite's "database or disk is full", or a
/// write that failed for want of space. Nothing is damaged; freeing space lets it go on.
pub fn is_full(e: &rusqlite::Error) -> bool {
    if e.sqlite_error_code() == Some(ErrorCode::DiskFull) {
        return true;
    }
    // An I/O error whose cause is ENOSPC (SQLITE_IOERR_WRITE and friends carry no code of it).
    let text = e.to_string().to_lowercase();
    e.sqlite_error_code() == Some(ErrorCode::SystemIoFailure)
        && (text.contains("no space") || text.contains("disk is full"))
}
