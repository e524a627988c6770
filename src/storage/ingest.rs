//! State the ingestion job shares across instances: the scheduler lease, per-source fetch
//! state (HTTP validators, back-off) and request budgets, plus retention deletes.
use sqlx::Row;

use super::articles::url_hash;
use super::{Db, Error};

/// What an instance learned when it tried to take or renew a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    /// This instance holds the lease now.
    pub held: bool,
    pub holder: String,
    pub expires_at: i64,
    /// When the job last started, whoever ran it.
    pub last_run_at: i64,
}

/// A source's stored fetch state; the default is "never fetched, not blocked".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceState {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// No request before this time (Retry-After, rate or usage limits).
    pub blocked_until: i64,
    pub blocked_reason: Option<String>,
}

/// Longest validator we keep; a longer one is dropped rather than stored cut (a cut ETag
/// would never match).
const MAX_ETAG: usize = 512;
const MAX_LAST_MODIFIED: usize = 64;
const MAX_REASON: usize = 300;
const MAX_SOURCE: usize = 2048;

/// Every column of `ingest_sources`, in the order the upserts bind them.
const SOURCE_COLUMNS: &[&str] = &[
    "source_key",
    "source",
    "etag",
    "last_modified",
    "blocked_until",
    "blocked_reason",
    "updated_at",
];

fn capped(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

impl Db {
    /// Takes the lease `name` for `holder` until `now + ttl`, or renews it if `holder` has it.
    /// One conditional UPDATE decides, so on every engine at most one instance holds an
    /// unexpired lease; `version` changes on every write so a renewal within the same second
    /// still counts as a changed row.
    pub async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_secs: i64,
    ) -> Result<LeaseState, Error> {
        let pool = self.primary()?;
        let ensure = self.dialect().insert_or_skip(
            "ingest_leases",
            &["name", "holder", "expires_at", "last_run_at", "version"],
            &["name"],
            1,
        );
        sqlx::query(&ensure)
            .bind(name)
            .bind("")
            .bind(0_i64)
            .bind(0_i64)
            .bind(0_i64)
            .execute(pool)
            .await?;
        let done = sqlx::query(&self.sql(
            "UPDATE ingest_leases SET holder = ?, expires_at = ?, version = version + 1 \
             WHERE name = ? AND (holder = ? OR expires_at <= ?)",
        ))
        .bind(holder)
        .bind(now.saturating_add(ttl_secs))
        .bind(name)
        .bind(holder)
        .bind(now)
        .execute(pool)
        .await?;
        let row = sqlx::query(
            &self.sql("SELECT holder, expires_at, last_run_at FROM ingest_leases WHERE name = ?"),
        )
        .bind(name)
        .fetch_one(pool)
        .await?;
        let current: String = row.try_get("holder")?;
        Ok(LeaseState {
            held: done.rows_affected() == 1 && current == holder,
            holder: current,
            expires_at: row.try_get("expires_at")?,
            last_run_at: row.try_get("last_run_at")?,
        })
    }

    /// Claims one run of the job: succeeds only for the unexpired holder, and only if the last
    /// run started at least `interval_secs` ago. A compare-and-set, so a run is never started
    /// twice per interval, even by a leader that took over from one that just ran.
    pub async fn claim_lease_run(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        interval_secs: i64,
    ) -> Result<bool, Error> {
        let done = sqlx::query(&self.sql(
            "UPDATE ingest_leases SET last_run_at = ?, version = version + 1 \
             WHERE name = ? AND holder = ? AND expires_at > ? AND last_run_at <= ?",
        ))
        .bind(now)
        .bind(name)
        .bind(holder)
        .bind(now)
        .bind(now.saturating_sub(interval_secs))
        .execute(self.primary()?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the lease up (on shutdown), so another instance takes over at its next poll.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), Error> {
        sqlx::query(&self.sql(
            "UPDATE ingest_leases SET expires_at = 0, version = version + 1 \
             WHERE name = ? AND holder = ?",
        ))
        .bind(name)
        .bind(holder)
        .execute(self.primary()?)
        .await?;
        Ok(())
    }

    /// Fetch state of a source, by its id (e.g. `mediastack` or `feed:<url>`).
    pub async fn source_state(&self, source_id: &str) -> Result<SourceState, Error> {
        let row = sqlx::query(&self.sql(
            "SELECT etag, last_modified, blocked_until, blocked_reason FROM ingest_sources \
             WHERE source_key = ?",
        ))
        .bind(url_hash(source_id))
        .fetch_optional(self.primary()?)
        .await?;
        Ok(match row {
            None => SourceState::default(),
            Some(r) => SourceState {
                etag: r.try_get("etag")?,
                last_modified: r.try_get("last_modified")?,
                blocked_until: r.try_get("blocked_until")?,
                blocked_reason: r.try_get("blocked_reason")?,
            },
        })
    }

    /// Stores the validators of a successful fetch (replacing older ones; `None` clears).
    /// `label` is how the source is shown (no credentials); `source_id` may hold them.
    pub async fn save_source_validators(
        &self,
        source_id: &str,
        label: &str,
        etag: Option<&str>,
        last_modified: Option<&str>,
        now: i64,
    ) -> Result<(), Error> {
        let etag = etag.filter(|v| v.chars().count() <= MAX_ETAG);
        let last_modified = last_modified.filter(|v| v.chars().count() <= MAX_LAST_MODIFIED);
        let sql = self.dialect().upsert_replacing(
            "ingest_sources",
            SOURCE_COLUMNS,
            &["source_key"],
            &["etag", "last_modified", "updated_at"],
        );
        sqlx::query(&sql)
            .bind(url_hash(source_id))
            .bind(capped(label, MAX_SOURCE))
            .bind(etag)
            .bind(last_modified)
            .bind(0_i64)
            .bind(None::<String>)
            .bind(now)
            .execute(self.primary()?)
            .await?;
        Ok(())
    }

    /// Makes every instance leave a source alone until `until` (0 lifts the block).
    pub async fn block_source(
        &self,
        source_id: &str,
        label: &str,
        until: i64,
        reason: Option<&str>,
        now: i64,
    ) -> Result<(), Error> {
        let reason = reason.map(|r| capped(r, MAX_REASON));
        let sql = self.dialect().upsert_replacing(
            "ingest_sources",
            SOURCE_COLUMNS,
            &["source_key"],
            &["blocked_until", "blocked_reason", "updated_at"],
        );
        sqlx::query(&sql)
            .bind(url_hash(source_id))
            .bind(capped(label, MAX_SOURCE))
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(until)
            .bind(reason)
            .bind(now)
            .execute(self.primary()?)
            .await?;
        Ok(())
    }

    /// Spends one request of `source`'s budget for `period` if fewer than `cap` are spent.
    /// A conditional increment: instances sharing the database can never overspend together.
    pub async fn reserve_request(
        &self,
        source: &str,
        period: i64,
        cap: i64,
    ) -> Result<bool, Error> {
        let pool = self.primary()?;
        let ensure = self.dialect().insert_or_skip(
            "ingest_usage",
            &["source", "period", "requests"],
            &["source", "period"],
            1,
        );
        sqlx::query(&ensure)
            .bind(source)
            .bind(period)
            .bind(0_i64)
            .execute(pool)
            .await?;
        let done = sqlx::query(&self.sql(
            "UPDATE ingest_usage SET requests = requests + 1 \
             WHERE source = ? AND period = ? AND requests < ?",
        ))
        .bind(source)
        .bind(period)
        .bind(cap)
        .execute(pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Requests spent by `source` in `period`.
    pub async fn requests_used(&self, source: &str, period: i64) -> Result<i64, Error> {
        let row = sqlx::query(
            &self.sql("SELECT requests FROM ingest_usage WHERE source = ? AND period = ?"),
        )
        .bind(source)
        .bind(period)
        .fetch_optional(self.primary()?)
        .await?;
        Ok(match row {
            Some(r) => r.try_get("requests")?,
            None => 0,
        })
    }

    /// Deletes at most `batch` articles published before `cutoff`, oldest first, and returns
    /// how many went; articles a reader saved are kept. Callers loop: small statements never
    /// hold long locks.
    pub async fn delete_articles_published_before(
        &self,
        cutoff: i64,
        batch: i64,
    ) -> Result<u64, Error> {
        let sql = self.dialect().delete_limited(
            "articles",
            "published_at < ? AND NOT EXISTS \
             (SELECT 1 FROM saved_articles s WHERE s.article_id = articles.id)",
            "published_at",
        );
        let done = sqlx::query(&sql)
            .bind(cutoff)
            .bind(batch)
            .execute(self.primary()?)
            .await?;
        if done.rows_affected() > 0 {
            self.inner.feed_cache.clear();
        }
        Ok(done.rows_affected())
    }
}
