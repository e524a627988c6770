//! `/api/v1/saved`: a reader's saved articles. Writes need the session's CSRF token in an
//! `X-CSRF-Token` header (what the pages' script sends), so another site cannot make a
//! reader's browser save or remove articles.
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::Json;
use serde::Serialize;

use super::articles::ArticleJson;
use super::query::ListParams;
use crate::domain::article::parse_article_id;
use crate::domain::feed::SavedCursor;
use crate::storage::SavedPage;
use crate::web::error::{ApiError, AppError};
use crate::web::session::{ApiUser, AuthUser};
use crate::web::AppState;

#[derive(Serialize)]
struct SavedJson<'a> {
    #[serde(flatten)]
    article: ArticleJson<'a>,
    saved_at: String,
}

#[derive(Serialize)]
struct SavedListJson<'a> {
    articles: Vec<SavedJson<'a>>,
    next_cursor: Option<String>,
}

fn parse_query(raw: &str) -> Result<(u32, Option<SavedCursor>), AppError> {
    let q = ListParams::parse(raw, &["limit", "cursor"])?;
    Ok((
        q.limit()?,
        q.cursor(|c| SavedCursor::decode(c).map_err(|e| e.0))?,
    ))
}

/// `GET /api/v1/saved`: the reader's saved articles, newest saved first, paged by an opaque
/// cursor (`limit` 1 to 100, default 30).
pub async fn list(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (limit, cursor) = parse_query(raw.as_deref().unwrap_or(""))?;
    let SavedPage { items, next } = state.db.saved_page(user.user_id, cursor, limit).await?;
    let body = SavedListJson {
        articles: items
            .iter()
            .map(|s| SavedJson {
                article: ArticleJson::from(&s.article),
                saved_at: crate::clock::rfc3339(s.saved_at).unwrap_or_default(),
            })
            .collect(),
        next_cursor: next.map(|c| c.encode()),
    };
    Ok(Json(body).into_response())
}

/// `PUT /api/v1/saved/{article_id}`: saves the article. 204 every time, saved before or not.
pub async fn put(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = checked(&user, &headers, path)?;
    state
        .db
        .save_article(user.user_id, id, crate::clock::unix_now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/saved/{article_id}`: forgets the article. 204 every time, saved or not.
pub async fn delete(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = checked(&user, &headers, path)?;
    state.db.unsave_article(user.user_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The CSRF header (403 without it), then the article id (400 unless a positive number).
fn checked(
    user: &AuthUser,
    headers: &HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<i64, AppError> {
    let token = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    user.check_csrf(token)?;
    let Path(raw) = path.map_err(|_| {
        AppError::BadRequest("The article id in the path could not be read.".into())
    })?;
    parse_article_id(&raw).map_err(|e| AppError::BadRequest(e.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        assert_eq!(parse_query("").unwrap(), (30, None));
        assert_eq!(parse_query("limit=5").unwrap().0, 5);
        let c = SavedCursor {
            saved_at: 1_800_000_000,
            article_id: 7,
        };
        assert_eq!(
            parse_query(&format!("cursor={}", c.encode())).unwrap().1,
            Some(c)
        );
        assert!(matches!(
            parse_query("limit=0"),
            Err(AppError::Unprocessable(_))
        ));
        assert!(matches!(
            parse_query("limit=x"),
            Err(AppError::BadRequest(_))
        ));
        assert!(matches!(
            parse_query("limit=1&limit=2"),
            Err(AppError::BadRequest(_))
        ));
        assert!(matches!(
            parse_query("cursor=%%%"),
            Err(AppError::BadRequest(_))
        ));
        assert!(matches!(
            parse_query("country=us"),
            Err(AppError::BadRequest(_))
        ));
    }
}
