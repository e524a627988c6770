//! News ingestion against fake upstreams: an HTTP server on port 0, started by each test,
//! serving the fixtures in tests/fixtures/ingest (mediastack pages and errors, RSS, Atom,
//! JSON Feed) and every bad case the issue lists, counting what was requested.
mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use common::*;
use futures_util::StreamExt as _;
use newsread::config::{Config, FeedSource};
use newsread::domain::article::Article;
use newsread::domain::feed::FeedFilter;
use newsread::ingest::{CycleReport, HttpLimits, Ingester, Scheduler, SourceReport, Status, Tick};
use newsread::secret::Secret;
use newsread::storage::Db;
use newsread::telemetry::Metrics;

const BIN: &str = env!("CARGO_BIN_EXE_newsread");
const KEY: &str = "s3cret-mediastack-key";

/// 2030-06-15T12:00:00Z: a fixed "now" for cycles whose outcome depends on the date.
const NOW: i64 = 1_907_755_200;
/// June 2030 (30 days) and July.
const JUNE: i64 = 1_906_502_400;
const JULY: i64 = 1_909_094_400;

// ---------------------------------------------------------------------------------------
// The fake upstream

/// What a route answers; a route's replies are used in order, the last one repeats.
#[derive(Clone)]
enum Reply {
    /// A fixture (dates templated) or literal body.
    Body {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// 200 with validators, or 304 when the request presents them.
    Conditional {
        etag: Option<String>,
        last_modified: Option<String>,
        body: Vec<u8>,
    },
    /// Never answers.
    Stall,
    /// Sends the headers and a few bytes, then nothing.
    StallBody,
    /// `n` bytes, streamed without a Content-Length.
    HugeChunked(usize),
    /// `n` bytes with a Content-Length.
    Huge(usize),
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/ingest/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

fn ok(name: &str) -> Reply {
    Reply::Body {
        status: 200,
        headers: vec![],
        body: fixture(name),
    }
}

fn status(code: u16, body: &[u8], headers: Vec<(&'static str, String)>) -> Reply {
    Reply::Body {
        status: code,
        headers,
        body: body.to_vec(),
    }
}

/// One request the fake received.
#[derive(Clone, Debug)]
struct Hit {
    path: String,
    query: String,
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
    at: Instant,
}

#[derive(Default)]
struct FakeState {
    routes: HashMap<String, Vec<Reply>>,
    hits: Vec<Hit>,
}

#[derive(Clone)]
struct Fake {
    addr: SocketAddr,
    state: Arc<Mutex<FakeState>>,
    /// Dates in fixtures are relative to this (0: the real time).
    now: Arc<AtomicI64>,
}

impl Fake {
    async fn start() -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = Fake {
            addr: listener.local_addr().unwrap(),
            state: Arc::default(),
            now: Arc::default(),
        };
        let app = axum::Router::new()
            .fallback(serve_fake)
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn route(&self, path: &str, replies: Vec<Reply>) {
        assert!(!replies.is_empty());
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_owned(), replies);
    }

    fn set_now(&self, now: i64) {
        self.now.store(now, Ordering::SeqCst);
    }

    fn hits(&self, path: &str) -> Vec<Hit> {
        self.state
            .lock()
            .unwrap()
            .hits
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }

    fn count(&self, path: &str) -> usize {
        self.hits(path).len()
    }
}

/// Replaces `{{rfc3339:N}}` / `{{rfc2822:N}}` with `now + N minutes`.
fn render(body: &[u8], now: i64) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(body) else {
        return body.to_vec();
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closed template") + start;
        let (fmt, minutes) = rest[start + 2..end].split_once(':').expect("fmt:minutes");
        let minutes: i64 = minutes.parse().expect("minutes");
        let t = time::OffsetDateTime::from_unix_timestamp(now + minutes * 60).unwrap();
        out.push_str(&match fmt {
            "rfc3339" => t
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap(),
            "rfc2822" => t
                .format(&time::format_description::well_known::Rfc2822)
                .unwrap(),
            other => panic!("unknown date format {other}"),
        });
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out.into_bytes()
}

async fn serve_fake(State(fake): State<Fake>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let headers: &HeaderMap = request.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let hit = Hit {
        path: path.clone(),
        query: query.clone(),
        if_none_match: header("if-none-match"),
        if_modified_since: header("if-modified-since"),
        at: Instant::now(),
    };
    let offset = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("offset="))
        .unwrap_or("0")
        .to_owned();
    let reply = {
        let mut state = fake.state.lock().unwrap();
        state.hits.push(hit.clone());
        // mediastack pages: `/path@offset` routes win over `/path`.
        let key = [format!("{path}@{offset}"), path.clone()]
            .into_iter()
            .find(|k| state.routes.contains_key(k));
        key.and_then(|k| {
            let replies = state.routes.get_mut(&k)?;
            Some(if replies.len() > 1 {
                replies.remove(0)
            } else {
                replies[0].clone()
            })
        })
    };
    let now = match fake.now.load(Ordering::SeqCst) {
        0 => newsread::clock::unix_now(),
        n => n,
    };
    let builder = Response::builder();
    match reply {
        None => builder
            .status(404)
            .body(Body::from("no such route"))
            .unwrap(),
        Some(Reply::Body {
            status,
            headers,
            body,
        }) => {
            let mut b = builder.status(status);
            for (k, v) in headers {
                b = b.header(k, v);
            }
            b.body(Body::from(render(&body, now))).unwrap()
        }
        Some(Reply::Conditional {
            etag,
            last_modified,
            body,
        }) => {
            let etag_matches = etag.is_some() && hit.if_none_match == etag;
            let date_matches = hit.if_none_match.is_none()
                && last_modified.is_some()
                && hit.if_modified_since == last_modified;
            let mut b = builder;
            if let Some(e) = &etag {
                b = b.header("etag", e);
            }
            if let Some(lm) = &last_modified {
                b = b.header("last-modified", lm);
            }
            if etag_matches || date_matches {
                b.status(304).body(Body::empty()).unwrap()
            } else {
                b.status(200).body(Body::from(render(&body, now))).unwrap()
            }
        }
        Some(Reply::Stall) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            builder.status(200).body(Body::empty()).unwrap()
        }
        Some(Reply::StallBody) => {
            let stream = futures_util::stream::once(async {
                Ok::<_, std::io::Error>(Bytes::from_static(b"<rss><channel>"))
            })
            .chain(futures_util::stream::pending());
            builder.status(200).body(Body::from_stream(stream)).unwrap()
        }
        Some(Reply::HugeChunked(n)) => {
            let chunk = Bytes::from(vec![b'<'; 64 * 1024]);
            let stream = futures_util::stream::iter(
                (0..n.div_ceil(chunk.len())).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
            );
            builder.status(200).body(Body::from_stream(stream)).unwrap()
        }
        Some(Reply::Huge(n)) => builder.status(200).body(Body::from(vec![b' '; n])).unwrap(),
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

/// A config for ingestion tests: scheduler off (tests drive cycles), no replica (tests read
/// back what they stored at once), no sample news unless asked.
fn config_for(database: &TestDatabase) -> Config {
    let mut config = test_config(database);
    config.database.replica_url = None;
    config.ingest.enabled = false;
    config.sample_news = false;
    config
}

fn feed(url: String) -> FeedSource {
    FeedSource {
        url,
        country: None,
        language: None,
        category: None,
    }
}

fn tagged(
    url: String,
    country: Option<&'static str>,
    language: Option<&'static str>,
    category: Option<&'static str>,
) -> FeedSource {
    FeedSource {
        url,
        country,
        language,
        category,
    }
}

/// Short limits so that a stalled upstream costs the test about a second.
fn test_limits() -> HttpLimits {
    HttpLimits {
        connect_timeout: Duration::from_secs(2),
        total_timeout: Duration::from_millis(1500),
        ..HttpLimits::default()
    }
}

struct Setup {
    db: Db,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    _database: TestDatabase,
}

impl Setup {
    async fn new(tweak: impl FnOnce(&mut Config)) -> Setup {
        let database = fresh_database().await;
        let mut config = config_for(&database);
        tweak(&mut config);
        let db = Db::connect(&config.database).expect("connect");
        db.migrate().await.expect("migrate");
        Setup {
            db,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::new()),
            _database: database,
        }
    }

    /// A fresh ingester, as a new process (or another instance) would build it.
    fn ingester(&self) -> Ingester {
        Ingester::with_limits(
            self.db.clone(),
            self.config.clone(),
            self.metrics.clone(),
            test_limits(),
        )
        .expect("ingester")
    }

    async fn cycle(&self, now: i64) -> CycleReport {
        self.ingester().run_cycle(now).await
    }

    async fn articles(&self) -> Vec<Article> {
        self.db
            .feed_page(&FeedFilter::default(), None, 5000)
            .await
            .expect("feed page")
            .articles
            .clone()
    }

    async fn article(&self, url: &str) -> Article {
        self.articles()
            .await
            .into_iter()
            .find(|a| a.url == url)
            .unwrap_or_else(|| panic!("no article {url}"))
    }
}

fn source<'a>(report: &'a CycleReport, name: &str) -> &'a SourceReport {
    report
        .source(name)
        .unwrap_or_else(|| panic!("no source {name} in\n{report}"))
}

fn skipped(s: &SourceReport, reason: &str) -> u64 {
    s.skipped.get(reason).copied().unwrap_or(0)
}

fn mediastack(fake: &Fake, budget: u32) -> impl FnOnce(&mut Config) + '_ {
    move |c: &mut Config| {
        c.ingest.mediastack_access_key = Some(Secret::new(KEY.to_owned()));
        c.ingest.mediastack_base_url = fake.url("/ms/v1");
        c.ingest.mediastack_monthly_budget = budget;
    }
}

const MS: &str = "/ms/v1/news";

// ---------------------------------------------------------------------------------------
// mediastack

#[tokio::test]
async fn mediastack_pages_are_stored_and_a_changed_title_updates() {
    let fake = Fake::start().await;
    fake.set_now(NOW);
    fake.route(
        &format!("{MS}@0"),
        vec![
            ok("mediastack_page1.json"),
            ok("mediastack_page1_updated.json"),
        ],
    );
    fake.route(&format!("{MS}@3"), vec![ok("mediastack_page2.json")]);
    let s = Setup::new(|c| {
        mediastack(&fake, 1000)(c);
        c.ingest
            .mediastack_filter
            .add(newsread::domain::vocab::Dimension::Country, "us,gb")
            .unwrap();
        c.ingest.mediastack_filter.normalize();
    })
    .await;

    let report = s.cycle(NOW).await;
    let ms = source(&report, "mediastack");
    assert_eq!(ms.status, Status::Ok, "{report}");
    assert_eq!(
        (ms.requests, ms.fetched, ms.added, ms.updated),
        (2, 5, 4, 0),
        "{report}"
    );
    assert_eq!(skipped(ms, "unknown country `xx`"), 1, "{report}");
    let hits = fake.hits(MS);
    assert_eq!(hits.len(), 2);
    for (hit, offset) in hits.iter().zip(["0", "3"]) {
        let q: HashMap<_, _> = url::form_urlencoded::parse(hit.query.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(q["access_key"], KEY);
        assert_eq!(q["countries"], "gb,us");
        assert_eq!(q["sort"], "published_desc");
        assert_eq!(q["limit"], "100");
        assert_eq!(q["offset"], offset);
        assert!(!q.contains_key("languages") && !q.contains_key("categories"));
    }

    let harbour = s.article("https://wire.example.com/world/1").await;
    assert_eq!(harbour.description, "The port & its cranes are back.");
    assert_eq!(
        (harbour.country.as_str(), harbour.category.as_str()),
        ("us", "general")
    );
    assert_eq!(
        harbour.image_url.as_deref(),
        Some("https://img.example.com/1.jpg")
    );
    assert_eq!(harbour.published_at, NOW - 30 * 60);
    assert_eq!(harbour.source, "Example Wire");
    let cup = s.article("https://wire.example.com/sport/3").await;
    assert_eq!(
        cup.image_url, None,
        "a javascript: image is dropped, the article kept"
    );
    assert_eq!(cup.author.as_deref(), Some("Sam Okafor"));

    // Next cycle: page 1 again with one changed title; not every item is new, so no paging.
    let report = s.cycle(NOW + 3600).await;
    let ms = source(&report, "mediastack");
    assert_eq!(
        (ms.requests, ms.fetched, ms.added, ms.updated),
        (1, 3, 0, 1),
        "{report}"
    );
    assert_eq!(skipped(ms, "unchanged"), 2);
    assert_eq!(fake.count(MS), 3);
    assert_eq!(
        s.article("https://wire.example.com/business/2").await.title,
        "Markets rally on rate cut hopes"
    );
    assert_eq!(s.articles().await.len(), 4);

    let mut metrics = String::new();
    s.metrics.render(&mut metrics);
    for line in [
        "newsread_ingest_articles_total{source=\"mediastack\",result=\"added\"} 4",
        "newsread_ingest_articles_total{source=\"mediastack\",result=\"updated\"} 1",
        "newsread_ingest_articles_total{source=\"mediastack\",result=\"fetched\"} 8",
        "newsread_ingest_last_success_timestamp_seconds{source=\"mediastack\"}",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
}

#[tokio::test]
async fn the_mediastack_budget_is_spread_over_the_month_and_shared_by_instances() {
    let fake = Fake::start().await;
    fake.route(MS, vec![ok("mediastack_page1_updated.json")]);
    let s = Setup::new(mediastack(&fake, 3)).await;
    // Budget 3 in a 30-day month: 1 request allowed from the start, 2 from day 10, 3 from day 20.
    let day = 86_400;
    let mut expected = 0;
    for (t, fetches) in [
        (JUNE + 3600, true),
        (JUNE + 2 * 3600, false),
        (JUNE + 9 * day, false),
        (JUNE + 10 * day + 60, true),
        (JUNE + 11 * day, false),
        (JUNE + 20 * day + 60, true),
        (JULY - 60, false),
        (JULY + 60, true),
        (JULY + 120, false),
    ] {
        fake.set_now(t);
        // Each cycle on a new ingester: a restart or another instance; the budget is in the
        // database, not in memory.
        let report = s.cycle(t).await;
        let ms = source(&report, "mediastack");
        if fetches {
            expected += 1;
            assert_eq!(ms.status, Status::Ok, "at {t}: {report}");
            assert_eq!(ms.requests, 1);
        } else {
            assert_eq!(ms.requests, 0, "at {t}: {report}");
            let Status::Skipped(why) = &ms.status else {
                panic!("at {t} expected a budget skip: {report}")
            };
            assert!(why.contains("request budget"), "{why}");
        }
        assert_eq!(fake.count(MS), expected, "at {t}");
    }
    // Page 1 says total 3, so paging is not what stopped anything; June spent exactly 3.
    assert_eq!(s.db.requests_used("mediastack", 203_006).await.unwrap(), 3);
    assert_eq!(s.db.requests_used("mediastack", 203_007).await.unwrap(), 1);
}

#[tokio::test]
async fn paging_stops_at_the_budget() {
    let fake = Fake::start().await;
    fake.set_now(NOW);
    fake.route(&format!("{MS}@0"), vec![ok("mediastack_page1.json")]);
    fake.route(&format!("{MS}@3"), vec![ok("mediastack_page2.json")]);
    let s = Setup::new(mediastack(&fake, 1)).await;
    let report = s.cycle(NOW).await;
    let ms = source(&report, "mediastack");
    assert_eq!(
        (ms.status.clone(), ms.requests, ms.added),
        (Status::Ok, 1, 3),
        "{report}"
    );
    assert!(
        report
            .to_string()
            .contains("stopped paging: request budget"),
        "{report}"
    );
    assert_eq!(fake.count(MS), 1);
}

#[tokio::test]
async fn usage_limit_reached_waits_for_the_next_month() {
    let fake = Fake::start().await;
    fake.route(
        MS,
        vec![
            status(429, &fixture("mediastack_usage_limit.json"), vec![]),
            ok("mediastack_page1_updated.json"),
        ],
    );
    let s = Setup::new(mediastack(&fake, 100)).await;
    fake.set_now(NOW);
    let report = s.cycle(NOW).await;
    let ms = source(&report, "mediastack");
    let Status::Failed(why) = &ms.status else {
        panic!("{report}")
    };
    assert!(why.contains("usage_limit_reached"), "{why}");
    assert!(why.contains("2030-07-01T00:00:00Z"), "{why}");
    assert!(report.failed());

    for t in [NOW + 60, NOW + 10 * 86_400, JULY - 1] {
        let report = s.cycle(t).await;
        let ms = source(&report, "mediastack");
        let Status::Skipped(why) = &ms.status else {
            panic!("{report}")
        };
        assert!(why.contains("usage limit"), "{why}");
        assert!(!report.failed(), "a deliberate skip is not a failure");
    }
    assert_eq!(fake.count(MS), 1);
    fake.set_now(JULY + 60);
    let report = s.cycle(JULY + 60).await;
    assert_eq!(source(&report, "mediastack").status, Status::Ok, "{report}");
    assert_eq!(fake.count(MS), 2);
}

#[tokio::test]
async fn rate_limits_and_http_429_honour_retry_after() {
    let fake = Fake::start().await;
    fake.set_now(NOW);
    fake.route(
        MS,
        vec![
            // mediastack's rate-limit error with Retry-After in seconds.
            status(
                429,
                &fixture("mediastack_rate_limit.json"),
                vec![("retry-after", "120".into())],
            ),
            // A bare 429 with an HTTP date.
            status(
                429,
                b"slow down",
                vec![("retry-after", "Sat, 15 Jun 2030 12:10:00 GMT".into())],
            ),
            ok("mediastack_page1_updated.json"),
        ],
    );
    fake.route(
        "/limited.xml",
        vec![
            status(429, b"", vec![("retry-after", "30".into())]),
            ok("rss.xml"),
        ],
    );
    let s = Setup::new(|c| {
        mediastack(&fake, 1000)(c);
        c.ingest.feeds = vec![tagged(fake.url("/limited.xml"), Some("ng"), None, None)];
    })
    .await;
    let feed_name = fake.url("/limited.xml");

    let r = s.cycle(NOW).await;
    assert!(
        matches!(&source(&r, "mediastack").status, Status::Failed(w) if w.contains("rate_limit_reached")),
        "{r}"
    );
    assert!(
        matches!(&source(&r, &feed_name).status, Status::Failed(w) if w.contains("429")),
        "{r}"
    );

    // Within the Retry-After windows: nobody asks.
    let r = s.cycle(NOW + 20).await;
    assert!(
        matches!(source(&r, "mediastack").status, Status::Skipped(_)),
        "{r}"
    );
    assert!(
        matches!(source(&r, &feed_name).status, Status::Skipped(_)),
        "{r}"
    );
    assert_eq!((fake.count(MS), fake.count("/limited.xml")), (1, 1));

    // The feed's 30 s have passed, mediastack's 120 s have not.
    let r = s.cycle(NOW + 31).await;
    assert!(
        matches!(source(&r, "mediastack").status, Status::Skipped(_)),
        "{r}"
    );
    assert_eq!(source(&r, &feed_name).status, Status::Ok, "{r}");
    assert_eq!(source(&r, &feed_name).added, 3, "{r}");

    // After 120 s mediastack is asked again and answers 429 with a date ten minutes on.
    let r = s.cycle(NOW + 121).await;
    assert!(
        matches!(&source(&r, "mediastack").status, Status::Failed(w) if w.contains("2030-06-15T12:10:00Z")),
        "{r}"
    );
    let r = s.cycle(NOW + 599).await;
    assert!(
        matches!(source(&r, "mediastack").status, Status::Skipped(_)),
        "{r}"
    );
    let r = s.cycle(NOW + 601).await;
    assert_eq!(source(&r, "mediastack").status, Status::Ok, "{r}");
    assert_eq!(fake.count(MS), 3);
}

#[tokio::test]
async fn mediastack_errors_fail_the_source_and_never_show_the_key() {
    let fake = Fake::start().await;
    fake.set_now(NOW);
    fake.route(
        MS,
        vec![
            status(401, &fixture("mediastack_invalid_key.json"), vec![]),
            ok("page.html"),
            status(500, b"{\"oops\": true}", vec![]),
            status(200, b"{\"data\": \"not a list\"}", vec![]),
            Reply::Stall,
        ],
    );
    let s = Setup::new(mediastack(&fake, 1000)).await;
    let mut seen = Vec::new();
    for i in 0..5 {
        let r = s.cycle(NOW + i * 60).await;
        let Status::Failed(why) = source(&r, "mediastack").status.clone() else {
            panic!("{r}")
        };
        let text = r.to_string();
        assert!(!text.contains(KEY), "the key leaked: {text}");
        seen.push(why);
    }
    assert!(seen[0].contains("invalid_access_key"), "{seen:?}");
    assert!(seen[1].contains("malformed JSON"), "{seen:?}");
    assert!(seen[2].contains("HTTP 500"), "{seen:?}");
    assert!(seen[3].contains("no `data` list"), "{seen:?}");
    assert!(seen[4].contains("timed out"), "{seen:?}");
    assert_eq!(common::count_rows(&s._database.url, "articles").await, 0);

    // A connection error names the host, never the query that carries the key.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let s = Setup::new(|c| {
        mediastack(&fake, 1000)(c);
        c.ingest.mediastack_base_url = format!("http://127.0.0.1:{port}/v1");
    })
    .await;
    let r = s.cycle(NOW).await;
    let text = r.to_string();
    assert!(
        matches!(source(&r, "mediastack").status, Status::Failed(_)),
        "{text}"
    );
    assert!(
        !text.contains(KEY) && !text.contains("access_key"),
        "{text}"
    );
    assert!(
        text.contains(&format!("http://127.0.0.1:{port}/v1/news")),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------
// Feeds

#[tokio::test]
async fn rss_atom_and_json_feeds_are_ingested_with_their_tags() {
    let fake = Fake::start().await;
    fake.set_now(NOW);
    fake.route("/rss.xml", vec![ok("rss.xml")]);
    fake.route("/atom.xml", vec![ok("atom.xml")]);
    fake.route("/feed.json", vec![ok("feed.json")]);
    fake.route("/untagged.json", vec![ok("untagged_de.json")]);
    let s = Setup::new(|c| {
        c.ingest.feeds = vec![
            tagged(fake.url("/rss.xml"), Some("ng"), None, Some("business")),
            feed(fake.url("/atom.xml")),
            tagged(fake.url("/feed.json"), Some("de"), None, Some("science")),
            // Declares language `de` but no country, and the operator did not tag one: its
            // items are International.
            feed(fake.url("/untagged.json")),
        ];
    })
    .await;
    let r = s.cycle(NOW).await;

    let rss = source(&r, &fake.url("/rss.xml"));
    assert_eq!(rss.status, Status::Ok, "{r}");
    assert_eq!((rss.fetched, rss.added), (6, 3), "{r}");
    assert_eq!(skipped(rss, "link is not http(s)"), 1, "{r}");
    assert_eq!(skipped(rss, "older than the retention period"), 1, "{r}");
    assert_eq!(skipped(rss, "no title"), 1, "{r}");
    let a = s.article("https://ledger.example.ng/a").await;
    assert_eq!(a.title, "Bridge opens & traffic eases");
    assert_eq!(a.description, "Commuters cheer the opening.");
    assert_eq!(
        (a.country.as_str(), a.language.as_str(), a.category.as_str()),
        ("ng", "en", "business")
    );
    assert_eq!(
        a.image_url.as_deref(),
        Some("https://ledger.example.ng/a.jpg")
    );
    assert_eq!(a.author.as_deref(), Some("Ada Eze"));
    assert_eq!(a.source, "Lagos Ledger");
    assert_eq!(a.published_at, NOW - 45 * 60);
    // A relative link resolves against the feed's own URL.
    let b = s.article(&fake.url("/stories/b")).await;
    assert_eq!(b.description, "Plain & simple");
    let future = s.article("https://ledger.example.ng/future").await;
    assert_eq!(
        future.published_at, NOW,
        "a date in the future is capped at now"
    );

    let atom = source(&r, &fake.url("/atom.xml"));
    assert_eq!((atom.status.clone(), atom.added), (Status::Ok, 2), "{r}");
    let e1 = s.article("https://fil.example.ca/1").await;
    assert_eq!(e1.description, "Résultats serrés & recomptage");
    assert_eq!(
        (
            e1.country.as_str(),
            e1.language.as_str(),
            e1.category.as_str()
        ),
        ("ca", "fr", "general")
    );
    assert_eq!(e1.author.as_deref(), Some("Chloé Martin"));
    let e2 = s.article("https://fil.example.ca/2").await;
    assert_eq!(
        (e2.language.as_str(), e2.description.as_str()),
        ("en", "Overtime again.")
    );
    assert_eq!(
        e2.image_url.as_deref(),
        Some("https://fil.example.ca/2.png")
    );
    assert_eq!(e2.published_at, NOW - 80 * 60);

    let json = source(&r, &fake.url("/feed.json"));
    assert_eq!((json.status.clone(), json.added), (Status::Ok, 2), "{r}");
    let j = s.article("https://bulletin.example.de/1").await;
    assert_eq!(
        (j.country.as_str(), j.language.as_str(), j.category.as_str()),
        ("de", "de", "science")
    );
    assert_eq!(j.description, "Eröffnet & gefeiert.");
    assert_eq!(j.author.as_deref(), Some("Jonas Weber"));
    assert_eq!(j.source, "Berlin Bulletin");

    let untagged = source(&r, &fake.url("/untagged.json"));
    assert_eq!(untagged.status, Status::Ok);
    assert_eq!((untagged.added, untagged.skipped_total()), (2, 0), "{r}");
    let k = s.article("https://rundschau.example.org/1").await;
    assert_eq!(
        (k.country.as_str(), k.language.as_str(), k.category.as_str()),
        ("xx", "de", "general"),
        "the feed's declared language wins over detection"
    );
    let es = s.article("https://rundschau.example.org/2").await;
    assert_eq!(
        (es.country.as_str(), es.language.as_str()),
        ("xx", "es"),
        "the item's own language wins over the feed's"
    );
    assert_eq!(
        untagged.defaults.keys().collect::<Vec<_>>(),
        [
            "category: general (default: the feed has none)",
            "country: International (default: no country tag, and no region in the feed's language)"
        ],
        "{r}"
    );

    assert_eq!(s.articles().await.len(), 9);
    assert!(!r.failed(), "{r}");
}

#[tokio::test]
async fn a_feed_that_names_no_country_is_stored_as_international_and_filterable() {
    let fake = Fake::start().await;
    fake.set_now(NOW);
    fake.route("/world.xml", vec![ok("world.xml")]);
    let s = Setup::new(|c| c.ingest.feeds = vec![feed(fake.url("/world.xml"))]).await;
    let r = s.cycle(NOW).await;
    let world = source(&r, &fake.url("/world.xml"));
    assert_eq!((world.status.clone(), world.added), (Status::Ok, 4), "{r}");

    let expect = |lang: &str| ("xx".to_owned(), lang.to_owned(), "general".to_owned());
    for (path, language, why) in [
        ("cranes", "en", "detected"),
        ("budget", "fr", "detected"),
        ("live", "xx", "too short to tell: unknown"),
        ("rada", "xx", "Polish is not ours: unknown"),
    ] {
        let a = s
            .article(&format!("https://roundup.example.org/{path}"))
            .await;
        assert_eq!(
            (a.country, a.language, a.category),
            expect(language),
            "{why}"
        );
    }

    // The report says which defaults were used, and how often.
    let text = r.to_string();
    for line in [
        "category: general (default: the feed has none) for 4 items",
        "country: International (default: no country tag, and no region in the feed's language) for 4 items",
        "language: en (detected: the feed declares none) for 1 item",
        "language: fr (detected: the feed declares none) for 1 item",
        "language: unknown (default: not declared nor reliably detected) for 2 items",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }

    // Readers see them: in "all countries", under International, not under another country.
    s.db.upsert_articles(&[article(1, "gb", "en", "general")], 0)
        .await
        .unwrap();
    let app = spawn_on(
        TestDatabase::on_server(s._database.url.clone(), None),
        |_| {},
    )
    .await;
    let reader = app.signed_up("worldly").await;
    let (_, news) = app.get_html(&reader, "/news").await;
    assert_eq!(titles(&news).len(), 5, "{news}");
    assert!(
        news.contains("International · English"),
        "shown by name: {news}"
    );
    assert!(news.contains("International · Unknown"), "{news}");

    let (_, form) = app.get_html(&reader, "/customize").await;
    assert!(
        form.contains("<h2 class=\"section-title\">Worldwide</h2>"),
        "{form}"
    );
    for (field, name) in [("country", "International"), ("language", "Unknown")] {
        assert!(
            form.contains(&format!(
                "name=\"{field}\" value=\"xx\"> <span class=\"choice-name\">{name}</span>"
            )),
            "{field} {name}: {form}"
        );
    }
    let r = app.customize(&reader, &[("country", "xx")]).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let (_, news) = app.get_html(&reader, "/news").await;
    let shown = titles(&news);
    assert_eq!(shown.len(), 4, "{shown:?}");
    assert!(
        shown.iter().all(|t| !t.starts_with("Article 1")),
        "{shown:?}"
    );
    let r = app
        .customize(&reader, &[("country", "gb"), ("country", "ng")])
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let (_, news) = app.get_html(&reader, "/news").await;
    assert_eq!(titles(&news), ["Article 1 from gb in en about general"]);

    // The API takes the new codes like any other, and still refuses unknown ones.
    for (query, n) in [
        ("country=xx", 4),
        ("language=xx", 2),
        ("country=xx&language=fr", 1),
        ("country=gb", 1),
        ("country=XX,gb", 5),
    ] {
        let body: serde_json::Value = app
            .get(&reader, &format!("/api/v1/articles?{query}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            body["articles"].as_array().map(Vec::len),
            Some(n),
            "{query}"
        );
    }
    let r = app.get(&reader, "/api/v1/articles?country=zz").await;
    assert_eq!(r.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn feeds_are_fetched_conditionally_and_changes_update_articles() {
    let fake = Fake::start().await;
    fake.set_now(NOW);
    let lm = "Sat, 15 Jun 2030 11:00:00 GMT".to_owned();
    fake.route(
        "/etag.xml",
        vec![Reply::Conditional {
            etag: Some("\"v1\"".into()),
            last_modified: Some(lm.clone()),
            body: fixture("rss.xml"),
        }],
    );
    fake.route(
        "/dated.json",
        vec![Reply::Conditional {
            etag: None,
            last_modified: Some(lm.clone()),
            body: fixture("feed.json"),
        }],
    );
    let s = Setup::new(|c| {
        c.ingest.feeds = vec![
            tagged(fake.url("/etag.xml"), Some("ng"), None, None),
            tagged(fake.url("/dated.json"), Some("de"), None, None),
        ];
    })
    .await;
    let r = s.cycle(NOW).await;
    assert_eq!(source(&r, &fake.url("/etag.xml")).added, 3, "{r}");
    assert_eq!(source(&r, &fake.url("/dated.json")).added, 2, "{r}");
    let first = &fake.hits("/etag.xml")[0];
    assert_eq!(
        (
            first.if_none_match.as_deref(),
            first.if_modified_since.as_deref()
        ),
        (None, None)
    );

    let r = s.cycle(NOW + 60).await;
    for path in ["/etag.xml", "/dated.json"] {
        let f = source(&r, &fake.url(path));
        assert_eq!(f.status, Status::NotModified, "{r}");
        assert_eq!((f.requests, f.fetched, f.added), (1, 0, 0));
    }
    let second = &fake.hits("/etag.xml")[1];
    assert_eq!(second.if_none_match.as_deref(), Some("\"v1\""));
    assert_eq!(second.if_modified_since.as_deref(), Some(lm.as_str()));
    assert_eq!(
        fake.hits("/dated.json")[1].if_modified_since.as_deref(),
        Some(lm.as_str())
    );
    assert!(r.to_string().contains("not modified"), "{r}");

    // The feed changes: a new ETag and a new title for a known URL.
    fake.route(
        "/etag.xml",
        vec![Reply::Conditional {
            etag: Some("\"v2\"".into()),
            last_modified: None,
            body: fixture("rss_updated.xml"),
        }],
    );
    let r = s.cycle(NOW + 120).await;
    let f = source(&r, &fake.url("/etag.xml"));
    assert_eq!(
        (f.status.clone(), f.added, f.updated),
        (Status::Ok, 0, 1),
        "{r}"
    );
    assert_eq!(
        s.article("https://ledger.example.ng/a").await.title,
        "Bridge opens, traffic eases at last"
    );
    let r = s.cycle(NOW + 180).await;
    assert_eq!(
        source(&r, &fake.url("/etag.xml")).status,
        Status::NotModified
    );
    assert_eq!(
        fake.hits("/etag.xml")[3].if_none_match.as_deref(),
        Some("\"v2\"")
    );
    assert_eq!(
        fake.hits("/etag.xml")[3].if_modified_since,
        None,
        "stale validators are replaced"
    );
}

#[tokio::test]
async fn bad_upstreams_fail_alone_and_never_touch_stored_articles() {
    let fake = Fake::start().await;
    fake.set_now(NOW);
    let ten_mb = 10 * 1024 * 1024;
    // Each bad route first serves a good feed (so it has stored articles to lose), then junk.
    let bad: Vec<(&str, Reply, &str)> = vec![
        ("/malformed.xml", ok("malformed.xml"), "malformed XML"),
        ("/malformed.json", ok("malformed.json"), "malformed JSON"),
        ("/page.html", ok("page.html"), "an HTML page, not a feed"),
        (
            "/error.xml",
            status(500, b"Internal Server Error", vec![]),
            "HTTP 500",
        ),
        ("/gone.xml", status(404, b"", vec![]), "HTTP 404"),
        ("/empty.xml", status(200, b"", vec![]), "empty response"),
        (
            "/svg.xml",
            status(200, b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>", vec![]),
            "not a feed",
        ),
        ("/stall.xml", Reply::Stall, "timed out"),
        ("/stall-body.xml", Reply::StallBody, "timed out"),
        ("/huge.xml", Reply::HugeChunked(ten_mb), "larger than"),
        ("/huge-length.xml", Reply::Huge(ten_mb), "larger than"),
    ];
    for (i, (path, junk, _)) in bad.iter().enumerate() {
        // A distinct good feed per route: the same items under a path of its own.
        let good = String::from_utf8(fixture("rss.xml"))
            .unwrap()
            .replace(
                "https://ledger.example.ng/",
                &format!("https://ledger.example.ng/{i}/"),
            )
            .replace("/stories/b", &format!("/stories/{i}/b"));
        fake.route(
            path,
            vec![status(200, good.as_bytes(), vec![]), junk.clone()],
        );
    }
    fake.route("/good.json", vec![ok("feed.json")]);
    fake.route("/missing.json", vec![ok("missing_fields.json")]);
    let s = Setup::new(|c| {
        let mut feeds: Vec<FeedSource> = bad
            .iter()
            .map(|(p, _, _)| tagged(fake.url(p), Some("ng"), None, None))
            .collect();
        feeds.push(tagged(fake.url("/good.json"), Some("de"), None, None));
        feeds.push(tagged(
            fake.url("/missing.json"),
            Some("us"),
            Some("en"),
            None,
        ));
        c.ingest.feeds = feeds;
    })
    .await;

    let r = s.cycle(NOW).await;
    assert!(!r.failed(), "{r}");
    let before = s.articles().await;
    assert_eq!(before.len(), bad.len() * 3 + 2, "{r}");
    let missing = source(&r, &fake.url("/missing.json"));
    assert_eq!(
        (missing.status.clone(), missing.fetched, missing.added),
        (Status::Ok, 5, 0),
        "{r}"
    );
    assert_eq!(
        (skipped(missing, "no link"), skipped(missing, "no title")),
        (4, 1),
        "{r}"
    );

    let started = Instant::now();
    let r = s.cycle(NOW + 60).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(15),
        "the cycle took {elapsed:?}"
    );
    for (path, _, expected) in &bad {
        let f = source(&r, &fake.url(path));
        match &f.status {
            Status::Failed(why) => assert!(why.contains(expected), "{path}: {why}"),
            other => panic!("{path}: expected a failure, got {other:?}\n{r}"),
        }
        assert_eq!((f.added, f.updated), (0, 0));
    }
    assert_eq!(
        source(&r, &fake.url("/good.json")).status,
        Status::Ok,
        "{r}"
    );
    assert_eq!(
        source(&r, &fake.url("/missing.json")).status,
        Status::Ok,
        "{r}"
    );
    assert!(r.failed());
    assert_eq!(s.articles().await, before, "stored articles are untouched");

    let mut metrics = String::new();
    s.metrics.render(&mut metrics);
    let errors = metrics
        .lines()
        .filter(|l| {
            l.starts_with("newsread_ingest_articles_total") && l.contains("result=\"error\"} 1")
        })
        .count();
    assert_eq!(errors, bad.len(), "{metrics}");

    // The junk did not replace the validators, and the feeds are asked again next cycle.
    let _ = s.cycle(NOW + 120).await;
    for (path, _, _) in &bad {
        assert_eq!(fake.count(path), 3, "{path}");
    }
}

#[tokio::test]
async fn one_article_arriving_from_two_sources_or_twice_is_stored_once() {
    let fake = Fake::start().await;
    fake.set_now(NOW);
    fake.route(MS, vec![ok("mediastack_page1_updated.json")]);
    fake.route("/wire.xml", vec![ok("wire.xml")]);
    let s = Setup::new(|c| {
        mediastack(&fake, 1000)(c);
        c.ingest.feeds = vec![tagged(fake.url("/wire.xml"), Some("us"), Some("en"), None)];
    })
    .await;
    let r = s.cycle(NOW).await;
    let ms = source(&r, "mediastack");
    assert_eq!(ms.added, 3, "{r}");
    let wire = source(&r, &fake.url("/wire.xml"));
    assert_eq!((wire.fetched, wire.added, wire.updated), (3, 1, 0), "{r}");
    // The harbour story mediastack already stored (utm_*, fragment and host case differ).
    assert_eq!(skipped(wire, "unchanged"), 1, "{r}");
    assert_eq!(skipped(wire, "duplicate in this response"), 1, "{r}");
    let urls: Vec<String> = s.articles().await.into_iter().map(|a| a.url).collect();
    assert_eq!(urls.len(), 4, "{urls:?}");
    assert_eq!(urls.iter().filter(|u| u.contains("/world/1")).count(), 1);
    assert!(urls.contains(&"https://wire.example.com/twice".to_owned()));

    // Both again: nothing new, nothing duplicated.
    let r = s.cycle(NOW + 60).await;
    assert_eq!(r.added() + r.updated(), 0, "{r}");
    assert_eq!(s.articles().await.len(), 4);
}

// ---------------------------------------------------------------------------------------
// Retention and the sample source

#[tokio::test]
async fn retention_deletes_old_articles_in_batches_and_old_cached_images() {
    let shared = tempfile::tempdir().unwrap();
    let s = Setup::new(|c| {
        c.ingest.retention_days = 30;
        c.shared_dir = Some(shared.path().to_owned());
    })
    .await;
    let cutoff = NOW - 30 * 86_400;
    // Two cached images (kept per URL hash, in shards): fetched before and after the cutoff.
    let image = |key: &str, fetched_at: i64| {
        let shard = shared.path().join("media").join(&key[..2]);
        std::fs::create_dir_all(&shard).unwrap();
        let path = shard.join(key);
        std::fs::File::create(&path)
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + Duration::from_secs(fetched_at as u64))
            .unwrap();
        path
    };
    let old_image = image("ab01", cutoff - 86_400);
    let new_image = image("cd02", cutoff + 86_400);
    let mut old: Vec<_> = (0..1_203)
        .map(|n| {
            let mut a = article(n, "us", "en", "general");
            a.published_at = cutoff - 1 - n * 60;
            a
        })
        .collect();
    let mut fresh = article(9_000, "gb", "en", "sports");
    fresh.published_at = cutoff;
    old.push(fresh);
    s.db.upsert_articles(&old, NOW).await.unwrap();
    // One statement deletes one batch.
    assert_eq!(
        s.db.delete_articles_published_before(cutoff, 500)
            .await
            .unwrap(),
        500
    );
    let r = s.cycle(NOW).await;
    assert_eq!(r.retention, Ok(703), "{r}");
    assert!(r.sources.is_empty());
    assert!(r.to_string().contains("no news source"), "{r}");
    let left = s.articles().await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].published_at, cutoff);
    assert!(!old_image.exists() && new_image.exists());
}

#[tokio::test]
async fn the_sample_set_is_the_source_when_none_is_configured() {
    let s = Setup::new(|c| c.sample_news = true).await;
    let r = s.cycle(NOW).await;
    let sample = source(&r, "sample");
    assert_eq!(sample.status, Status::Ok);
    assert!(sample.added >= 200, "{r}");
    assert_eq!(sample.fetched, sample.added);
    let r = s.cycle(NOW + 60).await;
    let sample = source(&r, "sample");
    assert_eq!(
        (sample.added, skipped(sample, "unchanged")),
        (0, sample.fetched),
        "{r}"
    );
    assert!(s.articles().await.iter().all(|a| a.is_sample));
}

// ---------------------------------------------------------------------------------------
// One fetch per cycle across instances

/// A scheduler as another instance would run it: its own pool on the shared database.
async fn instance(database_url: &str, config: &Config, holder: &str) -> Scheduler {
    let mut config = config.clone();
    config.database.url = newsread::secret::DatabaseUrl::new(database_url.to_owned());
    let db = Db::connect(&config.database).expect("connect");
    let ingester = Ingester::with_limits(
        db,
        Arc::new(config),
        Arc::new(Metrics::new()),
        test_limits(),
    )
    .expect("ingester");
    Scheduler::with_holder(ingester, holder.to_owned())
}

#[tokio::test]
async fn racing_schedulers_fetch_once_per_cycle_and_replace_a_crashed_leader() {
    let fake = Fake::start().await;
    fake.set_now(NOW);
    fake.route("/rss.xml", vec![ok("rss.xml")]);
    let s = Setup::new(|c| {
        c.ingest.interval = Duration::from_secs(60);
        c.ingest.feeds = vec![tagged(fake.url("/rss.xml"), Some("ng"), None, None)];
    })
    .await;
    let url = s.config.database.url.expose().to_owned();
    let names = ["alpha", "beta", "gamma", "delta"];
    let mut schedulers = Vec::new();
    for name in names {
        schedulers.push(instance(&url, &s.config, name).await);
    }

    let mut t = NOW;
    let mut leaders = Vec::new();
    for round in 0..4 {
        let ticks = futures_util::future::join_all(schedulers.iter().map(|s| s.tick(t))).await;
        let ran: Vec<&str> = ticks
            .iter()
            .zip(names)
            .filter(|(tick, _)| matches!(tick, Ok(Tick::Ran(_))))
            .map(|(_, n)| n)
            .collect();
        assert_eq!(ran.len(), 1, "round {round}: {ticks:?}");
        assert!(ticks.iter().all(Result::is_ok), "{ticks:?}");
        assert_eq!(
            fake.count("/rss.xml"),
            round + 1,
            "exactly one fetch in round {round}"
        );
        // Ticking again within the interval fetches nothing.
        for s in &schedulers {
            assert!(!matches!(s.tick(t + 5).await.unwrap(), Tick::Ran(_)));
        }
        assert_eq!(fake.count("/rss.xml"), round + 1);
        leaders.push(ran[0]);
        t += 60;
    }

    // The leader of the last round crashes (never ticks again). Half an interval later its
    // lease still holds; within one interval another instance has taken over and fetched.
    let last = leaders[leaders.len() - 1];
    let survivors: Vec<&Scheduler> = schedulers
        .iter()
        .zip(names)
        .filter(|(_, n)| *n != last)
        .map(|(s, _)| s)
        .collect();
    let crashed_at = t - 60;
    let fetched = fake.count("/rss.xml");
    for s in &survivors {
        match s.tick(crashed_at + 30).await.unwrap() {
            Tick::Follower { leader } => assert_eq!(leader, last),
            other => panic!("the lease should still be {last}'s: {other:?}"),
        }
    }
    let ticks =
        futures_util::future::join_all(survivors.iter().map(|s| s.tick(crashed_at + 60))).await;
    let ran = ticks
        .iter()
        .filter(|t| matches!(t, Ok(Tick::Ran(_))))
        .count();
    assert_eq!(ran, 1, "{ticks:?}");
    assert_eq!(fake.count("/rss.xml"), fetched + 1);
}

#[tokio::test]
async fn a_new_leader_does_not_fetch_again_before_the_interval_is_over() {
    let fake = Fake::start().await;
    fake.set_now(NOW);
    fake.route("/rss.xml", vec![ok("rss.xml")]);
    let s = Setup::new(|c| {
        c.ingest.interval = Duration::from_secs(60);
        c.ingest.feeds = vec![tagged(fake.url("/rss.xml"), Some("ng"), None, None)];
    })
    .await;
    let url = s.config.database.url.expose().to_owned();
    let a = instance(&url, &s.config, "a").await;
    let b = instance(&url, &s.config, "b").await;
    assert!(matches!(a.tick(NOW).await.unwrap(), Tick::Ran(_)));
    // a's lease (interval minus one poll: 48 s) expires; b takes it but the cycle is not due.
    match b.tick(NOW + 50).await.unwrap() {
        Tick::NotDue { next_at } => assert_eq!(next_at, NOW + 60),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.tick(NOW + 55).await.unwrap(),
        Tick::Follower { .. }
    ));
    assert!(matches!(b.tick(NOW + 60).await.unwrap(), Tick::Ran(_)));
    assert_eq!(fake.count("/rss.xml"), 2);
}

#[tokio::test]
async fn instances_serving_one_database_fetch_once_per_interval() {
    let fake = Fake::start().await;
    fake.route("/rss.xml", vec![ok("rss.xml")]);
    fake.route("/off.xml", vec![ok("atom.xml")]);
    let database = fresh_database().await;
    let url = database.url.clone();
    let replica = database.replica_url.clone();
    let feeds = vec![tagged(fake.url("/rss.xml"), Some("ng"), None, None)];
    let tweak = |feeds: Vec<FeedSource>, enabled: bool| {
        move |c: &mut Config| {
            c.ingest.enabled = enabled;
            c.ingest.interval = Duration::from_secs(2);
            c.ingest.feeds = feeds;
        }
    };
    let first = spawn_on(database, tweak(feeds.clone(), true)).await;
    let mut others = Vec::new();
    for _ in 0..2 {
        others.push(
            spawn_on(
                TestDatabase::on_server(url.clone(), replica.clone()),
                tweak(feeds.clone(), true),
            )
            .await,
        );
    }
    // NEWSREAD_INGEST=off: this instance never runs the scheduler.
    let _off = spawn_on(
        TestDatabase::on_server(url.clone(), replica.clone()),
        tweak(
            vec![tagged(fake.url("/off.xml"), Some("ca"), None, None)],
            false,
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(7_500)).await;

    let hits = fake.hits("/rss.xml");
    assert!(
        (2..=5).contains(&hits.len()),
        "{} fetches in 7.5 s at a 2 s interval",
        hits.len()
    );
    for pair in hits.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(900),
            "two fetches {gap:?} apart: {hits:?}"
        );
    }
    assert_eq!(fake.count("/off.xml"), 0);

    // What was ingested is on the page.
    first.sync_replica().await;
    let client = first.signed_up("reader").await;
    let (code, html) = first.get_html(&client, "/news").await;
    assert_eq!(code, StatusCode::OK);
    assert!(
        titles(&html).iter().any(|t| t.contains("Bridge opens")),
        "{:?}",
        titles(&html)
    );
}

#[tokio::test]
async fn a_stopping_instance_hands_the_lease_over_at_once() {
    let fake = Fake::start().await;
    fake.route("/rss.xml", vec![ok("rss.xml")]);
    let database = fresh_database().await;
    let mut config = config_for(&database);
    config.ingest.enabled = true;
    // A long interval: without the handover, the lease would hold for minutes.
    config.ingest.interval = Duration::from_secs(600);
    config.ingest.feeds = vec![tagged(fake.url("/rss.xml"), Some("ng"), None, None)];
    let successor = instance(&database.url, &config, "successor").await;
    let app = newsread::app::Application::build(config)
        .await
        .expect("app builds");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    // The instance leads and fetches; the successor follows.
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.count("/rss.xml") == 0 {
        assert!(Instant::now() < deadline, "the instance never fetched");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let now = newsread::clock::unix_now();
    assert!(matches!(
        successor.tick(now).await.unwrap(),
        Tick::Follower { .. }
    ));

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    // Free at once, yet the cycle it ran still counts: nothing is fetched twice.
    match successor.tick(now + 1).await.unwrap() {
        Tick::NotDue { next_at } => assert!(next_at >= now + 590, "{next_at}"),
        other => panic!("the lease should have been handed over: {other:?}"),
    }
    assert_eq!(fake.count("/rss.xml"), 1);
}

// ---------------------------------------------------------------------------------------
// The command line

async fn newsread_ingest_once(envs: &[(&str, String)]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(["ingest", "--once"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NEWSREAD_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("ingest --once finishes")
        .expect("newsread runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn ingest_once_reports_each_source_and_exits_by_outcome() {
    let fake = Fake::start().await;
    fake.route(MS, vec![ok("mediastack_page1_updated.json")]);
    fake.route("/rss.xml", vec![ok("rss.xml")]);
    fake.route("/page.html", vec![ok("page.html")]);
    fake.route("/world.xml", vec![ok("world.xml")]);
    let database = fresh_database().await;
    let base = vec![
        ("NEWSREAD_DATABASE_URL", database.url.clone()),
        ("NEWSREAD_MEDIASTACK_ACCESS_KEY", KEY.to_owned()),
        ("NEWSREAD_MEDIASTACK_BASE_URL", fake.url("/ms/v1")),
        ("NEWSREAD_MEDIASTACK_MONTHLY_BUDGET", "1".to_owned()),
    ];

    let mut envs = base.clone();
    envs.push((
        "NEWSREAD_FEEDS",
        format!(
            "{} country=ng category=business; {} country=us; {}",
            fake.url("/rss.xml"),
            fake.url("/page.html"),
            fake.url("/world.xml")
        ),
    ));
    let (code, out, err) = newsread_ingest_once(&envs).await;
    assert_eq!(
        code, 3,
        "a failed source exits 3\nstdout:\n{out}\nstderr:\n{err}"
    );
    assert!(
        out.contains("mediastack: fetched 3, added 3, updated 0, skipped 0; ok [1 request]"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{}: fetched 6, added 3, updated 0, skipped 3 (",
            fake.url("/rss.xml")
        )),
        "{out}"
    );
    assert!(
        out.contains("1 link is not http(s)") && out.contains("1 no title"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{}: fetched 0, added 0, updated 0, skipped 0; FAILED: an HTML page, not a feed",
            fake.url("/page.html")
        )),
        "{out}"
    );
    // An untagged feed is stored, and the line says which defaults it got.
    let world = out
        .lines()
        .find(|l| l.starts_with(&fake.url("/world.xml")))
        .unwrap_or_else(|| panic!("no line for the untagged feed in\n{out}"));
    assert!(
        world.contains("fetched 4, added 4, updated 0, skipped 0; ok")
            && world.contains("; category: general (default: the feed has none) for 4 items")
            && world.contains("; country: International (default: ")
            && world.contains(
                "; language: unknown (default: not declared nor reliably detected) for 2 items"
            ),
        "{world}"
    );
    assert!(out.contains("retention: deleted 0 articles"), "{out}");
    assert!(!out.contains(KEY) && !err.contains(KEY), "the key leaked");

    // Again, good sources only: the budget of 1 is spent, and the run says so.
    let mut envs = base.clone();
    envs.push((
        "NEWSREAD_FEEDS",
        format!("{} country=ng", fake.url("/rss.xml")),
    ));
    let (code, out, err) = newsread_ingest_once(&envs).await;
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("mediastack: fetched 0, added 0, updated 0, skipped 0; not fetched: request budget: 1 of 1 used this month"), "{out}");
    assert!(
        out.contains("skipped 6 (") && out.contains("3 unchanged"),
        "{out}"
    );
    assert_eq!(fake.count(MS), 1);

    // No source at all: the sample set is the source.
    let fresh = fresh_database().await;
    let (code, out, err) =
        newsread_ingest_once(&[("NEWSREAD_DATABASE_URL", fresh.url.clone())]).await;
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.starts_with("sample: fetched 2"), "{out}");
    assert!(out.contains("; ok"), "{out}");

    // A database that cannot be reached: exit 1.
    let (code, _, err) = newsread_ingest_once(&[(
        "NEWSREAD_DATABASE_URL",
        "postgres://nobody:x@127.0.0.1:1/none".to_owned(),
    )])
    .await;
    assert_eq!(code, 1, "{err}");
}
