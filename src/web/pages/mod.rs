//! One file per page; each handler parses input, calls storage, renders.
pub mod account;
mod cards;
pub mod customize;
pub mod home;
pub mod login;
pub mod logout;
pub mod news;
pub mod register;
pub mod save;
pub mod saved;
pub mod unsave;

/// Caps what a form echoes back, so a pasted novel is not reflected in full.
fn echo(value: &str) -> String {
    value.trim().chars().take(254).collect()
}
