//! Validated domain types. Input is parsed into these once, at the edge; everything inside
//! the application can then trust them.
pub mod article;
pub mod feed;
pub mod search;
pub mod user;
pub mod vocab;

/// A user-facing validation failure: the message is safe to show next to the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}
