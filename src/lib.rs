//! NewsRead: a news reader that runs from one SQLite file on a laptop up to a three-tier
//! deployment (load balancer, stateless instances, primary and replica database).
//!
//! Layers, inside out: [`domain`] (validated types), [`storage`] (all SQL), [`ingest`]
//! (getting news in), [`web`] (HTTP), with [`config`] and [`app`] wiring them together.
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
/// Entry points for the fuzz targets (`fuzz/`) and their regression tests; not an API.
#[doc(hidden)]
pub mod fuzzing;
pub mod ingest;
pub mod media;
pub mod password;
pub mod secret;
pub mod secrets;
pub mod seed;
pub mod storage;
pub mod telemetry;
pub mod web;

/// Lower-case hex of `bytes` (digests, ids), without a formatter call per byte.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_matches_the_formatter() {
        let bytes: Vec<u8> = (0..=255).collect();
        let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(super::hex(&bytes), expected);
    }
}
