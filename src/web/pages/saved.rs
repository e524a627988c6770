use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::cards;
use crate::domain::feed::SavedCursor;
use crate::web::error::AppError;
use crate::web::form::Form;
use crate::web::session::PageContext;
use crate::web::{AppState, Layout};

pub const PAGE_SIZE: u32 = 30;

#[derive(Template)]
#[template(path = "saved.html")]
struct SavedPage {
    layout: Layout,
    has_cards: bool,
    /// The reader's own cards, rendered and escaped by `cards::saved`.
    cards_html: String,
    older_url: Option<String>,
    is_first_page: bool,
    /// This page, for the save form to come back to.
    here: String,
}

/// `GET /saved`: the reader's saved articles, newest saved first, one keyset page at a time.
pub async fn show(
    State(state): State<AppState>,
    ctx: PageContext,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let user = ctx.require_user()?;
    let query = Form::parse(query.unwrap_or_default().as_bytes());
    let cursor = match query.get("cursor") {
        "" => None,
        raw => Some(SavedCursor::decode(raw).map_err(|e| AppError::BadRequest(e.0))?),
    };
    let page = state.db.saved_page(user.user_id, cursor, PAGE_SIZE).await?;
    let view = SavedPage {
        layout: ctx.layout("Saved articles"),
        has_cards: !page.items.is_empty(),
        cards_html: cards::saved(&page.items, state.media.is_some())?,
        older_url: page.next.map(|c| format!("/saved?cursor={}", c.encode())),
        is_first_page: cursor.is_none(),
        here: ctx.here().to_owned(),
    };
    Ok(ctx.render(StatusCode::OK, &view))
}
