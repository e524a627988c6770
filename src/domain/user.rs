//! Account fields.
use super::Invalid;
use crate::secret::Secret;

/// 5 to 20 characters of ASCII letters, digits, `.`, `_` and `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let s = input.trim();
        let len = s.chars().count();
        if !(5..=20).contains(&len) {
            return Err(Invalid::new("Username must be 5 to 20 characters long."));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(Invalid::new(
                "Username may contain only letters, digits, dots, underscores and hyphens.",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive identity used for uniqueness and lookup.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// An email address in the common `local@domain.tld` form, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let s = input.trim();
        let bad = || Invalid::new("Enter a valid email address, such as name@example.com.");
        if s.is_empty() {
            return Err(Invalid::new("Email is required."));
        }
        if s.len() > 254 {
            return Err(Invalid::new("Email must be at most 254 characters long."));
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
        if local_ok && domain_ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(bad())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A new password: 8 to 128 characters. Only ever held as a [`Secret`].
#[derive(Debug)]
pub struct Password(Secret<String>);

impl Password {
    /// The longest password an account can have, in characters; logins refuse longer ones
    /// before hashing.
    pub const MAX_CHARS: usize = 128;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let len = input.chars().count();
        if len < 8 {
            return Err(Invalid::new("Password must be at least 8 characters long."));
        }
        if len > Self::MAX_CHARS {
            return Err(Invalid::new(
                "Password must be at most 128 characters long.",
            ));
        }
        Ok(Self(Secret::new(input.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["alice", "a.b_c-d", "ABCDE12345abcde12345"] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "abcd",
            "abcdefghijklmnopqrstu",
            "al ice",
            "alicé1",
            "bob'; --",
            "<b>hi</b>",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Username::parse("AliCe").unwrap().key(), "alice");
    }

    #[test]
    fn emails() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "X_Y@Example.COM",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "a@b",
            "a@b.c",
            "@b.com",
            "a@.com",
            "a..b@c.com",
            "a@b_c.com",
            "a b@c.com",
            "a@-b.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse(&"x".repeat(128)).is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        // Characters, not bytes: eight multi-byte characters are a valid password.
        assert!(Password::parse("ééééééé").is_err());
        assert!(Password::parse("éééééééé").is_ok());
    }
}
