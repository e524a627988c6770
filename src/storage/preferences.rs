use super::{Db, Error};
use crate::domain::feed::FeedFilter;
use crate::domain::vocab::Dimension;

impl Db {
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
        // The selection travels with the session: the next page here must use the new one.
        self.inner.session_cache.forget_user(user_id);
        Ok(())
    }
}
