//! Login devices: hashes of the device cookies of browsers that logged in successfully.
use sqlx::Row;

use super::{Db, Error};

impl Db {
    pub async fn create_login_device(
        &self,
        token_hash: &str,
        user_id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<(), Error> {
        sqlx::query(&self.sql(
            "INSERT INTO login_devices (token_hash, user_id, created_at, expires_at) \
             VALUES (?, ?, ?, ?)",
        ))
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(self.primary()?)
        .await?;
        Ok(())
    }

    /// The account a live device cookie belongs to.
    pub async fn login_device_user(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<i64>, Error> {
        let row = sqlx::query(
            &self.sql("SELECT user_id FROM login_devices WHERE token_hash = ? AND expires_at > ?"),
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.primary()?)
        .await?;
        row.map(|r| r.try_get("user_id"))
            .transpose()
            .map_err(Into::into)
    }

    pub async fn purge_login_devices(&self, now: i64) -> Result<u64, Error> {
        let done = sqlx::query(&self.sql("DELETE FROM login_devices WHERE expires_at <= ?"))
            .bind(now)
            .execute(self.primary()?)
            .await?;
        Ok(done.rows_affected())
    }
}
