//! Who is asking: per-user server-side sessions, CSRF tokens and flash messages.
//!
//! The cookie holds a random 256-bit token; the database holds only its SHA-256, so a leaked
//! database cannot be replayed as cookies. Any instance can serve any request.

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use super::error::AppError;
use super::{ClientInfo, Layout};
use crate::domain::feed::FeedFilter;
use crate::storage::NewSession;
use crate::web::AppState;

/// Our cookies. Over HTTPS their names carry the `__Host-` prefix, which browsers accept only
/// with `Secure`, `Path=/` and no `Domain`: a sibling subdomain cannot plant or overwrite them.
/// Plain-HTTP development cannot use the prefix and keeps the bare names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieName {
    Session,
    Csrf,
    Flash,
    /// A browser that logged in successfully before (see `throttle`).
    Device,
}

impl CookieName {
    pub fn name(self, secure: bool) -> &'static str {
        match (self, secure) {
            (CookieName::Session, false) => "nr_session",
            (CookieName::Session, true) => "__Host-nr_session",
            (CookieName::Csrf, false) => "nr_csrf",
            (CookieName::Csrf, true) => "__Host-nr_csrf",
            (CookieName::Flash, false) => "nr_flash",
            (CookieName::Flash, true) => "__Host-nr_flash",
            (CookieName::Device, false) => "nr_device",
            (CookieName::Device, true) => "__Host-nr_device",
        }
    }
}

/// Sessions are touched at most this often, so reads do not all become writes.
const TOUCH_EVERY_SECS: i64 = 60;

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn is_token(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn hash_token(token: &str) -> String {
    crate::hex(&Sha256::digest(token.as_bytes()))
}

/// One of our cookies, under the name this scheme uses.
pub fn our_cookie(headers: &HeaderMap, name: CookieName, secure: bool) -> Option<String> {
    cookie(headers, name.name(secure))
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// A `Set-Cookie` value with our fixed attributes (never a `Domain`); `max_age` 0 deletes.
pub fn set_cookie(
    name: CookieName,
    value: &str,
    max_age: i64,
    secure: bool,
    same_site: &str,
) -> HeaderValue {
    let name = name.name(secure);
    let secure = if secure { "; Secure" } else { "" };
    let v = format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
}

/// Short confirmations shown once on the next page. Stored as a code, never as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flash {
    Welcome,
    LoggedIn,
    LoggedOut,
    PreferencesSaved,
    ArticleSaved,
    ArticleRemoved,
    PasswordChanged,
    AccountDeleted,
}

impl Flash {
    fn code(self) -> &'static str {
        match self {
            Flash::Welcome => "welcome",
            Flash::LoggedIn => "logged-in",
            Flash::LoggedOut => "logged-out",
            Flash::PreferencesSaved => "prefs-saved",
            Flash::ArticleSaved => "saved",
            Flash::ArticleRemoved => "unsaved",
            Flash::PasswordChanged => "password-changed",
            Flash::AccountDeleted => "account-deleted",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        [
            Flash::Welcome,
            Flash::LoggedIn,
            Flash::LoggedOut,
            Flash::PreferencesSaved,
            Flash::ArticleSaved,
            Flash::ArticleRemoved,
            Flash::PasswordChanged,
            Flash::AccountDeleted,
        ]
        .into_iter()
        .find(|f| f.code() == code)
    }

    pub fn message(self) -> &'static str {
        match self {
            Flash::Welcome => {
                "Welcome to NewsRead! Your account is ready. Customize your feed any time."
            }
            Flash::LoggedIn => "You are logged in.",
            Flash::LoggedOut => "You have been logged out.",
            Flash::PreferencesSaved => "Your feed preferences were saved.",
            Flash::ArticleSaved => "Article saved. You will find it under Saved.",
            Flash::ArticleRemoved => "Article removed from your saved articles.",
            Flash::PasswordChanged => {
                "Your password was changed. Every other device you used is logged out."
            }
            Flash::AccountDeleted => {
                "Your account and everything in it were deleted. Thank you for reading NewsRead."
            }
        }
    }
}

/// A logged-in user, resolved from the session cookie.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: i64,
    pub username: String,
    pub csrf_token: String,
    pub token_hash: String,
    /// The saved feed selection, read with the session.
    pub preferences: FeedFilter,
    /// Whether the reader has saved any article (read with the session).
    pub has_saved: bool,
}

impl AuthUser {
    /// Checks the session's CSRF token as sent by a script (the API's `X-CSRF-Token`), in
    /// constant time like the forms' check.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), AppError> {
        if tokens_match(submitted, &self.csrf_token) {
            Ok(())
        } else {
            Err(AppError::Csrf)
        }
    }
}

/// A non-empty submitted token equal to the expected one, compared in constant time.
fn tokens_match(submitted: &str, expected: &str) -> bool {
    !submitted.is_empty() && bool::from(submitted.as_bytes().ct_eq(expected.as_bytes()))
}

pub(crate) async fn load_user(
    state: &AppState,
    headers: &HeaderMap,
    secure: bool,
) -> Result<Option<AuthUser>, AppError> {
    let Some(token) = our_cookie(headers, CookieName::Session, secure).filter(|t| is_token(t))
    else {
        return Ok(None);
    };
    let token_hash = hash_token(&token);
    let now = crate::clock::unix_now();
    let idle = i64::try_from(state.config.session.idle_timeout.as_secs()).unwrap_or(i64::MAX);
    let Some(s) = state
        .db
        .find_session(&token_hash, now, now.saturating_sub(idle))
        .await?
    else {
        return Ok(None);
    };
    if now - s.last_seen_at >= TOUCH_EVERY_SECS {
        // Without a primary (an outage, a failover) the session was read on the replica:
        // skip the last-seen update rather than fail the reader's page.
        match state.db.touch_session(&token_hash, now).await {
            Err(e) if e.is_unavailable() => {
                tracing::debug!(error = %e, "session touch skipped");
            }
            other => other?,
        }
    }
    Ok(Some(AuthUser {
        user_id: s.user_id,
        username: s.username,
        csrf_token: s.csrf_token,
        token_hash,
        preferences: s.preferences,
        has_saved: s.has_saved,
    }))
}

/// Everything a page handler needs about the visitor.
pub struct PageContext {
    pub user: Option<AuthUser>,
    csrf_token: String,
    /// A fresh anonymous CSRF token that must be sent as a cookie with this response.
    new_csrf_cookie: bool,
    flash: Option<Flash>,
    had_flash_cookie: bool,
    pub secure: bool,
    /// The client's address, after trusted-proxy headers.
    pub client_ip: Option<std::net::IpAddr>,
    path_and_query: String,
}

impl FromRequestParts<AppState> for PageContext {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client = parts.extensions.get::<ClientInfo>();
        let secure = client.is_some_and(|c| c.https);
        let client_ip = client.and_then(|c| c.ip);
        let user = load_user(state, &parts.headers, secure).await?;
        let (csrf_token, new_csrf_cookie) = match &user {
            Some(u) => (u.csrf_token.clone(), false),
            None => {
                match our_cookie(&parts.headers, CookieName::Csrf, secure).filter(|t| is_token(t)) {
                    Some(t) => (t, false),
                    None => (random_token(), true),
                }
            }
        };
        let flash_cookie = our_cookie(&parts.headers, CookieName::Flash, secure);
        Ok(Self {
            user,
            csrf_token,
            new_csrf_cookie,
            flash: flash_cookie.as_deref().and_then(Flash::from_code),
            had_flash_cookie: flash_cookie.is_some(),
            secure,
            client_ip,
            path_and_query: parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned(),
        })
    }
}

impl PageContext {
    pub fn require_user(&self) -> Result<&AuthUser, AppError> {
        self.user.as_ref().ok_or_else(|| AppError::LoginRequired {
            next: self.path_and_query.clone(),
        })
    }

    /// Compares a submitted token with the session's (or, before login, the cookie's) in
    /// constant time. A missing cookie always fails: a fresh token is never accepted.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), AppError> {
        if self.new_csrf_cookie || !tokens_match(submitted, &self.csrf_token) {
            return Err(AppError::Csrf);
        }
        Ok(())
    }

    /// The path and query of this request, to come back to after a form elsewhere.
    pub fn here(&self) -> &str {
        &self.path_and_query
    }

    pub fn layout(&self, title: &str) -> Layout {
        Layout {
            title: title.to_owned(),
            user: self.user.as_ref().map(|u| u.username.clone()),
            csrf_token: self.csrf_token.clone(),
            flash: self.flash.map(Flash::message),
            ..Layout::anonymous()
        }
    }

    /// Renders a page with the cookies this visit needs.
    pub fn render<T: Template>(&self, status: StatusCode, page: &T) -> Response {
        match page.render() {
            Ok(html) => self.html(status, html.into()),
            Err(e) => AppError::Internal(anyhow::anyhow!("template failed to render: {e}"))
                .into_response(),
        }
    }

    /// An HTML response with the cookies this visit needs.
    pub fn html(&self, status: StatusCode, body: axum::body::Body) -> Response {
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response();
        self.attach_cookies(response.headers_mut());
        response
    }

    fn attach_cookies(&self, headers: &mut HeaderMap) {
        if self.new_csrf_cookie {
            // Strict: the anonymous token is only ever needed by our own forms.
            headers.append(
                header::SET_COOKIE,
                set_cookie(
                    CookieName::Csrf,
                    &self.csrf_token,
                    86_400,
                    self.secure,
                    "Strict",
                ),
            );
        }
        if self.had_flash_cookie {
            headers.append(
                header::SET_COOKIE,
                set_cookie(CookieName::Flash, "", 0, self.secure, "Lax"),
            );
        }
    }

    /// A 303 redirect, optionally carrying a flash message to the next page.
    pub fn redirect(&self, to: &str, flash: Option<Flash>) -> Response {
        let mut response = Redirect::to(to).into_response();
        if let Some(f) = flash {
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(CookieName::Flash, f.code(), 60, self.secure, "Lax"),
            );
        }
        response
    }
}

/// A new session's secrets and lifetime, before it is stored: a random token for the cookie,
/// its hash for the database, and its own CSRF token.
pub struct FreshSession {
    token: String,
    token_hash: String,
    csrf_token: String,
    now: i64,
    lifetime: i64,
}

impl FreshSession {
    pub fn new(state: &AppState) -> Self {
        let token = random_token();
        Self {
            token_hash: hash_token(&token),
            token,
            csrf_token: random_token(),
            now: crate::clock::unix_now(),
            lifetime: i64::try_from(state.config.session.lifetime.as_secs()).unwrap_or(i64::MAX),
        }
    }

    /// What the storage layer keeps of it.
    pub fn record(&self) -> NewSession<'_> {
        NewSession {
            token_hash: &self.token_hash,
            csrf_token: &self.csrf_token,
            now: self.now,
            expires_at: self.now.saturating_add(self.lifetime),
        }
    }

    /// The cookie that carries it.
    pub fn cookie(&self, secure: bool) -> HeaderValue {
        set_cookie(
            CookieName::Session,
            &self.token,
            self.lifetime,
            secure,
            "Lax",
        )
    }
}

/// Starts a fresh session (a new id at every login) and returns its cookie.
pub async fn start_session(
    state: &AppState,
    user_id: i64,
    secure: bool,
) -> Result<HeaderValue, AppError> {
    let session = FreshSession::new(state);
    state.db.create_session(user_id, &session.record()).await?;
    Ok(session.cookie(secure))
}

pub fn clear_session_cookie(secure: bool) -> HeaderValue {
    set_cookie(CookieName::Session, "", 0, secure, "Lax")
}

/// The API's view of the visitor: the same session, but 401 JSON instead of a redirect.
pub struct ApiUser(pub AuthUser);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = super::error::ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let secure = parts
            .extensions
            .get::<ClientInfo>()
            .is_some_and(|c| c.https);
        match load_user(state, &parts.headers, secure).await? {
            Some(u) => Ok(ApiUser(u)),
            None => Err(AppError::LoginRequired {
                next: String::new(),
            }
            .into()),
        }
    }
}

/// Only local paths are acceptable redirect targets after login: no scheme, no host, no
/// protocol-relative `//`, no backslash tricks, no control characters.
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 2048
        && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_be_local() {
        for ok in ["/news", "/news?cursor=abc", "/customize"] {
            assert_eq!(safe_next(ok), Some(ok));
        }
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "news",
            "",
            "/x\r\nSet-Cookie: a=b",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(bad), None, "{bad}");
        }
    }

    #[test]
    fn tokens_are_256_bit_and_hashed() {
        let t = random_token();
        assert!(is_token(&t));
        assert_ne!(t, random_token());
        assert_eq!(hash_token(&t).len(), 64);
        assert!(!is_token("short"));
    }

    #[test]
    fn cookies_parse_from_many_headers() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; nr_session=tok"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("nr_csrf=c"));
        assert_eq!(
            our_cookie(&h, CookieName::Session, false).as_deref(),
            Some("tok")
        );
        assert_eq!(
            our_cookie(&h, CookieName::Csrf, false).as_deref(),
            Some("c")
        );
        assert_eq!(cookie(&h, "missing"), None);
    }

    #[test]
    fn https_cookies_use_the_host_prefix_and_only_it() {
        let set = set_cookie(CookieName::Session, "tok", 60, true, "Lax");
        let set = set.to_str().unwrap();
        assert!(set.starts_with("__Host-nr_session=tok;"), "{set}");
        assert!(set.contains("; Secure") && set.contains("Path=/"), "{set}");
        assert!(!set.to_ascii_lowercase().contains("domain="), "{set}");
        let plain = set_cookie(CookieName::Session, "tok", 60, false, "Lax");
        assert!(plain.to_str().unwrap().starts_with("nr_session=tok;"));
        // Over HTTPS a bare-named cookie (which a sibling subdomain could plant) is ignored.
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("nr_session=planted"),
        );
        assert_eq!(our_cookie(&h, CookieName::Session, true), None);
        assert_eq!(
            our_cookie(&h, CookieName::Session, false).as_deref(),
            Some("planted")
        );
    }
}
