//! All SQL lives here. The web handlers and the ingestion job share this layer and never see
//! a connection or a dialect.
//!
//! One implementation serves SQLite, PostgreSQL and MySQL/MariaDB through sqlx's `Any` driver:
//! queries are written once with `?` placeholders (rewritten to `$n` for PostgreSQL) and only
//! the statements whose syntax really differs branch on [`Dialect`].
mod articles;
mod devices;
mod dialect;
mod feed_cache;
mod ingest;
mod preferences;
mod rate_limits;
mod roles;
mod sessions;
mod sqlite_inline;
mod stats;
mod users;

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{AnyPool, Row};

pub use articles::{FeedPage, InsertStats, Renderings};
pub use dialect::Dialect;
pub use ingest::{LeaseState, SourceState};
pub use rate_limits::Window;
pub use roles::{valid_role_name, valid_role_password};
pub use sessions::SessionRecord;
pub use users::Credentials;

use crate::secret::DatabaseUrl;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static MYSQL_MIGRATIONS: Migrator = sqlx::migrate!("migrations/mysql");

fn migrator(dialect: Dialect) -> &'static Migrator {
    match dialect {
        Dialect::Sqlite => &SQLITE_MIGRATIONS,
        Dialect::Postgres => &POSTGRES_MIGRATIONS,
        Dialect::MySql => &MYSQL_MIGRATIONS,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database cannot be reached right now: callers answer 503, not 500.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The health probe found the primary down: fail at once instead of queueing on the pool.
    #[error("the primary database is down (health probe failing)")]
    PrimaryDown,
    #[error("database error: {0}")]
    Query(#[source] sqlx::Error),
    #[error("username or email already registered")]
    Duplicate { username: bool, email: bool },
    #[error(
        "the database schema is at version {found}, newer than this build of newsread knows \
         (latest {known}); run a newer newsread or restore the database"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("migration failed: {0}")]
    Migrate(#[source] MigrateError),
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("cannot prepare the SQLite database file: {0}")]
    SqliteFile(String),
    /// A request the storage layer refuses before sending it (e.g. an unsafe role name).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The database cannot be reached now; the same request may work later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable(_) | Error::PrimaryDown)
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if is_auth_failure(&e) {
            AUTH_FAILURES.notify_waiters();
        }
        if is_read_only(&e) {
            READ_ONLY_SEEN_AT.store(clock_ms().max(1), Ordering::Relaxed);
            AUTH_FAILURES.notify_waiters();
        }
        if is_unavailable(&e) {
            Error::Unavailable(e)
        } else {
            Error::Query(e)
        }
    }
}

/// Errors that mean "try again later" rather than "this query is wrong".
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            let code = error_code(db.as_ref()).unwrap_or_default();
            // PostgreSQL: shutting down / cannot connect now / connection exceptions.
            code.starts_with("57P") || code.starts_with("08")
            // MySQL: too many connections, server shutdown, lock wait timeout, read-only failover.
            || matches!(code.as_ref(), "1040" | "1053" | "1205" | "1290" | "1836")
            // SQLite: busy / locked beyond the busy timeout.
            || matches!(code.as_ref(), "5" | "6" | "517" | "261" | "262")
            // Credentials being rotated: the monitor re-reads them within a second.
            || matches!(code.as_ref(), "28P01" | "28000" | "1045")
            // A standby after a failover: writes wait for the new primary.
            || code == "25006"
        }
        _ => false,
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// How to reach the databases and size the pools; built by the configuration at the edge.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: DatabaseUrl,
    pub replica_url: Option<DatabaseUrl>,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
    /// How long a replica read may take before it is retried on the primary.
    pub replica_timeout: Duration,
    /// How long a feed page read from the database is reused for other readers with the same
    /// selection (zero: never).
    pub feed_cache_ttl: Duration,
}

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Where fresh database URLs (with credentials) come from when the database rejects ours,
/// e.g. after a Secrets Manager rotation. Keeps the storage layer free of AWS.
pub trait CredentialSource: Send + Sync {
    /// The primary URL and, if configured, the replica URL.
    fn urls(&self) -> BoxFuture<'_, anyhow::Result<(String, Option<String>)>>;
}

/// Woken whenever any query fails authentication, so the health monitor re-reads
/// credentials at once instead of at its next periodic check.
static AUTH_FAILURES: tokio::sync::Notify = tokio::sync::Notify::const_new();

fn is_auth_failure(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if matches!(error_code(db.as_ref()).as_deref(), Some("28P01" | "28000" | "1045")))
}

/// The engine's own error code: PostgreSQL's and SQLite's from `code()`, MySQL's error
/// number (its SQLSTATE, which `code()` gives, is the generic HY000 for most errors we need).
fn error_code(db: &dyn sqlx::error::DatabaseError) -> Option<String> {
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return Some(my.number().to_string());
    }
    db.code().map(Cow::into_owned)
}

/// The server refuses writes because it is (now) a read-only standby: PostgreSQL's
/// read_only_sql_transaction, MySQL's --read-only (1290) and read-only mode (1836).
fn is_read_only(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if matches!(error_code(db.as_ref()).as_deref(), Some("25006" | "1290" | "1836")))
}

/// Milliseconds since the first call: a monotonic clock the pools' hooks can compare.
fn clock_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// When a server last refused a write as read-only (`clock_ms`, 0: never). After a failover,
/// pooled connections may still lead to the old primary, now a standby: every connection
/// opened before that moment is dropped when next acquired, so new ones follow the endpoint
/// to the new primary.
static READ_ONLY_SEEN_AT: AtomicU64 = AtomicU64::new(0);

fn opened_before_read_only_seen(age: Duration) -> bool {
    let seen = READ_ONLY_SEEN_AT.load(Ordering::Relaxed);
    let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
    seen != 0 && clock_ms().saturating_sub(age_ms) <= seen
}

/// Counters for where lag-tolerant reads were served; exported as metrics.
#[derive(Debug, Default)]
pub struct ReadStats {
    pub replica: AtomicU64,
    pub primary_fallback: AtomicU64,
}

/// Feed-page cache counters since start, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct FeedCacheStats {
    pub hits: u64,
    pub misses: u64,
}

struct Replica {
    pool: AnyPool,
    healthy: AtomicBool,
}

struct Inner {
    dialect: Dialect,
    primary: AnyPool,
    primary_healthy: AtomicBool,
    replica: Option<Replica>,
    replica_timeout: Duration,
    sqlite_path: Option<PathBuf>,
    /// SQLite only: the per-request session lookup runs inline (see `sqlite_inline`).
    sqlite_inline: Option<sqlite_inline::InlineReader>,
    credentials: std::sync::OnceLock<Arc<dyn CredentialSource>>,
    stats: ReadStats,
    feed_cache: feed_cache::FeedCache,
}

/// The data tier: a primary pool and an optional read-replica pool that falls back to it.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("dialect", &self.inner.dialect)
            .field("replica", &self.inner.replica.is_some())
            .finish()
    }
}

fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// Makes a SQLite URL usable on a fresh machine: parent directory created, file created on
/// first use. Returns the URL to connect with and the file path.
fn prepare_sqlite(url: &str) -> Result<(String, PathBuf), Error> {
    let rest = url.split_once(':').map_or("", |(_, r)| r);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path.starts_with(":memory:") || query.contains("mode=memory") {
        return Err(Error::SqliteFile(
            "an in-memory SQLite database cannot be shared by the connection pool; use a file path"
                .into(),
        ));
    }
    let path = PathBuf::from(path);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::SqliteFile(format!("{}: {e}", parent.display())))?;
    }
    let query = if query.split('&').any(|kv| kv.starts_with("mode=")) {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok((format!("sqlite://{}?{query}", path.display()), path))
}

fn pool_options(
    cfg: &DatabaseConfig,
    dialect: Dialect,
    acquire_timeout: Duration,
) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(cfg.max_connections)
        .min_connections(cfg.min_connections)
        .acquire_timeout(acquire_timeout)
        .idle_timeout(Some(cfg.idle_timeout))
        .max_lifetime(Some(cfg.max_lifetime))
        // A SQLite file connection cannot go stale, and each ping is a round trip to the
        // connection's worker thread; server connections are checked (they can drop).
        .test_before_acquire(dialect != Dialect::Sqlite)
        .before_acquire(|_conn, meta| {
            let keep = !opened_before_read_only_seen(meta.age);
            Box::pin(async move { Ok(keep) })
        })
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                let setup: &[&str] = match dialect {
                    // WAL lets readers run beside the writer; NORMAL is durable with WAL.
                    Dialect::Sqlite => {
                        &["PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"]
                    }
                    Dialect::MySql => &["SET time_zone = '+00:00'"],
                    Dialect::Postgres => &[],
                };
                for stmt in setup {
                    sqlx::query(stmt).execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
}

impl Db {
    /// Builds the pools without connecting, so an instance can start (and report not-ready)
    /// while its database is still coming up.
    pub fn connect(cfg: &DatabaseConfig) -> Result<Self, Error> {
        install_drivers();
        let raw = cfg.url.expose();
        let dialect = Dialect::from_url(raw).map_err(Error::InvalidUrl)?;
        let (url, sqlite_path) = match dialect {
            Dialect::Sqlite => {
                let (u, p) = prepare_sqlite(raw)?;
                (u, Some(p))
            }
            _ => (raw.to_owned(), None),
        };
        let primary = pool_options(cfg, dialect, cfg.acquire_timeout)
            .connect_lazy(&url)
            .map_err(Error::from)?;
        let replica = match &cfg.replica_url {
            Some(r) => Some(Replica {
                pool: pool_options(cfg, dialect, cfg.replica_timeout)
                    .connect_lazy(r.expose())
                    .map_err(Error::from)?,
                healthy: AtomicBool::new(true),
            }),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                dialect,
                primary,
                primary_healthy: AtomicBool::new(true),
                replica,
                replica_timeout: cfg.replica_timeout,
                sqlite_inline: sqlite_path.as_deref().map(sqlite_inline::InlineReader::new),
                sqlite_path,
                credentials: std::sync::OnceLock::new(),
                stats: ReadStats::default(),
                feed_cache: feed_cache::FeedCache::new(cfg.feed_cache_ttl),
            }),
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    /// Lets the health monitor re-read credentials when the database rejects them.
    pub fn set_credential_source(&self, source: Arc<dyn CredentialSource>) {
        let _ = self.inner.credentials.set(source);
    }

    pub fn read_stats(&self) -> &ReadStats {
        &self.inner.stats
    }

    pub fn feed_cache_stats(&self) -> FeedCacheStats {
        let cache = &self.inner.feed_cache;
        FeedCacheStats {
            hits: cache.hits.load(Ordering::Relaxed),
            misses: cache.misses.load(Ordering::Relaxed),
        }
    }

    /// (pool name, open connections, idle connections, healthy) for each pool, for metrics.
    pub fn pool_stats(&self) -> Vec<(&'static str, u32, usize, bool)> {
        let inner = &self.inner;
        let mut stats = vec![(
            "primary",
            inner.primary.size(),
            inner.primary.num_idle(),
            inner.primary_healthy.load(Ordering::Relaxed),
        )];
        if let Some(r) = &inner.replica {
            stats.push((
                "replica",
                r.pool.size(),
                r.pool.num_idle(),
                r.healthy.load(Ordering::Relaxed),
            ));
        }
        stats
    }

    /// Whether the last probe reached the primary.
    pub fn primary_healthy(&self) -> bool {
        self.inner.primary_healthy.load(Ordering::Relaxed)
    }

    /// `None` without a replica; else whether reads currently go to it.
    pub fn replica_healthy(&self) -> Option<bool> {
        self.inner
            .replica
            .as_ref()
            .map(|r| r.healthy.load(Ordering::Relaxed))
    }

    /// Adapts `?` placeholders to the dialect. Our SQL never has `?` inside literals.
    pub(crate) fn sql<'a>(&self, query: &'a str) -> Cow<'a, str> {
        if self.inner.dialect != Dialect::Postgres || !query.contains('?') {
            return Cow::Borrowed(query);
        }
        let mut out = String::with_capacity(query.len() + 8);
        let mut n = 0;
        for ch in query.chars() {
            if ch == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(ch);
            }
        }
        Cow::Owned(out)
    }

    /// The primary pool, unless the health probe has found it down.
    pub(crate) fn primary(&self) -> Result<&AnyPool, Error> {
        if self.inner.primary_healthy.load(Ordering::Relaxed) {
            Ok(&self.inner.primary)
        } else {
            Err(Error::PrimaryDown)
        }
    }

    /// Runs a lag-tolerant read on the replica when it is healthy, else on the primary. A
    /// failed or slow replica read is retried on the primary: users never see replica faults.
    pub(crate) async fn read<T, F, Fut>(&self, op: F) -> Result<T, Error>
    where
        F: Fn(AnyPool) -> Fut,
        Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        if self.inner.replica.is_some() {
            match self.on_replica(&op).await {
                Some(Ok(value)) => return Ok(value),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "replica read failed; serving it from the primary");
                }
                None => {}
            }
            self.inner
                .stats
                .primary_fallback
                .fetch_add(1, Ordering::Relaxed);
        }
        op(self.primary()?.clone()).await.map_err(Error::from)
    }

    /// A read that must be current (a session: a logout takes effect at once) runs on the
    /// primary; only while the primary cannot be reached (an outage or a failover) is it served
    /// by a healthy replica, which may lag by a moment: readers keep reading, and a session
    /// created in the last instant may be missing there (that reader logs in again).
    pub(crate) async fn read_fresh<T, F, Fut>(&self, op: F) -> Result<T, Error>
    where
        F: Fn(AnyPool) -> Fut,
        Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        let primary_error = match self.primary() {
            Ok(pool) => match op(pool.clone()).await {
                Ok(value) => return Ok(value),
                Err(e) if is_unavailable(&e) => Error::from(e),
                Err(e) => return Err(e.into()),
            },
            Err(e) => e,
        };
        match self.on_replica(&op).await {
            Some(result) => result.map_err(Error::from),
            None => Err(primary_error),
        }
    }

    /// One attempt on the replica, if it is healthy; `None` when there is none or the read
    /// timed out. A timeout or an "unavailable" error takes the replica out of service until
    /// the health probe sees it answer again.
    async fn on_replica<T, F, Fut>(&self, op: &F) -> Option<Result<T, sqlx::Error>>
    where
        F: Fn(AnyPool) -> Fut,
        Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        let replica = self
            .inner
            .replica
            .as_ref()
            .filter(|r| r.healthy.load(Ordering::Relaxed))?;
        match tokio::time::timeout(self.inner.replica_timeout, op(replica.pool.clone())).await {
            Ok(Ok(value)) => {
                self.inner.stats.replica.fetch_add(1, Ordering::Relaxed);
                Some(Ok(value))
            }
            Ok(Err(e)) => {
                if is_unavailable(&e) {
                    replica.healthy.store(false, Ordering::Relaxed);
                }
                Some(Err(e))
            }
            Err(_) => {
                replica.healthy.store(false, Ordering::Relaxed);
                tracing::warn!("replica read timed out");
                None
            }
        }
    }

    /// Probes both databases every second. A primary found down makes requests fail fast
    /// with 503 instead of each waiting out the pool's acquire timeout; a replica found down
    /// sends reads to the primary before a user request has to time out on it. Both return to
    /// service on the first good probe. Ends when the last `Db` handle is dropped.
    pub fn spawn_health_monitor(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PROBE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut ticks: u64 = 0;
            // Probes use connections of their own: a pool saturated by load must not look
            // like a database outage, and an outage must show within one probe timeout.
            let mut primary_conn = None;
            let mut replica_conn = None;
            loop {
                let auth_failed = tokio::select! {
                    _ = tick.tick() => false,
                    () = AUTH_FAILURES.notified() => true,
                };
                ticks += 1;
                let Some(inner) = weak.upgrade() else { return };
                let primary = probe(&mut primary_conn, &inner.primary, Some(inner.dialect)).await;
                if let Some(source) = inner.credentials.get() {
                    // Pooled connections keep working after a rotation; only new ones fail,
                    // so test a fresh connection when a failure was seen, and now and then.
                    let rejected = matches!(&primary, Err(e) if is_auth_failure(e));
                    if rejected || auth_failed || ticks.is_multiple_of(60) {
                        refresh_credentials_if_rejected(&inner, source.as_ref()).await;
                    }
                }
                report("primary", &inner.primary_healthy, primary.is_ok());
                if let Some(replica) = &inner.replica {
                    let ok = probe(&mut replica_conn, &replica.pool, None).await.is_ok();
                    report("replica", &replica.healthy, ok);
                }
            }
        });
    }

    /// Applies pending migrations under a lock (an advisory lock on PostgreSQL and MySQL, a
    /// file lock beside a SQLite database), so instances starting together never race.
    pub async fn migrate(&self) -> Result<(), Error> {
        let migrator = migrator(self.inner.dialect);
        let lock = match (&self.inner.sqlite_path, self.inner.dialect) {
            (Some(path), _) => MigrationLock::File(lock_sqlite(path).await?),
            (None, Dialect::MySql) => MigrationLock::MySql(self.lock_mysql().await?),
            (None, _) => MigrationLock::Builtin,
        };
        let result = migrator
            .run(&self.inner.primary)
            .await
            .map_err(|e| match e {
                MigrateError::VersionMissing(found) => Error::SchemaTooNew {
                    found,
                    known: latest_version(migrator),
                },
                MigrateError::Execute(e) if is_unavailable(&e) => Error::Unavailable(e),
                other => Error::Migrate(other),
            });
        if let MigrationLock::MySql(conn) = lock {
            // Ending the session releases the lock.
            let _ = sqlx::Connection::close(conn).await;
        }
        result?;
        self.optimize(false).await
    }

    /// Keeps the query planner's statistics current where nothing else does. Without them
    /// SQLite picks the category index for `country = ? AND category = ?` and filters
    /// thousands of rows (bench/README.md, finding 2). `PRAGMA optimize` re-analyzes only
    /// what changed a lot, sampling at most `analysis_limit` rows per index, so it takes
    /// milliseconds even on a million articles; `full` analyzes every table (after a bulk load).
    /// SQLite connections read statistics when they load the schema, so pooled connections
    /// pick up new ones as they are recycled (`NEWSREAD_DATABASE_MAX_LIFETIME`).
    /// PostgreSQL (autovacuum) and InnoDB (persistent statistics) keep their own.
    pub async fn optimize(&self, full: bool) -> Result<(), Error> {
        if self.inner.dialect != Dialect::Sqlite {
            return Ok(());
        }
        let mut conn = self.inner.primary.acquire().await?;
        sqlx::query("PRAGMA analysis_limit = 1000")
            .execute(&mut *conn)
            .await?;
        let analyze = if full {
            "ANALYZE"
        } else {
            "PRAGMA optimize = 0x10002"
        };
        sqlx::query(analyze).execute(&mut *conn).await?;
        Ok(())
    }

    /// sqlx's own MySQL migration lock asks `GET_LOCK(name, -1)`, which MariaDB answers with
    /// NULL (no lock) and sqlx does not check; so take a named lock ourselves, on a connection
    /// of its own, and insist on getting it.
    async fn lock_mysql(&self) -> Result<sqlx::AnyConnection, Error> {
        use sqlx::Connection as _;
        let options = self.inner.primary.connect_options();
        let mut conn = sqlx::AnyConnection::connect_with(&options).await?;
        let row =
            sqlx::query("SELECT GET_LOCK(CONCAT('newsread_migrate_', DATABASE()), 600) AS got")
                .fetch_one(&mut conn)
                .await?;
        match row.try_get::<Option<i64>, _>("got")? {
            Some(1) => Ok(conn),
            other => Err(Error::Query(sqlx::Error::Protocol(format!(
                "could not take the migration lock (GET_LOCK returned {other:?})"
            )))),
        }
    }

    /// Readiness: the primary answers and has every migration this build needs.
    pub async fn check_schema(&self) -> Result<(), Error> {
        let known = latest_version(migrator(self.inner.dialect));
        let row: AnyRow = self
            .read_fresh(|pool| async move {
                sqlx::query("SELECT MAX(version) AS v FROM _sqlx_migrations")
                    .fetch_one(&pool)
                    .await
            })
            .await?;
        let found: Option<i64> = row.try_get("v")?;
        // A schema newer than ours is refused at start (see `migrate`), but once running we
        // stay ready when a newer release migrates ahead during a rolling deploy: migrations
        // are additive (expand, then contract a release later), so the old code keeps working.
        match found {
            Some(v) if v >= known => Ok(()),
            _ => Err(Error::Migrate(MigrateError::VersionMissing(known))),
        }
    }

    pub async fn close(&self) {
        self.inner.primary.close().await;
        if let Some(r) = &self.inner.replica {
            r.pool.close().await;
        }
    }
}

/// Held while migrations run, so instances starting together take turns.
enum MigrationLock {
    File(#[allow(dead_code)] std::fs::File),
    MySql(sqlx::AnyConnection),
    /// PostgreSQL: sqlx holds a session advisory lock itself.
    Builtin,
}

/// How often the databases are probed, and how long a probe may take.
const PROBE_EVERY: Duration = Duration::from_millis(500);
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Pings the database on the probe's own connection (opened with the pool's current
/// options), reconnecting after any failure.
/// One health probe on a connection of its own. With `writable`, a server that answers but
/// is a read-only standby (where a failover's old endpoint may briefly lead) counts as down:
/// writes then fail fast and reads go to the replica.
async fn probe(
    conn: &mut Option<sqlx::AnyConnection>,
    pool: &AnyPool,
    writable: Option<Dialect>,
) -> Result<(), sqlx::Error> {
    use sqlx::Connection as _;
    let attempt = async {
        let c = match conn {
            Some(c) => c,
            None => conn.insert(sqlx::AnyConnection::connect_with(&pool.connect_options()).await?),
        };
        let read_only_check = match writable {
            Some(Dialect::Postgres) => "SELECT CAST(pg_is_in_recovery() AS INT) AS ro",
            Some(Dialect::MySql) => "SELECT CAST(@@global.read_only AS SIGNED) AS ro",
            Some(Dialect::Sqlite) | None => return c.ping().await,
        };
        let row = sqlx::query(read_only_check).fetch_one(&mut *c).await?;
        let read_only = match writable {
            Some(Dialect::Postgres) => row.try_get::<i32, _>("ro")? != 0,
            _ => row.try_get::<i64, _>("ro")? != 0,
        };
        if read_only {
            return Err(sqlx::Error::Protocol(
                "the primary endpoint leads to a read-only server".into(),
            ));
        }
        Ok(())
    };
    let result = match tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
        Ok(result) => result,
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    };
    if result.is_err() {
        *conn = None;
    }
    result
}

/// Opens one fresh connection; if the database rejects its credentials, re-reads them and
/// points both pools at the new ones. Open connections are untouched and stay valid.
async fn refresh_credentials_if_rejected(inner: &Inner, source: &dyn CredentialSource) {
    use sqlx::Connection as _;
    match sqlx::AnyConnection::connect_with(&inner.primary.connect_options()).await {
        Ok(conn) => {
            let _ = conn.close().await;
            return;
        }
        Err(e) if is_auth_failure(&e) => {}
        Err(_) => return,
    }
    let result = async {
        let (primary, replica) = source.urls().await?;
        inner.primary.set_connect_options(primary.parse()?);
        if let (Some(r), Some(url)) = (&inner.replica, replica) {
            r.pool.set_connect_options(url.parse()?);
        }
        anyhow::Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!("database credentials were rejected; re-read them and updated the pools")
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "database credentials were rejected and could not be re-read")
        }
    }
}

fn report(which: &str, healthy: &AtomicBool, ok: bool) {
    if healthy.swap(ok, Ordering::Relaxed) != ok {
        if ok {
            tracing::info!(database = which, "database reachable again");
        } else {
            tracing::warn!(database = which, "database unreachable");
        }
    }
}

fn latest_version(m: &Migrator) -> i64 {
    m.iter().map(|m| m.version).max().unwrap_or(0)
}

async fn lock_sqlite(db_path: &std::path::Path) -> Result<std::fs::File, Error> {
    let mut lock_path = db_path.as_os_str().to_owned();
    lock_path.push(".migrate-lock");
    let lock_path = PathBuf::from(lock_path);
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::SqliteFile(format!("{}: {e}", lock_path.display())))?;
        file.lock()
            .map_err(|e| Error::SqliteFile(format!("{}: {e}", lock_path.display())))?;
        Ok(file)
    })
    .await
    .map_err(|e| Error::SqliteFile(format!("migration lock task failed: {e}")))?
}

/// Runs an INSERT and returns the new row's id on every dialect: `RETURNING id` (which the
/// caller appends) on SQLite and PostgreSQL, `LAST_INSERT_ID()` on MySQL, which has no RETURNING.
async fn insert_returning_id<'q>(
    db: &Db,
    executor: impl sqlx::Executor<'q, Database = sqlx::Any>,
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
) -> Result<i64, sqlx::Error> {
    if db.dialect() != Dialect::MySql {
        let row = query.fetch_one(executor).await?;
        row.try_get::<i64, _>(0)
    } else {
        let done = query.execute(executor).await?;
        done.last_insert_id()
            .ok_or_else(|| sqlx::Error::Protocol("the database returned no insert id".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_pick_backends() {
        assert_eq!(Dialect::from_url("sqlite://x.db"), Ok(Dialect::Sqlite));
        assert_eq!(Dialect::from_url("sqlite:x.db"), Ok(Dialect::Sqlite));
        assert_eq!(Dialect::from_url("postgresql://h/d"), Ok(Dialect::Postgres));
        assert_eq!(Dialect::from_url("mariadb://h/d"), Ok(Dialect::MySql));
        let err = Dialect::from_url("mongodb://h/d").unwrap_err();
        assert!(err.contains("sqlite:") && err.contains("postgres:") && err.contains("mysql:"));
    }

    #[test]
    fn sqlite_urls_get_a_directory_and_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a/b/news.db");
        let (url, path) = prepare_sqlite(&format!("sqlite://{}", file.display())).unwrap();
        assert_eq!(path, file);
        assert!(url.ends_with("?mode=rwc"), "{url}");
        assert!(file.parent().unwrap().is_dir());
        assert!(prepare_sqlite("sqlite::memory:").is_err());
    }

    #[test]
    fn postgres_placeholders_are_numbered() {
        let mut cfg = crate::config::Config::from_vars(Default::default())
            .unwrap()
            .database;
        cfg.url = crate::secret::DatabaseUrl::new("postgres://localhost/x");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let db = Db::connect(&cfg).unwrap();
            assert_eq!(db.sql("a = ? AND b IN (?, ?)"), "a = $1 AND b IN ($2, $3)");
        });
    }
}
