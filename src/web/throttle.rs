//! Login and registration throttling with counters in the database, so every instance
//! behind the load balancer enforces the same limits.
use std::net::IpAddr;

use super::error::AppError;
use super::{session, AppState};
use crate::config::Limit;

/// The address part of a bucket: IPv6 clients are grouped by /64, the usual allocation to one
/// subscriber, so rotating addresses within it does not reset the count.
fn address_key(ip: Option<IpAddr>) -> String {
    match ip {
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
    let now = session::now();
    let w = state.db.hit_rate_limit(bucket, secs(limit), now).await?;
    if w.hits > i64::from(limit.max) {
        tracing::warn!(bucket, hits = w.hits, "throttled");
        return Err(limited(w.window_start, limit, now));
    }
    Ok(())
}

/// Before a password is checked: per-address attempts are counted, and an account with too
/// many recent failures is refused whatever the password (or guessing would continue).
pub async fn before_login(
    state: &AppState,
    ip: Option<IpAddr>,
    account: &str,
) -> Result<(), AppError> {
    let limits = &state.config.throttle;
    hit(
        state,
        &format!("login:addr:{}", address_key(ip)),
        limits.login_per_address,
    )
    .await?;
    let limit = limits.login_per_account;
    let now = session::now();
    if let Some(w) = state
        .db
        .peek_rate_limit(&account_bucket(account), secs(limit), now)
        .await?
    {
        if w.hits >= i64::from(limit.max) {
            tracing::warn!(hits = w.hits, "login throttled for an account");
            return Err(limited(w.window_start, limit, now));
        }
    }
    Ok(())
}

fn account_bucket(account: &str) -> String {
    format!("login:acct:{}", account.trim().to_ascii_lowercase())
}

pub async fn login_failed(state: &AppState, account: &str) -> Result<(), AppError> {
    let limit = state.config.throttle.login_per_account;
    state
        .db
        .hit_rate_limit(&account_bucket(account), secs(limit), session::now())
        .await?;
    Ok(())
}

pub async fn login_succeeded(state: &AppState, account: &str) -> Result<(), AppError> {
    state.db.clear_rate_limit(&account_bucket(account)).await?;
    Ok(())
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
