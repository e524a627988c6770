//! All SQL lives here. The web handlers and the ingestion job share this layer and never see
//! a connection or a dialect.
//!
//! One implementation serves SQLite, PostgreSQL and MySQL/MariaDB through sqlx's `Any` driver:
//! queries are written once with `?` placeholders (rewritten to `$n` for PostgreSQL) and only
//! the statements whose syntax really differs branch on [`Dialect`].
mod articles;
mod devices;
mod dialect;
mod error;
mod feed_cache;
mod ingest;
mod migrations;
mod pools;
mod preferences;
mod rate_limits;
mod roles;
mod sessions;
mod sqlite_inline;
mod stats;
mod users;

pub use articles::{FeedPage, InsertStats, Renderings};
pub use dialect::Dialect;
pub use ingest::{LeaseState, SourceState};
pub use rate_limits::Window;
pub use roles::{valid_role_name, valid_role_password};
pub use sessions::SessionRecord;
pub use users::Credentials;

pub use error::{Cause, Conflict, Error};
pub use pools::{
    install_drivers, BoxFuture, CredentialSource, DatabaseConfig, Db, FeedCacheStats, ReadStats,
};
