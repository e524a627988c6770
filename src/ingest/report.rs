//! What a cycle did, per source: printed by `newsread ingest --once`, logged by the scheduler
//! and turned into metrics.
use std::collections::BTreeMap;
use std::fmt;

use crate::storage::InsertStats;
use crate::telemetry::Metrics;

/// How a source fared in one cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Fetched and stored.
    Ok,
    /// The server said nothing changed since the last fetch (HTTP 304).
    NotModified,
    /// Deliberately not asked this cycle (budget, Retry-After, switched off), and why.
    Skipped(String),
    /// Failed this cycle; articles already stored are untouched.
    Failed(String),
}

/// One source's outcome in one cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReport {
    /// `mediastack`, `sample`, or the feed's URL (credentials and query removed).
    pub source: String,
    pub status: Status,
    /// HTTP requests made.
    pub requests: u32,
    /// Items received from upstream.
    pub fetched: u64,
    pub added: u64,
    pub updated: u64,
    /// Items not stored, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Items stored with a tag nobody gave them (a default or a detected language), by
    /// what was used: an operator sees what to tag.
    pub defaults: BTreeMap<String, u64>,
    /// Extra facts worth a line (budget used, paging stopped).
    pub notes: Vec<String>,
}

/// The reason counted for items a source sent again without changes.
pub const UNCHANGED: &str = "unchanged";

impl SourceReport {
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            status: Status::Ok,
            requests: 0,
            fetched: 0,
            added: 0,
            updated: 0,
            skipped: BTreeMap::new(),
            defaults: BTreeMap::new(),
            notes: Vec::new(),
        }
    }

    pub fn skip(&mut self, reason: impl Into<String>) {
        *self.skipped.entry(reason.into()).or_default() += 1;
    }

    pub fn defaulted(&mut self, what: impl Into<String>) {
        *self.defaults.entry(what.into()).or_default() += 1;
    }

    pub fn stored(&mut self, stats: InsertStats) {
        self.added += stats.added;
        self.updated += stats.updated;
        if stats.unchanged > 0 {
            *self.skipped.entry(UNCHANGED.to_owned()).or_default() += stats.unchanged;
        }
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    pub fn failed(&self) -> bool {
        matches!(self.status, Status::Failed(_))
    }

    fn record(&self, metrics: &Metrics, now: i64) {
        let m = |result, n| {
            if n > 0 {
                metrics.record_ingest(&self.source, result, n);
            }
        };
        m("fetched", self.fetched);
        m("added", self.added);
        m("updated", self.updated);
        m("skipped", self.skipped_total());
        match self.status {
            Status::Failed(_) => metrics.record_ingest(&self.source, "error", 1),
            Status::Ok | Status::NotModified => metrics.ingest_succeeded(&self.source, now),
            Status::Skipped(_) => {}
        }
    }
}

impl fmt::Display for SourceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: fetched {}, added {}, updated {}, skipped {}",
            self.source,
            self.fetched,
            self.added,
            self.updated,
            self.skipped_total()
        )?;
        if !self.skipped.is_empty() {
            let reasons: Vec<String> = self
                .skipped
                .iter()
                .map(|(reason, n)| format!("{n} {reason}"))
                .collect();
            write!(f, " ({})", reasons.join(", "))?;
        }
        match &self.status {
            Status::Ok => write!(f, "; ok")?,
            Status::NotModified => write!(f, "; not modified since the last fetch")?,
            Status::Skipped(why) => write!(f, "; not fetched: {why}")?,
            Status::Failed(why) => write!(f, "; FAILED: {why}")?,
        }
        write!(
            f,
            " [{} request{}]",
            self.requests,
            if self.requests == 1 { "" } else { "s" }
        )?;
        for (what, n) in &self.defaults {
            write!(f, "; {what} for {n} item{}", if *n == 1 { "" } else { "s" })?;
        }
        for note in &self.notes {
            write!(f, "; {note}")?;
        }
        Ok(())
    }
}

/// Everything one cycle did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleReport {
    pub started_at: i64,
    pub sources: Vec<SourceReport>,
    /// Articles published before this time were deleted.
    pub retention_cutoff: i64,
    /// How many were deleted, or why retention failed.
    pub retention: Result<u64, String>,
}

impl CycleReport {
    /// Some source (or retention) failed this cycle.
    pub fn failed(&self) -> bool {
        self.retention.is_err() || self.sources.iter().any(SourceReport::failed)
    }

    pub fn source(&self, name: &str) -> Option<&SourceReport> {
        self.sources.iter().find(|s| s.source == name)
    }

    pub fn added(&self) -> u64 {
        self.sources.iter().map(|s| s.added).sum()
    }

    pub fn updated(&self) -> u64 {
        self.sources.iter().map(|s| s.updated).sum()
    }

    pub(crate) fn record(&self, metrics: &Metrics) {
        for s in &self.sources {
            s.record(metrics, self.started_at);
        }
    }
}

impl fmt::Display for CycleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.sources.is_empty() {
            writeln!(
                f,
                "no news source: set NEWSREAD_MEDIASTACK_ACCESS_KEY or NEWSREAD_FEEDS, or turn NEWSREAD_SAMPLE_NEWS on"
            )?;
        }
        for s in &self.sources {
            writeln!(f, "{s}")?;
        }
        match &self.retention {
            Ok(n) => writeln!(
                f,
                "retention: deleted {n} article{} published before {}",
                if *n == 1 { "" } else { "s" },
                super::format_time(self.retention_cutoff)
            ),
            Err(e) => writeln!(f, "retention: FAILED: {e}"),
        }
    }
}
