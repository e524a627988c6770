//! The storage layer's one error type, classified for callers by what they should do about
//! it, not by which engine or driver produced it.
use std::borrow::Cow;
use std::sync::atomic::Ordering;

use sqlx::migrate::MigrateError;

use super::dialect::{classify_code, Failure};
use super::pools::{clock_ms, AUTH_FAILURES, READ_ONLY_SEEN_AT};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database cannot be reached or take writes right now (down, failing over, busy,
    /// credentials being rotated): callers answer 503 with Retry-After.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// The health probe found the primary down: fail at once instead of queueing on the pool.
    #[error("the primary database is down (health probe failing)")]
    PrimaryDown,
    /// A unique key belongs to another row.
    #[error("{0}")]
    Conflict(Conflict),
    /// The row the caller named does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A statement the database refused, a row we could not read, a broken invariant:
    /// a bug, answered 500 and logged.
    #[error("database error: {0}")]
    Bug(#[source] Cause),
    /// A newer release migrated the database and its migrations do not keep this release
    /// working (a contract, or a migration that declares nothing): `runs_from` is the oldest
    /// release (by the newest migration it knows) that they declare may run.
    #[error("{}", schema_too_new(*found, *known, *runs_from))]
    SchemaTooNew {
        found: i64,
        known: i64,
        runs_from: Option<i64>,
    },
    /// The schema lacks migrations this build needs (not migrated yet).
    #[error("the database schema is at version {found:?}; this build needs {needed}")]
    SchemaTooOld { found: Option<i64>, needed: i64 },
    #[error("migration failed: {0}")]
    Migrate(#[source] MigrateError),
    /// Set-up problems outside requests: a bad URL, an unusable SQLite path, a request the
    /// storage layer refuses before sending it (an unsafe role name), a lock not obtained.
    #[error("{0}")]
    Setup(String),
}

fn schema_too_new(found: i64, known: i64, runs_from: Option<i64>) -> String {
    let why = match runs_from {
        Some(oldest) => {
            format!("its migrations allow only releases that know schema {oldest} or newer")
        }
        None => "a newer migration does not declare which releases it keeps working".into(),
    };
    format!(
        "the database schema is at version {found}, newer than this build of newsread knows \
         (latest {known}), and {why}; run a newer newsread (or restore the database)"
    )
}

/// Which unique key was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("username or email already registered")]
    Identity { username: bool, email: bool },
}

/// The driver's error behind an [`Error::Unavailable`] or [`Error::Bug`], for the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

impl Error {
    /// The database cannot serve this now; the same request may work later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable(_) | Error::PrimaryDown)
    }

    pub(crate) fn sqlite_file(detail: impl std::fmt::Display) -> Self {
        Error::Setup(format!("cannot prepare the SQLite database file: {detail}"))
    }

    /// A result the code relies on was not there: a bug, not the user's or the database's
    /// fault.
    pub fn invariant(what: impl Into<Cow<'static, str>>) -> Self {
        Error::Bug(what.into().into_owned().into())
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match failure(&e) {
            Some(Failure::AuthRejected) => AUTH_FAILURES.notify_waiters(),
            Some(Failure::ReadOnly) => {
                READ_ONLY_SEEN_AT.store(clock_ms().max(1), Ordering::Relaxed);
                AUTH_FAILURES.notify_waiters();
            }
            _ => {}
        }
        if is_unavailable(&e) {
            Error::Unavailable(Box::new(e))
        } else {
            Error::Bug(Box::new(e))
        }
    }
}

/// What a driver error means, if it is one of the engine errors we act on.
pub(crate) fn failure(e: &sqlx::Error) -> Option<Failure> {
    match e {
        sqlx::Error::Database(db) => classify_code(&error_code(db.as_ref())?),
        _ => None,
    }
}

/// Errors that mean "try again later" rather than "this statement is wrong". sqlx's own
/// protocol errors come from a connection that broke mid-conversation (a failover, a
/// restart): transient too.
pub(crate) fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(_) => failure(e).is_some(),
        _ => false,
    }
}

pub(crate) fn is_auth_failure(e: &sqlx::Error) -> bool {
    failure(e) == Some(Failure::AuthRejected)
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

/// The engine's own error code: PostgreSQL's and SQLite's from `code()`, MySQL's error
/// number (its SQLSTATE, which `code()` gives, is the generic HY000 for most errors we need).
pub(crate) fn error_code(db: &dyn sqlx::error::DatabaseError) -> Option<String> {
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return Some(my.number().to_string());
    }
    db.code().map(Cow::into_owned)
}
