use std::sync::Arc;

use askama::Template;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use axum::body::Bytes;

use super::cards;
use crate::domain::feed::{Cursor, FeedFilter};
use crate::domain::search::{SearchQuery, MAX_CHARS, MAX_WORDS};
use crate::domain::vocab::Dimension;
use crate::storage::{CardsHtml, FeedPage};
use crate::web::error::{urlencode, AppError};
use crate::web::form::Form;
use crate::web::session::PageContext;
use crate::web::{body, AppState, Layout};

pub const PAGE_SIZE: u32 = 30;

/// Stands in the rendered page where the cards go; the page is sent as the text before it,
/// the shared cards, and the text after it. Nothing else on the page can contain it: it
/// holds control characters, and the page's own text is the reader's validated name,
/// vocabulary names and fixed strings.
const CARDS_SLOT: &str = "\u{1}cards\u{1}";

/// The search box and what it found.
struct Search {
    /// What the reader typed, shown back (escaped by the template).
    text: String,
    /// Searching, not browsing: the results replace the feed.
    active: bool,
    /// Words past the limit were dropped.
    truncated: bool,
    /// Why the search could not run (too long), shown under the box.
    error: Option<String>,
    max_chars: usize,
    max_words: usize,
}

#[derive(Template)]
#[template(path = "news.html")]
struct NewsPage {
    layout: Layout,
    search: Search,
    has_cards: bool,
    /// `CARDS_SLOT`: the cards (rendered and escaped by `CardList`) are sent in its place.
    cards_html: &'static str,
    older_url: Option<String>,
    is_first_page: bool,
    selection: Vec<(&'static str, String)>,
    /// This page, for the save form to come back to.
    here: String,
}

impl Search {
    fn idle() -> Self {
        Search {
            text: String::new(),
            active: false,
            truncated: false,
            error: None,
            max_chars: MAX_CHARS,
            max_words: MAX_WORDS,
        }
    }

    /// Where "Newest" leads: the first page of this search, or of the feed.
    fn first_page_url(&self) -> String {
        if self.active {
            format!("/news?q={}", urlencode(&self.text))
        } else {
            "/news".to_owned()
        }
    }
}

/// A line per filtered dimension, e.g. ("Countries", "Nigeria, United Kingdom").
fn describe(filter: &FeedFilter) -> Vec<(&'static str, String)> {
    Dimension::ALL
        .into_iter()
        .filter(|d| !filter.get(*d).is_empty())
        .map(|d| {
            let label = match d {
                Dimension::Country => "Countries",
                Dimension::Language => "Languages",
                Dimension::Category => "Categories",
            };
            let names: Vec<&str> = filter.get(d).iter().map(|c| d.name_of(c)).collect();
            (label, names.join(", "))
        })
        .collect()
}

/// `GET /news`: the reader's own feed, newest first, one keyset page at a time.
pub async fn show(
    State(state): State<AppState>,
    ctx: PageContext,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let user = ctx.require_user()?;
    let query = Form::parse(query.unwrap_or_default().as_bytes());
    let cursor = match query.get("cursor") {
        "" => None,
        raw => Some(Cursor::decode(raw).map_err(|e| AppError::BadRequest(e.0))?),
    };
    let filter = &user.preferences;
    let text = query.get("q");
    let (page, search, status) = match SearchQuery::parse(text) {
        Ok(None) => {
            let page = state.db.feed_page(filter, cursor, PAGE_SIZE).await?;
            (page, Search::idle(), StatusCode::OK)
        }
        Ok(Some(search)) => {
            let page = state
                .db
                .search_page(filter, &search, cursor, PAGE_SIZE)
                .await?;
            let shown = Search {
                text: search.text,
                active: true,
                truncated: search.truncated,
                error: None,
                max_chars: MAX_CHARS,
                max_words: MAX_WORDS,
            };
            (page, shown, StatusCode::OK)
        }
        Err(e) => {
            let shown = Search {
                text: text.trim().to_owned(),
                active: true,
                truncated: false,
                error: Some(e.0),
                max_chars: MAX_CHARS,
                max_words: MAX_WORDS,
            };
            let page = Arc::new(FeedPage::default());
            (page, shown, StatusCode::UNPROCESSABLE_ENTITY)
        }
    };
    let cards = cards_html(&page, state.media.is_some())?;
    // Most readers have saved nothing (the session says so): no query for them.
    let saved = if user.has_saved && !page.articles.is_empty() {
        let ids: Vec<i64> = page.articles.iter().map(|a| a.id).collect();
        state.db.saved_among(user.user_id, &ids).await?
    } else {
        Vec::new()
    };
    let cards = cards::for_reader(&cards, &page.articles, &saved)?;
    let older_url = page.next.map(|c| match search.active {
        true => format!("/news?q={}&cursor={}", urlencode(&search.text), c.encode()),
        false => format!("/news?cursor={}", c.encode()),
    });
    let title = if search.active { "Search" } else { "Your news" };
    let view = NewsPage {
        layout: ctx.layout(title),
        search,
        has_cards: !page.articles.is_empty(),
        cards_html: CARDS_SLOT,
        older_url,
        is_first_page: cursor.is_none(),
        selection: describe(filter),
        here: ctx.here().to_owned(),
    };
    let page_html = view
        .render()
        .map_err(|e| anyhow::anyhow!("news page failed to render: {e}"))?;
    Ok(ctx.html(status, fill_cards_slot(page_html, cards)))
}

/// The page's cards, rendered by the first request that shows this (cached) page.
fn cards_html(page: &FeedPage, cached_images: bool) -> Result<Arc<CardsHtml>, AppError> {
    if let Some(html) = page.rendered.html.get() {
        return Ok(html.clone());
    }
    let html = Arc::new(cards::shared(&page.articles, cached_images)?);
    Ok(page.rendered.html.get_or_init(|| html).clone())
}

/// The page as the text before `CARDS_SLOT`, the cards' pieces, and the text after it.
fn fill_cards_slot(mut head: String, cards: Vec<Bytes>) -> Body {
    match head.find(CARDS_SLOT) {
        Some(at) => {
            let tail = head.split_off(at + CARDS_SLOT.len());
            head.truncate(at);
            let mut pieces = Vec::with_capacity(cards.len() + 2);
            pieces.push(head.into());
            pieces.extend(cards);
            pieces.push(tail.into());
            body::chunks(pieces)
        }
        // No cards on the page (an empty feed).
        None => head.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_cards_go_where_the_slot_is() {
        let body = |html: String| async move {
            let b = fill_cards_slot(html, vec![Bytes::from_static(b"<li>card</li>")]);
            axum::body::to_bytes(b, 1 << 16).await.unwrap()
        };
        assert_eq!(
            &body(format!("<ol>{CARDS_SLOT}</ol>")).await[..],
            b"<ol><li>card</li></ol>"
        );
        assert_eq!(
            &body("<p>No articles</p>".to_owned()).await[..],
            b"<p>No articles</p>"
        );
    }
}
