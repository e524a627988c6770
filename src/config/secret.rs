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
        let raw = self.0.expose();
        let Ok(mut url) = url::Url::parse(raw) else {
            return "[unparseable URL redacted]".to_owned();
        };
        if url.password().is_some() {
            // set_password only fails for URLs that cannot carry one.
            let _ = url.set_password(Some("[redacted]"));
        }
        let is_password = |k: &str| k.eq_ignore_ascii_case("password");
        if url.query_pairs().any(|(k, _)| is_password(&k)) {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let v = if is_password(&k) {
                        "[redacted]".to_owned()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url.to_string()
    }
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
            "postgres://app@db/newsread?sslmode=disable&password=%5Bredacted%5D"
        );
    }
}
