use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;

use super::save::{change, Change};
use crate::web::error::AppError;
use crate::web::form::Form;
use crate::web::session::PageContext;
use crate::web::AppState;

/// `POST /saved/{article_id}/remove`: a card's Saved button without JavaScript.
pub async fn submit(
    State(state): State<AppState>,
    ctx: PageContext,
    path: Result<Path<String>, PathRejection>,
    form: Form,
) -> Result<Response, AppError> {
    change(&state, &ctx, path, &form, Change::Remove).await
}
