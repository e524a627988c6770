//! Login and registration throttling with counters in the database, so every instance
//! behind the load balancer enforces the same limits.
use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue};

use super::error::AppError;
use super::session::CookieName;
use super::{session, AppState};
use crate::config::Limit;

/// The address part of a bucket: IPv6 clients are grouped by /64, the usual allocation to one
/// subscriber, so rotating addresses within it does not reset the count.
fn address_key(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".to_owned(),
    }
}

fn secs(limit: Limit) -> i64 {
    i64::try_from(limit.window.as_secs())
        .unwrap_or(i64::MAX)
        .max(1)
}

fn limited(window_start: i64, limit: Limit, now: i64) -> AppError {
    AppError::TooManyRequests {
        retry_after: u64::try_from(window_start + secs(limit) - now)
            .unwrap_or(1)
            .max(1),
    }
}

/// Counts an event against `limit`; refuses once the window's count exceeds it.
async fn hit(state: &AppState, bucket: &str, limit: Limit) -> Result<(), AppError> {
    let now = crate::clock::unix_now();
    let w = state.db.hit_rate_limit(bucket, secs(limit), now).await?;
    if w.hits > i64::from(limit.max) {
        tracing::warn!(bucket, hits = w.hits, "throttled");
        return Err(limited(w.window_start, limit, now));
    }
    Ok(())
}

/// What one login attempt was counted against, to be forgiven if it succeeds.
pub struct LoginAttempt {
    bucket: String,
}

/// Who a login attempt is for: one account however it is named (username or email), or the
/// name typed when no account has it (guessing unknown names is limited the same way).
pub enum AccountKey<'a> {
    User(i64),
    Unknown(&'a str),
}

/// Before a password is checked, counts the attempt atomically per address and per account
/// and refuses once over a limit. Counting first means parallel guesses cannot all reach the
/// password check. A browser holding a device cookie of this account (it logged in before)
/// is counted on its own instead, so failures from elsewhere cannot lock the owner out.
pub async fn before_login(
    state: &AppState,
    ip: Option<IpAddr>,
    account: AccountKey<'_>,
    known_device: Option<&str>,
) -> Result<LoginAttempt, AppError> {
    let limits = &state.config.throttle;
    hit(
        state,
        &format!("login:addr:{}", address_key(ip)),
        limits.login_per_address,
    )
    .await?;
    let bucket = match (known_device, account) {
        (Some(device_hash), _) => format!("login:dev:{device_hash}"),
        (None, AccountKey::User(id)) => format!("login:acct:{id}"),
        (None, AccountKey::Unknown(name)) => {
            let name: String = name.trim().to_ascii_lowercase().chars().take(254).collect();
            format!("login:name:{name}")
        }
    };
    hit(state, &bucket, limits.login_per_account).await?;
    Ok(LoginAttempt { bucket })
}

/// A successful login forgives the failures counted where this attempt was counted.
pub async fn login_succeeded(state: &AppState, attempt: LoginAttempt) -> Result<(), AppError> {
    state.db.clear_rate_limit(&attempt.bucket).await?;
    Ok(())
}

/// How long a browser stays known to an account after a successful login.
const DEVICE_LIFETIME_SECS: i64 = 180 * 86_400;

/// The hash of this browser's device cookie, if it belongs to `user_id` and is live.
pub async fn known_device(
    state: &AppState,
    headers: &HeaderMap,
    secure: bool,
    user_id: i64,
) -> Result<Option<String>, AppError> {
    let Some(token) =
        session::our_cookie(headers, CookieName::Device, secure).filter(|t| session::is_token(t))
    else {
        return Ok(None);
    };
    let hash = session::hash_token(&token);
    let owner = state
        .db
        .login_device_user(&hash, crate::clock::unix_now())
        .await?;
    Ok((owner == Some(user_id)).then_some(hash))
}

/// Remembers this browser for `user_id` after a successful login; returns its cookie.
pub async fn remember_device(
    state: &AppState,
    user_id: i64,
    secure: bool,
) -> Result<HeaderValue, AppError> {
    let token = session::random_token();
    let now = crate::clock::unix_now();
    state
        .db
        .create_login_device(
            &session::hash_token(&token),
            user_id,
            now,
            now + DEVICE_LIFETIME_SECS,
        )
        .await?;
    Ok(session::set_cookie(
        CookieName::Device,
        &token,
        DEVICE_LIFETIME_SECS,
        secure,
        "Strict",
    ))
}

pub async fn before_register(state: &AppState, ip: Option<IpAddr>) -> Result<(), AppError> {
    hit(
        state,
        &format!("register:addr:{}", address_key(ip)),
        state.config.throttle.register_per_address,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_group_ipv6_by_64() {
        assert_eq!(
            address_key(Some("203.0.113.7".parse().unwrap())),
            "203.0.113.7"
        );
        assert_eq!(
            address_key(Some("2001:db8:1:2:aaaa::1".parse().unwrap())),
            address_key(Some("2001:db8:1:2:bbbb::9".parse().unwrap()))
        );
        assert_eq!(address_key(None), "unknown");
    }
}
