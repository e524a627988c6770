use sqlx::Row;

use super::error::is_unique_violation;
use super::sessions::NewSession;
use super::{Conflict, Db, Error};
use crate::domain::user::{Email, Username};

/// What a login needs to check a password.
#[derive(Debug)]
pub struct Credentials {
    pub user_id: i64,
    pub username: String,
    pub password_hash: String,
}

impl Db {
    /// Which of the two identities already belong to someone.
    pub async fn identities_taken(
        &self,
        username: &Username,
        email: &Email,
    ) -> Result<(bool, bool), Error> {
        let rows = sqlx::query(&self.sql(
            "SELECT username_key, email_key FROM users WHERE username_key = ? OR email_key = ?",
        ))
        .bind(username.key())
        .bind(email.key())
        .fetch_all(self.primary()?)
        .await?;
        let mut taken = (false, false);
        for row in rows {
            taken.0 |= row.try_get::<String, _>("username_key")? == username.key();
            taken.1 |= row.try_get::<String, _>("email_key")? == email.key();
        }
        Ok(taken)
    }

    /// Creates an account. Uniqueness is enforced by the database, so concurrent sign-ups
    /// with one name yield exactly one account and [`Conflict::Identity`] for the rest.
    pub async fn create_user(
        &self,
        username: &Username,
        email: &Email,
        password_hash: &str,
        now: i64,
    ) -> Result<i64, Error> {
        let sql = self.dialect().insert_returning_id(
            "users",
            &[
                "username",
                "username_key",
                "email",
                "email_key",
                "password_hash",
                "created_at",
            ],
        );
        let query = sqlx::query(&sql)
            .bind(username.as_str())
            .bind(username.key())
            .bind(email.as_str())
            .bind(email.key())
            .bind(password_hash)
            .bind(now);
        match self.insert_id(self.primary()?, query).await {
            Ok(id) => Ok(id),
            Err(Error::Bug(e))
                if e.downcast_ref::<sqlx::Error>()
                    .is_some_and(is_unique_violation) =>
            {
                let (username, email) = self.identities_taken(username, email).await?;
                // The conflicting row may have been deleted since; still a conflict to report.
                Err(Error::Conflict(Conflict::Identity {
                    username: username || !email,
                    email,
                }))
            }
            Err(e) => Err(e),
        }
    }

    /// Looks a user up by username or email, case-insensitively.
    pub async fn find_credentials(&self, login: &str) -> Result<Option<Credentials>, Error> {
        let key = login.trim().to_ascii_lowercase();
        let column = if key.contains('@') {
            "email_key"
        } else {
            "username_key"
        };
        let sql = format!("SELECT id, username, password_hash FROM users WHERE {column} = ?");
        let row = sqlx::query(&self.sql(&sql))
            .bind(key)
            .fetch_optional(self.primary()?)
            .await?;
        row.map(|r| {
            Ok(Credentials {
                user_id: r.try_get("id")?,
                username: r.try_get("username")?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    /// An account's stored password hash, read on the primary: a change made a moment ago
    /// on another instance must count.
    pub async fn password_hash(&self, user_id: i64) -> Result<Option<String>, Error> {
        let row = sqlx::query(&self.sql("SELECT password_hash FROM users WHERE id = ?"))
            .bind(user_id)
            .fetch_optional(self.primary()?)
            .await?;
        row.map(|r| Ok(r.try_get("password_hash")?)).transpose()
    }

    /// Replaces an account's password hash and ends every session it has, then stores
    /// `session` (the reader's own, under a new id), all in one transaction: no old session
    /// outlives the change, and a failure changes nothing. False when the account is gone.
    pub async fn change_password(
        &self,
        user_id: i64,
        password_hash: &str,
        session: &NewSession<'_>,
    ) -> Result<bool, Error> {
        let mut tx = self.write_tx().await?;
        let updated = sqlx::query(&self.sql("UPDATE users SET password_hash = ? WHERE id = ?"))
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(&self.sql("DELETE FROM sessions WHERE user_id = ?"))
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        self.insert_session(&mut *tx, user_id, session).await?;
        tx.commit().await?;
        self.inner.session_cache.forget_user(user_id);
        Ok(true)
    }

    /// Deletes an account. Every per-reader table references `users` with ON DELETE
    /// CASCADE, so its sessions, selection, known devices and saved articles go in the same
    /// statement, including tables added after this code. False when it was already gone.
    pub async fn delete_user(&self, user_id: i64) -> Result<bool, Error> {
        let done = sqlx::query(&self.sql("DELETE FROM users WHERE id = ?"))
            .bind(user_id)
            .execute(self.primary()?)
            .await?;
        self.inner.session_cache.forget_user(user_id);
        Ok(done.rows_affected() > 0)
    }

    /// Readers whose email is not at `domain` (the seed command's own readers are).
    pub async fn count_users_outside_domain(&self, domain: &str) -> Result<i64, Error> {
        let row =
            sqlx::query(&self.sql("SELECT COUNT(*) AS n FROM users WHERE email_key NOT LIKE ?"))
                .bind(format!("%@{}", domain.to_ascii_lowercase()))
                .fetch_one(self.primary()?)
                .await?;
        Ok(row.try_get("n")?)
    }
}
