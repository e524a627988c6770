use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use super::echo;
use crate::domain::user::Password;
use crate::password::PasswordError;
use crate::web::error::{self, AppError};
use crate::web::form::Form;
use crate::web::session::{self, safe_next, PageContext};
use crate::web::throttle;
use crate::web::{AppState, Layout};

/// One message for every failure, so it never reveals whether the account exists.
const BAD_CREDENTIALS: &str = "Invalid username or password.";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    username: String,
    next: String,
    error: Option<&'static str>,
}

fn page(
    ctx: &PageContext,
    status: StatusCode,
    username: &str,
    next: &str,
    error: Option<&'static str>,
) -> Response {
    ctx.render(
        status,
        &LoginPage {
            layout: ctx.layout("Log in"),
            username: echo(username),
            next: safe_next(next).unwrap_or_default().to_owned(),
            error,
        },
    )
}

pub async fn show(ctx: PageContext, RawQuery(query): RawQuery) -> Response {
    let query = Form::parse(query.unwrap_or_default().as_bytes());
    let next = query.get("next");
    if ctx.user.is_some() {
        return ctx.redirect(safe_next(next).unwrap_or("/news"), None);
    }
    page(&ctx, StatusCode::OK, "", next, None)
}

/// `POST /login`: on success a brand-new session replaces any old one, then the reader goes
/// back to the local page they came from.
pub async fn submit(
    State(state): State<AppState>,
    ctx: PageContext,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, AppError> {
    let result = log_in(&state, &ctx, &headers, &form).await;
    error::offer_again(result, || {
        let (login, next) = (form.get("username"), form.get("next"));
        page(
            &ctx,
            StatusCode::SERVICE_UNAVAILABLE,
            login,
            next,
            Some(error::READ_ONLY_MESSAGE),
        )
    })
}

async fn log_in(
    state: &AppState,
    ctx: &PageContext,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Response, AppError> {
    ctx.check_csrf(form.get("csrf_token"))?;
    let (login, password, next) = (form.get("username"), form.get("password"), form.get("next"));
    if login.trim().is_empty() || password.is_empty() {
        return Ok(page(
            ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            login,
            next,
            Some("Enter your username and password."),
        ));
    }
    // No account has a password longer than registration allows: answered as a wrong
    // password (the limit is public, on the registration page), without spending a hash.
    let too_long = password.chars().count() > Password::MAX_CHARS;
    // An over-long username cannot match an account either.
    let credentials = if login.len() > 254 || too_long {
        None
    } else {
        state.db.find_credentials(login).await?
    };
    let (account, device) = match &credentials {
        Some(c) => (
            throttle::AccountKey::User(c.user_id),
            throttle::known_device(state, headers, ctx.secure, c.user_id).await?,
        ),
        None => (throttle::AccountKey::Unknown(login), None),
    };
    let attempt = throttle::before_login(state, ctx.client_ip, account, device.as_deref()).await?;
    let stored = credentials.as_ref().map(|c| c.password_hash.clone());
    let verified = if too_long {
        false
    } else {
        match state.passwords.verify(password, stored).await {
            Ok(verified) => verified,
            Err(PasswordError::Busy) => {
                let again = page(
                    ctx,
                    StatusCode::SERVICE_UNAVAILABLE,
                    login,
                    next,
                    Some(error::BUSY_MESSAGE),
                );
                return Ok(error::busy(again));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let Some(user) = credentials.filter(|_| verified) else {
        tracing::info!("login failed");
        return Ok(page(
            ctx,
            StatusCode::UNAUTHORIZED,
            login,
            next,
            Some(BAD_CREDENTIALS),
        ));
    };
    throttle::login_succeeded(state, attempt).await?;
    if let Some(old) = &ctx.user {
        state.db.delete_session(&old.token_hash).await?;
    }
    let cookie = session::start_session(state, user.user_id, ctx.secure).await?;
    tracing::info!(user_id = user.user_id, "logged in");
    let mut response = ctx.redirect(safe_next(next).unwrap_or("/news"), None);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    if device.is_none() {
        let device_cookie = throttle::remember_device(state, user.user_id, ctx.secure).await?;
        response
            .headers_mut()
            .append(header::SET_COOKIE, device_cookie);
    }
    Ok(response)
}
