//! The benchmark's reference server: `GET /healthz` answers `ok` through axum's own `serve`,
//! with nothing else (no middleware, logging, metrics or watchdogs), so that bench/run can
//! show what NewsRead's stack costs on the same machine in the same run.
//!
//! Usage: `newsread-hello ADDR` (e.g. 127.0.0.1:0); prints `listening on ADDR` once bound.
use axum::{routing::get, Router};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    let app = Router::new().route("/healthz", get(|| async { "ok\n" }));
    axum::serve(listener, app).await
}
