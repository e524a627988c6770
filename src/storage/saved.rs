//! Articles a reader keeps for later. Writes go to the primary; reads that show a reader's
//! own saves run on the primary too (`read_fresh`), so a save shows on the very next page.
use sqlx::Row;

use super::articles::{article_from_row, ARTICLE_COLUMNS};
use super::error::is_foreign_key_violation;
use super::{Db, Error};
use crate::domain::article::Article;
use crate::domain::feed::SavedCursor;

/// A saved article and when the reader saved it.
#[derive(Debug, Clone)]
pub struct SavedArticle {
    pub article: Article,
    /// Unix seconds, UTC.
    pub saved_at: i64,
}

/// One page of a reader's saved articles, newest saved first.
#[derive(Debug, Clone, Default)]
pub struct SavedPage {
    pub items: Vec<SavedArticle>,
    /// Where the next (older) page starts; `None` on the last page.
    pub next: Option<SavedCursor>,
}

const COLUMNS: &[&str] = &["user_id", "article_id", "saved_at"];

impl Db {
    /// Saves an article for a reader; saving it again changes nothing (the first save time
    /// stays). Returns whether it was newly saved; `NotFound("article")` for an unknown id.
    pub async fn save_article(
        &self,
        user_id: i64,
        article_id: i64,
        now: i64,
    ) -> Result<bool, Error> {
        let pool = self.primary()?;
        let sql =
            self.dialect()
                .insert_or_skip("saved_articles", COLUMNS, &["user_id", "article_id"], 1);
        let result = sqlx::query(&sql)
            .bind(user_id)
            .bind(article_id)
            .bind(now)
            .execute(pool)
            .await;
        match result {
            Ok(done) if done.rows_affected() > 0 => {
                // The session says whether the reader saved anything: now they have.
                self.inner.session_cache.forget_user(user_id);
                Ok(true)
            }
            // Saved before, or no such article (MySQL's INSERT IGNORE turns the foreign key
            // error into a warning): tell the two apart.
            Ok(_) => self.article_must_exist(article_id).await.map(|()| false),
            Err(e) if is_foreign_key_violation(&e) => Err(Error::NotFound("article")),
            Err(e) => Err(e.into()),
        }
    }

    /// Forgets a saved article; forgetting one that is not saved changes nothing. Returns
    /// whether it was saved; `NotFound("article")` for an unknown id.
    pub async fn unsave_article(&self, user_id: i64, article_id: i64) -> Result<bool, Error> {
        let done = sqlx::query(
            &self.sql("DELETE FROM saved_articles WHERE user_id = ? AND article_id = ?"),
        )
        .bind(user_id)
        .bind(article_id)
        .execute(self.primary()?)
        .await?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        self.article_must_exist(article_id).await.map(|()| false)
    }

    async fn article_must_exist(&self, article_id: i64) -> Result<(), Error> {
        let row = sqlx::query(&self.sql("SELECT id FROM articles WHERE id = ?"))
            .bind(article_id)
            .fetch_optional(self.primary()?)
            .await?;
        row.map(|_| ()).ok_or(Error::NotFound("article"))
    }

    /// A page of the reader's saved articles, newest saved first, strictly after `after`.
    /// Keyset paging on (saved_at, article_id) over the reader's own index range.
    pub async fn saved_page(
        &self,
        user_id: i64,
        after: Option<SavedCursor>,
        limit: u32,
    ) -> Result<SavedPage, Error> {
        let mut sql = format!(
            "SELECT s.saved_at, {ARTICLE_COLUMNS} FROM saved_articles s \
             JOIN articles ON articles.id = s.article_id WHERE s.user_id = ?"
        );
        if after.is_some() {
            // The redundant `saved_at <= ?` gives every engine's planner an index range.
            sql.push_str(" AND s.saved_at <= ? AND (s.saved_at < ? OR s.article_id < ?)");
        }
        sql.push_str(" ORDER BY s.saved_at DESC, s.article_id DESC LIMIT ?");
        let sql = self.sql(&sql).into_owned();
        let sql = &sql;
        let fetch = i64::from(limit) + 1;
        let rows = self
            .read_fresh(|pool| async move {
                let mut q = sqlx::query(sql).bind(user_id);
                if let Some(c) = after {
                    q = q.bind(c.saved_at).bind(c.saved_at).bind(c.article_id);
                }
                q.bind(fetch).fetch_all(&pool).await
            })
            .await?;
        let mut items = rows
            .iter()
            .map(|r| {
                Ok(SavedArticle {
                    saved_at: r.try_get("saved_at")?,
                    article: article_from_row(r)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|s| SavedCursor {
                saved_at: s.saved_at,
                article_id: s.article.id,
            })
        } else {
            None
        };
        Ok(SavedPage { items, next })
    }

    /// Which of `article_ids` the reader has saved (in no particular order). Asked by every
    /// news page of a reader who saved something: on SQLite it runs inline, like the session
    /// lookup (`sqlite_inline`), since sqlx's thread hand-offs cost more than the query.
    pub async fn saved_among(&self, user_id: i64, article_ids: &[i64]) -> Result<Vec<i64>, Error> {
        if article_ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT article_id FROM saved_articles WHERE user_id = ? AND article_id IN ({})",
            vec!["?"; article_ids.len()].join(", ")
        );
        if let Some(inline) = &self.inner.sqlite_inline {
            return inline.with(|conn| {
                let mut stmt = conn.prepare_cached(&sql)?;
                let params = std::iter::once(&user_id).chain(article_ids);
                let rows = stmt.query_map(rusqlite::params_from_iter(params), |r| r.get(0))?;
                rows.collect()
            });
        }
        let sql = self.sql(&sql);
        let sql = &sql;
        let rows = self
            .read_fresh(|pool| async move {
                let mut q = sqlx::query(sql).bind(user_id);
                for id in article_ids {
                    q = q.bind(*id);
                }
                q.fetch_all(&pool).await
            })
            .await?;
        rows.iter()
            .map(|r| r.try_get::<i64, _>("article_id").map_err(Error::from))
            .collect()
    }
}
