use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::domain::article::parse_article_id;
use crate::web::error::{offer_again, AppError, READ_ONLY_MESSAGE};
use crate::web::form::Form;
use crate::web::session::{safe_next, Flash, PageContext};
use crate::web::{AppState, Layout};

/// What the reader asked for: keep the article, or let it go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    Save,
    Remove,
}

/// `POST /saved/{article_id}`: a card's Save button without JavaScript.
pub async fn submit(
    State(state): State<AppState>,
    ctx: PageContext,
    path: Result<Path<String>, PathRejection>,
    form: Form,
) -> Result<Response, AppError> {
    change(&state, &ctx, path, &form, Change::Save).await
}

/// Saves or removes, then back to the page the reader was on, at the card. While no primary
/// accepts writes: 503 with Retry-After and the same request offered again.
pub(super) async fn change(
    state: &AppState,
    ctx: &PageContext,
    path: Result<Path<String>, PathRejection>,
    form: &Form,
    change: Change,
) -> Result<Response, AppError> {
    let back = back_to(form.get("next"));
    let Some(user) = &ctx.user else {
        return Err(AppError::LoginRequired { next: back });
    };
    ctx.check_csrf(form.get("csrf_token"))?;
    // Not one of our ids: nothing at this address.
    let id = path
        .ok()
        .and_then(|Path(raw)| parse_article_id(&raw).ok())
        .ok_or(AppError::NotFound)?;
    let result = async {
        let flash = match change {
            Change::Save => {
                let now = crate::clock::unix_now();
                state.db.save_article(user.user_id, id, now).await?;
                Flash::ArticleSaved
            }
            Change::Remove => {
                state.db.unsave_article(user.user_id, id).await?;
                Flash::ArticleRemoved
            }
        };
        Ok(ctx.redirect(&format!("{back}#article-{id}"), Some(flash)))
    }
    .await;
    offer_again(result, || {
        let (heading, button, button_verb, action) = match change {
            Change::Save => (
                "Not saved yet",
                "Save again",
                "saving",
                format!("/saved/{id}"),
            ),
            Change::Remove => (
                "Not removed yet",
                "Remove again",
                "removing",
                format!("/saved/{id}/remove"),
            ),
        };
        let view = SaveAgain {
            layout: ctx.layout(heading),
            heading,
            message: READ_ONLY_MESSAGE,
            action,
            next: back.clone(),
            button,
            button_verb,
        };
        ctx.render(StatusCode::SERVICE_UNAVAILABLE, &view)
    })
}

#[derive(Template)]
#[template(path = "save_again.html")]
struct SaveAgain {
    layout: Layout,
    heading: &'static str,
    message: &'static str,
    action: String,
    next: String,
    button: &'static str,
    button_verb: &'static str,
}

/// Where to go back to: the page the form came from (a local path, without a fragment),
/// else the news.
fn back_to(next: &str) -> String {
    let next = next.split('#').next().unwrap_or_default();
    safe_next(next).unwrap_or("/news").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_way_back_is_local() {
        assert_eq!(back_to("/news?cursor=abc"), "/news?cursor=abc");
        assert_eq!(back_to("/saved#article-3"), "/saved");
        assert_eq!(back_to("https://evil.example/"), "/news");
        assert_eq!(back_to("//evil.example"), "/news");
        assert_eq!(back_to(""), "/news");
    }
}
