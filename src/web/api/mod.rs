//! The JSON API, `/api/v1`. Same sessions as the pages; errors are JSON.
pub mod articles;
mod query;
pub mod saved;
