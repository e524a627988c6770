use sqlx::Row;

use super::{Db, Error};
use crate::domain::feed::FeedFilter;

/// A live session joined with its user and the user's saved feed selection.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub user_id: i64,
    pub username: String,
    pub csrf_token: String,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub preferences: FeedFilter,
    /// Whether the reader has saved any article: only then does a page ask which of its
    /// articles are saved.
    pub has_saved: bool,
}

/// Builds the record from the columns of `find_session`; no preferences row means "all".
fn session_record(
    user_id: i64,
    username: String,
    csrf_token: String,
    last_seen_at: i64,
    expires_at: i64,
    [countries, languages, categories]: [Option<String>; 3],
    any_saved: Option<i64>,
) -> SessionRecord {
    SessionRecord {
        user_id,
        username,
        csrf_token,
        last_seen_at,
        expires_at,
        preferences: FeedFilter::from_stored(
            countries.as_deref().unwrap_or_default(),
            languages.as_deref().unwrap_or_default(),
            categories.as_deref().unwrap_or_default(),
        ),
        has_saved: any_saved.is_some(),
    }
}

/// A session about to be stored: only the token's hash, never the token.
#[derive(Debug, Clone, Copy)]
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub csrf_token: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

const INSERT_SESSION: &str =
    "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) \
     VALUES (?, ?, ?, ?, ?, ?)";

impl Db {
    pub async fn create_session(
        &self,
        user_id: i64,
        session: &NewSession<'_>,
    ) -> Result<(), Error> {
        self.insert_session(self.primary()?, user_id, session).await
    }

    /// Stores `session` for `user_id` through `executor` (a pool or a transaction).
    pub(super) async fn insert_session<'e>(
        &self,
        executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
        user_id: i64,
        session: &NewSession<'_>,
    ) -> Result<(), Error> {
        sqlx::query(&self.sql(INSERT_SESSION))
            .bind(session.token_hash)
            .bind(user_id)
            .bind(session.csrf_token)
            .bind(session.now)
            .bind(session.now)
            .bind(session.expires_at)
            .execute(executor)
            .await?;
        Ok(())
    }

    /// The session for a token hash, if it has neither expired nor idled out, with the user's
    /// preferences in the same round trip (every page needs both).
    /// From the session cache when this token was read within its TTL (a logout or a saved
    /// selection elsewhere takes effect within it, see `session_cache`), else read on the
    /// primary. Whether the reader saved any article comes along: a MAX over the reader's
    /// primary-key range is one index probe (BIGINT or NULL everywhere).
    pub async fn find_session(
        &self,
        token_hash: &str,
        now: i64,
        idle_cutoff: i64,
    ) -> Result<Option<SessionRecord>, Error> {
        let cache = &self.inner.session_cache;
        if let Some(cached) = cache.get(token_hash) {
            // A copy that looks expired or idle is checked against the database, which may
            // know a later touch.
            if cached.expires_at > now && cached.last_seen_at > idle_cutoff {
                return Ok(Some(cached));
            }
        }
        let generation = cache.generation();
        let found = self.read_session(token_hash, now, idle_cutoff).await?;
        match &found {
            Some(record) => cache.insert(token_hash, record.clone(), generation),
            None => cache.absent(token_hash),
        }
        Ok(found)
    }

    async fn read_session(
        &self,
        token_hash: &str,
        now: i64,
        idle_cutoff: i64,
    ) -> Result<Option<SessionRecord>, Error> {
        const SQL: &str =
            "SELECT s.user_id, u.username, s.csrf_token, s.last_seen_at, s.expires_at, \
             p.countries, p.languages, p.categories, \
             (SELECT MAX(sa.article_id) FROM saved_articles sa WHERE sa.user_id = s.user_id) \
             AS any_saved \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             LEFT JOIN user_preferences p ON p.user_id = s.user_id \
             WHERE s.token_hash = ? AND s.expires_at > ? AND s.last_seen_at > ?";
        if let Some(inline) = &self.inner.sqlite_inline {
            return inline.with(|conn| {
                let mut stmt = conn.prepare_cached(SQL)?;
                let mut rows = stmt.query(rusqlite::params![token_hash, now, idle_cutoff])?;
                rows.next()?
                    .map(|r| {
                        Ok(session_record(
                            r.get(0)?,
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            [r.get(5)?, r.get(6)?, r.get(7)?],
                            r.get(8)?,
                        ))
                    })
                    .transpose()
            });
        }
        let sql = self.sql(SQL);
        let row = self
            .read_fresh(|pool| {
                let sql = sql.clone();
                async move {
                    sqlx::query(&sql)
                        .bind(token_hash)
                        .bind(now)
                        .bind(idle_cutoff)
                        .fetch_optional(&pool)
                        .await
                }
            })
            .await?;
        row.map(|r| {
            Ok(session_record(
                r.try_get("user_id")?,
                r.try_get("username")?,
                r.try_get("csrf_token")?,
                r.try_get("last_seen_at")?,
                r.try_get("expires_at")?,
                [
                    r.try_get("countries")?,
                    r.try_get("languages")?,
                    r.try_get("categories")?,
                ],
                r.try_get("any_saved")?,
            ))
        })
        .transpose()
    }

    pub async fn touch_session(&self, token_hash: &str, now: i64) -> Result<(), Error> {
        sqlx::query(&self.sql("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?"))
            .bind(now)
            .bind(token_hash)
            .execute(self.primary()?)
            .await?;
        self.inner.session_cache.touched(token_hash, now);
        Ok(())
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), Error> {
        // Forgotten before and after: no request on this instance finds it once this returns.
        self.inner.session_cache.forget_session(token_hash);
        sqlx::query(&self.sql("DELETE FROM sessions WHERE token_hash = ?"))
            .bind(token_hash)
            .execute(self.primary()?)
            .await?;
        self.inner.session_cache.forget_session(token_hash);
        Ok(())
    }

    /// Removes expired and idle sessions; returns how many.
    pub async fn purge_sessions(&self, now: i64, idle_cutoff: i64) -> Result<u64, Error> {
        let done = sqlx::query(
            &self.sql("DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?"),
        )
        .bind(now)
        .bind(idle_cutoff)
        .execute(self.primary()?)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn count_sessions(&self, now: i64, idle_cutoff: i64) -> Result<i64, Error> {
        let row =
            sqlx::query(&self.sql(
                "SELECT COUNT(*) AS n FROM sessions WHERE expires_at > ? AND last_seen_at > ?",
            ))
            .bind(now)
            .bind(idle_cutoff)
            .fetch_one(self.primary()?)
            .await?;
        Ok(row.try_get("n")?)
    }
}
