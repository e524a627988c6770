//! Every option once: its name, default, secrecy, meaning (the README's words), how a value
//! is read into [`Config`] and how `check-config` shows it. Reading, the list of known names,
//! `check-config` and the README's table all follow this table.
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use ipnet::IpNet;

use super::{
    format_duration, parse_duration, AwsConfig, Config, FeedSource, IngestConfig, Limit, LogConfig,
    LogFormat, SessionConfig, ThrottleConfig, DEFAULT_DATABASE_URL,
};
use crate::domain::feed::FeedFilter;
use crate::domain::vocab::Dimension;
use crate::secret::{self, DatabaseUrl, Secret};
use crate::storage::{DatabaseConfig, Dialect};

/// Reads a value into the configuration, changing nothing when it is invalid.
pub(super) type Set = fn(&mut Config, &str) -> Result<(), String>;
/// The current value as `check-config` prints it; secrets redacted.
pub(super) type Show = fn(&Config) -> String;

/// What an option is when it is not set.
#[derive(Clone, Copy)]
pub enum DefaultValue {
    /// A value as an operator writes it, read by the option's own parser, so the default in
    /// effect is the documented one.
    Text(&'static str),
    /// No value; the README's word for that (`none`, `off`, `all`).
    Absent(&'static str),
    /// A value that depends on options listed earlier or on the machine: the README's
    /// wording, and the code that writes the value for the parser.
    Computed(&'static str, fn(&Config) -> String),
}

pub struct Opt {
    pub(super) name: &'static str,
    pub(super) secret: bool,
    pub(super) default: DefaultValue,
    pub(super) doc: &'static str,
    /// `None` for `NEWSREAD_CONFIG_FILE`, which is read before all the others.
    pub(super) set: Option<Set>,
    /// `None` for options that `check-config` does not print.
    pub(super) show: Option<Show>,
}

impl Opt {
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// May come from `NAME_FILE`; never printed.
    pub fn secret(&self) -> bool {
        self.secret
    }

    pub fn doc(&self) -> &'static str {
        self.doc
    }

    /// The default as the README's table shows it.
    pub fn default_text(&self) -> String {
        match self.default {
            DefaultValue::Text(t) => format!("`{t}`"),
            DefaultValue::Absent(word) | DefaultValue::Computed(word, _) => word.to_owned(),
        }
    }
}

/// The configuration before any option is applied: the values of absent options. Every other
/// field is overwritten by its option's default.
pub(super) fn unset() -> Config {
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database: DatabaseConfig {
            url: DatabaseUrl::new(DEFAULT_DATABASE_URL),
            replica_url: None,
            max_connections: 0,
            min_connections: 0,
            acquire_timeout: Duration::ZERO,
            idle_timeout: Duration::ZERO,
            max_lifetime: Duration::ZERO,
            replica_timeout: Duration::ZERO,
            feed_cache_ttl: Duration::ZERO,
            session_cache_ttl: Duration::ZERO,
        },
        session: SessionConfig {
            idle_timeout: Duration::ZERO,
            lifetime: Duration::ZERO,
        },
        trusted_proxies: Vec::new(),
        client_address_header: None,
        log: LogConfig {
            format: LogFormat::Text,
            filter: String::new(),
        },
        shutdown_grace: Duration::ZERO,
        request_timeout: Duration::ZERO,
        header_read_timeout: Duration::ZERO,
        idle_timeout: Duration::ZERO,
        password_queue: 0,
        sample_news: false,
        migrate_on_start: false,
        metrics_listen: None,
        shared_dir: None,
        media_private_addresses: false,
        ingest: IngestConfig {
            enabled: false,
            interval: Duration::ZERO,
            mediastack_access_key: None,
            mediastack_base_url: String::new(),
            mediastack_monthly_budget: 0,
            mediastack_filter: FeedFilter::default(),
            feeds: Vec::new(),
            retention_days: 0,
        },
        throttle: ThrottleConfig {
            login_per_account: NO_LIMIT,
            login_per_address: NO_LIMIT,
            register_per_address: NO_LIMIT,
        },
        aws: AwsConfig::default(),
    }
}

const NO_LIMIT: Limit = Limit {
    max: 0,
    window: Duration::ZERO,
};

use DefaultValue::{Absent, Computed, Text};

/// In the order of `check-config`'s lines and of the problems reported; an option's computed
/// default sees only the options above it.
pub(super) const OPTIONS: &[Opt] = &[
    Opt {
        name: "NEWSREAD_CONFIG_FILE",
        secret: false,
        default: Absent("none"),
        doc: "file of `NAME=value` settings under the environment",
        set: None,
        show: None,
    },
    Opt {
        name: "NEWSREAD_LISTEN",
        secret: false,
        default: Text("127.0.0.1:5000"),
        doc: "address to serve on (`--listen` overrides)",
        set: Some(|c, v| put(&mut c.listen, address(v, "127.0.0.1:5000 or 0.0.0.0:5000"))),
        show: Some(|c| c.listen.to_string()),
    },
    Opt {
        name: "NEWSREAD_DATABASE_URL",
        secret: true,
        default: Text(DEFAULT_DATABASE_URL),
        doc: "primary database, see above",
        set: Some(|c, v| put(&mut c.database.url, database_url(v))),
        show: Some(|c| c.database.url.redacted()),
    },
    Opt {
        name: "NEWSREAD_DATABASE_REPLICA_URL",
        secret: true,
        default: Absent("none"),
        doc: "read replica for lag-tolerant reads",
        set: Some(|c, v| put(&mut c.database.replica_url, database_url(v).map(Some))),
        show: Some(|c| {
            c.database
                .replica_url
                .as_ref()
                .map(DatabaseUrl::redacted)
                .unwrap_or_default()
        }),
    },
    Opt {
        name: "NEWSREAD_DATABASE_MAX_CONNECTIONS",
        secret: false,
        // SQLite has one writer and readers bound by cores; each connection is a thread with
        // its own page cache, so a small pool is faster and leaner (bench/README.md).
        // By the dialect, which ignores the scheme's case, like the connection itself does.
        default: Computed("`4` on SQLite, else `10`", |c| {
            let sqlite = Dialect::from_url(c.database.url.expose()) == Ok(Dialect::Sqlite);
            if sqlite { "4" } else { "10" }.to_owned()
        }),
        doc: "pool size, per pool",
        set: Some(|c, v| put(&mut c.database.max_connections, number(v, 1..=1000))),
        show: Some(|c| c.database.max_connections.to_string()),
    },
    Opt {
        name: "NEWSREAD_DATABASE_MIN_CONNECTIONS",
        secret: false,
        default: Text("0"),
        doc: "connections kept open when idle",
        set: Some(|c, v| put(&mut c.database.min_connections, number(v, 0..=1000))),
        show: Some(|c| c.database.min_connections.to_string()),
    },
    Opt {
        name: "NEWSREAD_DATABASE_ACQUIRE_TIMEOUT",
        secret: false,
        default: Text("3s"),
        doc: "longest wait for a connection before 503",
        set: Some(|c, v| put(&mut c.database.acquire_timeout, parse_duration(v))),
        show: Some(|c| format_duration(c.database.acquire_timeout)),
    },
    Opt {
        name: "NEWSREAD_DATABASE_IDLE_TIMEOUT",
        secret: false,
        default: Text("10m"),
        doc: "idle connections are closed after this",
        set: Some(|c, v| put(&mut c.database.idle_timeout, parse_duration(v))),
        show: Some(|c| format_duration(c.database.idle_timeout)),
    },
    Opt {
        name: "NEWSREAD_DATABASE_MAX_LIFETIME",
        secret: false,
        default: Text("30m"),
        doc: "connections are recycled after this (follows DNS failovers)",
        set: Some(|c, v| put(&mut c.database.max_lifetime, parse_duration(v))),
        show: Some(|c| format_duration(c.database.max_lifetime)),
    },
    Opt {
        name: "NEWSREAD_DATABASE_REPLICA_TIMEOUT",
        secret: false,
        default: Text("800ms"),
        doc: "a replica read slower than this is retried on the primary",
        set: Some(|c, v| put(&mut c.database.replica_timeout, parse_duration(v))),
        show: Some(|c| format_duration(c.database.replica_timeout)),
    },
    Opt {
        name: "NEWSREAD_FEED_CACHE_TTL",
        secret: false,
        default: Text("1s"),
        doc: "how long a feed or search page read from the database is shared by readers with \
              the same selection (and search terms) (`0s`: never; at most `60s`); an instance \
              drops its pages when it writes articles, other instances within this TTL",
        set: Some(|c, v| put(&mut c.database.feed_cache_ttl, parse_duration(v))),
        show: Some(|c| format_duration(c.database.feed_cache_ttl)),
    },
    Opt {
        name: "NEWSREAD_SESSION_CACHE_TTL",
        secret: false,
        default: Text("1s"),
        doc: "how long a session (with the reader's selection) read from the database answers \
              for the same cookie on this instance (`0s`: never; at most `1s`). A logout, a \
              password change or a saved selection takes effect at once on the instance that \
              made it and within this TTL on every other",
        set: Some(|c, v| put(&mut c.database.session_cache_ttl, parse_duration(v))),
        show: Some(|c| format_duration(c.database.session_cache_ttl)),
    },
    Opt {
        name: "NEWSREAD_SESSION_IDLE_TIMEOUT",
        secret: false,
        default: Text("7d"),
        doc: "a session unused this long ends",
        set: Some(|c, v| put(&mut c.session.idle_timeout, parse_duration(v))),
        show: Some(|c| format_duration(c.session.idle_timeout)),
    },
    Opt {
        name: "NEWSREAD_SESSION_LIFETIME",
        secret: false,
        default: Text("30d"),
        doc: "absolute session lifetime",
        set: Some(|c, v| put(&mut c.session.lifetime, parse_duration(v))),
        show: Some(|c| format_duration(c.session.lifetime)),
    },
    Opt {
        name: "NEWSREAD_TRUSTED_PROXIES",
        secret: false,
        default: Absent("none"),
        doc: "CIDRs whose `X-Forwarded-For`/`X-Forwarded-Proto` are believed (addresses are \
              compared in canonical form: `::ffff:a.b.c.d` from a dual-stack listener is IPv4)",
        set: Some(|c, v| put(&mut c.trusted_proxies, parse_cidrs(v))),
        show: Some(|c| {
            c.trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }),
    },
    Opt {
        name: "NEWSREAD_CLIENT_ADDRESS_HEADER",
        secret: false,
        default: Absent("none"),
        doc: "a header that a trusted proxy sets to the client's address, e.g. \
              `CloudFront-Viewer-Address` (`address:port`); read only on requests from \
              `NEWSREAD_TRUSTED_PROXIES`, else the `X-Forwarded-For` rules apply. Behind \
              CloudFront without it, every viewer behind one edge server shares one throttling \
              bucket",
        set: Some(|c, v| put(&mut c.client_address_header, header_name(v).map(Some))),
        show: Some(|c| c.client_address_header.clone().unwrap_or_default()),
    },
    Opt {
        name: "NEWSREAD_LOG_FORMAT",
        secret: false,
        default: Text("text"),
        doc: "`text` or `json`",
        set: Some(|c, v| put(&mut c.log.format, log_format(v))),
        show: Some(|c| match c.log.format {
            LogFormat::Text => "text".to_owned(),
            LogFormat::Json => "json".to_owned(),
        }),
    },
    Opt {
        name: "NEWSREAD_LOG",
        secret: false,
        default: Text("info"),
        doc: "log filter, e.g. `debug` or `info,newsread=debug`",
        set: Some(|c, v| put(&mut c.log.filter, Ok(v.to_owned()))),
        show: Some(|c| c.log.filter.clone()),
    },
    Opt {
        name: "NEWSREAD_SHUTDOWN_GRACE",
        secret: false,
        default: Text("20s"),
        doc: "on SIGTERM/SIGINT, `/readyz` answers 503 this long before the listener closes",
        set: Some(|c, v| put(&mut c.shutdown_grace, parse_duration(v))),
        show: Some(|c| format_duration(c.shutdown_grace)),
    },
    Opt {
        name: "NEWSREAD_REQUEST_TIMEOUT",
        secret: false,
        default: Text("30s"),
        doc: "a request taking longer is answered 503",
        set: Some(|c, v| put(&mut c.request_timeout, parse_duration(v))),
        show: Some(|c| format_duration(c.request_timeout)),
    },
    Opt {
        name: "NEWSREAD_HEADER_READ_TIMEOUT",
        secret: false,
        default: Text("10s"),
        doc: "a client must send a request's headers within this (from connecting, or from the \
              first byte of a request on a kept-alive connection), or the connection is closed",
        set: Some(|c, v| put(&mut c.header_read_timeout, parse_duration(v))),
        show: Some(|c| format_duration(c.header_read_timeout)),
    },
    Opt {
        name: "NEWSREAD_IDLE_TIMEOUT",
        secret: false,
        // Longer than the load balancer's own idle timeout (60 s on an AWS ALB): the balancer
        // must be the one to close an idle connection, or it may send a request on a
        // connection the instance is closing at that moment, and answer 502.
        default: Text("75s"),
        doc: "a kept-alive connection idle this long is closed; keep it longer than the load \
              balancer's idle timeout (60 s on an AWS ALB), or the balancer may reuse a closing \
              connection and answer 502",
        set: Some(|c, v| put(&mut c.idle_timeout, parse_duration(v))),
        show: Some(|c| format_duration(c.idle_timeout)),
    },
    Opt {
        name: "NEWSREAD_PASSWORD_QUEUE",
        secret: false,
        default: Computed("4 × hashing threads (half the cores)", |_| {
            crate::password::default_queue().to_string()
        }),
        doc: "logins and registrations waiting for a password hash; when full they are \
              answered 503 with `Retry-After` at once",
        set: Some(|c, v| put(&mut c.password_queue, number(v, 1..=100_000))),
        show: Some(|c| c.password_queue.to_string()),
    },
    Opt {
        name: "NEWSREAD_SAMPLE_NEWS",
        secret: false,
        default: Text("on"),
        doc: "load the bundled sample articles into an empty database",
        set: Some(|c, v| put(&mut c.sample_news, switch(v))),
        show: Some(|c| on_off(c.sample_news)),
    },
    Opt {
        name: "NEWSREAD_MIGRATE_ON_START",
        secret: false,
        default: Text("on"),
        doc: "`serve` applies migrations at start; `off` where servers may not run DDL: \
              `serve` waits (up to 10 min) until `newsread migrate` has applied every \
              migration it knows",
        set: Some(|c, v| put(&mut c.migrate_on_start, switch(v))),
        show: Some(|c| on_off(c.migrate_on_start)),
    },
    Opt {
        name: "NEWSREAD_METRICS_LISTEN",
        secret: false,
        default: Absent("off"),
        doc: "address for Prometheus `/metrics`, e.g. `127.0.0.1:9464`; never the public port",
        set: Some(|c, v| {
            put(
                &mut c.metrics_listen,
                address(v, "127.0.0.1:9464").map(Some),
            )
        }),
        show: Some(|c| c.metrics_listen.map(|a| a.to_string()).unwrap_or_default()),
    },
    Opt {
        name: "NEWSREAD_SHARED_DIR",
        secret: false,
        default: Absent("none"),
        doc: "directory shared by all instances (EFS on AWS) for the article image cache; \
              without it, cards link images at their source",
        set: Some(|c, v| put(&mut c.shared_dir, Ok(Some(v.into())))),
        show: Some(|c| {
            c.shared_dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        }),
    },
    Opt {
        name: "NEWSREAD_MEDIA_PRIVATE_ADDRESSES",
        secret: false,
        default: Text("off"),
        doc: "let the image cache fetch from private/loopback addresses (local setups only)",
        set: Some(|c, v| put(&mut c.media_private_addresses, switch(v))),
        show: Some(|c| on_off(c.media_private_addresses)),
    },
    Opt {
        name: "NEWSREAD_INGEST",
        secret: false,
        default: Text("on"),
        doc: "run the ingestion scheduler inside `serve` on this instance (a database lease \
              still lets only one instance fetch per cycle)",
        set: Some(|c, v| put(&mut c.ingest.enabled, switch(v))),
        show: Some(|c| on_off(c.ingest.enabled)),
    },
    Opt {
        name: "NEWSREAD_INGEST_INTERVAL",
        secret: false,
        default: Text("15m"),
        doc: "time between ingestion cycles (counted in whole seconds), e.g. `3s`, `15m`, `1h`",
        set: Some(|c, v| put(&mut c.ingest.interval, parse_duration(v))),
        show: Some(|c| format_duration(c.ingest.interval)),
    },
    Opt {
        name: "NEWSREAD_MEDIASTACK_ACCESS_KEY",
        secret: true,
        default: Absent("none"),
        doc: "mediastack API key; turns the mediastack source on",
        set: Some(|c, v| {
            put(
                &mut c.ingest.mediastack_access_key,
                Ok(Some(Secret::new(v.to_owned()))),
            )
        }),
        show: Some(|c| {
            c.ingest
                .mediastack_access_key
                .as_ref()
                .map(|k| k.to_string())
                .unwrap_or_default()
        }),
    },
    Opt {
        name: "NEWSREAD_MEDIASTACK_BASE_URL",
        secret: false,
        default: Text("http://api.mediastack.com/v1"),
        doc: "mediastack endpoint (`/news` is appended)",
        set: Some(|c, v| put(&mut c.ingest.mediastack_base_url, parse_http_url(v))),
        show: Some(|c| c.ingest.mediastack_base_url.clone()),
    },
    Opt {
        name: "NEWSREAD_MEDIASTACK_MONTHLY_BUDGET",
        secret: false,
        default: Text("100"),
        doc: "mediastack requests per calendar month (UTC), never exceeded, spread over the \
              month",
        set: Some(|c, v| {
            put(
                &mut c.ingest.mediastack_monthly_budget,
                number(v, 1..=1_000_000),
            )
        }),
        show: Some(|c| c.ingest.mediastack_monthly_budget.to_string()),
    },
    Opt {
        name: "NEWSREAD_MEDIASTACK_COUNTRIES",
        secret: false,
        default: Absent("all"),
        doc: "comma-separated country codes to ask mediastack for, e.g. `us,gb`",
        set: Some(|c, v| add_to_filter(c, Dimension::Country, v)),
        show: Some(|c| c.ingest.mediastack_filter.stored(Dimension::Country)),
    },
    Opt {
        name: "NEWSREAD_MEDIASTACK_LANGUAGES",
        secret: false,
        default: Absent("all"),
        doc: "comma-separated language codes to ask mediastack for, e.g. `en,fr`",
        set: Some(|c, v| add_to_filter(c, Dimension::Language, v)),
        show: Some(|c| c.ingest.mediastack_filter.stored(Dimension::Language)),
    },
    Opt {
        name: "NEWSREAD_MEDIASTACK_CATEGORIES",
        secret: false,
        default: Absent("all"),
        doc: "comma-separated categories to ask mediastack for, e.g. `business,sports`",
        set: Some(|c, v| add_to_filter(c, Dimension::Category, v)),
        show: Some(|c| c.ingest.mediastack_filter.stored(Dimension::Category)),
    },
    Opt {
        name: "NEWSREAD_FEEDS",
        secret: false,
        default: Absent("none"),
        doc: "RSS 2.0, Atom or JSON Feed URLs separated by `;` or newlines, each optionally \
              tagged: `https://a.example/rss country=ng language=en category=sports`",
        set: Some(|c, v| put(&mut c.ingest.feeds, parse_feeds(v))),
        show: Some(|c| {
            c.ingest
                .feeds
                .iter()
                .map(describe_feed)
                .collect::<Vec<_>>()
                .join("; ")
        }),
    },
    Opt {
        name: "NEWSREAD_RETENTION_DAYS",
        secret: false,
        default: Text("30"),
        doc: "articles published longer ago are deleted, unless a reader saved them (and not ingested)",
        set: Some(|c, v| put(&mut c.ingest.retention_days, number(v, 1..=36_500))),
        show: Some(|c| c.ingest.retention_days.to_string()),
    },
    Opt {
        name: "NEWSREAD_THROTTLE_LOGIN_ACCOUNT",
        secret: false,
        default: Text("10/15m"),
        doc: "login attempts per account (its username and email count as one), counted \
              before the password is checked, so parallel guesses cannot pass it; a browser \
              that logged in to the account before (device cookie) is counted on its own, so \
              failures from elsewhere cannot lock the owner out",
        set: Some(|c, v| put(&mut c.throttle.login_per_account, parse_limit(v))),
        show: Some(|c| describe_limit(c.throttle.login_per_account)),
    },
    Opt {
        name: "NEWSREAD_THROTTLE_LOGIN_ADDRESS",
        secret: false,
        default: Text("50/15m"),
        doc: "login attempts per client address (IPv6 per /64)",
        set: Some(|c, v| put(&mut c.throttle.login_per_address, parse_limit(v))),
        show: Some(|c| describe_limit(c.throttle.login_per_address)),
    },
    Opt {
        name: "NEWSREAD_THROTTLE_REGISTER_ADDRESS",
        secret: false,
        default: Text("10/1h"),
        doc: "registrations per client address",
        set: Some(|c, v| put(&mut c.throttle.register_per_address, parse_limit(v))),
        show: Some(|c| describe_limit(c.throttle.register_per_address)),
    },
    Opt {
        name: "NEWSREAD_DATABASE_SECRET_ARN",
        secret: false,
        default: Absent("none"),
        doc: "AWS Secrets Manager secret `{\"username\",\"password\"}` whose credentials go into \
              the database URLs (on AWS: the app's own least-privilege role; re-read when the \
              database refuses them)",
        set: Some(|c, v| put(&mut c.aws.database_secret_arn, Ok(Some(v.to_owned())))),
        show: Some(|c| c.aws.database_secret_arn.clone().unwrap_or_default()),
    },
    Opt {
        name: "NEWSREAD_DATABASE_ADMIN_SECRET_ARN",
        secret: false,
        default: Absent("none"),
        doc: "the RDS-managed master secret: `newsread migrate` connects with it and creates or \
              updates the role of `NEWSREAD_DATABASE_SECRET_ARN` (SELECT/INSERT/UPDATE/DELETE \
              only); `rotate-db-credential` uses both. `serve` never reads it",
        set: Some(|c, v| put(&mut c.aws.database_admin_secret_arn, Ok(Some(v.to_owned())))),
        show: Some(|c| c.aws.database_admin_secret_arn.clone().unwrap_or_default()),
    },
    Opt {
        name: "NEWSREAD_MEDIASTACK_SECRET_ARN",
        secret: false,
        default: Absent("none"),
        doc: "secret holding the mediastack key (plain, or `{\"access_key\": ...}`)",
        set: Some(|c, v| put(&mut c.aws.mediastack_secret_arn, Ok(Some(v.to_owned())))),
        show: Some(|c| c.aws.mediastack_secret_arn.clone().unwrap_or_default()),
    },
];

/// The option of that name.
pub(super) fn find(name: &str) -> Option<&'static Opt> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// Stores a parsed value; an invalid one leaves the field as it was (its default).
fn put<T>(slot: &mut T, value: Result<T, String>) -> Result<(), String> {
    *slot = value?;
    Ok(())
}

fn address(v: &str, example: &str) -> Result<SocketAddr, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("`{v}` is not an address such as {example}"))
}

fn database_url(v: &str) -> Result<DatabaseUrl, String> {
    Dialect::from_url(v)?;
    Ok(DatabaseUrl::new(v))
}

fn number(v: &str, range: RangeInclusive<u32>) -> Result<u32, String> {
    match v.trim().parse::<u32>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "`{v}` is not a whole number from {} to {}",
            range.start(),
            range.end()
        )),
    }
}

fn switch(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Ok(true),
        "off" | "false" | "0" | "no" => Ok(false),
        _ => Err(format!("`{v}` is not on or off")),
    }
}

fn on_off(b: bool) -> String {
    if b { "on" } else { "off" }.to_owned()
}

fn header_name(v: &str) -> Result<String, String> {
    let name = v.trim().to_ascii_lowercase();
    axum::http::HeaderName::from_bytes(name.as_bytes())
        .map(|_| name)
        .map_err(|_| format!("`{v}` is not an HTTP header name"))
}

fn log_format(v: &str) -> Result<LogFormat, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("`{v}` is not `text` or `json`")),
    }
}

fn add_to_filter(c: &mut Config, d: Dimension, v: &str) -> Result<(), String> {
    let filter = &mut c.ingest.mediastack_filter;
    filter.add(d, v).map_err(|e| e.to_string())?;
    filter.normalize();
    // International and unknown are ours: mediastack has no such code.
    if let Some(own) = filter.get(d).iter().find(|c| d.own_codes().contains(c)) {
        return Err(format!(
            "`{own}` is NewsRead's own code, not one mediastack knows"
        ));
    }
    Ok(())
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
    use std::collections::BTreeMap;

    use super::*;

    const README: &str = include_str!("../../README.md");
    const HEADER: &str = "| variable | default | meaning |";

    /// The table row the README should have for an option.
    fn row(opt: &Opt) -> String {
        let mark = if opt.secret { " (secret)" } else { "" };
        format!(
            "| `{}`{mark} | {} | {} |",
            opt.name,
            opt.default_text(),
            opt.doc
        )
    }

    /// Where the README's configuration table differs from [`OPTIONS`], one line each.
    fn readme_problems(readme: &str) -> Vec<String> {
        let mut problems = Vec::new();
        let mut lines = readme.lines().skip_while(|l| l.trim() != HEADER).skip(2);
        let mut documented = BTreeMap::new();
        for line in lines.by_ref().take_while(|l| l.starts_with('|')) {
            let cells: Vec<&str> = line
                .strip_prefix("| ")
                .and_then(|l| l.strip_suffix(" |"))
                .map(|l| l.splitn(3, " | ").collect())
                .unwrap_or_default();
            let &[name_cell, default, meaning] = cells.as_slice() else {
                problems.push(format!("not a row of three cells: {line}"));
                continue;
            };
            let parsed = name_cell
                .strip_prefix('`')
                .and_then(|c| c.split_once('`'))
                .and_then(|(name, mark)| match mark {
                    "" => Some((name, false)),
                    " (secret)" => Some((name, true)),
                    _ => None,
                })
                .filter(|(name, _)| !name.contains(['`', ',', ' ']));
            let Some((name, secret)) = parsed else {
                problems.push(format!(
                    "`{name_cell}` is not one option, as `NAME` or `NAME` (secret)"
                ));
                continue;
            };
            if documented
                .insert(name, (secret, default, meaning, line))
                .is_some()
            {
                problems.push(format!("{name} has two rows"));
            }
        }
        if documented.is_empty() {
            problems.push(format!("no table under `{HEADER}`"));
        }
        for opt in OPTIONS {
            match documented.remove(opt.name) {
                None => problems.push(format!("{} is missing; add:\n{}", opt.name, row(opt))),
                Some((secret, default, meaning, line)) => {
                    if (secret, default, meaning) != (opt.secret, &*opt.default_text(), opt.doc) {
                        problems.push(format!(
                            "{} differs from the code:\n  README: {line}\n  code:   {}",
                            opt.name,
                            row(opt)
                        ));
                    }
                }
            }
        }
        for name in documented.keys() {
            problems.push(format!("{name} is documented but is not an option"));
        }
        problems
    }

    #[test]
    fn the_readme_documents_every_option_as_the_code_has_it() {
        let problems = readme_problems(README);
        assert!(
            problems.is_empty(),
            "README.md's configuration table (rows may be in any order; the meaning is \
             `doc` in src/config/options.rs):\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn readme_drift_is_caught() {
        let drifts: [(&str, &str, &str); 6] = [
            (
                "a missing option",
                "| `NEWSREAD_RETENTION_DAYS` | `30` | articles published longer ago are deleted, unless a reader saved them (and not ingested) |\n",
                "",
            ),
            ("another default", "| `NEWSREAD_SHUTDOWN_GRACE` | `20s` |", "| `NEWSREAD_SHUTDOWN_GRACE` | `25s` |"),
            ("an unmarked secret", "| `NEWSREAD_DATABASE_URL` (secret) |", "| `NEWSREAD_DATABASE_URL` |"),
            ("a marked non-secret", "| `NEWSREAD_LISTEN` |", "| `NEWSREAD_LISTEN` (secret) |"),
            (
                "an unknown option",
                "| `NEWSREAD_LISTEN` |",
                "| `NEWSREAD_LISTN` | none | typo |\n| `NEWSREAD_LISTEN` |",
            ),
            (
                "options sharing a row",
                "| `NEWSREAD_MEDIASTACK_COUNTRIES` |",
                "| `NEWSREAD_MEDIASTACK_COUNTRIES`, `_LANGUAGES` |",
            ),
        ];
        for (what, from, to) in drifts {
            assert!(README.contains(from), "{what}: the README has no `{from}`");
            let drifted = README.replacen(from, to, 1);
            assert!(
                !readme_problems(&drifted).is_empty(),
                "{what} is not caught"
            );
        }
    }

    #[test]
    fn defaults_print_as_documented() {
        let config = Config::from_vars(BTreeMap::new()).expect("the defaults are valid");
        for opt in OPTIONS {
            let Some(show) = opt.show else { continue };
            let shown = show(&config);
            match opt.default {
                Text(text) => assert_eq!(shown, text, "{}", opt.name),
                Absent(_) => assert_eq!(shown, "", "{}", opt.name),
                Computed(_, compute) => assert_eq!(shown, compute(&config), "{}", opt.name),
            }
        }
    }

    #[test]
    fn check_config_never_prints_a_secret() {
        let vars = [
            (
                "NEWSREAD_DATABASE_URL",
                "postgres://app:S3cr3t@db.internal/news",
            ),
            (
                "NEWSREAD_DATABASE_REPLICA_URL",
                "postgres://app:S3cr3t@replica.internal/news",
            ),
            ("NEWSREAD_MEDIASTACK_ACCESS_KEY", "S3cr3t"),
        ];
        for (name, _) in vars {
            assert!(find(name).is_some_and(|o| o.secret), "{name}");
        }
        let config = Config::from_vars(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
        .expect("valid");
        let shown = config.describe();
        assert!(!shown.contains("S3cr3t"), "{shown}");
        assert!(shown.contains("@db.internal/news\n"), "{shown}");
    }
}
