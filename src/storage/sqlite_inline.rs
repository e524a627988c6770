//! Inline reads for the per-request session lookup on SQLite.
//!
//! sqlx runs each SQLite connection on a worker thread of its own, so every query is two
//! thread hand-offs; for a primary-key lookup that takes ~10 µs in SQLite, the hand-offs cost
//! several times the query (bench/README.md, finding 1). This keeps a few read-only
//! connections to the same file and runs that one query on the calling thread. In WAL mode
//! a reader never waits for the writer, and each statement sees every committed write, so a
//! logout committed through the pool is seen by the next lookup.
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::Error;

/// Idle connections kept; more may exist briefly under contention.
const KEEP: usize = 4;

pub(crate) struct InlineReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl InlineReader {
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        // Read-write but query-only: a read-only connection cannot open a WAL database whose
        // `-shm` file went away when the pool's last connection closed.
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.pragma_update(None, "query_only", true)?;
        // Only a WAL checkpoint or recovery can make a reader wait; never for long.
        conn.busy_timeout(Duration::from_millis(250))?;
        Ok(conn)
    }

    /// Runs `f` on an idle connection (opening one if none is idle) on this thread.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => self.open().map_err(into_error)?,
        };
        let result = f(&conn).map_err(into_error);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < KEEP {
            idle.push(conn);
        }
        result
    }
}

/// Busy or unopenable means "try again later" (503), like the pool's errors.
fn into_error(e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode::{CannotOpen, DatabaseBusy, DatabaseLocked};
    let unavailable = matches!(
        e.sqlite_error_code(),
        Some(DatabaseBusy | DatabaseLocked | CannotOpen)
    );
    if unavailable {
        Error::Unavailable(Box::new(e))
    } else {
        Error::Bug(Box::new(e))
    }
}
