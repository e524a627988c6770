use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse as _, Response};
use serde::Serialize;

use super::query::ListParams;
use crate::domain::article::Article;
use crate::domain::feed::{Cursor, FeedFilter};
use crate::domain::search::SearchQuery;
use crate::domain::vocab::Dimension;
use crate::storage::FeedPage;
use crate::web::error::{ApiError, AppError};
use crate::web::session::ApiUser;
use crate::web::AppState;

/// An article as the API shows it, borrowed from the (possibly cached) page.
#[derive(Serialize)]
pub struct ArticleJson<'a> {
    id: i64,
    title: &'a str,
    description: &'a str,
    url: &'a str,
    source: &'a str,
    author: Option<&'a str>,
    image_url: Option<&'a str>,
    category: &'a str,
    country: &'a str,
    language: &'a str,
    published_at: String,
    sample: bool,
}

impl<'a> From<&'a Article> for ArticleJson<'a> {
    fn from(a: &'a Article) -> Self {
        ArticleJson {
            published_at: crate::clock::rfc3339(a.published_at).unwrap_or_default(),
            id: a.id,
            title: &a.title,
            description: &a.description,
            url: &a.url,
            source: &a.source,
            author: a.author.as_deref(),
            image_url: a.image_url.as_deref(),
            category: &a.category,
            country: &a.country,
            language: &a.language,
            sample: a.is_sample,
        }
    }
}

#[derive(Serialize)]
pub struct ArticlesJson<'a> {
    articles: Vec<ArticleJson<'a>>,
    next_cursor: Option<String>,
}

struct ListQuery {
    filter: FeedFilter,
    limit: u32,
    cursor: Option<Cursor>,
    search: Option<SearchQuery>,
}

fn parse_query(raw: &str) -> Result<ListQuery, AppError> {
    let q = ListParams::parse(
        raw,
        &["q", "country", "language", "category", "limit", "cursor"],
    )?;
    let limit = q.limit()?;
    let cursor = q.cursor(|c| Cursor::decode(c).map_err(|e| e.0))?;
    let mut filter = FeedFilter::default();
    for d in Dimension::ALL {
        for value in q.all(d.field()) {
            filter
                .add(d, value)
                .map_err(|e| AppError::Unprocessable(e.0))?;
        }
    }
    let search = match q.single("q")? {
        Some(text) => SearchQuery::parse(text).map_err(|e| AppError::Unprocessable(e.0))?,
        None => None,
    };
    Ok(ListQuery {
        filter,
        limit,
        cursor,
        search,
    })
}

/// `GET /api/v1/articles`: newest first, filtered by the query (not by saved preferences, so
/// a URL means the same thing for every caller), paged by an opaque cursor.
pub async fn list(
    State(state): State<AppState>,
    _user: ApiUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = parse_query(raw.as_deref().unwrap_or(""))?;
    let page = match &q.search {
        Some(search) => {
            state
                .db
                .search_page(&q.filter, search, q.cursor, q.limit)
                .await?
        }
        None => state.db.feed_page(&q.filter, q.cursor, q.limit).await?,
    };
    // Serialized once per cached page: the body depends on the query alone.
    json(&page)
}

/// The page as the API's JSON, serialized once per page and kept with it.
fn json(page: &FeedPage) -> Result<Response, ApiError> {
    let body = match page.rendered.json.get() {
        Some(body) => body.clone(),
        None => {
            let json = serde_json::to_string(&ArticlesJson {
                articles: page.articles.iter().map(ArticleJson::from).collect(),
                next_cursor: page.next.map(|c| c.encode()),
            })
            .map_err(|e| AppError::Internal(anyhow::anyhow!("article JSON: {e}")))?;
            page.rendered.json.get_or_init(|| json.into()).clone()
        }
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        crate::web::body::shared(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let q = parse_query("country=us,gb&country=ng&category=sports&limit=5").unwrap();
        assert_eq!(q.filter.countries, vec!["us", "gb", "ng"]);
        assert_eq!(q.limit, 5);
        assert!(matches!(
            parse_query("limit=0"),
            Err(AppError::Unprocessable(_))
        ));
        assert!(matches!(
            parse_query("limit=101"),
            Err(AppError::Unprocessable(_))
        ));
        assert!(matches!(
            parse_query("limit=ten"),
            Err(AppError::BadRequest(_))
        ));
        assert!(matches!(
            parse_query("limit=1&limit=2"),
            Err(AppError::BadRequest(_))
        ));
        assert!(matches!(
            parse_query("countries=us"),
            Err(AppError::BadRequest(_))
        ));
        assert!(matches!(
            parse_query("country=zz"),
            Err(AppError::Unprocessable(_))
        ));
        assert!(matches!(
            parse_query("cursor=%%%"),
            Err(AppError::BadRequest(_))
        ));
        let q = parse_query("q=%22final+release%22+-budget&country=us").unwrap();
        let search = q.search.unwrap();
        assert_eq!((search.include.len(), search.exclude.len()), (1, 1));
        assert!(parse_query("q=").unwrap().search.is_none());
        assert!(matches!(
            parse_query(&format!("q={}", "a".repeat(201))),
            Err(AppError::Unprocessable(_))
        ));
        assert!(matches!(
            parse_query("q=a&q=b"),
            Err(AppError::BadRequest(_))
        ));
    }
}
