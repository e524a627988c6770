//! Cheap counts for the pages (the customize page's "matches N articles").
use sqlx::Row;

use super::{Db, Error};
use crate::domain::feed::FeedFilter;

/// Counting stops here: on a large archive an exact total is slow and nobody needs it.
pub const COUNT_CAP: i64 = 10_000;

impl Db {
    /// How many articles `filter` matches, up to [`COUNT_CAP`] + 1 (so callers can show
    /// "10,000+"). Same WHERE clause as `feed_page`; lag-tolerant, so it runs on the replica.
    pub async fn count_matching(&self, filter: &FeedFilter) -> Result<i64, Error> {
        let (clause, codes) = super::articles::filter_sql(filter, "");
        let inner = format!("SELECT 1 FROM articles WHERE 1 = 1{clause} LIMIT ?");
        let sql = self
            .sql(&format!("SELECT COUNT(*) AS n FROM ({inner}) AS capped"))
            .into_owned();
        let (sql, codes) = (&sql, &codes);
        let row = self
            .read(|pool| async move {
                let mut q = sqlx::query(sql);
                for code in codes {
                    q = q.bind(*code);
                }
                q.bind(COUNT_CAP + 1).fetch_one(&pool).await
            })
            .await?;
        Ok(row.try_get::<i64, _>("n")?)
    }
}
