//! `/account`: change the password, delete the account. Both ask for the current password,
//! which is counted against the login limits before it is checked: a stolen session cannot
//! be used to guess the password faster than the login form allows.
use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use crate::domain::user::Password;
use crate::password::PasswordError;
use crate::web::error::{self, AppError};
use crate::web::form::Form;
use crate::web::session::{self, AuthUser, CookieName, Flash, FreshSession, PageContext};
use crate::web::throttle;
use crate::web::{AppState, Layout};

const TITLE: &str = "Your account";
const WRONG_PASSWORD: &str = "This is not your current password.";

#[derive(Default)]
struct PasswordErrors {
    current_password: Option<String>,
    password: Option<String>,
    password_confirm: Option<String>,
}

impl PasswordErrors {
    fn any(&self) -> bool {
        self.current_password.is_some()
            || self.password.is_some()
            || self.password_confirm.is_some()
    }
}

/// What the page shows besides the forms: errors and notices of the form just sent.
#[derive(Default)]
struct View {
    change: PasswordErrors,
    /// A problem with the whole password form (hashing busy, database read-only).
    change_notice: Option<&'static str>,
    delete_error: Option<String>,
    delete_notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    username: String,
    view: View,
}

fn page(ctx: &PageContext, status: StatusCode, view: View) -> Response {
    ctx.render(
        status,
        &AccountPage {
            layout: ctx.layout(TITLE),
            username: ctx
                .user
                .as_ref()
                .map(|u| u.username.clone())
                .unwrap_or_default(),
            view,
        },
    )
}

/// The reader, or a login redirect that comes back to the page (not to the POST's URL).
fn reader(ctx: &PageContext) -> Result<&AuthUser, AppError> {
    ctx.user.as_ref().ok_or_else(|| AppError::LoginRequired {
        next: "/account".to_owned(),
    })
}

/// `GET /account`.
pub async fn show(ctx: PageContext) -> Result<Response, AppError> {
    reader(&ctx)?;
    Ok(page(&ctx, StatusCode::OK, View::default()))
}

/// What the current-password check found.
enum Check {
    Right,
    Wrong,
    /// The hashing queue is full: 503, try again in a moment.
    Busy,
}

/// Checks that `password` is the reader's current one, after counting the attempt against
/// the login limits (429 past them), as a login would.
async fn check_current_password(
    state: &AppState,
    ctx: &PageContext,
    headers: &HeaderMap,
    user: &AuthUser,
    password: &str,
) -> Result<Check, AppError> {
    let Some(stored) = state.db.password_hash(user.user_id).await? else {
        // Deleted a moment ago in another tab: this session went with it.
        return Err(AppError::LoginRequired {
            next: "/account".to_owned(),
        });
    };
    let device = throttle::known_device(state, headers, ctx.secure, user.user_id).await?;
    let attempt = throttle::before_login(
        state,
        ctx.client_ip,
        throttle::AccountKey::User(user.user_id),
        device.as_deref(),
    )
    .await?;
    // No account has a longer password: wrong, without spending a hash.
    if password.chars().count() > Password::MAX_CHARS {
        return Ok(Check::Wrong);
    }
    match state.passwords.verify(password, Some(stored)).await {
        Ok(true) => {
            throttle::login_succeeded(state, attempt).await?;
            Ok(Check::Right)
        }
        Ok(false) => Ok(Check::Wrong),
        Err(PasswordError::Busy) => Ok(Check::Busy),
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/password`: a new password for the reader; every other session ends, and
/// this one goes on under a new id and CSRF token.
pub async fn change_password(
    State(state): State<AppState>,
    ctx: PageContext,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, AppError> {
    let result = change(&state, &ctx, &headers, &form).await;
    error::offer_again(result, || {
        let view = View {
            change_notice: Some(error::READ_ONLY_MESSAGE),
            ..View::default()
        };
        page(&ctx, StatusCode::SERVICE_UNAVAILABLE, view)
    })
}

async fn change(
    state: &AppState,
    ctx: &PageContext,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Response, AppError> {
    let user = reader(ctx)?;
    ctx.check_csrf(form.get("csrf_token"))?;
    let (current, new, confirm) = (
        form.get("current_password"),
        form.get("password"),
        form.get("password_confirm"),
    );
    let mut errors = PasswordErrors::default();
    if current.is_empty() {
        errors.current_password = Some("Enter your current password.".into());
    }
    match Password::parse(new) {
        Err(e) => errors.password = Some(e.0),
        Ok(_) if new == current => {
            errors.password = Some("Choose a password other than your current one.".into());
        }
        Ok(_) if new != confirm => {
            errors.password_confirm = Some("The two passwords do not match.".into());
        }
        Ok(_) => {}
    }
    let invalid = |errors| {
        let view = View {
            change: errors,
            ..View::default()
        };
        page(ctx, StatusCode::UNPROCESSABLE_ENTITY, view)
    };
    // Nothing to check the current password for (and nothing counted) until the rest is valid.
    if errors.any() {
        return Ok(invalid(errors));
    }
    let busy = || {
        let view = View {
            change_notice: Some(error::BUSY_MESSAGE),
            ..View::default()
        };
        page(ctx, StatusCode::SERVICE_UNAVAILABLE, view)
    };
    match check_current_password(state, ctx, headers, user, current).await? {
        Check::Right => {}
        Check::Wrong => {
            tracing::info!(
                user_id = user.user_id,
                "password change: wrong current password"
            );
            return Ok(invalid(PasswordErrors {
                current_password: Some(WRONG_PASSWORD.into()),
                ..PasswordErrors::default()
            }));
        }
        Check::Busy => return Ok(error::busy(busy())),
    }
    let hash = match state.passwords.hash(new).await {
        Ok(hash) => hash,
        Err(PasswordError::Busy) => return Ok(error::busy(busy())),
        Err(e) => return Err(e.into()),
    };
    let fresh = FreshSession::new(state);
    if !state
        .db
        .change_password(user.user_id, &hash, &fresh.record())
        .await?
    {
        return Err(AppError::LoginRequired {
            next: "/account".to_owned(),
        });
    }
    tracing::info!(
        user_id = user.user_id,
        "password changed; other sessions ended"
    );
    let mut response = ctx.redirect("/account", Some(Flash::PasswordChanged));
    response
        .headers_mut()
        .append(header::SET_COOKIE, fresh.cookie(ctx.secure));
    Ok(response)
}

/// `POST /account/delete`: removes the account and everything of the reader's, then logs out.
pub async fn delete(
    State(state): State<AppState>,
    ctx: PageContext,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, AppError> {
    let result = delete_account(&state, &ctx, &headers, &form).await;
    error::offer_again(result, || {
        let view = View {
            delete_notice: Some(error::READ_ONLY_MESSAGE),
            ..View::default()
        };
        page(&ctx, StatusCode::SERVICE_UNAVAILABLE, view)
    })
}

async fn delete_account(
    state: &AppState,
    ctx: &PageContext,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Response, AppError> {
    let user = reader(ctx)?;
    ctx.check_csrf(form.get("csrf_token"))?;
    let password = form.get("password");
    let refused = |message: &str| {
        let view = View {
            delete_error: Some(message.to_owned()),
            ..View::default()
        };
        page(ctx, StatusCode::UNPROCESSABLE_ENTITY, view)
    };
    if password.is_empty() {
        return Ok(refused("Enter your password to delete your account."));
    }
    let busy = || {
        let view = View {
            delete_notice: Some(error::BUSY_MESSAGE),
            ..View::default()
        };
        page(ctx, StatusCode::SERVICE_UNAVAILABLE, view)
    };
    match check_current_password(state, ctx, headers, user, password).await? {
        Check::Right => {}
        Check::Wrong => {
            tracing::info!(user_id = user.user_id, "account deletion: wrong password");
            return Ok(refused(WRONG_PASSWORD));
        }
        Check::Busy => return Ok(error::busy(busy())),
    }
    state.db.delete_user(user.user_id).await?;
    tracing::info!(user_id = user.user_id, "account deleted");
    let mut response = ctx.redirect("/", Some(Flash::AccountDeleted));
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        session::clear_session_cookie(ctx.secure),
    );
    // The browser's device record went with the account.
    cookies.append(
        header::SET_COOKIE,
        session::set_cookie(CookieName::Device, "", 0, ctx.secure, "Strict"),
    );
    Ok(response)
}
