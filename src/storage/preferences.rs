use sqlx::Row;

use super::{Db, Error};
use crate::domain::feed::FeedFilter;
use crate::domain::vocab::Dimension;

impl Db {
    /// A user's saved selection. Read on the primary: a user who just saved must see it.
    pub async fn preferences(&self, user_id: i64) -> Result<FeedFilter, Error> {
        let row = sqlx::query(&self.sql(
            "SELECT countries, languages, categories FROM user_preferences WHERE user_id = ?",
        ))
        .bind(user_id)
        .fetch_optional(self.primary()?)
        .await?;
        Ok(match row {
            Some(r) => FeedFilter::from_stored(
                &r.try_get::<String, _>("countries")?,
                &r.try_get::<String, _>("languages")?,
                &r.try_get::<String, _>("categories")?,
            ),
            None => FeedFilter::default(),
        })
    }

    pub async fn save_preferences(
        &self,
        user_id: i64,
        filter: &FeedFilter,
        now: i64,
    ) -> Result<(), Error> {
        let sql = self.dialect().upsert_replacing(
            "user_preferences",
            &[
                "user_id",
                "countries",
                "languages",
                "categories",
                "updated_at",
            ],
            &["user_id"],
            &["countries", "languages", "categories", "updated_at"],
        );
        sqlx::query(&sql)
            .bind(user_id)
            .bind(filter.stored(Dimension::Country))
            .bind(filter.stored(Dimension::Language))
            .bind(filter.stored(Dimension::Category))
            .bind(now)
            .execute(self.primary()?)
            .await?;
        Ok(())
    }
}
