//! Getting news into the database. Every page is served from there, never from upstream.
//!
//! A cycle asks each configured source once (mediastack, then each feed; the bundled sample
//! set when neither is configured), stores what is new or changed, and applies retention.
//! A failing source is reported and counted, and the cycle carries on with the others;
//! nothing a source sends can delete or overwrite stored articles except a newer title,
//! description or image for the same URL. The [`scheduler`] runs cycles on one instance at
//! a time; `newsread ingest --once` runs one by hand.
pub(crate) mod clean;
pub(crate) mod feeds;
mod http;
pub(crate) mod item;
mod language;
pub(crate) mod mediastack;
mod report;
pub mod sample;
mod scheduler;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use feeds::{parse as parse_feed, ParseError, ParsedFeed};
pub use http::{FetchError, HttpLimits};
pub use item::RawItem;
pub use report::{CycleReport, SourceReport, Status};
pub use scheduler::{spawn_scheduler, Scheduler, SchedulerHandle, Tick, JOB};

use crate::config::Config;
use crate::domain::article::NewArticle;
use crate::secret::Secret;
use crate::storage::Db;
use crate::telemetry::Metrics;

/// Category of feed articles when neither the operator's tag nor the item names one:
/// mediastack's own catch-all. The report says when it was used.
pub const DEFAULT_CATEGORY: &str = "general";
/// Articles deleted per statement by retention: short statements, short locks.
pub const RETENTION_BATCH: i64 = 500;
/// Back-off after HTTP 429 or a rate-limit error that names no Retry-After.
pub const DEFAULT_BACKOFF_SECS: i64 = 600;
/// Longest Retry-After honoured; a larger value is treated as this (a typo must not stop a
/// source for a year).
pub const MAX_BACKOFF_SECS: i64 = 86_400;

/// Runs ingestion cycles: the sources, the HTTP client and where results go.
pub struct Ingester {
    db: Db,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    http: http::HttpClient,
    mediastack_key: Option<Secret<String>>,
    /// Created on first use when the key comes from AWS Secrets Manager.
    secrets: tokio::sync::OnceCell<crate::secrets::SecretsClient>,
}

impl Ingester {
    /// An ingester with production HTTP limits and the mediastack key from the configuration.
    pub fn new(db: Db, config: Arc<Config>, metrics: Arc<Metrics>) -> Result<Self, FetchError> {
        Self::with_limits(db, config, metrics, HttpLimits::default())
    }

    pub fn with_limits(
        db: Db,
        config: Arc<Config>,
        metrics: Arc<Metrics>,
        limits: HttpLimits,
    ) -> Result<Self, FetchError> {
        Ok(Self {
            mediastack_key: config.ingest.mediastack_access_key.clone(),
            secrets: tokio::sync::OnceCell::new(),
            http: http::HttpClient::new(limits)?,
            db,
            config,
            metrics,
        })
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn http(&self) -> &http::HttpClient {
        &self.http
    }

    /// True when the cycle would fall back to the bundled sample set.
    fn uses_sample(&self) -> bool {
        self.mediastack_key.is_none() && self.config.ingest.feeds.is_empty()
    }

    /// Whether a cycle has anything to do: a source, or the sample set switched on.
    pub fn has_work(&self) -> bool {
        !self.uses_sample() || self.config.sample_news
    }

    /// One cycle at `now` (Unix seconds): every source, then retention. Never fails as a
    /// whole; each source's outcome is in the report, and metrics are recorded.
    pub async fn run_cycle(&self, now: i64) -> CycleReport {
        let retention_secs = i64::from(self.config.ingest.retention_days) * 86_400;
        let cutoff = now.saturating_sub(retention_secs);
        let mut sources = Vec::new();
        if let Some(key) = self.current_mediastack_key().await {
            sources.push(mediastack::ingest(self, &key, now, cutoff).await);
        }
        for feed in &self.config.ingest.feeds {
            sources.push(feeds::ingest(self, feed, now, cutoff).await);
        }
        if self.uses_sample() && self.config.sample_news {
            sources.push(sample::ingest(&self.db, true, now, cutoff).await);
        }
        let retention = self.apply_retention(cutoff).await;
        self.sweep_images(cutoff).await;
        if let Err(e) = self.db.optimize(false).await {
            tracing::warn!(error = %e, "could not refresh the query planner's statistics");
        }
        let report = CycleReport {
            started_at: now,
            sources,
            retention_cutoff: cutoff,
            retention,
        };
        report.record(&self.metrics);
        report
    }

    /// The mediastack key for this cycle. When it comes from Secrets Manager it is re-read
    /// every cycle (one cheap call per interval), so a rotated key is used from the next
    /// cycle on; if the read fails, the last known key is used.
    async fn current_mediastack_key(&self) -> Option<Secret<String>> {
        let Some(arn) = &self.config.aws.mediastack_secret_arn else {
            return self.mediastack_key.clone();
        };
        let client = self
            .secrets
            .get_or_init(crate::secrets::SecretsClient::from_environment)
            .await;
        match client.get(arn).await {
            Ok(value) => Some(crate::secrets::parse_mediastack_secret(value)),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "could not re-read the mediastack key; using the last one");
                self.mediastack_key.clone()
            }
        }
    }

    /// Retention for the shared image cache: images fetched before the article cutoff go.
    async fn sweep_images(&self, cutoff: i64) {
        let Some(dir) = &self.config.shared_dir else {
            return;
        };
        let cutoff = std::time::UNIX_EPOCH
            + std::time::Duration::from_secs(u64::try_from(cutoff).unwrap_or(0));
        let swept = match crate::media::MediaStore::new(dir, self.config.media_private_addresses) {
            Ok(store) => store.sweep(cutoff).await,
            Err(e) => Err(e),
        };
        match swept {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "old cached images removed"),
            Err(e) => tracing::warn!(error = %e, "image cache sweep failed"),
        }
    }

    /// Deletes articles published before `cutoff`, [`RETENTION_BATCH`] at a time.
    async fn apply_retention(&self, cutoff: i64) -> Result<u64, String> {
        let mut deleted = 0;
        loop {
            let n = self
                .db
                .delete_articles_published_before(cutoff, RETENTION_BATCH)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "retention failed");
                    e.to_string()
                })?;
            deleted += n;
            if n < RETENTION_BATCH as u64 {
                return Ok(deleted);
            }
            // Let other writers in between batches.
            tokio::task::yield_now().await;
        }
    }

    /// Stops requests to a source after a rate limit: until `Retry-After` (bounded), or
    /// [`DEFAULT_BACKOFF_SECS`] without one. Returns the time requests may resume.
    async fn back_off(
        &self,
        source_id: &str,
        label: &str,
        retry_after: Option<&str>,
        now: i64,
        status: u16,
    ) -> Result<i64, crate::storage::Error> {
        let wait = retry_after
            .and_then(|v| http::retry_after_secs(v, now))
            .unwrap_or(DEFAULT_BACKOFF_SECS)
            .clamp(1, MAX_BACKOFF_SECS);
        let until = now.saturating_add(wait);
        let reason = format!("rate limited (HTTP {status})");
        self.db
            .block_source(source_id, label, until, Some(&reason), now)
            .await?;
        Ok(until)
    }
}

/// Items to articles; every refused item is counted under its reason, and every default
/// or detected tag under what was used.
pub(crate) fn convert(
    items: &[RawItem],
    defaults: &item::Defaults,
    now: i64,
    cutoff: i64,
    report: &mut SourceReport,
) -> Vec<NewArticle> {
    let mut out: Vec<NewArticle> = Vec::with_capacity(items.len());
    for raw in items {
        match item::to_article(raw, defaults, now, cutoff) {
            // The same URL twice in one response is one article.
            Ok(c) if out.iter().any(|b| b.url == c.article.url) => {
                report.skip("duplicate in this response")
            }
            Ok(c) => {
                for used in c.defaults_used() {
                    report.defaulted(used);
                }
                out.push(c.article);
            }
            Err(reason) => report.skip(reason),
        }
    }
    out
}

/// `2026-11-05T08:00:00Z`, for reports.
pub fn format_time(unix: i64) -> String {
    crate::clock::rfc3339(unix).unwrap_or_else(|| unix.to_string())
}

/// `newsread ingest --once`: one cycle now, then close. Ignores the scheduler's lease (it is
/// an operator's explicit request) but not the budget or any back-off, which live in the
/// database.
pub async fn run_once(db: Db, config: Config) -> anyhow::Result<CycleReport> {
    let ingester = Ingester::new(db.clone(), Arc::new(config), Arc::new(Metrics::new()))?;
    let report = ingester.run_cycle(crate::clock::unix_now()).await;
    db.close().await;
    Ok(report)
}

/// `newsread ingest`: a dedicated ingestion worker, the scheduler in the foreground (whatever
/// `NEWSREAD_INGEST` says, which is about `serve`) until `shutdown` resolves.
pub async fn run_worker(
    db: Db,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    let ingester = Ingester::new(db.clone(), Arc::new(config), Arc::new(Metrics::new()))?;
    let scheduler = Scheduler::new(ingester);
    let holder = scheduler.holder().to_owned();
    tokio::select! {
        () = scheduler.run() => {},
        () = shutdown => {},
    }
    // Hand over at once instead of after the lease expires.
    if let Err(e) = tokio::time::timeout(Duration::from_secs(5), db.release_lease(JOB, &holder))
        .await
        .unwrap_or(Ok(()))
    {
        tracing::warn!(error = %e, "could not release the ingestion lease");
    }
    db.close().await;
    Ok(())
}
