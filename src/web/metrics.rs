//! `GET /metrics` on its own listener (`NEWSREAD_METRICS_LISTEN`), never the public port.
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::AppState;
use crate::telemetry::metrics::{counter, gauge};

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::with_capacity(8192);
    let db = &state.db;
    let pools = db.pool_stats();
    let mut open = Vec::new();
    let mut idle = Vec::new();
    let mut up = Vec::new();
    let labels: Vec<String> = pools
        .iter()
        .map(|(name, ..)| format!("pool=\"{name}\""))
        .collect();
    for ((_, size, num_idle, healthy), l) in pools.iter().zip(&labels) {
        open.push((l.as_str(), f64::from(*size)));
        idle.push((l.as_str(), *num_idle as f64));
        up.push((l.as_str(), if *healthy { 1.0 } else { 0.0 }));
    }
    gauge(
        &mut out,
        "newsread_db_pool_connections",
        "Open connections per database pool.",
        &open,
    );
    gauge(
        &mut out,
        "newsread_db_pool_idle_connections",
        "Idle connections per database pool.",
        &idle,
    );
    gauge(
        &mut out,
        "newsread_db_pool_max_connections",
        "Configured pool size.",
        &[("", f64::from(state.config.database.max_connections))],
    );
    gauge(
        &mut out,
        "newsread_db_up",
        "Whether the health probe reaches the database.",
        &up,
    );
    let stats = db.read_stats();
    counter(
        &mut out,
        "newsread_db_lag_tolerant_reads_total",
        "Lag-tolerant reads by where they were served.",
        &[
            (
                "served_by=\"replica\"",
                stats.replica.load(Ordering::Relaxed) as f64,
            ),
            (
                "served_by=\"primary_fallback\"",
                stats.primary_fallback.load(Ordering::Relaxed) as f64,
            ),
        ],
    );
    let cache = db.feed_cache_stats();
    counter(
        &mut out,
        "newsread_feed_cache_lookups_total",
        "Feed-page cache lookups by outcome.",
        &[
            ("outcome=\"hit\"", cache.hits as f64),
            ("outcome=\"miss\"", cache.misses as f64),
        ],
    );
    let sessions = db.session_cache_stats();
    counter(
        &mut out,
        "newsread_session_cache_lookups_total",
        "Session cache lookups by outcome.",
        &[
            ("outcome=\"hit\"", sessions.hits as f64),
            ("outcome=\"miss\"", sessions.misses as f64),
        ],
    );
    let now = crate::clock::unix_now();
    let idle_secs = i64::try_from(state.config.session.idle_timeout.as_secs()).unwrap_or(i64::MAX);
    let sessions = tokio::time::timeout(
        Duration::from_secs(2),
        db.count_sessions(now, now.saturating_sub(idle_secs)),
    )
    .await;
    if let Ok(Ok(n)) = sessions {
        gauge(
            &mut out,
            "newsread_sessions_active",
            "Sessions neither expired nor idle.",
            &[("", n as f64)],
        );
    }
    gauge(
        &mut out,
        "newsread_ready",
        "1 while the instance accepts traffic, 0 while draining.",
        &[(
            "",
            if state.ready.load(Ordering::Relaxed) {
                1.0
            } else {
                0.0
            },
        )],
    );
    let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
    gauge(
        &mut out,
        "newsread_build_info",
        "Build information.",
        &[(version.as_str(), 1.0)],
    );
    state.metrics.render(&mut out);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}
