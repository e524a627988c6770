use askama::Template;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::Response;

use super::echo;
use crate::domain::user::{Email, Password, Username};
use crate::password::PasswordError;
use crate::storage;
use crate::web::error::{self, AppError};
use crate::web::form::Form;
use crate::web::session::{self, Flash, PageContext};
use crate::web::throttle;
use crate::web::{AppState, Layout};

#[derive(Default)]
struct FieldErrors {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
    password_confirm: Option<String>,
}

impl FieldErrors {
    fn any(&self) -> bool {
        self.username.is_some()
            || self.email.is_some()
            || self.password.is_some()
            || self.password_confirm.is_some()
    }
}

const USERNAME_TAKEN: &str = "This username is already taken. Choose another.";
const EMAIL_TAKEN: &str = "An account with this email already exists. Log in instead?";

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    layout: Layout,
    username: String,
    email: String,
    errors: FieldErrors,
    /// A problem with the whole form rather than a field (hashing busy).
    notice: Option<&'static str>,
}

fn page(ctx: &PageContext, status: StatusCode, form: &Form, errors: FieldErrors) -> Response {
    page_with(ctx, status, form, errors, None)
}

fn page_with(
    ctx: &PageContext,
    status: StatusCode,
    form: &Form,
    errors: FieldErrors,
    notice: Option<&'static str>,
) -> Response {
    ctx.render(
        status,
        &RegisterPage {
            layout: ctx.layout("Create your account"),
            username: echo(form.get("username")),
            email: echo(form.get("email")),
            errors,
            notice,
        },
    )
}

pub async fn show(ctx: PageContext) -> Response {
    if ctx.user.is_some() {
        return ctx.redirect("/news", None);
    }
    page(
        &ctx,
        StatusCode::OK,
        &Form::default(),
        FieldErrors::default(),
    )
}

/// `POST /register`: validate every field, refuse taken identities, create the account and
/// log the new reader in.
pub async fn submit(
    State(state): State<AppState>,
    ctx: PageContext,
    form: Form,
) -> Result<Response, AppError> {
    let result = create_account(&state, &ctx, &form).await;
    error::offer_again(result, || {
        page_with(
            &ctx,
            StatusCode::SERVICE_UNAVAILABLE,
            &form,
            FieldErrors::default(),
            Some(error::READ_ONLY_MESSAGE),
        )
    })
}

async fn create_account(
    state: &AppState,
    ctx: &PageContext,
    form: &Form,
) -> Result<Response, AppError> {
    ctx.check_csrf(form.get("csrf_token"))?;
    if ctx.user.is_some() {
        return Ok(ctx.redirect("/news", None));
    }
    throttle::before_register(state, ctx.client_ip).await?;
    let mut errors = FieldErrors::default();
    let username = Username::parse(form.get("username"))
        .map_err(|e| errors.username = Some(e.0))
        .ok();
    let email = Email::parse(form.get("email"))
        .map_err(|e| errors.email = Some(e.0))
        .ok();
    let password = Password::parse(form.get("password"))
        .map_err(|e| errors.password = Some(e.0))
        .ok();
    if password.is_some() && form.get("password") != form.get("password_confirm") {
        errors.password_confirm = Some("The two passwords do not match.".into());
    }
    let (Some(username), Some(email), Some(password), false) =
        (username, email, password, errors.any())
    else {
        return Ok(page(ctx, StatusCode::UNPROCESSABLE_ENTITY, form, errors));
    };

    let conflict = |ctx: &PageContext, username_taken: bool, email_taken: bool| {
        let errors = FieldErrors {
            username: username_taken.then(|| USERNAME_TAKEN.to_owned()),
            email: email_taken.then(|| EMAIL_TAKEN.to_owned()),
            ..FieldErrors::default()
        };
        page(ctx, StatusCode::CONFLICT, form, errors)
    };
    // Checked before hashing so that the common case answers fast; the unique indexes
    // below settle races.
    let (username_taken, email_taken) = state.db.identities_taken(&username, &email).await?;
    if username_taken || email_taken {
        return Ok(conflict(ctx, username_taken, email_taken));
    }
    let hash = match state.passwords.hash(password.expose()).await {
        Ok(hash) => hash,
        Err(PasswordError::Busy) => {
            let again = page_with(
                ctx,
                StatusCode::SERVICE_UNAVAILABLE,
                form,
                FieldErrors::default(),
                Some(error::BUSY_MESSAGE),
            );
            return Ok(error::busy(again));
        }
        Err(e) => return Err(e.into()),
    };
    let user_id = match state
        .db
        .create_user(&username, &email, &hash, crate::clock::unix_now())
        .await
    {
        Ok(id) => id,
        Err(storage::Error::Conflict(storage::Conflict::Identity { username, email })) => {
            return Ok(conflict(ctx, username, email))
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user_id, "account created");
    let cookie = session::start_session(state, user_id, ctx.secure).await?;
    let mut response = ctx.redirect("/news", Some(Flash::Welcome));
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}
