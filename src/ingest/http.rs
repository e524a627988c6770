//! The one HTTP client ingestion uses, with hard limits: an upstream that stalls or answers
//! with megabytes of garbage costs one bounded request, never the cycle or the memory.
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// Limits on every upstream request. The defaults suit production; tests pass short ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Longest a whole request may take, body included.
    pub total_timeout: Duration,
    /// Largest body read; a bigger one is abandoned while streaming, never buffered whole.
    pub max_body_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(30),
            max_body_bytes: 4 * 1024 * 1024,
        }
    }
}

/// A response, read completely within the limits.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Raw `Retry-After` value, if any.
    pub retry_after: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Why a request produced no response. Messages never contain the URL (keys travel in it).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("timed out after {}s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("response larger than {0} bytes; abandoned")]
    TooLarge(usize),
    #[error("{0}")]
    Network(String),
}

#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    limits: HttpLimits,
}

const USER_AGENT: &str = concat!("NewsRead/", env!("CARGO_PKG_VERSION"), " (news ingestion)");

impl HttpClient {
    pub fn new(limits: HttpLimits) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.total_timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| FetchError::Network(describe(&e.without_url())))?;
        Ok(Self { client, limits })
    }

    /// GETs `url` with extra headers and reads the body up to the size cap, all within the
    /// total timeout.
    pub async fn get(
        &self,
        url: &url::Url,
        headers: &[(HeaderName, String)],
    ) -> Result<Fetched, FetchError> {
        let total = self.limits.total_timeout;
        match tokio::time::timeout(total, self.get_inner(url, headers)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(total)),
        }
    }

    async fn get_inner(
        &self,
        url: &url::Url,
        headers: &[(HeaderName, String)],
    ) -> Result<Fetched, FetchError> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                map.insert(name.clone(), v);
            }
        }
        let mut response = self
            .client
            .get(url.clone())
            .headers(map)
            .send()
            .await
            .map_err(|e| self.error(e))?;
        let max = self.limits.max_body_bytes;
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(FetchError::TooLarge(max));
        }
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let etag = header(reqwest::header::ETAG);
        let last_modified = header(reqwest::header::LAST_MODIFIED);
        let retry_after = header(reqwest::header::RETRY_AFTER);
        let content_type = header(reqwest::header::CONTENT_TYPE);
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.error(e))? {
            if body.len() + chunk.len() > max {
                return Err(FetchError::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            status,
            etag,
            last_modified,
            retry_after,
            content_type,
            body,
        })
    }

    fn error(&self, e: reqwest::Error) -> FetchError {
        if e.is_timeout() {
            FetchError::Timeout(self.limits.total_timeout)
        } else {
            FetchError::Network(describe(&e.without_url()))
        }
    }
}

/// An error with its causes ("error sending request: connection refused"), URL-free.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// Seconds to wait from a `Retry-After` value (delta-seconds or an HTTP date), at least 1.
pub fn retry_after_secs(value: &str, now: i64) -> Option<i64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<i64>() {
        return Some(secs.max(1));
    }
    let date =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    Some((date.unix_timestamp() - now).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_dates() {
        assert_eq!(retry_after_secs("120", 0), Some(120));
        assert_eq!(retry_after_secs("0", 0), Some(1));
        // Sun, 06 Nov 1994 08:49:37 GMT = 784111777
        assert_eq!(
            retry_after_secs("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_700),
            Some(77)
        );
        assert_eq!(retry_after_secs("soon", 0), None);
    }
}
