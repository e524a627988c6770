//! The pool topology: a primary pool and an optional replica pool, the health probe that
//! takes either out of service and back, where each kind of read runs, and following a
//! credential rotation.
use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

use super::dialect::Dialect;
use super::error::{is_auth_failure, is_unavailable, Error};
use super::{feed_cache, session_cache, sqlite_inline};
use crate::secret::DatabaseUrl;

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
    /// How long a session read from the database answers for the same token on this
    /// instance (zero: never; at most 1 s): the bound for a logout elsewhere to take effect.
    pub session_cache_ttl: Duration,
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
pub(super) static AUTH_FAILURES: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Milliseconds since the first call: a monotonic clock the pools' hooks can compare.
pub(super) fn clock_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// When a server last refused a write as read-only (`clock_ms`, 0: never). After a failover,
/// pooled connections may still lead to the old primary, now a standby: every connection
/// opened before that moment is dropped when next acquired, so new ones follow the endpoint
/// to the new primary.
pub(super) static READ_ONLY_SEEN_AT: AtomicU64 = AtomicU64::new(0);

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

/// Hits and misses of a cache (feed pages, sessions) since start, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

pub(super) struct Replica {
    pub(super) pool: AnyPool,
    pub(super) healthy: AtomicBool,
}

pub(super) struct Inner {
    pub(super) dialect: Dialect,
    pub(super) primary: AnyPool,
    pub(super) primary_healthy: AtomicBool,
    pub(super) replica: Option<Replica>,
    pub(super) replica_timeout: Duration,
    pub(super) sqlite_path: Option<PathBuf>,
    /// SQLite only: the per-request session lookup runs inline (see `sqlite_inline`).
    pub(super) sqlite_inline: Option<sqlite_inline::InlineReader>,
    pub(super) credentials: std::sync::OnceLock<Arc<dyn CredentialSource>>,
    pub(super) stats: ReadStats,
    pub(super) feed_cache: feed_cache::FeedCache,
    pub(super) session_cache: session_cache::SessionCache,
}

/// The data tier: a primary pool and an optional read-replica pool that falls back to it.
#[derive(Clone)]
pub struct Db {
    pub(super) inner: Arc<Inner>,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("dialect", &self.inner.dialect)
            .field("replica", &self.inner.replica.is_some())
            .finish()
    }
}

/// Registers sqlx's drivers for the `Any` pool, once per process.
pub fn install_drivers() {
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
        return Err(Error::sqlite_file(
            "an in-memory SQLite database cannot be shared by the connection pool; use a file path",
        ));
    }
    let path = PathBuf::from(path);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::sqlite_file(format!("{}: {e}", parent.display())))?;
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
                for stmt in dialect.session_setup() {
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
        let dialect = Dialect::from_url(raw).map_err(Error::Setup)?;
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
                session_cache: session_cache::SessionCache::new(cfg.session_cache_ttl),
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

    pub fn feed_cache_stats(&self) -> CacheStats {
        let cache = &self.inner.feed_cache;
        CacheStats {
            hits: cache.hits.load(Ordering::Relaxed),
            misses: cache.misses.load(Ordering::Relaxed),
        }
    }

    pub fn session_cache_stats(&self) -> CacheStats {
        let cache = &self.inner.session_cache;
        CacheStats {
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

    /// Adapts `?` placeholders to the dialect.
    pub(crate) fn sql<'a>(&self, query: &'a str) -> Cow<'a, str> {
        self.inner.dialect.placeholders(query)
    }

    /// A transaction on the primary that will write (see [`Dialect::begin_write`]).
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, Error> {
        Ok(self
            .primary()?
            .begin_with(self.inner.dialect.begin_write())
            .await?)
    }

    /// Runs an insert built by [`Dialect::insert_returning_id`] and returns the new row's id.
    pub(crate) async fn insert_id<'q>(
        &self,
        executor: impl sqlx::Executor<'q, Database = sqlx::Any>,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> Result<i64, Error> {
        if self.inner.dialect.has_returning() {
            let row = query.fetch_one(executor).await?;
            Ok(row.try_get::<i64, _>(0)?)
        } else {
            let done = query.execute(executor).await?;
            done.last_insert_id()
                .ok_or_else(|| Error::invariant("the database returned no id for a new row"))
        }
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
                    let rejected =
                        matches!(&primary, Err(ProbeFailure::Database(e)) if is_auth_failure(e));
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

    pub async fn close(&self) {
        self.inner.primary.close().await;
        if let Some(r) = &self.inner.replica {
            r.pool.close().await;
        }
    }
}

/// How often the databases are probed, and how long a probe may take.
const PROBE_EVERY: Duration = Duration::from_millis(500);
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a probe failed.
#[derive(Debug)]
enum ProbeFailure {
    Database(sqlx::Error),
    /// The primary endpoint answers but leads to a read-only standby (as a failover's old
    /// endpoint may, briefly).
    ReadOnly,
    TimedOut,
}

impl From<sqlx::Error> for ProbeFailure {
    fn from(e: sqlx::Error) -> Self {
        ProbeFailure::Database(e)
    }
}

/// One health probe on a connection of its own (opened with the pool's current options),
/// reconnecting after any failure. With `writable`, a read-only server counts as down:
/// writes then fail fast and reads go to the replica.
async fn probe(
    conn: &mut Option<sqlx::AnyConnection>,
    pool: &AnyPool,
    writable: Option<Dialect>,
) -> Result<(), ProbeFailure> {
    use sqlx::Connection as _;
    let attempt = async {
        let c = match conn {
            Some(c) => c,
            None => conn.insert(sqlx::AnyConnection::connect_with(&pool.connect_options()).await?),
        };
        let Some(read_only_check) = writable.and_then(Dialect::read_only_probe) else {
            return Ok(c.ping().await?);
        };
        let row = sqlx::query(read_only_check).fetch_one(&mut *c).await?;
        if row.try_get::<i64, _>("ro")? != 0 {
            return Err(ProbeFailure::ReadOnly);
        }
        Ok(())
    };
    let result = match tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
        Ok(result) => result,
        Err(_) => Err(ProbeFailure::TimedOut),
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

/// Pool settings for unit tests (the real defaults live in the configuration table).
#[cfg(test)]
pub(super) fn test_config(url: &str) -> DatabaseConfig {
    DatabaseConfig {
        url: DatabaseUrl::new(url),
        replica_url: None,
        max_connections: 4,
        min_connections: 0,
        acquire_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(600),
        max_lifetime: Duration::from_secs(1800),
        replica_timeout: Duration::from_millis(800),
        feed_cache_ttl: Duration::from_secs(1),
        session_cache_ttl: Duration::from_secs(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
