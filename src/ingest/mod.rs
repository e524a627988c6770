//! Getting news into the database. Every page is served from there, never from upstream.
pub mod sample;
