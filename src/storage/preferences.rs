use sqlx::Row;

use super::{Db, Dialect, Error};
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
        let sql = match self.dialect() {
            Dialect::MySql => {
                "INSERT INTO user_preferences (user_id, countries, languages, categories, updated_at) \
                 VALUES (?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE countries = VALUES(countries), \
                 languages = VALUES(languages), categories = VALUES(categories), updated_at = VALUES(updated_at)"
            }
            Dialect::Sqlite | Dialect::Postgres => {
                "INSERT INTO user_preferences (user_id, countries, languages, categories, updated_at) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET countries = excluded.countries, \
                 languages = excluded.languages, categories = excluded.categories, updated_at = excluded.updated_at"
            }
        };
        sqlx::query(&self.sql(sql))
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
