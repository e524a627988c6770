use sqlx::Row;

use super::{Db, Error};

/// A bucket's state: hits counted in the window that started at `window_start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub hits: i64,
    pub window_start: i64,
}

impl Db {
    /// Counts one event in a fixed window of `window_secs`, atomically on every engine, and
    /// returns the bucket's state after it. A window that has ended starts over.
    pub async fn hit_rate_limit(
        &self,
        bucket: &str,
        window_secs: i64,
        now: i64,
    ) -> Result<Window, Error> {
        let expired = now - window_secs;
        let pool = self.primary()?;
        // `hits` is assigned first and `window_start` does not read it: MySQL applies the
        // assignments left to right.
        let upsert = self.dialect().upsert(
            "rate_limits",
            &["bucket", "window_start", "hits"],
            &["bucket"],
            &[
                (
                    "hits",
                    "CASE WHEN rate_limits.window_start <= ? THEN 1 ELSE rate_limits.hits + 1 END",
                ),
                (
                    "window_start",
                    "CASE WHEN rate_limits.window_start <= ? THEN ? ELSE rate_limits.window_start END",
                ),
            ],
        );
        let bind = |sql| {
            sqlx::query(sql)
                .bind(bucket)
                .bind(now)
                .bind(1_i64)
                .bind(expired)
                .bind(expired)
                .bind(now)
        };
        let row = if self.dialect().has_returning() {
            let sql = format!("{upsert} RETURNING hits, window_start");
            bind(&sql).fetch_one(pool).await?
        } else {
            // Counted and read back in one transaction: the upsert's row lock makes
            // concurrent hits wait, so each reads its own count.
            let mut tx = self.write_tx().await?;
            bind(&upsert).execute(&mut *tx).await?;
            let row = sqlx::query("SELECT hits, window_start FROM rate_limits WHERE bucket = ?")
                .bind(bucket)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            row
        };
        Ok(Window {
            hits: row.try_get("hits")?,
            window_start: row.try_get("window_start")?,
        })
    }

    /// Forgets a bucket, e.g. an account's failures after a successful login.
    pub async fn clear_rate_limit(&self, bucket: &str) -> Result<(), Error> {
        sqlx::query(&self.sql("DELETE FROM rate_limits WHERE bucket = ?"))
            .bind(bucket)
            .execute(self.primary()?)
            .await?;
        Ok(())
    }

    /// Drops windows that ended before `cutoff`.
    pub async fn purge_rate_limits(&self, cutoff: i64) -> Result<u64, Error> {
        let done = sqlx::query(&self.sql("DELETE FROM rate_limits WHERE window_start < ?"))
            .bind(cutoff)
            .execute(self.primary()?)
            .await?;
        Ok(done.rows_affected())
    }
}
