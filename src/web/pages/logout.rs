use axum::extract::State;
use axum::http::header;
use axum::response::Response;

use crate::web::error::AppError;
use crate::web::form::Form;
use crate::web::session::{self, Flash, PageContext};
use crate::web::AppState;

/// `POST /logout`: deletes the session server-side, so the cookie is worthless everywhere.
pub async fn submit(
    State(state): State<AppState>,
    ctx: PageContext,
    form: Form,
) -> Result<Response, AppError> {
    ctx.check_csrf(form.get("csrf_token"))?;
    let Some(user) = &ctx.user else {
        return Ok(ctx.redirect("/", None));
    };
    state.db.delete_session(&user.token_hash).await?;
    tracing::info!(user_id = user.user_id, "logged out");
    let mut response = ctx.redirect("/", Some(Flash::LoggedOut));
    response.headers_mut().append(
        header::SET_COOKIE,
        session::clear_session_cookie(ctx.secure),
    );
    Ok(response)
}
