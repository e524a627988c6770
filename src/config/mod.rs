//! Typed configuration, read once at start from `NEWSREAD_*` variables.
//!
//! Every secret may also come from `NAME_FILE` (a path whose contents are the value), so that
//! orchestrators can mount secrets as files. All problems are collected and reported together:
//! an operator fixing a deployment should not have to restart once per typo.
mod duration;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

pub use duration::{format_duration, parse_duration};
use ipnet::IpNet;

use crate::domain::vocab::Dimension;
use crate::secret::{self, DatabaseUrl, Secret};
use crate::storage::{DatabaseConfig, Dialect};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/newsread.db";

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

/// Every option; unknown `NEWSREAD_*` variables are reported as likely typos.
const OPTIONS: &[&str] = &[
    "NEWSREAD_LISTEN",
    "NEWSREAD_CONFIG_FILE",
    "NEWSREAD_DATABASE_URL",
    "NEWSREAD_DATABASE_REPLICA_URL",
    "NEWSREAD_DATABASE_MAX_CONNECTIONS",
    "NEWSREAD_DATABASE_MIN_CONNECTIONS",
    "NEWSREAD_DATABASE_ACQUIRE_TIMEOUT",
    "NEWSREAD_DATABASE_IDLE_TIMEOUT",
    "NEWSREAD_DATABASE_MAX_LIFETIME",
    "NEWSREAD_DATABASE_REPLICA_TIMEOUT",
    "NEWSREAD_FEED_CACHE_TTL",
    "NEWSREAD_DATABASE_SECRET_ARN",
    "NEWSREAD_DATABASE_ADMIN_SECRET_ARN",
    "NEWSREAD_MIGRATE_ON_START",
    "NEWSREAD_SESSION_IDLE_TIMEOUT",
    "NEWSREAD_SESSION_LIFETIME",
    "NEWSREAD_TRUSTED_PROXIES",
    "NEWSREAD_CLIENT_ADDRESS_HEADER",
    "NEWSREAD_LOG_FORMAT",
    "NEWSREAD_LOG",
    "NEWSREAD_SHUTDOWN_GRACE",
    "NEWSREAD_REQUEST_TIMEOUT",
    "NEWSREAD_HEADER_READ_TIMEOUT",
    "NEWSREAD_IDLE_TIMEOUT",
    "NEWSREAD_PASSWORD_QUEUE",
    "NEWSREAD_SAMPLE_NEWS",
    "NEWSREAD_METRICS_LISTEN",
    "NEWSREAD_SHARED_DIR",
    "NEWSREAD_MEDIA_PRIVATE_ADDRESSES",
    "NEWSREAD_INGEST",
    "NEWSREAD_INGEST_INTERVAL",
    "NEWSREAD_MEDIASTACK_ACCESS_KEY",
    "NEWSREAD_MEDIASTACK_SECRET_ARN",
    "NEWSREAD_MEDIASTACK_BASE_URL",
    "NEWSREAD_MEDIASTACK_MONTHLY_BUDGET",
    "NEWSREAD_MEDIASTACK_COUNTRIES",
    "NEWSREAD_MEDIASTACK_LANGUAGES",
    "NEWSREAD_MEDIASTACK_CATEGORIES",
    "NEWSREAD_FEEDS",
    "NEWSREAD_RETENTION_DAYS",
    "NEWSREAD_THROTTLE_LOGIN_ACCOUNT",
    "NEWSREAD_THROTTLE_LOGIN_ADDRESS",
    "NEWSREAD_THROTTLE_REGISTER_ADDRESS",
];

/// Options whose values are secrets: they may come from `NAME_FILE` and are never printed.
const SECRETS: &[&str] = &[
    "NEWSREAD_DATABASE_URL",
    "NEWSREAD_DATABASE_REPLICA_URL",
    "NEWSREAD_MEDIASTACK_ACCESS_KEY",
];

/// Reads values (resolving `*_FILE`) and records errors instead of stopping at the first.
struct Reader<'a> {
    vars: &'a BTreeMap<String, String>,
    errors: Vec<String>,
}

impl Reader<'_> {
    fn raw(&mut self, name: &str) -> Option<String> {
        let secret = SECRETS.contains(&name);
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
        // SQLite has one writer and readers bound by cores; each connection is a thread with
        // its own page cache, so a small pool is faster and leaner (bench/README.md).
        // By the dialect, which ignores the scheme's case, like the connection itself does.
        let default_pool = if Dialect::from_url(url.expose()) == Ok(Dialect::Sqlite) {
            4
        } else {
            10
        };
        let database = DatabaseConfig {
            max_connections: r.number("NEWSREAD_DATABASE_MAX_CONNECTIONS", default_pool, 1..=1000),
            min_connections: r.number("NEWSREAD_DATABASE_MIN_CONNECTIONS", 0, 0..=1000),
            acquire_timeout: r
                .duration("NEWSREAD_DATABASE_ACQUIRE_TIMEOUT", Duration::from_secs(3)),
            idle_timeout: r.duration("NEWSREAD_DATABASE_IDLE_TIMEOUT", Duration::from_secs(600)),
            max_lifetime: r.duration("NEWSREAD_DATABASE_MAX_LIFETIME", Duration::from_secs(1800)),
            replica_timeout: r.duration(
                "NEWSREAD_DATABASE_REPLICA_TIMEOUT",
                Duration::from_millis(800),
            ),
            feed_cache_ttl: r.duration("NEWSREAD_FEED_CACHE_TTL", Duration::from_secs(1)),
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
        let client_address_header = r.parse("NEWSREAD_CLIENT_ADDRESS_HEADER", None, |v| {
            let name = v.trim().to_ascii_lowercase();
            axum::http::HeaderName::from_bytes(name.as_bytes())
                .map(|_| Some(name))
                .map_err(|_| format!("`{v}` is not an HTTP header name"))
        });
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
            client_address_header,
            log,
            shutdown_grace: r.duration("NEWSREAD_SHUTDOWN_GRACE", Duration::from_secs(20)),
            request_timeout: r.duration("NEWSREAD_REQUEST_TIMEOUT", Duration::from_secs(30)),
            header_read_timeout: r
                .duration("NEWSREAD_HEADER_READ_TIMEOUT", Duration::from_secs(10)),
            // Longer than the load balancer's own idle timeout (60 s on an AWS ALB): the
            // balancer must be the one to close an idle connection, or it may send a request
            // on a connection the instance is closing at that moment, and answer 502.
            idle_timeout: r.duration("NEWSREAD_IDLE_TIMEOUT", Duration::from_secs(75)),
            password_queue: r.number(
                "NEWSREAD_PASSWORD_QUEUE",
                crate::password::default_queue(),
                1..=100_000,
            ),
            sample_news: r.switch("NEWSREAD_SAMPLE_NEWS", true),
            migrate_on_start: r.switch("NEWSREAD_MIGRATE_ON_START", true),
            metrics_listen: r.parse("NEWSREAD_METRICS_LISTEN", None, |v| {
                v.trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("`{v}` is not an address such as 127.0.0.1:9464"))
            }),
            shared_dir: r.raw("NEWSREAD_SHARED_DIR").map(std::path::PathBuf::from),
            media_private_addresses: r.switch("NEWSREAD_MEDIA_PRIVATE_ADDRESSES", false),
            ingest: IngestConfig {
                enabled: r.switch("NEWSREAD_INGEST", true),
                interval: r.duration("NEWSREAD_INGEST_INTERVAL", Duration::from_secs(15 * 60)),
                mediastack_access_key: r.raw("NEWSREAD_MEDIASTACK_ACCESS_KEY").map(Secret::new),
                mediastack_base_url: r.parse(
                    "NEWSREAD_MEDIASTACK_BASE_URL",
                    "http://api.mediastack.com/v1".to_owned(),
                    parse_http_url,
                ),
                mediastack_monthly_budget: r.number(
                    "NEWSREAD_MEDIASTACK_MONTHLY_BUDGET",
                    100,
                    1..=1_000_000,
                ),
                mediastack_filter: {
                    let mut f = crate::domain::feed::FeedFilter::default();
                    for (name, d) in [
                        ("NEWSREAD_MEDIASTACK_COUNTRIES", Dimension::Country),
                        ("NEWSREAD_MEDIASTACK_LANGUAGES", Dimension::Language),
                        ("NEWSREAD_MEDIASTACK_CATEGORIES", Dimension::Category),
                    ] {
                        if let Some(v) = r.raw(name) {
                            if let Err(e) = f.add(d, &v) {
                                r.errors.push(format!("{name}: {e}"));
                            }
                            // International and unknown are ours: mediastack has no such code.
                            if let Some(own) = f.get(d).iter().find(|c| d.own_codes().contains(c)) {
                                r.errors.push(format!(
                                    "{name}: `{own}` is NewsRead's own code, not one mediastack knows"
                                ));
                            }
                        }
                    }
                    f.normalize();
                    f
                },
                feeds: r.parse("NEWSREAD_FEEDS", Vec::new(), parse_feeds),
                retention_days: r.number("NEWSREAD_RETENTION_DAYS", 30, 1..=36_500),
            },
            throttle: ThrottleConfig {
                login_per_account: r.parse(
                    "NEWSREAD_THROTTLE_LOGIN_ACCOUNT",
                    Limit {
                        max: 10,
                        window: Duration::from_secs(900),
                    },
                    parse_limit,
                ),
                login_per_address: r.parse(
                    "NEWSREAD_THROTTLE_LOGIN_ADDRESS",
                    Limit {
                        max: 50,
                        window: Duration::from_secs(900),
                    },
                    parse_limit,
                ),
                register_per_address: r.parse(
                    "NEWSREAD_THROTTLE_REGISTER_ADDRESS",
                    Limit {
                        max: 10,
                        window: Duration::from_secs(3600),
                    },
                    parse_limit,
                ),
            },
            aws: AwsConfig {
                database_secret_arn: r.raw("NEWSREAD_DATABASE_SECRET_ARN"),
                database_admin_secret_arn: r.raw("NEWSREAD_DATABASE_ADMIN_SECRET_ARN"),
                mediastack_secret_arn: r.raw("NEWSREAD_MEDIASTACK_SECRET_ARN"),
            },
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
                !OPTIONS.contains(&base) && !k.starts_with("NEWSREAD_TEST_")
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
                "NEWSREAD_FEED_CACHE_TTL",
                format_duration(db.feed_cache_ttl),
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
                "NEWSREAD_CLIENT_ADDRESS_HEADER",
                self.client_address_header.clone().unwrap_or_default(),
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
                "NEWSREAD_HEADER_READ_TIMEOUT",
                format_duration(self.header_read_timeout),
            ),
            ("NEWSREAD_IDLE_TIMEOUT", format_duration(self.idle_timeout)),
            ("NEWSREAD_PASSWORD_QUEUE", self.password_queue.to_string()),
            ("NEWSREAD_SAMPLE_NEWS", on_off(self.sample_news)),
            ("NEWSREAD_MIGRATE_ON_START", on_off(self.migrate_on_start)),
            (
                "NEWSREAD_METRICS_LISTEN",
                self.metrics_listen
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
            ),
            (
                "NEWSREAD_SHARED_DIR",
                self.shared_dir
                    .as_ref()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default(),
            ),
            (
                "NEWSREAD_MEDIA_PRIVATE_ADDRESSES",
                on_off(self.media_private_addresses),
            ),
            ("NEWSREAD_INGEST", on_off(self.ingest.enabled)),
            (
                "NEWSREAD_INGEST_INTERVAL",
                format_duration(self.ingest.interval),
            ),
            (
                "NEWSREAD_MEDIASTACK_ACCESS_KEY",
                self.ingest
                    .mediastack_access_key
                    .as_ref()
                    .map(|k| k.to_string())
                    .unwrap_or_default(),
            ),
            (
                "NEWSREAD_MEDIASTACK_BASE_URL",
                self.ingest.mediastack_base_url.clone(),
            ),
            (
                "NEWSREAD_MEDIASTACK_MONTHLY_BUDGET",
                self.ingest.mediastack_monthly_budget.to_string(),
            ),
            (
                "NEWSREAD_MEDIASTACK_COUNTRIES",
                self.ingest.mediastack_filter.stored(Dimension::Country),
            ),
            (
                "NEWSREAD_MEDIASTACK_LANGUAGES",
                self.ingest.mediastack_filter.stored(Dimension::Language),
            ),
            (
                "NEWSREAD_MEDIASTACK_CATEGORIES",
                self.ingest.mediastack_filter.stored(Dimension::Category),
            ),
            (
                "NEWSREAD_FEEDS",
                self.ingest
                    .feeds
                    .iter()
                    .map(describe_feed)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            (
                "NEWSREAD_RETENTION_DAYS",
                self.ingest.retention_days.to_string(),
            ),
            (
                "NEWSREAD_THROTTLE_LOGIN_ACCOUNT",
                describe_limit(self.throttle.login_per_account),
            ),
            (
                "NEWSREAD_THROTTLE_LOGIN_ADDRESS",
                describe_limit(self.throttle.login_per_address),
            ),
            (
                "NEWSREAD_THROTTLE_REGISTER_ADDRESS",
                describe_limit(self.throttle.register_per_address),
            ),
            (
                "NEWSREAD_DATABASE_SECRET_ARN",
                self.aws.database_secret_arn.clone().unwrap_or_default(),
            ),
            (
                "NEWSREAD_DATABASE_ADMIN_SECRET_ARN",
                self.aws
                    .database_admin_secret_arn
                    .clone()
                    .unwrap_or_default(),
            ),
            (
                "NEWSREAD_MEDIASTACK_SECRET_ARN",
                self.aws.mediastack_secret_arn.clone().unwrap_or_default(),
            ),
        ];
        let mut out = String::new();
        for (k, v) in rows {
            let _ = writeln!(out, "{k}={v}");
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
        if !OPTIONS.contains(&base) || key == "NEWSREAD_CONFIG_FILE" {
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

fn on_off(b: bool) -> String {
    if b { "on" } else { "off" }.to_owned()
}

fn describe_limit(l: Limit) -> String {
    format!("{}/{}", l.max, format_duration(l.window))
}

fn describe_feed(f: &FeedSource) -> String {
    let mut out = secret::redact_url(&f.url, true);
    for (k, v) in [
        ("country", f.country),
        ("language", f.language),
        ("category", f.category),
    ] {
        if let Some(v) = v {
            out.push_str(&format!(" {k}={v}"));
        }
    }
    out
}

/// `N/duration`, e.g. `10/15m`.
fn parse_limit(v: &str) -> Result<Limit, String> {
    let bad = || format!("`{v}` is not a limit such as 10/15m (events per window)");
    let (n, w) = v.trim().split_once('/').ok_or_else(bad)?;
    let max: u32 = n.trim().parse().map_err(|_| bad())?;
    let window = parse_duration(w).map_err(|_| bad())?;
    if max == 0 || window.is_zero() {
        return Err(bad());
    }
    Ok(Limit { max, window })
}

fn parse_http_url(v: &str) -> Result<String, String> {
    match url::Url::parse(v.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(v.trim().trim_end_matches('/').to_owned())
        }
        _ => Err(format!("`{v}` is not an http(s) URL")),
    }
}

/// Feeds separated by `;` or newlines, each a URL followed by optional `country=`,
/// `language=` and `category=` tags: `https://a.example/rss country=ng category=sports`.
fn parse_feeds(v: &str) -> Result<Vec<FeedSource>, String> {
    let mut feeds = Vec::new();
    for entry in v
        .split([';', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let mut parts = entry.split_whitespace();
        let raw_url = parts.next().unwrap_or_default();
        // Error messages name the feed by its redacted URL: the query may carry a token.
        let shown = secret::redact_url(raw_url, true);
        let url =
            parse_http_url(raw_url).map_err(|_| format!("`{shown}` is not an http(s) URL"))?;
        let mut feed = FeedSource {
            url,
            country: None,
            language: None,
            category: None,
        };
        for tag in parts {
            let (k, val) = tag
                .split_once('=')
                .ok_or_else(|| format!("`{tag}` for `{shown}` is not a tag such as country=ng"))?;
            let (slot, d) = match k {
                "country" => (&mut feed.country, Dimension::Country),
                "language" => (&mut feed.language, Dimension::Language),
                "category" => (&mut feed.category, Dimension::Category),
                _ => {
                    return Err(format!(
                        "unknown tag `{k}` for `{shown}` (use country, language, category)"
                    ))
                }
            };
            *slot = Some(
                d.lookup(val)
                    .ok_or_else(|| format!("unknown {k} `{val}` for `{shown}`"))?,
            );
        }
        if feeds.iter().any(|f: &FeedSource| f.url == feed.url) {
            return Err(format!("feed `{shown}` is listed twice"));
        }
        feeds.push(feed);
    }
    Ok(feeds)
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
