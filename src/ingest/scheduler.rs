//! Runs ingestion cycles on exactly one instance at a time, however many share the database.
//!
//! Every instance polls a lease row (`ingest_leases`). The holder renews it every poll; the
//! others take it only once it has expired, so a crashed leader is replaced within one
//! interval. Holding the lease is not enough to fetch: a cycle starts only after an atomic
//! claim that the last one (by whoever) started an interval ago, so a change of leader never
//! causes a second fetch in the same cycle.
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::{CycleReport, Ingester};
use crate::clock::unix_now;
use crate::config::Config;
use crate::storage::{Db, Error};
use crate::telemetry::Metrics;

/// The lease's name in `ingest_leases`.
pub const JOB: &str = "ingest";

/// What one scheduler tick did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tick {
    /// Another instance holds the lease.
    Follower { leader: String },
    /// This instance leads, but the last cycle started less than an interval ago.
    NotDue { next_at: i64 },
    /// This instance ran a cycle.
    Ran(CycleReport),
    /// The lease could not be renewed during the cycle (the database was unreachable for
    /// too long, or another instance took over); the cycle was stopped.
    LostLease,
}

pub struct Scheduler {
    ingester: Ingester,
    holder: String,
}

impl Scheduler {
    /// A scheduler with a fresh holder id (host, process, random).
    pub fn new(ingester: Ingester) -> Self {
        Self::with_holder(ingester, holder_id())
    }

    pub fn with_holder(ingester: Ingester, holder: String) -> Self {
        Self { ingester, holder }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    fn interval(&self) -> Duration {
        self.ingester.config().ingest.interval
    }

    /// Cycles are counted in whole seconds (the database stores Unix seconds).
    fn interval_secs(&self) -> i64 {
        i64::try_from(self.interval().as_secs())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// How often every instance looks at the lease: a fifth of the interval, 1 s to 30 s.
    pub fn poll_period(&self) -> Duration {
        (self.interval() / 5).clamp(Duration::from_secs(1), Duration::from_secs(30))
    }

    /// Lease lifetime: the interval minus one poll (at least one poll), so that expiry plus
    /// a follower's next poll replaces a crashed leader within one interval.
    fn lease_ttl_secs(&self) -> i64 {
        let poll = i64::try_from(self.poll_period().as_secs())
            .unwrap_or(1)
            .max(1);
        (self.interval_secs() - poll).max(poll)
    }

    /// One look at the lease at `now` (Unix seconds), and a cycle if this instance leads and
    /// one is due. Renews the lease while the cycle runs.
    pub async fn tick(&self, now: i64) -> Result<Tick, Error> {
        let db = self.ingester.db();
        let ttl = self.lease_ttl_secs();
        let lease = db.try_acquire_lease(JOB, &self.holder, now, ttl).await?;
        if !lease.held {
            return Ok(Tick::Follower {
                leader: lease.holder,
            });
        }
        if !db
            .claim_lease_run(JOB, &self.holder, now, self.interval_secs())
            .await?
        {
            return Ok(Tick::NotDue {
                next_at: lease.last_run_at.saturating_add(self.interval_secs()),
            });
        }
        let started = Instant::now();
        let renew = async {
            let mut expires_at = lease.expires_at;
            loop {
                tokio::time::sleep(self.poll_period()).await;
                let t = now.saturating_add(i64::try_from(started.elapsed().as_secs()).unwrap_or(0));
                match db.try_acquire_lease(JOB, &self.holder, t, ttl).await {
                    Ok(l) if l.held => expires_at = l.expires_at,
                    Ok(l) => {
                        tracing::warn!(leader = %l.holder, "ingestion lease lost; stopping this cycle");
                        return;
                    }
                    Err(e) if t + 1 >= expires_at => {
                        tracing::warn!(error = %e, "ingestion lease could not be renewed before it expired; stopping this cycle");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "ingestion lease renewal failed; retrying")
                    }
                }
            }
        };
        tokio::select! {
            report = self.ingester.run_cycle(now) => Ok(Tick::Ran(report)),
            () = renew => Ok(Tick::LostLease),
        }
    }

    /// Ticks forever (until the task is dropped).
    pub async fn run(self) {
        tracing::info!(
            holder = %self.holder,
            interval_secs = self.interval().as_secs_f64(),
            "ingestion scheduler started"
        );
        loop {
            let now = unix_now();
            let poll = self.poll_period();
            let wait = match self.tick(now).await {
                Ok(Tick::Ran(report)) => {
                    log_cycle(&report);
                    poll
                }
                Ok(Tick::NotDue { next_at }) => {
                    let until_due = u64::try_from(next_at.saturating_sub(now)).unwrap_or(0);
                    poll.min(Duration::from_secs(until_due.max(1)))
                }
                Ok(Tick::Follower { .. } | Tick::LostLease) => poll,
                Err(e) => {
                    tracing::warn!(error = %e, "ingestion scheduler could not reach the database");
                    poll
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

fn log_cycle(report: &CycleReport) {
    for s in &report.sources {
        tracing::debug!(source = %s.source, "{s}");
    }
    tracing::info!(
        sources = report.sources.len(),
        failed = report.sources.iter().filter(|s| s.failed()).count(),
        added = report.added(),
        updated = report.updated(),
        retention_deleted = report.retention.as_ref().copied().unwrap_or(0),
        "ingestion cycle finished"
    );
}

/// Identifies this process in the lease row, for operators reading it.
fn holder_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let host: String = host.chars().take(80).collect();
    format!(
        "{host}/{}/{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Starts the scheduler inside `serve`. Does nothing when there is nothing to ingest (no
/// source configured and sample news off): such an instance must not delete articles by
/// retention either.
pub fn spawn_scheduler(
    db: Db,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
) -> Option<SchedulerHandle> {
    let ingester = match Ingester::new(db, config, metrics) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "cannot start news ingestion");
            return None;
        }
    };
    if !ingester.has_work() {
        tracing::info!("no news source configured and sample news off; ingestion idle");
        return None;
    }
    let scheduler = Scheduler::new(ingester);
    Some(SchedulerHandle {
        db: scheduler.ingester.db().clone(),
        holder: scheduler.holder.clone(),
        task: tokio::spawn(scheduler.run()),
    })
}

/// The scheduler running inside `serve`.
pub struct SchedulerHandle {
    task: JoinHandle<()>,
    db: Db,
    holder: String,
}

impl SchedulerHandle {
    /// Stops ingesting (a cycle in flight is dropped: its open transaction rolls back) and
    /// gives the lease up, so another instance leads from its next poll rather than after
    /// the lease expires.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        match self.db.release_lease(JOB, &self.holder).await {
            Ok(()) => tracing::info!("ingestion stopped; lease released"),
            Err(e) => {
                tracing::warn!(error = %e, "could not release the ingestion lease; it will expire")
            }
        }
    }
}
