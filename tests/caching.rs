//! The feed-page cache (issue 8): readers with the same selection share a page (and a search
//! page, with the same terms) for at most the TTL, and never at the expense of a logout, a
//! saved selection or this instance's own writes.
mod common;

use std::time::Duration;

use common::*;
use newsread::config::Config;
use reqwest::StatusCode;

/// A TTL far longer than any test: whatever only expiry would fix makes the test fail.
fn long_ttl(c: &mut Config) {
    c.database.feed_cache_ttl = Duration::from_secs(60);
}

async fn news(app: &TestApp, client: &reqwest::Client) -> Vec<String> {
    let (status, html) = app.get_html(client, "/news").await;
    assert_eq!(status, StatusCode::OK);
    titles(&html)
}

async fn search(app: &TestApp, client: &reqwest::Client, q: &str) -> Vec<String> {
    let (status, html) = app.get_html(client, &format!("/news?q={q}")).await;
    assert_eq!(status, StatusCode::OK);
    titles(&html)
}

async fn api_titles(app: &TestApp, client: &reqwest::Client, query: &str) -> Vec<String> {
    let r = app.get(client, &format!("/api/v1/articles{query}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    body["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap().to_owned())
        .collect()
}

/// The session cache's promise (`NEWSREAD_SESSION_CACHE_TTL`, 1 s): what a reader changes
/// through one instance holds at once there, and on another instance within the TTL.
const SESSION_BOUND: Duration = Duration::from_secs(1);

/// Polls `check` on the other instance until it holds; fails if that takes longer than the
/// session cache's bound (plus the requests' own time).
async fn within_the_bound<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let since = std::time::Instant::now();
    loop {
        let started = since.elapsed();
        if check().await {
            return;
        }
        assert!(
            started < SESSION_BOUND,
            "{what}: still not seen {started:?} after the write"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn logged_out(app: &TestApp, client: &reqwest::Client) -> bool {
    let r = app.get(client, "/news").await;
    r.status() == StatusCode::SEE_OTHER && location(&r).starts_with("/login")
}

#[tokio::test]
async fn logouts_password_changes_and_selections_hold_here_at_once_and_elsewhere_within_a_second() {
    let a = spawn_app_with(long_ttl).await;
    let b = spawn_on(a.same_database(), long_ttl).await;
    a.seed(&[
        article(1, "us", "en", "general"),
        article(2, "gb", "en", "sports"),
    ])
    .await;
    // Cookies are per host, not per port: one browser talks to both instances.
    let reader = a.signed_up("cached_reader").await;
    assert_eq!(news(&b, &reader).await.len(), 2, "b caches the full feed");
    assert_eq!(
        news(&a, &reader).await.len(),
        2,
        "and both cache the session"
    );

    // A selection saved through `a`: `a`'s next page uses it, `b`'s within the bound.
    let r = a.customize(&reader, &[("category", "sports")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let sports = vec!["Article 2 from gb in en about sports".to_owned()];
    assert_eq!(news(&a, &reader).await, sports);
    within_the_bound("the selection on b", || async {
        news(&b, &reader).await == sports
    })
    .await;
    // Another reader with the old selection still gets the full page (from `b`'s cache).
    let other = b.signed_up("other_reader").await;
    assert_eq!(news(&b, &other).await.len(), 2);

    // A logout through `a` ends the session there at once, and on `b` within the bound.
    let r = a.logout(&reader).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(logged_out(&a, &reader).await);
    within_the_bound("the logout on b", || logged_out(&b, &reader)).await;
    let r = b.get(&reader, "/api/v1/articles").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A password change through `a` ends the reader's other sessions: at once on `a`,
    // within the bound on `b`, which had just served the other session from its cache.
    let first = browser();
    let second = browser();
    for client in [&first, &second] {
        let r = a
            .login(client, "other_reader", "correct horse battery")
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(news(&a, &second).await.len(), 2);
    assert_eq!(news(&b, &second).await.len(), 2);
    let r = a
        .post_form(
            &first,
            "/account",
            "/account/password",
            &[
                ("current_password", "correct horse battery"),
                ("password", "a brand new passphrase"),
                ("password_confirm", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(logged_out(&a, &second).await);
    within_the_bound("the password change on b", || logged_out(&b, &second)).await;
    assert_eq!(
        news(&b, &first).await.len(),
        2,
        "the changing session goes on"
    );
}

#[tokio::test]
async fn an_instance_sees_its_own_new_articles_at_once_and_others_within_the_ttl() {
    let ttl = Duration::from_millis(400);
    let short = move |c: &mut Config| c.database.feed_cache_ttl = ttl;
    let a = spawn_app_with(short).await;
    let b = spawn_on(a.same_database(), short).await;
    a.seed(&[article(1, "us", "en", "general")]).await;
    let reader = a.signed_up("fresh_reader").await;
    assert_eq!(news(&a, &reader).await.len(), 1);
    assert_eq!(news(&b, &reader).await.len(), 1);
    assert_eq!(api_titles(&b, &reader, "?country=us").await.len(), 1);
    assert_eq!(search(&a, &reader, "description").await.len(), 1);
    assert_eq!(search(&b, &reader, "description").await.len(), 1);
    assert_eq!(api_titles(&b, &reader, "?q=description").await.len(), 1);

    // Written through `a` (as its ingestion would): `a` drops its cached pages at once.
    a.seed(&[article(2, "us", "en", "general")]).await;
    assert_eq!(news(&a, &reader).await.len(), 2);
    assert_eq!(search(&a, &reader, "description").await.len(), 2);
    // `b` may serve its cached pages until the TTL ends, never longer.
    let written = std::time::Instant::now();
    loop {
        let (page, api, found, api_found) = (
            news(&b, &reader).await.len(),
            api_titles(&b, &reader, "?country=us").await.len(),
            search(&b, &reader, "description").await.len(),
            api_titles(&b, &reader, "?q=description").await.len(),
        );
        if (page, api, found, api_found) == (2, 2, 2, 2) {
            break;
        }
        assert!(
            written.elapsed() < ttl + Duration::from_secs(2),
            "b still serves pages cached before the write ({page}, {api}, {found} and \
             {api_found} articles)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn readers_with_one_selection_share_a_page_and_the_metrics_show_it() {
    let app = spawn_app_with(|c| {
        long_ttl(c);
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    app.seed(&[
        article(1, "us", "en", "general"),
        article(2, "fr", "fr", "science"),
    ])
    .await;
    let readers = [
        app.signed_up("share_one").await,
        app.signed_up("share_two").await,
    ];
    let lookups = |text: &str, outcome: &str| -> f64 {
        let prefix = format!("newsread_feed_cache_lookups_total{{outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in the metrics"))
    };
    let metrics = || async {
        let addr = app.metrics_addr.expect("metrics listener");
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = metrics().await;
    for reader in &readers {
        assert_eq!(news(&app, reader).await.len(), 2);
    }
    let after = metrics().await;
    assert_eq!(lookups(&after, "miss") - lookups(&before, "miss"), 1.0);
    assert_eq!(lookups(&after, "hit") - lookups(&before, "hit"), 1.0);
    // A search, typed two ways that find the same articles: one read, one shared page.
    assert_eq!(search(&app, &readers[0], "science").await.len(), 1);
    assert_eq!(search(&app, &readers[1], "SCIENCE%21").await.len(), 1);
    let searched = metrics().await;
    assert_eq!(lookups(&searched, "miss") - lookups(&after, "miss"), 1.0);
    assert_eq!(lookups(&searched, "hit") - lookups(&after, "hit"), 1.0);

    // The shared page is rendered for each reader: their own names, their own CSRF tokens.
    let (_, one) = app.get_html(&readers[0], "/news").await;
    let (_, two) = app.get_html(&readers[1], "/news").await;
    assert!(one.contains("share_one") && !one.contains("share_two"));
    assert!(two.contains("share_two") && !two.contains("share_one"));
    assert_ne!(csrf_token(&one), csrf_token(&two));
    assert_eq!(titles(&one), titles(&two));
}
