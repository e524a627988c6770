//! Building and running one instance: the composition root.
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::password::Passwords;
use crate::storage::{CredentialSource, Db};
use crate::telemetry::Metrics;
use crate::web::{self, AppServices, AppState};

pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    state: AppState,
}

impl Application {
    /// Connects, migrates, loads sample news into an empty database, and binds the listener
    /// (port 0 picks a free port, which tests use).
    pub async fn build(mut config: Config) -> anyhow::Result<Self> {
        let schema = if config.migrate_on_start {
            Schema::Migrate
        } else {
            Schema::AwaitMigrations
        };
        let db = connect(&mut config, schema).await?;
        if config.sample_news && !config.ingest.has_sources() {
            crate::ingest::sample::load_if_empty(&db, crate::clock::unix_now()).await?;
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?,
            ),
            None => None,
        };
        let media = match &config.shared_dir {
            Some(dir) => Some(
                crate::media::MediaStore::new(dir, config.media_private_addresses)
                    .map_err(|e| anyhow::anyhow!("NEWSREAD_SHARED_DIR {}: {e}", dir.display()))?,
            ),
            None => None,
        };
        let passwords = Passwords::with_queue(config.password_queue as usize);
        let state = AppState::new(AppServices {
            media,
            db,
            config: Arc::new(config),
            passwords,
            ready: Arc::new(AtomicBool::new(true)),
            metrics: Arc::new(Metrics::new()),
        });
        Ok(Self {
            listener,
            metrics_listener,
            state,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` resolves, then drains: `/readyz` turns 503 at once, requests
    /// keep being served for the grace period so the load balancer can move traffic away,
    /// then the listener closes, in-flight requests finish and the pools close.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            listener,
            metrics_listener,
            state,
        } = self;
        let timeouts = web::server::Timeouts {
            header_read: state.config.header_read_timeout,
            idle: state.config.idle_timeout,
        };
        if let Some(l) = metrics_listener {
            let router = web::metrics::router(state.clone());
            tokio::spawn(web::server::serve(
                l,
                router,
                timeouts,
                std::future::pending(),
            ));
        }
        spawn_session_sweeper(state.clone());
        // A database lease makes sure only one instance fetches per cycle.
        let scheduler = if state.config.ingest.enabled {
            crate::ingest::spawn_scheduler(
                state.db.clone(),
                state.config.clone(),
                state.metrics.clone(),
            )
        } else {
            None
        };
        let grace = state.config.shutdown_grace;
        let ready = state.ready.clone();
        let db = state.db.clone();
        let drained = async move {
            shutdown.await;
            ready.store(false, Ordering::Relaxed);
            if let Some(scheduler) = scheduler {
                scheduler.stop().await;
            }
            tracing::info!(
                grace_secs = grace.as_secs_f64(),
                "shutdown requested; draining"
            );
            tokio::time::sleep(grace).await;
            tracing::info!("closing the listener; finishing in-flight requests");
        };
        web::server::serve(listener, web::router(state), timeouts, drained).await;
        db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// What a command does about the database schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Apply pending migrations.
    Migrate,
    /// Wait until `newsread migrate` has applied them (servers without DDL rights).
    AwaitMigrations,
    /// `newsread migrate`: with `NEWSREAD_DATABASE_ADMIN_SECRET_ARN`, as the administrator,
    /// then create or update the app's role from `NEWSREAD_DATABASE_SECRET_ARN`.
    MigrateAsAdmin,
    /// Leave the schema as it is (`newsread migrate --status`).
    Inspect,
}

/// The database as every command gets it: secrets resolved into `config`, the schema as
/// `schema` says, and the credential source set with the health monitor running, since the
/// monitor is what re-reads rotated credentials, in a long seed or ingest as in `serve`.
pub async fn connect(config: &mut Config, schema: Schema) -> anyhow::Result<Db> {
    let (credentials, app_role) = match schema {
        Schema::MigrateAsAdmin => crate::secrets::resolve_for_migrate(config).await?,
        Schema::Migrate | Schema::AwaitMigrations | Schema::Inspect => {
            (crate::secrets::resolve(config).await?, None)
        }
    };
    let db = open(config, credentials, schema).await?;
    if let Some(role) = &app_role {
        db.ensure_app_role(&role.username, &role.password).await?;
        tracing::info!(role = %role.username, "app database role up to date");
    }
    Ok(db)
}

/// [`connect`] once secrets are resolved; apart so tests need no AWS.
async fn open(
    config: &Config,
    credentials: Option<Arc<dyn CredentialSource>>,
    schema: Schema,
) -> anyhow::Result<Db> {
    let db = Db::connect(&config.database)?;
    if let Some(source) = credentials {
        db.set_credential_source(source);
    }
    db.spawn_health_monitor();
    match schema {
        Schema::Migrate | Schema::MigrateAsAdmin => db.migrate().await?,
        Schema::AwaitMigrations => wait_for_schema(&db).await?,
        Schema::Inspect => {}
    }
    Ok(db)
}

/// Deletes expired sessions and ended throttle windows hourly; lookups already ignore them,
/// this keeps the tables small.
fn spawn_session_sweeper(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let now = crate::clock::unix_now();
            let idle =
                i64::try_from(state.config.session.idle_timeout.as_secs()).unwrap_or(i64::MAX);
            match state.db.purge_sessions(now, now.saturating_sub(idle)).await {
                Ok(n) if n > 0 => tracing::info!(removed = n, "expired sessions removed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "session sweep failed"),
            }
            let t = &state.config.throttle;
            let longest = [
                t.login_per_account,
                t.login_per_address,
                t.register_per_address,
            ]
            .iter()
            .map(|l| l.window.as_secs())
            .max()
            .unwrap_or(0);
            let cutoff = now.saturating_sub(i64::try_from(longest).unwrap_or(i64::MAX));
            if let Err(e) = state.db.purge_rate_limits(cutoff).await {
                tracing::warn!(error = %e, "rate-limit sweep failed");
            }
            if let Err(e) = state.db.purge_login_devices(now).await {
                tracing::warn!(error = %e, "login-device sweep failed");
            }
        }
    });
}

/// Servers without DDL rights start once `newsread migrate` has applied every migration this
/// build knows (a newer schema is fine if it declares this release compatible: expand/contract,
/// `storage::SchemaStatus`). Gives up after ten minutes, so a
/// supervisor restarts the server and the failure shows.
async fn wait_for_schema(db: &Db) -> anyhow::Result<()> {
    const WAIT: Duration = Duration::from_secs(600);
    let started = std::time::Instant::now();
    let mut said = None::<Vec<i64>>;
    loop {
        let pending = match db.schema_status().await {
            // Every migration of ours is there; a newer release may have migrated further,
            // which this one accepts only if the newer schema declares it compatible.
            Ok(s) if s.pending.is_empty() => return Ok(s.verdict()?),
            Ok(s) => s.pending,
            Err(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "waiting for the database");
                said.clone().unwrap_or_default()
            }
            Err(e) => return Err(e.into()),
        };
        if started.elapsed() > WAIT {
            anyhow::bail!(
                "the database lacks migrations {pending:?} and NEWSREAD_MIGRATE_ON_START is off: \
                 run `newsread migrate`"
            );
        }
        if said.as_ref() != Some(&pending) {
            tracing::warn!(
                ?pending,
                "waiting for `newsread migrate` to apply migrations"
            );
            said = Some(pending);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl CredentialSource for Fixed {
        fn urls(&self) -> crate::storage::BoxFuture<'_, anyhow::Result<(String, Option<String>)>> {
            Box::pin(async { anyhow::bail!("not called") })
        }
    }

    /// `seed`, `migrate` and `ingest` connect as `serve` does: a credential source that the
    /// secrets resolve to stays with the database (which holds the only other reference).
    #[tokio::test]
    async fn every_schema_keeps_the_credential_source() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/news.db", dir.path().display());
        let vars = [("NEWSREAD_DATABASE_URL".to_owned(), url)].into();
        let config = Config::from_vars(vars).expect("valid");
        for schema in [
            Schema::Migrate,
            Schema::MigrateAsAdmin,
            Schema::AwaitMigrations,
            Schema::Inspect,
        ] {
            let source: Arc<dyn CredentialSource> = Arc::new(Fixed);
            let db = open(&config, Some(source.clone()), schema)
                .await
                .expect("opens");
            assert_eq!(Arc::strong_count(&source), 2, "{schema:?}");
            db.close().await;
        }
    }
}
