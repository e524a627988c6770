//! Full-text search over the reader's selection. The engines' syntax lives in `dialect`;
//! here the parsed query, the selection and the cursor become one page, like the feed's.
use super::articles::{bind_args, filter_sql, page_of, ARTICLE_COLUMNS_A};
use super::dialect::{Arg, SearchPage};
use super::{Db, Error, FeedPage};
use crate::domain::feed::{Cursor, FeedFilter};
use crate::domain::search::SearchQuery;
use crate::domain::vocab::Dimension;

impl Db {
    /// Articles of `filter` matching `query`, newest first, strictly older than `after`.
    /// Lag-tolerant: on the replica when there is one. Not cached: queries rarely repeat.
    pub async fn search_page(
        &self,
        filter: &FeedFilter,
        query: &SearchQuery,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<FeedPage, Error> {
        if query.is_void() {
            return Ok(FeedPage::default());
        }
        let (clause, codes) = filter_sql(filter, "a.");
        let (sql, args) = self.dialect().search_page(SearchPage {
            include: query.include.iter().map(|t| t.words.as_slice()).collect(),
            exclude: query.exclude.iter().map(|t| t.words.as_slice()).collect(),
            columns: ARTICLE_COLUMNS_A,
            filter: &clause,
            filter_args: codes.into_iter().map(Arg::Text).collect(),
            languages: filter.get(Dimension::Language),
            after: after.map(|c| (c.published_at, c.id)),
            limit: i64::from(limit) + 1,
        });
        let (sql, args) = (&sql, &args);
        let rows = self
            .read(|pool| async move { bind_args(sqlx::query(sql), args).fetch_all(&pool).await })
            .await?;
        page_of(&rows, limit)
    }
}
