//! Secrets that never print: `Debug` and `Display` show `[redacted]`, so a secret that slips
//! into a log line or an error message leaks nothing.
use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The only way to read the value: greppable, so every use can be audited.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A database URL whose password is a secret: shown with the password replaced.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(Secret<String>);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(Secret::new(url.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The URL with any password replaced, safe for logs and `check-config`: the one in the
    /// user information and any `password` query parameter (PostgreSQL URLs may carry the
    /// password as `?password=`, and sqlx reads it from there).
    pub fn redacted(&self) -> String {
        redact_url(self.0.expose(), false)
    }
}

/// Query parameters whose values are settings, never credentials: shown as they are.
const SAFE_QUERY_KEYS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-ca",
    "application_name",
    "connect_timeout",
    "statement-cache-capacity",
    "charset",
    "timezone",
    "mode",
    "cache",
];

/// A URL safe to print: the password (and with `hide_user`, the user name, which feeds use
/// for tokens too) replaced, and every query value replaced unless its key is a known
/// setting (a `?password=`, `?token=` or `?key=` can carry a credential under any name).
pub fn redact_url(raw: &str, hide_user: bool) -> String {
    const HIDDEN: &str = "[redacted]";
    let Ok(mut url) = url::Url::parse(raw) else {
        return "[unparseable URL redacted]".to_owned();
    };
    // The setters only fail for URLs that cannot carry credentials.
    if url.password().is_some() {
        let _ = url.set_password(Some(HIDDEN));
    }
    if hide_user && !url.username().is_empty() {
        let _ = url.set_username(HIDDEN);
    }
    if let Some(query) = url.query().map(str::to_owned) {
        let shown: Vec<String> = query
            .split('&')
            .map(|part| match part.split_once('=') {
                Some((k, _)) if !SAFE_QUERY_KEYS.contains(&k.to_ascii_lowercase().as_str()) => {
                    format!("{k}={HIDDEN}")
                }
                Some(_) => part.to_owned(),
                // A bare value (`?abcdef`) may be a token itself.
                None if part.is_empty() => String::new(),
                None => HIDDEN.to_owned(),
            })
            .collect();
        url.set_query(Some(&shown.join("&")));
    }
    url.to_string()
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn database_url_hides_password() {
        let u = DatabaseUrl::new("postgres://app:s3cr%40t@db:5432/newsread");
        let shown = format!("{u} {u:?}");
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(shown.contains("postgres://app:"), "{shown}");
        assert!(shown.contains("db:5432/newsread"), "{shown}");
    }

    #[test]
    fn query_credentials_are_hidden_settings_shown() {
        let u = DatabaseUrl::new(
            "postgres://db:5432/newsread?user=app&password=s3cret&sslmode=require",
        );
        let shown = u.redacted();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("sslmode=require"), "{shown}");
        assert!(shown.contains("password=[redacted]"), "{shown}");
        let feed = redact_url(
            "https://tok3n:pw@feeds.example.org/rss?api_key=k3y&x=1&bare0tok",
            true,
        );
        for secret in ["tok3n", "pw", "k3y", "bare0tok"] {
            assert!(!feed.contains(secret), "{feed}");
        }
        assert!(feed.contains("feeds.example.org/rss"), "{feed}");
    }

    /// Found by the `config` fuzz target (fuzz/regressions/config/): sqlx takes a PostgreSQL
    /// password from the query too, and `check-config` printed it.
    #[test]
    fn database_url_hides_a_password_in_the_query() {
        for raw in [
            "postgres://app@db/newsread?sslmode=disable&password=hunter2",
            "postgres://app@db/newsread?pass%77ord=hunter2",
            "postgres://app:pw@db/newsread?PASSWORD=hunter2&application_name=x",
        ] {
            let u = DatabaseUrl::new(raw);
            let shown = format!("{u} {u:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains(":pw@"), "{shown}");
            assert!(shown.contains("app"), "{shown}");
        }
        let u = DatabaseUrl::new("postgres://app@db/newsread?sslmode=disable&password=hunter2");
        assert_eq!(
            u.redacted(),
            "postgres://app@db/newsread?sslmode=disable&password=[redacted]"
        );
    }
}
