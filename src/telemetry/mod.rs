//! Logging setup: text for people, JSON for log pipelines.
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber; later calls (as in tests) are no-ops.
pub fn init(config: &LogConfig) {
    // sqlx logs every statement at info; ours are not worth a line each.
    let filter = EnvFilter::try_new(format!("{},sqlx=warn", config.filter))
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match config.format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Text => registry.with(tracing_subscriber::fmt::layer()).try_init(),
    };
}

pub mod metrics;
pub use metrics::Metrics;
