//! All SQL lives here. The web handlers and the ingestion job share this layer and never see
//! a connection or a dialect.
//!
//! One implementation serves SQLite, PostgreSQL and MySQL/MariaDB through sqlx's `Any` driver.
//! Queries are written once, in the SQL the three share, with `?` placeholders; what differs
//! (placeholders, upserts, inserts that skip existing keys, new ids, bounded deletes, error
//! codes) comes from `dialect`, the only module that knows the engines apart. Besides it:
//! `pools` (primary and replica, health probe, credential rotation), `migrations`,
//! `error` (what a failure means for the caller), and one file per kind of data.
//! Role management (`roles`) is DDL that differs wholesale per engine and says so.
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
mod saved;
mod search;
mod session_cache;
mod sessions;
mod sqlite_inline;
mod stats;
mod users;

pub use articles::{CardsHtml, FeedPage, InsertStats, Renderings};
pub use dialect::Dialect;
pub use ingest::{LeaseState, SourceState};
pub use rate_limits::Window;
pub use roles::{valid_role_name, valid_role_password};
pub use saved::{SavedArticle, SavedPage};
pub use sessions::{NewSession, SessionRecord};
pub use users::Credentials;

pub use error::{Cause, Conflict, Error};
pub use migrations::{SchemaStatus, OLDEST_SCHEMA};
pub use pools::{
    install_drivers, BoxFuture, CacheStats, CredentialSource, DatabaseConfig, Db, ReadStats,
};
