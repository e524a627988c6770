//! The JSON API, `/api/v1`. Same sessions as the pages; errors are JSON.
pub mod articles;
pub mod saved;
