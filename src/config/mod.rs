//! Typed configuration, read once at start from `NEWSREAD_*` variables.
//!
//! Every secret may also come from `NAME_FILE` (a path whose contents are the value), so that
//! orchestrators can mount secrets as files. All problems are collected and reported together:
//! an operator fixing a deployment should not have to restart once per typo. Each option is
//! one entry of the table in `options.rs`, which the README's table is checked against.
mod duration;
mod options;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

pub use duration::{format_duration, parse_duration};
use ipnet::IpNet;
use options::OPTIONS;
pub use options::{DefaultValue, Opt};

use crate::secret::Secret;
use crate::storage::{DatabaseConfig, Dialect};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/newsread.db";

/// Every option, in `check-config`'s order: for documentation and tools (the README's table
/// is checked against it).
pub fn options() -> &'static [Opt] {
    OPTIONS
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: DatabaseConfig,
    pub session: SessionConfig,
    /// Peers whose `X-Forwarded-For`/`X-Forwarded-Proto` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// A header, set by a trusted proxy, that holds the client's address (lower-case name).
    pub client_address_header: Option<String>,
    pub log: LogConfig,
    /// How long `/readyz` reports 503 before the listener closes on SIGTERM.
    pub shutdown_grace: Duration,
    pub request_timeout: Duration,
    /// How long a client has to send a request's headers (from the connection, or from the
    /// first byte of a request on a kept-alive connection); slow clients are cut off.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may wait idle for its next request.
    pub idle_timeout: Duration,
    /// Logins and registrations waiting for a password hashing thread; more get 503.
    pub password_queue: u32,
    /// Load the bundled sample articles into an empty database when no source is configured.
    pub sample_news: bool,
    /// `serve` applies migrations itself; off where servers have no DDL rights and wait for
    /// `newsread migrate` instead.
    pub migrate_on_start: bool,
    /// Prometheus metrics listener; never the public one.
    pub metrics_listen: Option<SocketAddr>,
    /// Storage shared by every instance (EFS on AWS): the article image cache.
    pub shared_dir: Option<std::path::PathBuf>,
    /// Let the image cache fetch from private and loopback addresses (local setups only).
    pub media_private_addresses: bool,
    pub ingest: IngestConfig,
    pub throttle: ThrottleConfig,
    pub aws: AwsConfig,
}

/// News ingestion: sources, schedule, quota and retention.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Run the scheduler inside `serve` on this instance (a database lease still makes sure
    /// only one instance fetches per cycle).
    pub enabled: bool,
    pub interval: Duration,
    pub mediastack_access_key: Option<Secret<String>>,
    pub mediastack_base_url: String,
    /// Requests per calendar month (UTC) the scheduler may spend; the free plan has 100.
    pub mediastack_monthly_budget: u32,
    /// What to ask mediastack for; empty means everything.
    pub mediastack_filter: crate::domain::feed::FeedFilter,
    pub feeds: Vec<FeedSource>,
    pub retention_days: u32,
}

impl IngestConfig {
    pub fn has_sources(&self) -> bool {
        self.mediastack_access_key.is_some() || !self.feeds.is_empty()
    }
}

/// One RSS 2.0, Atom or JSON Feed URL, with the tags its articles get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSource {
    pub url: String,
    pub country: Option<&'static str>,
    pub language: Option<&'static str>,
    pub category: Option<&'static str>,
}

/// A fixed-window limit: at most `max` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    pub login_per_account: Limit,
    pub login_per_address: Limit,
    pub register_per_address: Limit,
}

/// AWS Secrets Manager sources for credentials (the SDK's standard chain finds the rest).
#[derive(Debug, Clone, Default)]
pub struct AwsConfig {
    /// Secret `{"username","password"}` the servers connect with (on AWS: the app's own
    /// least-privilege role).
    pub database_secret_arn: Option<String>,
    /// The RDS-managed master secret: used by `migrate` (which also creates the app role from
    /// `database_secret_arn`) and `rotate-db-credential`, never by `serve`.
    pub database_admin_secret_arn: Option<String>,
    /// Secret whose value is the mediastack key, plain or `{"access_key": "..."}`.
    pub mediastack_secret_arn: Option<String>,
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

/// Reads values (resolving `*_FILE`) and records errors instead of stopping at the first.
struct Reader<'a> {
    vars: &'a BTreeMap<String, String>,
    errors: Vec<String>,
}

impl Reader<'_> {
    fn raw(&mut self, opt: &Opt) -> Option<String> {
        let name = opt.name;
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
            (None, Some(path)) if opt.secret => match std::fs::read_to_string(path) {
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
}

impl Config {
    /// Reads the process environment, over the file named by `NEWSREAD_CONFIG_FILE` if any.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars().collect())
    }

    /// Merges the optional config file under the given variables (variables win), then
    /// parses. File problems are reported with all the others.
    pub fn load(mut vars: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut errors = Vec::new();
        if let Some(path) = vars
            .get("NEWSREAD_CONFIG_FILE")
            .filter(|p| !p.is_empty())
            .cloned()
        {
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let (file_vars, file_errors) = parse_config_file(&text, &path);
                    errors.extend(file_errors);
                    for (k, v) in file_vars {
                        vars.entry(k).or_insert(v);
                    }
                }
                Err(e) => errors.push(format!("NEWSREAD_CONFIG_FILE: cannot read `{path}`: {e}")),
            }
        }
        match Self::from_vars(vars) {
            Ok(c) if errors.is_empty() => Ok(c),
            Ok(_) => Err(ConfigError(errors)),
            Err(ConfigError(more)) => {
                errors.extend(more);
                Err(ConfigError(errors))
            }
        }
    }

    /// Reads a set of variables; separate from [`Config::from_env`] so tests need no globals.
    pub fn from_vars(vars: BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let mut r = Reader {
            vars: &vars,
            errors: Vec::new(),
        };
        let mut config = options::unset();
        for opt in OPTIONS {
            let Some(set) = opt.set else { continue };
            // The default first, so that an invalid value leaves it in place.
            let default = match opt.default {
                DefaultValue::Text(text) => Some(text.to_owned()),
                DefaultValue::Computed(_, compute) => Some(compute(&config)),
                DefaultValue::Absent(_) => None,
            };
            if let Some(text) = default {
                if let Err(e) = set(&mut config, &text) {
                    r.errors.push(format!(
                        "{}: the default `{text}` is invalid: {e}",
                        opt.name
                    ));
                }
            }
            if let Some(value) = r.raw(opt) {
                if let Err(e) = set(&mut config, &value) {
                    r.errors.push(format!("{}: {e}", opt.name));
                }
            }
        }
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
        if self.ingest.mediastack_access_key.is_some() && self.aws.mediastack_secret_arn.is_some() {
            problems.push(
                "NEWSREAD_MEDIASTACK_ACCESS_KEY and NEWSREAD_MEDIASTACK_SECRET_ARN are both set; set only one".to_owned(),
            );
        }
        if self.aws.database_admin_secret_arn.is_some()
            && Dialect::from_url(db.url.expose()) == Ok(Dialect::Sqlite)
        {
            problems.push(
                "NEWSREAD_DATABASE_ADMIN_SECRET_ARN is set but SQLite has no database roles"
                    .to_owned(),
            );
        }
        if self.client_address_header.is_some() && self.trusted_proxies.is_empty() {
            problems.push(
                "NEWSREAD_CLIENT_ADDRESS_HEADER is only read from NEWSREAD_TRUSTED_PROXIES, which is empty".to_owned(),
            );
        }
        if let Some(m) = self.metrics_listen {
            if m == self.listen {
                problems.push("NEWSREAD_METRICS_LISTEN must differ from NEWSREAD_LISTEN: metrics are never public".to_owned());
            }
        }
        if db.feed_cache_ttl > Duration::from_secs(60) {
            problems.push(
                "NEWSREAD_FEED_CACHE_TTL must be at most 60s: readers would miss new articles for longer"
                    .to_owned(),
            );
        }
        if db.session_cache_ttl > Duration::from_secs(1) {
            problems.push(
                "NEWSREAD_SESSION_CACHE_TTL must be at most 1s: a logout must take effect on every instance within a second"
                    .to_owned(),
            );
        }
        if self.session.idle_timeout > self.session.lifetime {
            problems
                .push("NEWSREAD_SESSION_IDLE_TIMEOUT exceeds NEWSREAD_SESSION_LIFETIME".to_owned());
        }
        for (name, d) in [
            ("NEWSREAD_DATABASE_ACQUIRE_TIMEOUT", db.acquire_timeout),
            ("NEWSREAD_DATABASE_REPLICA_TIMEOUT", db.replica_timeout),
            ("NEWSREAD_REQUEST_TIMEOUT", self.request_timeout),
            ("NEWSREAD_HEADER_READ_TIMEOUT", self.header_read_timeout),
            ("NEWSREAD_IDLE_TIMEOUT", self.idle_timeout),
            ("NEWSREAD_SESSION_IDLE_TIMEOUT", self.session.idle_timeout),
            ("NEWSREAD_INGEST_INTERVAL", self.ingest.interval),
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
                options::find(base).is_none() && !k.starts_with("NEWSREAD_TEST_")
            })
            .cloned()
            .collect()
    }

    /// The effective configuration, secrets redacted, as `NAME=value` lines.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for opt in OPTIONS {
            if let Some(show) = opt.show {
                let _ = writeln!(out, "{}={}", opt.name, show(self));
            }
        }
        out
    }
}

/// `NAME=value` lines, `#` comments, optional matching quotes around the value: the same
/// names as the environment, so a file and a systemd `EnvironmentFile=` are interchangeable.
pub(crate) fn parse_config_file(text: &str, path: &str) -> (BTreeMap<String, String>, Vec<String>) {
    let mut vars = BTreeMap::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            errors.push(format!("{path}:{}: expected NAME=value", i + 1));
            continue;
        };
        let key = key.trim();
        let base = key.strip_suffix("_FILE").unwrap_or(key);
        if options::find(base).is_none() || key == "NEWSREAD_CONFIG_FILE" {
            errors.push(format!("{path}:{}: unknown setting `{key}`", i + 1));
            continue;
        }
        let value = value.trim();
        let value = [('"', '"'), ('\'', '\'')]
            .iter()
            .find_map(|(a, b)| value.strip_prefix(*a).and_then(|v| v.strip_suffix(*b)))
            .unwrap_or(value);
        vars.insert(key.to_owned(), value.to_owned());
    }
    (vars, errors)
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
    fn feed_errors_do_not_quote_tokens() {
        for feeds in [
            "https://feeds.example.org/rss?token=Tok3n country=nowhere",
            "https://feeds.example.org/rss?token=Tok3n bogus",
            "https://u:Tok3n@feeds.example.org/rss; https://u:Tok3n@feeds.example.org/rss",
        ] {
            let err = Config::from_vars(vars(&[("NEWSREAD_FEEDS", feeds)])).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("NEWSREAD_FEEDS"), "{text}");
            assert!(!text.contains("Tok3n"), "{text}");
        }
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
    fn pool_size_and_feed_cache_defaults_follow_the_backend_and_are_bounded() {
        let sqlite = Config::from_vars(vars(&[])).unwrap();
        assert_eq!(sqlite.database.max_connections, 4);
        assert_eq!(sqlite.database.feed_cache_ttl, Duration::from_secs(1));
        let pg = Config::from_vars(vars(&[
            ("NEWSREAD_DATABASE_URL", "postgres://h/db"),
            ("NEWSREAD_FEED_CACHE_TTL", "0s"),
        ]))
        .unwrap();
        assert_eq!(pg.database.max_connections, 10);
        assert!(
            pg.database.feed_cache_ttl.is_zero(),
            "0s turns the cache off"
        );
        assert!(pg.describe().contains("NEWSREAD_FEED_CACHE_TTL=0s"));
        let err = Config::from_vars(vars(&[("NEWSREAD_FEED_CACHE_TTL", "5m")])).unwrap_err();
        assert!(err.to_string().contains("NEWSREAD_FEED_CACHE_TTL"), "{err}");
    }

    /// Found by the `config` fuzz target (fuzz/regressions/config/): the scheme's case
    /// picked the engine but not its pool size, so `SQLite://` got PostgreSQL's 10.
    #[test]
    fn default_pool_size_ignores_the_scheme_case() {
        for url in [
            "SQLite://data/x.db",
            "SQLITE::memory:",
            "sqlite://data/x.db",
        ] {
            let c = Config::from_vars(vars(&[("NEWSREAD_DATABASE_URL", url)])).unwrap();
            assert_eq!(c.database.max_connections, 4, "{url}");
        }
        let c = Config::from_vars(vars(&[("NEWSREAD_DATABASE_URL", "PostgreSQL://h/db")])).unwrap();
        assert_eq!(c.database.max_connections, 10);
    }

    #[test]
    fn connection_timeouts_and_password_queue() {
        let d = Config::from_vars(BTreeMap::new()).unwrap();
        assert_eq!(d.header_read_timeout, Duration::from_secs(10));
        assert!(
            d.idle_timeout > Duration::from_secs(60),
            "longer than an ALB's idle timeout"
        );
        assert_eq!(d.password_queue, crate::password::default_queue());
        let c = Config::from_vars(vars(&[
            ("NEWSREAD_HEADER_READ_TIMEOUT", "3s"),
            ("NEWSREAD_IDLE_TIMEOUT", "2m"),
            ("NEWSREAD_PASSWORD_QUEUE", "7"),
        ]))
        .unwrap();
        assert_eq!(c.header_read_timeout, Duration::from_secs(3));
        assert_eq!(c.idle_timeout, Duration::from_secs(120));
        assert_eq!(c.password_queue, 7);
        let described = c.describe();
        for line in [
            "NEWSREAD_HEADER_READ_TIMEOUT=3s",
            "NEWSREAD_IDLE_TIMEOUT=2m",
            "NEWSREAD_PASSWORD_QUEUE=7",
        ] {
            assert!(described.contains(line), "{described}");
        }
        let err = Config::from_vars(vars(&[
            ("NEWSREAD_HEADER_READ_TIMEOUT", "0s"),
            ("NEWSREAD_IDLE_TIMEOUT", "0s"),
            ("NEWSREAD_PASSWORD_QUEUE", "0"),
        ]))
        .unwrap_err()
        .to_string();
        for name in [
            "NEWSREAD_HEADER_READ_TIMEOUT",
            "NEWSREAD_IDLE_TIMEOUT",
            "NEWSREAD_PASSWORD_QUEUE",
        ] {
            assert!(err.contains(name), "{err}");
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
    fn only_secrets_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "abc123\n").unwrap();
        let p = path.to_str().unwrap();
        let c = Config::from_vars(vars(&[("NEWSREAD_MEDIASTACK_ACCESS_KEY_FILE", p)])).unwrap();
        assert_eq!(
            c.ingest
                .mediastack_access_key
                .as_ref()
                .map(|k| k.expose().as_str()),
            Some("abc123")
        );
        assert!(c
            .describe()
            .contains("NEWSREAD_MEDIASTACK_ACCESS_KEY=[redacted]"));
        assert!(Config::from_vars(vars(&[("NEWSREAD_LISTEN_FILE", p)])).is_err());
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
    fn feeds_limits_and_ingest_options_parse() {
        let c = Config::from_vars(vars(&[
            ("NEWSREAD_FEEDS", "https://a.example/rss country=ng category=sports;\n http://b.example/atom.xml language=fr"),
            ("NEWSREAD_THROTTLE_LOGIN_ACCOUNT", "5/10m"),
            ("NEWSREAD_MEDIASTACK_COUNTRIES", "us,gb"),
            ("NEWSREAD_INGEST_INTERVAL", "3s"),
        ]))
        .unwrap();
        assert_eq!(c.ingest.feeds.len(), 2);
        assert_eq!(c.ingest.feeds[0].country, Some("ng"));
        assert_eq!(c.ingest.feeds[1].language, Some("fr"));
        assert_eq!(
            c.throttle.login_per_account,
            Limit {
                max: 5,
                window: Duration::from_secs(600)
            }
        );
        assert_eq!(c.ingest.mediastack_filter.countries, vec!["gb", "us"]);
        assert_eq!(c.ingest.interval, Duration::from_secs(3));
        assert!(c.ingest.has_sources());
        let err = Config::from_vars(vars(&[
            ("NEWSREAD_FEEDS", "ftp://x.example/feed"),
            ("NEWSREAD_THROTTLE_LOGIN_ADDRESS", "lots"),
            ("NEWSREAD_MEDIASTACK_CATEGORIES", "gossip"),
            ("NEWSREAD_MEDIASTACK_LANGUAGES", "en,xx"),
        ]))
        .unwrap_err();
        assert_eq!(err.0.len(), 4, "{err}");
        assert!(
            err.to_string().contains("`xx` is NewsRead's own code"),
            "{err}"
        );
        // An operator may tag a feed International, though.
        let c = Config::from_vars(vars(&[(
            "NEWSREAD_FEEDS",
            "https://wire.example/rss country=xx",
        )]))
        .unwrap();
        assert_eq!(c.ingest.feeds[0].country, Some("xx"));
    }

    #[test]
    fn config_file_under_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("newsread.env");
        std::fs::write(
            &path,
            "# comment\nNEWSREAD_LISTEN=0.0.0.0:5000\nexport NEWSREAD_SHUTDOWN_GRACE=\"5s\"\nNEWSREAD_LOG_FORMAT=json\n",
        )
        .unwrap();
        let file = path.to_str().unwrap();
        let c = Config::load(vars(&[
            ("NEWSREAD_CONFIG_FILE", file),
            ("NEWSREAD_LOG_FORMAT", "text"),
        ]))
        .unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:5000");
        assert_eq!(c.shutdown_grace, Duration::from_secs(5));
        assert_eq!(c.log.format, LogFormat::Text, "the environment wins");

        std::fs::write(
            &path,
            "NEWSREAD_LISTN=x\ngarbage line\nNEWSREAD_SHUTDOWN_GRACE=soon\n",
        )
        .unwrap();
        let err = Config::load(vars(&[("NEWSREAD_CONFIG_FILE", file)])).unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
        let missing = Config::load(vars(&[(
            "NEWSREAD_CONFIG_FILE",
            "/nonexistent/newsread.env",
        )]))
        .unwrap_err();
        assert!(missing.to_string().contains("cannot read"));
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
