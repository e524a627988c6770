//! Full-text search over the reader's selection. The engines' syntax lives in `dialect`;
//! here the parsed query, the selection and the cursor become one page, like the feed's.
use std::sync::Arc;

use sqlx::Row as _;

use super::articles::{bind_args, filter_sql, page_of, ARTICLE_COLUMNS_A};
use super::dialect::{Arg, SearchPage};
use super::{Db, Error, FeedPage};
use crate::domain::feed::{Cursor, FeedFilter};
use crate::domain::search::SearchQuery;

impl Db {
    /// Articles of `filter` matching `query`, newest first, strictly older than `after`.
    /// Lag-tolerant: on the replica when there is one, and cached like feed pages (up to the
    /// feed cache's TTL old, shared by readers with the same selection and terms): a popular
    /// search costs one query per TTL per instance, however many readers run it.
    pub async fn search_page(
        &self,
        filter: &FeedFilter,
        query: &SearchQuery,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Arc<FeedPage>, Error> {
        if query.is_void() {
            return Ok(Arc::new(FeedPage::default()));
        }
        self.inner
            .feed_cache
            .get_or_load_search(filter, &query.canonical(), after, limit, || {
                self.read_search_page(filter, query, after, limit)
            })
            .await
    }

    async fn read_search_page(
        &self,
        filter: &FeedFilter,
        query: &SearchQuery,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<FeedPage, Error> {
        let include: Vec<&[String]> = query.include.iter().map(|t| t.words.as_slice()).collect();
        let exclude: Vec<&[String]> = query.exclude.iter().map(|t| t.words.as_slice()).collect();
        let dialect = self.dialect();
        let terms = dialect.search_terms_sql(&include, &exclude);
        let (clause, codes) = filter_sql(filter, "a.");
        let page = |engine_query: Option<&str>| {
            dialect.search_page(
                SearchPage {
                    include: include.clone(),
                    exclude: exclude.clone(),
                    columns: ARTICLE_COLUMNS_A,
                    filter: &clause,
                    filter_args: codes.iter().copied().map(Arg::Text).collect(),
                    after: after.map(|c| (c.published_at, c.id)),
                    limit: i64::from(limit) + 1,
                },
                engine_query,
            )
        };
        let (terms, page) = (&terms, &page);
        let rows = self
            .read(|pool| async move {
                let mut conn = pool.acquire().await?;
                let engine_query = match terms {
                    Some((sql, args)) => {
                        let row = bind_args(sqlx::query(sql), args)
                            .fetch_one(&mut *conn)
                            .await?;
                        Some(row.try_get::<String, _>("q")?)
                    }
                    None => None,
                };
                let (sql, args) = page(engine_query.as_deref());
                // PostgreSQL's text differs per query: not worth a place in the statement cache.
                bind_args(sqlx::query(&sql), &args)
                    .persistent(terms.is_none())
                    .fetch_all(&mut *conn)
                    .await
            })
            .await?;
        page_of(&rows, limit)
    }
}
