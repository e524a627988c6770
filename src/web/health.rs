//! Liveness and readiness for the load balancer's health checks.
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::AppState;

/// Liveness: the process serves requests. Touches nothing else.
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

/// Readiness: not shutting down, primary reachable, schema exactly current.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if !state.ready.load(Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down\n".to_owned(),
        );
    }
    // Answer within a load balancer's check timeout: the probe's verdict first, then a
    // bounded schema check. "Ready" means "can serve": while the primary is down or failing
    // over, an instance whose replica works still serves every read (writes answer 503).
    let can_serve = state.db.primary_healthy() || state.db.replica_healthy() == Some(true);
    if !can_serve {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable\n".to_owned(),
        );
    }
    match tokio::time::timeout(Duration::from_millis(800), state.db.check_schema()).await {
        Ok(Ok(())) if state.db.primary_healthy() => (StatusCode::OK, "ready\n".to_owned()),
        Ok(Ok(())) => (
            StatusCode::OK,
            "ready (read-only: primary unreachable)\n".to_owned(),
        ),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "database not ready\n".to_owned(),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database check timed out\n".to_owned(),
        ),
    }
}
