//! One error type for every handler. Pages get a designed HTML page, the API gets JSON; a 500
//! logs its detail and shows nothing of it.
use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;

use crate::storage;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("login required")]
    LoginRequired { next: String },
    #[error("the form has expired")]
    Csrf,
    #[error("not found")]
    NotFound,
    /// The request collides with stored data (a name already taken).
    #[error("{0}")]
    Conflict(String),
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("unsupported content type")]
    UnsupportedMediaType,
    #[error("{0}")]
    Unprocessable(String),
    #[error("too many requests")]
    TooManyRequests { retry_after: u64 },
    #[error("database unavailable")]
    Unavailable(#[source] storage::Error),
    /// Password hashing is saturated (a login flood): retry in a moment.
    #[error("password hashing is busy")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<storage::Error> for AppError {
    fn from(e: storage::Error) -> Self {
        match e {
            storage::Error::Unavailable(_) | storage::Error::PrimaryDown => {
                AppError::Unavailable(e)
            }
            storage::Error::NotFound(_) => AppError::NotFound,
            storage::Error::Conflict(c) => AppError::Conflict(c.to_string()),
            // A bug, or a set-up error that reached a request: 500, logged.
            other => AppError::Internal(other.into()),
        }
    }
}

impl From<crate::password::PasswordError> for AppError {
    fn from(e: crate::password::PasswordError) -> Self {
        match e {
            crate::password::PasswordError::Busy => AppError::Busy,
            crate::password::PasswordError::Failed(e) => AppError::Internal(e),
        }
    }
}

/// Seconds a client should wait before retrying while the database is down.
const RETRY_AFTER_SECS: &str = "5";
/// Seconds before retrying a login refused because password hashing is saturated: the queue
/// drains in well under a second.
pub const BUSY_RETRY_AFTER_SECS: &str = "2";
/// What a reader is told then.
pub const BUSY_MESSAGE: &str =
    "NewsRead is handling a great many sign-ins right now. Please try again in a few seconds.";

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::LoginRequired { .. } => StatusCode::UNAUTHORIZED,
            AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) | AppError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::LoginRequired { .. } => "unauthenticated",
            AppError::Csrf => "csrf_failed",
            AppError::NotFound => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::Unprocessable(_) => "invalid_parameter",
            AppError::TooManyRequests { .. } => "rate_limited",
            AppError::Unavailable(_) => "unavailable",
            AppError::Busy => "busy",
            AppError::Internal(_) => "internal",
        }
    }

    /// What the user is told: never internal detail.
    fn public_message(&self) -> String {
        match self {
            AppError::BadRequest(m) | AppError::Unprocessable(m) | AppError::Conflict(m) => {
                m.clone()
            }
            AppError::LoginRequired { .. } => "Log in to continue.".into(),
            AppError::Csrf => {
                "This form has expired or was sent from another site. Go back, reload the page and try again.".into()
            }
            AppError::NotFound => "There is nothing at this address.".into(),
            AppError::PayloadTooLarge => "What you sent is too large.".into(),
            AppError::UnsupportedMediaType => "This request's content type is not supported.".into(),
            AppError::TooManyRequests { retry_after } => {
                let minutes = retry_after.div_ceil(60);
                format!(
                    "Too many attempts. Please wait {minutes} minute{} and try again.",
                    if minutes == 1 { "" } else { "s" }
                )
            }
            AppError::Unavailable(_) => {
                "NewsRead's database is switching over: reading works, but changes cannot be saved for a moment. Please try again in a few seconds.".into()
            }
            AppError::Busy => BUSY_MESSAGE.into(),
            AppError::Internal(_) => "Something went wrong on our side. It has been logged; please try again.".into(),
        }
    }

    fn log(&self) {
        match self {
            AppError::Internal(e) => tracing::error!(error = ?e, "request failed"),
            AppError::Unavailable(e) => tracing::warn!(error = %e, "database unavailable"),
            _ => {}
        }
    }

    fn with_retry_after(&self, mut response: Response) -> Response {
        let value = match self {
            AppError::Unavailable(_) => Some(HeaderValue::from_static(RETRY_AFTER_SECS)),
            AppError::Busy => Some(HeaderValue::from_static(BUSY_RETRY_AFTER_SECS)),
            AppError::TooManyRequests { retry_after } => {
                HeaderValue::from_str(&retry_after.to_string()).ok()
            }
            _ => None,
        };
        if let Some(v) = value {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: super::Layout,
    status: u16,
    title: &'static str,
    message: String,
}

/// What an error page says, kept on the response so that `personalize` can render it again
/// with the reader's own header (errors are turned into responses without the session).
#[derive(Debug, Clone)]
pub struct ErrorPageParts {
    status: StatusCode,
    message: String,
}

impl ErrorPageParts {
    /// The page as HTML in `layout` (the logged-out frame when `None`).
    fn render(&self, layout: Option<super::Layout>) -> Result<String, askama::Error> {
        let title = self.status.canonical_reason().unwrap_or("Error");
        ErrorPage {
            layout: super::Layout {
                title: title.to_owned(),
                ..layout.unwrap_or_else(super::Layout::anonymous)
            },
            status: self.status.as_u16(),
            title,
            message: self.message.clone(),
        }
        .render()
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        if let AppError::LoginRequired { next } = &self {
            let target = format!("/login?next={}", urlencode(next));
            return Redirect::to(&target).into_response();
        }
        let parts = ErrorPageParts {
            status: self.status(),
            message: self.public_message(),
        };
        let mut response = match parts.render(None) {
            Ok(html) => (
                parts.status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response(),
            Err(e) => {
                tracing::error!(error = %e, "error page failed to render");
                (parts.status, self.public_message()).into_response()
            }
        };
        response.extensions_mut().insert(parts);
        self.with_retry_after(response)
    }
}

/// Middleware: error pages for a logged-in reader show the reader's header (name, logout),
/// not the logged-out one. Costs a session lookup on error pages only, and only for requests
/// that carry a session cookie; when the database is what failed, the page stays as it is.
pub async fn personalize(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // Header values share the request's buffer: keeping them costs no copy.
    let cookies: Vec<HeaderValue> = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .cloned()
        .collect();
    let secure = request
        .extensions()
        .get::<super::ClientInfo>()
        .is_some_and(|c| c.https);
    let mut response = next.run(request).await;
    if cookies.is_empty() || response.status() == StatusCode::SERVICE_UNAVAILABLE {
        return response;
    }
    let Some(parts) = response.extensions_mut().remove::<ErrorPageParts>() else {
        return response;
    };
    let mut headers = axum::http::HeaderMap::new();
    for c in cookies {
        headers.append(header::COOKIE, c);
    }
    let Ok(Some(user)) = super::session::load_user(&state, &headers, secure).await else {
        return response;
    };
    let layout = super::Layout {
        user: Some(user.username),
        csrf_token: user.csrf_token,
        ..super::Layout::anonymous()
    };
    match parts.render(Some(layout)) {
        Ok(html) => {
            let (mut head, _) = response.into_parts();
            head.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(head, axum::body::Body::from(html))
        }
        Err(_) => response,
    }
}

/// The same errors for `/api/`: JSON, and 401 instead of a login redirect.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        e.log();
        let body =
            serde_json::json!({ "error": { "code": e.code(), "message": e.public_message() } });
        e.with_retry_after((e.status(), Json(body)).into_response())
    }
}

/// What a form says when it could not be saved because no primary database accepts writes
/// (an outage or a failover): reading goes on meanwhile.
pub const READ_ONLY_MESSAGE: &str = "NewsRead is read-only for a moment while its database \
    switches over: reading works, but this was not saved. Your form is below; please send it \
    again in a few seconds.";

/// While no primary accepts writes, a form is answered 503 with `Retry-After` and offered
/// again as the reader filled it (`again` renders it), rather than lost behind an error page.
pub fn offer_again(
    result: Result<Response, AppError>,
    again: impl FnOnce() -> Response,
) -> Result<Response, AppError> {
    match result {
        Err(e @ AppError::Unavailable(_)) => {
            e.log();
            Ok(e.with_retry_after(again()))
        }
        other => other,
    }
}

/// A form page answered (503) because password hashing is busy gets `Retry-After`, like
/// [`AppError::Busy`], while the page itself keeps what the reader typed.
pub fn busy(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(BUSY_RETRY_AFTER_SECS),
    );
    response
}

pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Storage errors reach the reader by what they mean: a database that cannot serve now
    /// is 503 with Retry-After, never a 500; a bug is 500 and says nothing of itself.
    #[test]
    fn storage_errors_map_to_statuses() {
        let cases = [
            (
                storage::Error::PrimaryDown,
                StatusCode::SERVICE_UNAVAILABLE,
                true,
            ),
            (
                storage::Error::from(sqlx::Error::PoolTimedOut),
                StatusCode::SERVICE_UNAVAILABLE,
                true,
            ),
            (
                storage::Error::NotFound("article"),
                StatusCode::NOT_FOUND,
                false,
            ),
            (
                storage::Error::Conflict(storage::Conflict::Identity {
                    username: true,
                    email: false,
                }),
                StatusCode::CONFLICT,
                false,
            ),
            (
                storage::Error::invariant("the database returned no id for a new row"),
                StatusCode::INTERNAL_SERVER_ERROR,
                false,
            ),
            (
                storage::Error::from(sqlx::Error::RowNotFound),
                StatusCode::INTERNAL_SERVER_ERROR,
                false,
            ),
        ];
        for (error, status, retry) in cases {
            let shown = error.to_string();
            let app = AppError::from(error);
            assert_eq!(app.status(), status, "{shown}");
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                assert!(!app.public_message().contains("id for a new row"));
            }
            let response = app.into_response();
            assert_eq!(response.status(), status);
            assert_eq!(
                response.headers().contains_key(header::RETRY_AFTER),
                retry,
                "{shown}"
            );
        }
    }
}
