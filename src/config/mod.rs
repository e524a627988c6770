//! Typed configuration, read once at start from `NEWSREAD_*` variables.
//!
//! Every secret may also come from `NAME_FILE` (a path whose contents are the value), so that
//! orchestrators can mount secrets as files. All problems are collected and reported together:
//! an operator fixing a deployment should not have to restart once per typo.
mod duration;
mod secret;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

pub use duration::{format_duration, parse_duration};
use ipnet::IpNet;
pub use secret::{DatabaseUrl, Secret};

use crate::storage::Dialect;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/newsread.db";

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: DatabaseConfig,
    pub session: SessionConfig,
    /// Peers whose `X-Forwarded-For`/`X-Forwarded-Proto` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    pub log: LogConfig,
    /// How long `/readyz` reports 503 before the listener closes on SIGTERM.
    pub shutdown_grace: Duration,
    pub request_timeout: Duration,
    /// Load the bundled sample articles into an empty database.
    pub sample_news: bool,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: DatabaseUrl,
    pub replica_url: Option<DatabaseUrl>,
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
    /// How long a replica read may take before it is retried on the primary.
    pub replica_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub idle_timeout: Duration,
    pub lifetime: Duration,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Every problem found in the configuration, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

/// One documented option; the table drives parsing, `check-config` and the README.
struct Opt {
    name: &'static str,
    secret: bool,
}

const OPTIONS: &[Opt] = &[
    Opt {
        name: "NEWSREAD_LISTEN",
        secret: false,
    },
    Opt {
        name: "NEWSREAD_DATABASE_URL",
        secret: true,
    },
    Opt {
        name: "NEWSREAD_DATABASE_REPLICA_URL",
        secret: true,
    },
    Opt {
        name: "NEWSREAD_DATABASE_MAX_CONNECTIONS",
        secret: false,
    },
    Opt {
        name: "NEWSREAD_DATABASE_MIN_CONNECTIONS",
        secret: false,
    },
    Opt {
        name: "NEWSREAD_DATABASE_ACQUIRE_TIMEOUT",
        secret: false,
    },
    Opt {
        name: "NEWSREAD_DATABASE_IDLE_TIMEOUT",
        secret: false,
    },
    Opt {
        name: "NEWSREAD_DATABASE_MAX_LIFETIME",
        secret: false,
    },
    Opt {
        name: "NEWSREAD_DATABASE_REPLICA_TIMEOUT",
        secret: false,
    },
    Opt {
        name: "NEWSREAD_SESSION_IDLE_TIMEOUT",
        secret: false,
    },
    Opt {
        name: "NEWSREAD_SESSION_LIFETIME",
        secret: false,
    },
    Opt {
        name: "NEWSREAD_TRUSTED_PROXIES",
        secret: false,
    },
    Opt {
        name: "NEWSREAD_LOG_FORMAT",
        secret: false,
    },
    Opt {
        name: "NEWSREAD_LOG",
        secret: false,
    },
    Opt {
        name: "NEWSREAD_SHUTDOWN_GRACE",
        secret: false,
    },
    Opt {
        name: "NEWSREAD_REQUEST_TIMEOUT",
        secret: false,
    },
    Opt {
        name: "NEWSREAD_SAMPLE_NEWS",
        secret: false,
    },
];

/// Reads values (resolving `*_FILE`) and records errors instead of stopping at the first.
struct Reader<'a> {
    vars: &'a BTreeMap<String, String>,
    errors: Vec<String>,
}

impl Reader<'_> {
    fn raw(&mut self, name: &str) -> Option<String> {
        let secret = OPTIONS.iter().any(|o| o.name == name && o.secret);
        let direct = self.vars.get(name).filter(|v| !v.is_empty());
        let file_var = format!("{name}_FILE");
        let file = self.vars.get(&file_var).filter(|v| !v.is_empty());
        match (direct, file) {
            (Some(_), Some(_)) => {
                self.errors
                    .push(format!("{name} and {file_var} are both set; set only one"));
                None
            }
            (Some(v), None) => Some(v.clone()),
            (None, Some(path)) if secret => match std::fs::read_to_string(path) {
                Ok(contents) => Some(contents.trim_end_matches(['\n', '\r']).to_owned()),
                Err(e) => {
                    self.errors
                        .push(format!("{file_var}: cannot read `{path}`: {e}"));
                    None
                }
            },
            (None, Some(_)) => {
                self.errors.push(format!(
                    "{file_var} is not supported: {name} is not a secret, set it directly"
                ));
                None
            }
            (None, None) => None,
        }
    }

    fn parse<T>(
        &mut self,
        name: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        match self.raw(name) {
            None => default,
            Some(v) => parse(&v).unwrap_or_else(|e| {
                self.errors.push(format!("{name}: {e}"));
                default
            }),
        }
    }

    fn duration(&mut self, name: &str, default: Duration) -> Duration {
        self.parse(name, default, parse_duration)
    }

    fn number(&mut self, name: &str, default: u32, range: std::ops::RangeInclusive<u32>) -> u32 {
        self.parse(name, default, |v| match v.trim().parse::<u32>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(format!(
                "`{v}` is not a whole number from {} to {}",
                range.start(),
                range.end()
            )),
        })
    }

    fn switch(&mut self, name: &str, default: bool) -> bool {
        self.parse(name, default, |v| {
            match v.trim().to_ascii_lowercase().as_str() {
                "on" | "true" | "1" | "yes" => Ok(true),
                "off" | "false" | "0" | "no" => Ok(false),
                _ => Err(format!("`{v}` is not on or off")),
            }
        })
    }

    fn database_url(&mut self, name: &str) -> Option<DatabaseUrl> {
        let value = self.raw(name)?;
        match Dialect::from_url(&value) {
            Ok(_) => Some(DatabaseUrl::new(value)),
            Err(e) => {
                self.errors.push(format!("{name}: {e}"));
                None
            }
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars().collect())
    }

    /// Reads a set of variables; separate from [`Config::from_env`] so tests need no globals.
    pub fn from_vars(vars: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut r = Reader {
            vars: &vars,
            errors: Vec::new(),
        };
        let listen = r.parse(
            "NEWSREAD_LISTEN",
            SocketAddr::from(([127, 0, 0, 1], 5000)),
            |v| {
                v.trim().parse().map_err(|_| {
                    format!("`{v}` is not an address such as 127.0.0.1:5000 or 0.0.0.0:5000")
                })
            },
        );
        let url = r
            .database_url("NEWSREAD_DATABASE_URL")
            .unwrap_or_else(|| DatabaseUrl::new(DEFAULT_DATABASE_URL));
        let replica_url = r.database_url("NEWSREAD_DATABASE_REPLICA_URL");
        let database = DatabaseConfig {
            max_connections: r.number("NEWSREAD_DATABASE_MAX_CONNECTIONS", 10, 1..=1000),
            min_connections: r.number("NEWSREAD_DATABASE_MIN_CONNECTIONS", 0, 0..=1000),
            acquire_timeout: r
                .duration("NEWSREAD_DATABASE_ACQUIRE_TIMEOUT", Duration::from_secs(3)),
            idle_timeout: r.duration("NEWSREAD_DATABASE_IDLE_TIMEOUT", Duration::from_secs(600)),
            max_lifetime: r.duration("NEWSREAD_DATABASE_MAX_LIFETIME", Duration::from_secs(1800)),
            replica_timeout: r.duration(
                "NEWSREAD_DATABASE_REPLICA_TIMEOUT",
                Duration::from_millis(800),
            ),
            url,
            replica_url,
        };
        let session = SessionConfig {
            idle_timeout: r.duration(
                "NEWSREAD_SESSION_IDLE_TIMEOUT",
                Duration::from_secs(7 * 86_400),
            ),
            lifetime: r.duration(
                "NEWSREAD_SESSION_LIFETIME",
                Duration::from_secs(30 * 86_400),
            ),
        };
        let trusted_proxies = r.parse("NEWSREAD_TRUSTED_PROXIES", Vec::new(), parse_cidrs);
        let log = LogConfig {
            format: r.parse("NEWSREAD_LOG_FORMAT", LogFormat::Text, |v| {
                match v.trim().to_ascii_lowercase().as_str() {
                    "text" => Ok(LogFormat::Text),
                    "json" => Ok(LogFormat::Json),
                    _ => Err(format!("`{v}` is not `text` or `json`")),
                }
            }),
            filter: r.raw("NEWSREAD_LOG").unwrap_or_else(|| "info".to_owned()),
        };
        let config = Config {
            listen,
            database,
            session,
            trusted_proxies,
            log,
            shutdown_grace: r.duration("NEWSREAD_SHUTDOWN_GRACE", Duration::from_secs(20)),
            request_timeout: r.duration("NEWSREAD_REQUEST_TIMEOUT", Duration::from_secs(30)),
            sample_news: r.switch("NEWSREAD_SAMPLE_NEWS", true),
        };
        let mut errors = r.errors;
        errors.extend(config.cross_field_problems());
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(errors))
        }
    }

    /// Checks that only make sense across fields.
    fn cross_field_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let db = &self.database;
        if db.min_connections > db.max_connections {
            problems.push(format!(
                "NEWSREAD_DATABASE_MIN_CONNECTIONS ({}) exceeds NEWSREAD_DATABASE_MAX_CONNECTIONS ({})",
                db.min_connections, db.max_connections
            ));
        }
        if let Some(replica) = &db.replica_url {
            let (p, r) = (
                Dialect::from_url(db.url.expose()),
                Dialect::from_url(replica.expose()),
            );
            if let (Ok(p), Ok(r)) = (p, r) {
                if p != r {
                    problems.push(format!(
                        "NEWSREAD_DATABASE_REPLICA_URL is {r} but NEWSREAD_DATABASE_URL is {p}: a replica must use the primary's engine"
                    ));
                }
                if p == Dialect::Sqlite {
                    problems.push(
                        "NEWSREAD_DATABASE_REPLICA_URL is not supported with SQLite".to_owned(),
                    );
                }
            }
        }
        if self.session.idle_timeout > self.session.lifetime {
            problems
                .push("NEWSREAD_SESSION_IDLE_TIMEOUT exceeds NEWSREAD_SESSION_LIFETIME".to_owned());
        }
        for (name, d) in [
            ("NEWSREAD_DATABASE_ACQUIRE_TIMEOUT", db.acquire_timeout),
            ("NEWSREAD_DATABASE_REPLICA_TIMEOUT", db.replica_timeout),
            ("NEWSREAD_REQUEST_TIMEOUT", self.request_timeout),
            ("NEWSREAD_SESSION_IDLE_TIMEOUT", self.session.idle_timeout),
        ] {
            if d.is_zero() {
                problems.push(format!("{name} must be greater than zero"));
            }
        }
        problems
    }

    /// Unknown `NEWSREAD_*` variables: most likely typos, reported as warnings.
    pub fn unknown_variables(vars: &BTreeMap<String, String>) -> Vec<String> {
        vars.keys()
            .filter(|k| k.starts_with("NEWSREAD_"))
            .filter(|k| {
                let base = k.strip_suffix("_FILE").unwrap_or(k);
                !OPTIONS.iter().any(|o| o.name == base) && !k.starts_with("NEWSREAD_TEST_")
            })
            .cloned()
            .collect()
    }

    /// The effective configuration, secrets redacted, as `NAME=value` lines.
    pub fn describe(&self) -> String {
        let db = &self.database;
        let rows: Vec<(&str, String)> = vec![
            ("NEWSREAD_LISTEN", self.listen.to_string()),
            ("NEWSREAD_DATABASE_URL", db.url.redacted()),
            (
                "NEWSREAD_DATABASE_REPLICA_URL",
                db.replica_url
                    .as_ref()
                    .map(DatabaseUrl::redacted)
                    .unwrap_or_default(),
            ),
            (
                "NEWSREAD_DATABASE_MAX_CONNECTIONS",
                db.max_connections.to_string(),
            ),
            (
                "NEWSREAD_DATABASE_MIN_CONNECTIONS",
                db.min_connections.to_string(),
            ),
            (
                "NEWSREAD_DATABASE_ACQUIRE_TIMEOUT",
                format_duration(db.acquire_timeout),
            ),
            (
                "NEWSREAD_DATABASE_IDLE_TIMEOUT",
                format_duration(db.idle_timeout),
            ),
            (
                "NEWSREAD_DATABASE_MAX_LIFETIME",
                format_duration(db.max_lifetime),
            ),
            (
                "NEWSREAD_DATABASE_REPLICA_TIMEOUT",
                format_duration(db.replica_timeout),
            ),
            (
                "NEWSREAD_SESSION_IDLE_TIMEOUT",
                format_duration(self.session.idle_timeout),
            ),
            (
                "NEWSREAD_SESSION_LIFETIME",
                format_duration(self.session.lifetime),
            ),
            (
                "NEWSREAD_TRUSTED_PROXIES",
                self.trusted_proxies
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            (
                "NEWSREAD_LOG_FORMAT",
                match self.log.format {
                    LogFormat::Text => "text".to_owned(),
                    LogFormat::Json => "json".to_owned(),
                },
            ),
            ("NEWSREAD_LOG", self.log.filter.clone()),
            (
                "NEWSREAD_SHUTDOWN_GRACE",
                format_duration(self.shutdown_grace),
            ),
            (
                "NEWSREAD_REQUEST_TIMEOUT",
                format_duration(self.request_timeout),
            ),
            (
                "NEWSREAD_SAMPLE_NEWS",
                if self.sample_news { "on" } else { "off" }.to_owned(),
            ),
        ];
        let mut out = String::new();
        for (k, v) in rows {
            let _ = writeln!(out, "{k}={v}");
        }
        out
    }
}

fn parse_cidrs(v: &str) -> Result<Vec<IpNet>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{s}` is not a CIDR such as 10.0.0.0/16 or an IP address"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_need_no_variables() {
        let c = Config::from_vars(BTreeMap::new()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:5000");
        assert_eq!(c.database.url.expose(), DEFAULT_DATABASE_URL);
        assert_eq!(c.shutdown_grace, Duration::from_secs(20));
    }

    #[test]
    fn reports_every_problem_at_once() {
        let err = Config::from_vars(vars(&[
            ("NEWSREAD_LISTEN", "nowhere"),
            ("NEWSREAD_DATABASE_URL", "oracle://x"),
            ("NEWSREAD_SHUTDOWN_GRACE", "soon"),
            ("NEWSREAD_TRUSTED_PROXIES", "10.0.0.0/8,banana"),
            ("NEWSREAD_DATABASE_MAX_CONNECTIONS", "0"),
        ]))
        .unwrap_err();
        assert_eq!(err.0.len(), 5, "{err}");
        let text = err.to_string();
        for needle in [
            "NEWSREAD_LISTEN",
            "sqlite",
            "NEWSREAD_SHUTDOWN_GRACE",
            "banana",
            "MAX_CONNECTIONS",
        ] {
            assert!(text.contains(needle), "missing {needle} in {text}");
        }
    }

    #[test]
    fn secrets_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("url");
        std::fs::write(&path, "postgres://u:pw@h/db\n").unwrap();
        let c = Config::from_vars(vars(&[(
            "NEWSREAD_DATABASE_URL_FILE",
            path.to_str().unwrap(),
        )]))
        .unwrap();
        assert_eq!(c.database.url.expose(), "postgres://u:pw@h/db");
        assert!(!c.describe().contains("pw@"), "{}", c.describe());
    }

    #[test]
    fn both_value_and_file_is_an_error() {
        let err = Config::from_vars(vars(&[
            ("NEWSREAD_DATABASE_URL", "sqlite://a.db"),
            ("NEWSREAD_DATABASE_URL_FILE", "/nonexistent"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("both set"), "{err}");
    }

    #[test]
    fn replica_must_match_engine() {
        let err = Config::from_vars(vars(&[
            ("NEWSREAD_DATABASE_URL", "postgres://h/db"),
            ("NEWSREAD_DATABASE_REPLICA_URL", "mysql://h/db"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("replica must use"), "{err}");
    }

    #[test]
    fn unknown_variables_are_flagged() {
        let v = vars(&[
            ("NEWSREAD_LISTN", "x"),
            ("NEWSREAD_LISTEN", "y"),
            ("NEWSREAD_DATABASE_URL_FILE", "z"),
        ]);
        assert_eq!(
            Config::unknown_variables(&v),
            vec!["NEWSREAD_LISTN".to_owned()]
        );
    }
}
