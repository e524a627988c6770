//! Entry points for the fuzz targets in `fuzz/` and for `tests/fuzz_regressions.rs`, which
//! replays the inputs they once failed on. Each takes raw bytes, runs the same code the
//! application runs on outside input, and panics when an invariant is broken, so a fuzzer
//! checks more than "does not crash". Not an API: hidden from the docs, stable only as
//! long as the fuzz targets need it.
use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{format_duration, parse_config_file, parse_duration, Config, FeedSource};
use crate::domain::article::{canonical_url, NewArticle};
use crate::domain::feed::Cursor;
use crate::domain::vocab::Dimension;
use crate::ingest::clean::{MAX_AUTHOR, MAX_DESCRIPTION, MAX_SOURCE, MAX_TITLE, MAX_URL};
use crate::ingest::item::Defaults;
use crate::ingest::{convert, feeds, mediastack, SourceReport};

/// A fixed clock (2026-11-02T00:00:00Z) and a 30-day retention cutoff, as one cycle uses.
const NOW: i64 = 1_793_577_600;
const CUTOFF: i64 = NOW - 30 * 86_400;

/// Fuzz target `feed`: RSS, Atom or JSON Feed bytes through the parser and the item rules,
/// as a feed configured without tags would be ingested.
pub fn feed(data: &[u8]) {
    let Ok(parsed) = feeds::parse(data) else {
        return;
    };
    assert!(
        parsed.items.len() <= feeds::MAX_ITEMS,
        "more items than the cap"
    );
    let url = url::Url::parse("https://feeds.example.org/news/rss.xml").expect("constant URL");
    let feed = FeedSource {
        url: url.to_string(),
        country: None,
        language: None,
        category: None,
    };
    let defaults = feeds::defaults(&parsed, &feed, &url, "feeds.example.org");
    check_items(&parsed.items, &defaults);
}

/// Fuzz target `mediastack`: a response body through the page parser and the item rules.
pub fn mediastack(data: &[u8]) {
    match mediastack::parse_page(data) {
        Ok(mediastack::Page::Items { items, .. }) => {
            let defaults = Defaults {
                source: mediastack::SOURCE.to_owned(),
                ..Defaults::default()
            };
            check_items(&items, &defaults);
        }
        Ok(mediastack::Page::ApiError { code, message }) => {
            // Both end up in logs and in the stored block reason: one bounded line each.
            assert!(code.chars().count() <= 64, "error code not capped");
            assert!(message.chars().count() <= 200, "error message not capped");
            assert!(!code.contains('\n') && !message.contains('\n'));
        }
        Err(_) => {}
    }
}

/// Items to articles, then what every stored article must satisfy.
fn check_items(items: &[crate::ingest::RawItem], defaults: &Defaults) {
    let mut report = SourceReport::new("fuzz");
    let articles = convert(items, defaults, NOW, CUTOFF, &mut report);
    let skipped: u64 = report.skipped.values().sum();
    assert_eq!(
        articles.len() as u64 + skipped,
        items.len() as u64,
        "every item is either an article or a counted skip"
    );
    for (i, a) in articles.iter().enumerate() {
        check_article(a);
        assert!(
            articles[..i].iter().all(|b| b.url != a.url),
            "duplicate URL in one response"
        );
    }
}

fn check_article(a: &NewArticle) {
    // The URL is the article's identity: canonicalising it again must not change it, or
    // the same article would be stored twice.
    assert_eq!(
        canonical_url(&a.url).as_deref(),
        Ok(a.url.as_str()),
        "canonical URL is not a fixed point"
    );
    assert!(a.url.starts_with("http://") || a.url.starts_with("https://"));
    assert!(a.url.chars().count() <= MAX_URL);
    if let Some(image) = &a.image_url {
        assert!(image.starts_with("http://") || image.starts_with("https://"));
        assert!(image.chars().count() <= MAX_URL);
    }
    assert!(!a.title.is_empty(), "article without a title");
    for (text, max) in [
        (&a.title, MAX_TITLE),
        (&a.description, MAX_DESCRIPTION),
        (&a.source, MAX_SOURCE),
    ] {
        check_plain(text, max);
    }
    if let Some(author) = &a.author {
        assert!(!author.is_empty());
        check_plain(author, MAX_AUTHOR);
    }
    assert!(
        (CUTOFF..=NOW).contains(&a.published_at),
        "date outside [cutoff, now]"
    );
    assert!(!a.is_sample);
    for (d, code) in [
        (Dimension::Category, a.category),
        (Dimension::Country, a.country),
        (Dimension::Language, a.language),
    ] {
        assert_eq!(d.lookup(code), Some(code), "a tag outside the vocabulary");
    }
}

/// Cleaned text: within its column, one line, no runs of spaces, no edge spaces.
fn check_plain(text: &str, max: usize) {
    assert!(text.chars().count() <= max, "text longer than its column");
    assert!(
        !text.chars().any(|c| c.is_control()),
        "control character in cleaned text: {text:?}"
    );
    assert!(!text.contains("  "), "whitespace not collapsed: {text:?}");
    assert_eq!(text.trim(), text, "untrimmed text: {text:?}");
}

/// Fuzz target `cursor`: a `?after=` value from a URL. A cursor that decodes must encode
/// to one that decodes to the same position. The first 16 bytes, read as a position, must
/// round-trip too.
pub fn cursor(data: &[u8]) {
    if let Ok(raw) = std::str::from_utf8(data) {
        if let Ok(c) = Cursor::decode(raw) {
            assert!(c.id > 0, "decoded a cursor with a non-positive id");
            assert_eq!(
                Cursor::decode(&c.encode()),
                Ok(c),
                "cursor does not round-trip"
            );
        }
    }
    if let Some((p, i)) = data.get(..16).map(|b| b.split_at(8)) {
        let published_at = i64::from_le_bytes(p.try_into().expect("8 bytes"));
        let id = i64::from_le_bytes(i.try_into().expect("8 bytes"));
        let c = Cursor { published_at, id };
        let decoded = Cursor::decode(&c.encode());
        if id > 0 {
            assert_eq!(decoded, Ok(c), "cursor does not round-trip");
        } else {
            assert!(decoded.is_err(), "accepted a cursor with id {id}");
        }
    }
}

/// Fuzz target `duration`: a duration as an operator writes it. Whatever parses must print
/// (as `check-config` does) to a text that parses to the same duration; the first 8 bytes,
/// read as milliseconds, must round-trip through the printer and the parser.
pub fn duration(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(d) = parse_duration(text) {
            let shown = format_duration(d);
            assert_eq!(
                parse_duration(&shown),
                Ok(d),
                "`{shown}` does not round-trip"
            );
        }
    }
    if let Some(b) = data.get(..8) {
        let d = Duration::from_millis(u64::from_le_bytes(b.try_into().expect("8 bytes")));
        let shown = format_duration(d);
        assert_eq!(
            parse_duration(&shown),
            Ok(d),
            "`{shown}` does not round-trip"
        );
    }
}

/// Fuzz target `config`: a configuration file's text, read into variables and parsed into a
/// whole configuration. `*_FILE` settings are dropped (the fuzzer must not read files).
/// A valid configuration's durations must print back to themselves, and its description
/// (what `check-config` prints) must not depend on the secrets.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (mut vars, _) = parse_config_file(text, "fuzz.env");
    vars.retain(|k, _| !k.ends_with("_FILE"));
    let Ok(config) = Config::from_vars(vars.clone()) else {
        return;
    };
    let db = &config.database;
    for d in [
        db.acquire_timeout,
        db.idle_timeout,
        db.max_lifetime,
        db.replica_timeout,
        db.feed_cache_ttl,
        db.session_cache_ttl,
        config.session.idle_timeout,
        config.session.lifetime,
        config.shutdown_grace,
        config.request_timeout,
        config.ingest.interval,
        config.throttle.login_per_account.window,
        config.throttle.login_per_address.window,
        config.throttle.register_per_address.window,
    ] {
        assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }
    let shown = config.describe();
    let other = with_other_secrets(&vars);
    if other != vars {
        if let Ok(c) = Config::from_vars(other) {
            assert_eq!(c.describe(), shown, "the description shows a secret");
        }
    }
}

/// The same variables with every secret changed: the mediastack key, and the password in
/// each database URL (in its user information or, as PostgreSQL allows, in its query).
/// Nothing else in a URL is touched, so a different description can only be a leak.
fn with_other_secrets(vars: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = vars.clone();
    if let Some(key) = out.get_mut("NEWSREAD_MEDIASTACK_ACCESS_KEY") {
        if !key.is_empty() {
            key.push_str("-other");
        }
    }
    for name in ["NEWSREAD_DATABASE_URL", "NEWSREAD_DATABASE_REPLICA_URL"] {
        let Some(value) = out.get_mut(name) else {
            continue;
        };
        let Ok(mut url) = url::Url::parse(value) else {
            continue;
        };
        let mut changed = false;
        if let Some(pw) = url.password().map(str::to_owned) {
            changed |= url.set_password(Some(&format!("{pw}x"))).is_ok();
        }
        if let Some(query) = url.query().map(str::to_owned) {
            let segments: Vec<String> = query
                .split('&')
                .map(|segment| {
                    let key = segment.split('=').next().unwrap_or_default();
                    let is_password = form_urlencoded::parse(key.as_bytes())
                        .next()
                        .is_some_and(|(k, _)| k.eq_ignore_ascii_case("password"));
                    if is_password && segment.contains('=') {
                        changed = true;
                        format!("{segment}x")
                    } else {
                        segment.to_owned()
                    }
                })
                .collect();
            url.set_query(Some(&segments.join("&")));
        }
        if changed {
            *value = url.to_string();
        }
    }
    out
}
