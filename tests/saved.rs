//! Saved articles (issue 17): the Save buttons on the cards without JavaScript, the JSON API,
//! who sees whose saved state, paging, retention, cascades and writes while no primary
//! accepts them. Runs on the backend of `NEWSREAD_TEST_BACKEND`, like the whole suite.
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use reqwest::{Client, Method, Response, StatusCode};
use serde_json::Value;
use sqlx::Connection as _;

/// Article ids as the feed lists them, newest first.
async fn feed_ids(app: &TestApp, client: &Client) -> Vec<i64> {
    let r = app.get(client, "/api/v1/articles?limit=100").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect()
}

/// The ids of the cards whose save button shows "Saved", and of those showing "Save".
fn buttons(html: &str) -> (Vec<i64>, Vec<i64>) {
    let (mut saved, mut not) = (Vec::new(), Vec::new());
    for chunk in html
        .split("<button type=\"submit\" form=\"save-form\"")
        .skip(1)
    {
        let tag = &chunk[..chunk.find('>').expect("button tag ends")];
        let id: i64 = tag
            .split("data-save=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|s| s.parse().ok())
            .expect("button has data-save");
        let pressed = tag.contains("aria-pressed=\"true\"");
        assert_eq!(
            tag.contains(&format!("formaction=\"/saved/{id}/remove\"")),
            pressed,
            "a Saved button removes, a Save button saves: {tag}"
        );
        if pressed {
            saved.push(id);
        } else {
            assert!(tag.contains("aria-pressed=\"false\""), "{tag}");
            not.push(id);
        }
    }
    (saved, not)
}

async fn page(app: &TestApp, client: &Client, path: &str) -> String {
    let (status, html) = app.get_html(client, path).await;
    assert_eq!(status, StatusCode::OK, "{path}");
    html
}

/// Presses a card's button as a browser without JavaScript does: posts the page's save form
/// (its CSRF token and `next`) to the button's `formaction`.
async fn press(app: &TestApp, client: &Client, on: &str, id: i64, remove: bool) -> Response {
    let html = page(app, client, on).await;
    let form_at = html
        .find("id=\"save-form\"")
        .expect("the page has the save form");
    let token = csrf_token(&html[form_at..]);
    let action = if remove {
        format!("/saved/{id}/remove")
    } else {
        format!("/saved/{id}")
    };
    client
        .post(app.url(&action))
        .form(&[("csrf_token", token.as_str()), ("next", on)])
        .send()
        .await
        .unwrap()
}

/// The reader's session CSRF token, as the pages' script reads it.
async fn token(app: &TestApp, client: &Client) -> String {
    csrf_token(&page(app, client, "/news").await)
}

async fn api(
    app: &TestApp,
    client: &Client,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> Response {
    let mut request = client.request(method, app.url(path));
    if let Some(t) = token {
        request = request.header("X-CSRF-Token", t);
    }
    request.send().await.unwrap()
}

async fn error_code(r: Response) -> String {
    assert!(r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json")));
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().len() > 5);
    body["error"]["code"].as_str().unwrap().to_owned()
}

/// Ids and save times of the reader's saved articles, through the API, all pages.
async fn saved_via_api(app: &TestApp, client: &Client, limit: u32) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = app
            .get(
                client,
                &format!("/api/v1/saved?limit={limit}&cursor={cursor}"),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        let articles = body["articles"].as_array().unwrap();
        assert!(articles.len() <= limit as usize);
        for a in articles {
            assert!(a["title"].as_str().is_some() && a["url"].as_str().is_some());
            out.push((
                a["id"].as_i64().unwrap(),
                a["saved_at"].as_str().unwrap().to_owned(),
            ));
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return out,
        }
    }
}

async fn user_id(app: &TestApp, username: &str) -> i64 {
    install_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.database.url)
        .await
        .unwrap();
    let sql = backend().placeholders("SELECT id FROM users WHERE username_key = ?");
    let row = sqlx::query(&sql)
        .bind(username.to_ascii_lowercase())
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    sqlx::Row::get(&row, "id")
}

/// Runs one statement with parameters straight on the test database (a new connection, so
/// on SQLite with foreign keys enforced as the app's own connections have them).
async fn execute(app: &TestApp, sql: &str, params: &[i64]) -> u64 {
    install_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.database.url)
        .await
        .unwrap();
    let sql = backend().placeholders(sql);
    let mut q = sqlx::query(&sql);
    for p in params {
        q = q.bind(*p);
    }
    let done = q.execute(&mut conn).await.unwrap();
    conn.close().await.ok();
    done.rows_affected()
}

async fn count_where(app: &TestApp, sql: &str, params: &[i64]) -> i64 {
    install_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.database.url)
        .await
        .unwrap();
    let sql = backend().placeholders(sql);
    let mut q = sqlx::query(&sql);
    for p in params {
        q = q.bind(*p);
    }
    let row = q.fetch_one(&mut conn).await.unwrap();
    conn.close().await.ok();
    sqlx::Row::get(&row, "n")
}

async fn saved_rows(app: &TestApp, user_id: i64) -> i64 {
    let sql = "SELECT COUNT(*) AS n FROM saved_articles WHERE user_id = ?";
    count_where(app, sql, &[user_id]).await
}

fn articles(range: std::ops::RangeInclusive<i64>) -> Vec<newsread::domain::article::NewArticle> {
    range.map(|n| article(n, "us", "en", "general")).collect()
}

#[tokio::test]
async fn saving_and_removing_with_the_cards_buttons_without_javascript() {
    let app = spawn_app().await;
    app.seed(&articles(1..=5)).await;
    let reader = app.signed_up("form_saver").await;
    let ids = feed_ids(&app, &reader).await;
    let (saved, not) = buttons(&page(&app, &reader, "/news").await);
    assert!(saved.is_empty());
    assert_eq!(not, ids, "every card has a Save button");

    // Save the third card: back to the page, at the card, with a confirmation.
    let r = press(&app, &reader, "/news", ids[2], false).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/news#article-{}", ids[2]));
    let html = page(&app, &reader, "/news").await;
    assert!(html.contains("Article saved."), "flash");
    assert_eq!(buttons(&html).0, vec![ids[2]]);
    assert!(html.contains(&format!("id=\"article-{}\"", ids[2])));
    let saved_page = page(&app, &reader, "/saved").await;
    assert_eq!(
        titles(&saved_page),
        vec!["Article 3 from us in en about general"]
    );
    assert_eq!(buttons(&saved_page), (vec![ids[2]], vec![]));
    assert!(saved_page.contains("Saved just now"), "{saved_page}");
    assert!(saved_page.contains("aria-current=\"page\">Saved</a>"));

    // Removed from the saved page: back there, now empty.
    let r = press(&app, &reader, "/saved", ids[2], true).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/saved#article-{}", ids[2]));
    let html = page(&app, &reader, "/saved").await;
    assert!(html.contains("Article removed from your saved articles."));
    assert!(html.contains("No saved articles yet"), "empty state");
    assert!(titles(&html).is_empty());
    assert_eq!(
        buttons(&page(&app, &reader, "/news").await).0,
        Vec::<i64>::new()
    );

    // `next` only ever leads back into this site.
    let html = page(&app, &reader, "/news").await;
    let r = reader
        .post(app.url(&format!("/saved/{}", ids[1])))
        .form(&[
            ("csrf_token", csrf_token(&html).as_str()),
            ("next", "https://evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/news#article-{}", ids[1]));
}

#[tokio::test]
async fn saving_and_removing_twice_changes_nothing_the_second_time() {
    let app = spawn_app().await;
    app.seed(&articles(1..=3)).await;
    let reader = app.signed_up("twice_saver").await;
    let ids = feed_ids(&app, &reader).await;
    let uid = user_id(&app, "twice_saver").await;

    // Forms: twice each way, each a redirect; one row, then none.
    for _ in 0..2 {
        let r = press(&app, &reader, "/news", ids[0], false).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(saved_rows(&app, uid).await, 1);
    }
    for _ in 0..2 {
        let r = press(&app, &reader, "/news", ids[0], true).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(saved_rows(&app, uid).await, 0);
    }

    // API: 204 every time; saving again keeps the first save time.
    let t = token(&app, &reader).await;
    let path = format!("/api/v1/saved/{}", ids[1]);
    let r = api(&app, &reader, Method::PUT, &path, Some(&t)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let first = saved_via_api(&app, &reader, 30).await;
    assert_eq!(first.len(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = api(&app, &reader, Method::PUT, &path, Some(&t)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        saved_via_api(&app, &reader, 30).await,
        first,
        "first save time kept"
    );
    assert_eq!(saved_rows(&app, uid).await, 1);
    for _ in 0..2 {
        let r = api(&app, &reader, Method::DELETE, &path, Some(&t)).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(saved_rows(&app, uid).await, 0);
    }
}

#[tokio::test]
async fn writes_need_the_readers_own_csrf_token() {
    let app = spawn_app().await;
    app.seed(&articles(1..=2)).await;
    let reader = app.signed_up("csrf_saver").await;
    let other = app.signed_up("csrf_other").await;
    let ids = feed_ids(&app, &reader).await;
    let path = format!("/api/v1/saved/{}", ids[0]);
    let own = token(&app, &reader).await;
    let foreign = token(&app, &other).await;
    assert_ne!(own, foreign);
    let wrong = "A".repeat(own.len());
    let shorter = &own[..own.len() - 1];

    for method in [Method::PUT, Method::DELETE] {
        for t in [
            None,
            Some(""),
            Some(wrong.as_str()),
            Some(shorter),
            Some(foreign.as_str()),
        ] {
            let r = api(&app, &reader, method.clone(), &path, t).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{method} with {t:?}");
            assert_eq!(error_code(r).await, "csrf_failed");
        }
    }
    assert_eq!(app.count("saved_articles").await, 0);
    // The token in a form field or a query does not count for the API.
    let r = reader
        .put(app.url(&format!("{path}?csrf_token={own}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The forms: without the token, or with another reader's.
    for t in ["", foreign.as_str()] {
        let r = reader
            .post(app.url(&format!("/saved/{}", ids[0])))
            .form(&[("csrf_token", t), ("next", "/news")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "form with {t:?}");
    }
    assert_eq!(app.count("saved_articles").await, 0);

    // With the right header it works.
    let r = api(&app, &reader, Method::PUT, &path, Some(&own)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.count("saved_articles").await, 1);
}

#[tokio::test]
async fn unknown_articles_are_404_and_malformed_ids_400_never_500() {
    let app = spawn_app().await;
    app.seed(&articles(1..=1)).await;
    let reader = app.signed_up("id_prober").await;
    let t = token(&app, &reader).await;
    let known = feed_ids(&app, &reader).await[0];
    let unknown = known + 1000;
    for method in [Method::PUT, Method::DELETE] {
        let r = api(
            &app,
            &reader,
            method.clone(),
            &format!("/api/v1/saved/{unknown}"),
            Some(&t),
        )
        .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method}");
        assert_eq!(error_code(r).await, "not_found");
        for bad in [
            "abc",
            "0",
            "-1",
            "1.5",
            "%2B1",
            "99999999999999999999999",
            "%FF",
        ] {
            let r = api(
                &app,
                &reader,
                method.clone(),
                &format!("/api/v1/saved/{bad}"),
                Some(&t),
            )
            .await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{method} {bad}");
            assert_eq!(error_code(r).await, "bad_request");
        }
    }
    assert_eq!(app.count("saved_articles").await, 0);

    // The forms: an unknown or malformed id is a page that is not there.
    let html = page(&app, &reader, "/news").await;
    for id in [unknown.to_string(), "abc".to_owned(), "0".to_owned()] {
        let r = reader
            .post(app.url(&format!("/saved/{id}")))
            .form(&[
                ("csrf_token", csrf_token(&html).as_str()),
                ("next", "/news"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{id}");
    }
    assert_eq!(app.count("saved_articles").await, 0);
}

#[tokio::test]
async fn without_a_session_the_api_answers_401_and_pages_ask_to_log_in() {
    let app = spawn_app().await;
    app.seed(&articles(1..=1)).await;
    let reader = app.signed_up("session_owner").await;
    let id = feed_ids(&app, &reader).await[0];
    let t = token(&app, &reader).await;
    let stranger = browser();
    let r = app.get(&stranger, "/api/v1/saved").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(r).await, "unauthenticated");
    for method in [Method::PUT, Method::DELETE] {
        // Even with a valid token of someone's session: no cookie, no reader.
        let r = api(
            &app,
            &stranger,
            method,
            &format!("/api/v1/saved/{id}"),
            Some(&t),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(r).await, "unauthenticated");
    }
    let r = app.get(&stranger, "/saved").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=%2Fsaved");
    let r = stranger
        .post(app.url(&format!("/saved/{id}")))
        .form(&[("csrf_token", t.as_str()), ("next", "/news?cursor=x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=%2Fnews%3Fcursor%3Dx");
    assert_eq!(app.count("saved_articles").await, 0);

    // After logging out, the old session's token is worth nothing either.
    let r = app.logout(&reader).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = api(
        &app,
        &reader,
        Method::PUT,
        &format!("/api/v1/saved/{id}"),
        Some(&t),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let header = app.get(&browser(), "/login").await.text().await.unwrap();
    assert!(
        !header.contains("href=\"/saved\""),
        "no Saved link for visitors"
    );
}

#[tokio::test]
async fn another_reader_never_sees_my_saved_state_on_the_shared_cached_cards() {
    // One cached page for both readers (same selection), kept far longer than the test.
    let app = spawn_app_with(|c| c.database.feed_cache_ttl = Duration::from_secs(60)).await;
    app.seed(&articles(1..=4)).await;
    let mine = app.signed_up("my_saves").await;
    let theirs = app.signed_up("their_view").await;
    let ids = feed_ids(&app, &mine).await;

    // I save before anyone has loaded the news page: my request renders the shared cards.
    let t = csrf_token(&page(&app, &mine, "/saved").await);
    let r = api(
        &app,
        &mine,
        Method::PUT,
        &format!("/api/v1/saved/{}", ids[1]),
        Some(&t),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let my_page = page(&app, &mine, "/news").await;
    assert_eq!(buttons(&my_page).0, vec![ids[1]]);
    let their_page = page(&app, &theirs, "/news").await;
    let (saved, not) = buttons(&their_page);
    assert!(saved.is_empty(), "they see my saved state: {saved:?}");
    assert_eq!(not, ids);
    assert!(!their_page.contains(&t), "my CSRF token on their page");
    // Same cards, same order: only the buttons differ.
    assert_eq!(titles(&my_page), titles(&their_page));

    // They save another article; each sees only their own, on the same cached page.
    let r = press(&app, &theirs, "/news", ids[3], false).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(buttons(&page(&app, &theirs, "/news").await).0, vec![ids[3]]);
    assert_eq!(buttons(&page(&app, &mine, "/news").await).0, vec![ids[1]]);
    let ids_of = |v: Vec<(i64, String)>| v.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
    assert_eq!(ids_of(saved_via_api(&app, &mine, 30).await), vec![ids[1]]);
    assert_eq!(ids_of(saved_via_api(&app, &theirs, 30).await), vec![ids[3]]);
    assert_eq!(
        titles(&page(&app, &theirs, "/saved").await),
        vec!["Article 1 from us in en about general"]
    );

    // Removing mine touches nothing of theirs.
    let r = press(&app, &mine, "/news", ids[1], true).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(buttons(&page(&app, &mine, "/news").await).0.is_empty());
    assert_eq!(buttons(&page(&app, &theirs, "/news").await).0, vec![ids[3]]);
    // A reader cannot remove another's saved article: DELETE acts on one's own list only.
    let r = api(
        &app,
        &mine,
        Method::DELETE,
        &format!("/api/v1/saved/{}", ids[3]),
        Some(&t),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(ids_of(saved_via_api(&app, &theirs, 30).await), vec![ids[3]]);
}

#[tokio::test]
async fn saved_articles_are_listed_newest_saved_first_page_by_page() {
    let app = spawn_app().await;
    app.seed(&articles(1..=35)).await;
    let reader = app.signed_up("pager").await;
    let uid = user_id(&app, "pager").await;
    let ids = feed_ids(&app, &reader).await;
    assert_eq!(ids.len(), 35);
    // Saved in an order unlike publication: every 8th article of the feed, round and round.
    let order: Vec<i64> = (0..35).map(|i| ids[(i * 8) % 35]).collect();
    let base = 1_800_000_000;
    for (i, id) in order.iter().enumerate() {
        let fresh = app
            .db
            .save_article(uid, *id, base + i as i64 * 10)
            .await
            .unwrap();
        assert!(fresh);
    }
    let newest_first: Vec<i64> = order.iter().rev().copied().collect();

    // The web page: 30, then the 5 saved earliest, then the end.
    let html = page(&app, &reader, "/saved").await;
    let (shown, _) = buttons(&html);
    assert_eq!(shown, newest_first[..30]);
    let older = html
        .split("href=\"")
        .find_map(|s| s.strip_prefix("/saved?cursor="))
        .and_then(|s| s.split('"').next())
        .expect("a link to older saved articles");
    let html = page(&app, &reader, &format!("/saved?cursor={older}")).await;
    assert_eq!(buttons(&html).0, newest_first[30..]);
    assert!(html.contains("That is everything you saved."));
    assert!(!html.contains("rel=\"next\""));
    let r = app.get(&reader, "/saved?cursor=%%%").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // The API, 8 at a time: the same order, every article once.
    let listed = saved_via_api(&app, &reader, 8).await;
    let listed_ids: Vec<i64> = listed.iter().map(|(id, _)| *id).collect();
    assert_eq!(listed_ids, newest_first);
    assert!(listed[0].1.ends_with('Z'), "RFC 3339 UTC: {}", listed[0].1);
    let r = app.get(&reader, "/api/v1/saved?limit=101").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.get(&reader, "/api/v1/saved?country=us").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Saved in the same second: the higher id first, still every one exactly once.
    let other = app.signed_up("same_second").await;
    let oid = user_id(&app, "same_second").await;
    for id in &ids[..5] {
        app.db.save_article(oid, *id, base).await.unwrap();
    }
    let listed: Vec<i64> = saved_via_api(&app, &other, 2)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut expected = ids[..5].to_vec();
    expected.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn retention_keeps_saved_articles_and_deletes_the_others() {
    let app = spawn_app().await;
    // Ten old articles (published 1_700_000_060 + ...), two recent ones.
    let mut seed = articles(1..=10);
    seed.extend((11..=12).map(|n| newsread::domain::article::NewArticle {
        published_at: 1_900_000_000 + n,
        ..article(n, "gb", "en", "sports")
    }));
    app.seed(&seed).await;
    let one = app.signed_up("keeper_one").await;
    let two = app.signed_up("keeper_two").await;
    let ids = feed_ids(&app, &one).await;
    // Newest first: the two recent ones, then article 10 down to 1.
    let (old_saved_by_one, old_saved_by_two) = (ids[2 + 6], ids[2 + 9]); // articles 4 and 1
    for (client, id) in [(&one, old_saved_by_one), (&two, old_saved_by_two)] {
        let r = press(&app, client, "/news", id, false).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    // A small batch, so that the loop runs several statements, each skipping saved ones.
    let cutoff = 1_800_000_000;
    let mut deleted = 0;
    loop {
        let n = app
            .db
            .delete_articles_published_before(cutoff, 3)
            .await
            .unwrap();
        deleted += n;
        if n < 3 {
            break;
        }
    }
    assert_eq!(deleted, 8, "the ten old ones but the two saved");
    assert_eq!(app.count("articles").await, 4);
    assert_eq!(app.count("saved_articles").await, 2);
    app.sync_replica().await;
    assert_eq!(
        titles(&page(&app, &one, "/saved").await),
        vec!["Article 4 from us in en about general"]
    );
    assert_eq!(
        titles(&page(&app, &two, "/saved").await),
        vec!["Article 1 from us in en about general"]
    );
    // Once nobody keeps it, the next run deletes it.
    let r = press(&app, &one, "/saved", old_saved_by_one, true).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.db
            .delete_articles_published_before(cutoff, 500)
            .await
            .unwrap(),
        1
    );
    assert_eq!(app.count("articles").await, 3);
}

#[tokio::test]
async fn deleting_a_reader_or_an_article_removes_its_saved_rows() {
    let app = spawn_app().await;
    app.seed(&articles(1..=3)).await;
    let gone = app.signed_up("leaving_reader").await;
    let stays = app.signed_up("staying_reader").await;
    let ids = feed_ids(&app, &gone).await;
    for client in [&gone, &stays] {
        for id in &ids[..2] {
            let r = press(&app, client, "/news", *id, false).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
        }
    }
    assert_eq!(app.count("saved_articles").await, 4);
    let gone_id = user_id(&app, "leaving_reader").await;
    assert_eq!(
        execute(&app, "DELETE FROM users WHERE id = ?", &[gone_id]).await,
        1
    );
    let n = "SELECT COUNT(*) AS n FROM saved_articles WHERE user_id = ?";
    assert_eq!(count_where(&app, n, &[gone_id]).await, 0);
    assert_eq!(
        app.count("saved_articles").await,
        2,
        "the other reader's stay"
    );
    assert_eq!(app.count("articles").await, 3, "articles stay");
    // An article deleted by hand (not by retention) takes its saved rows with it.
    assert_eq!(
        execute(&app, "DELETE FROM articles WHERE id = ?", &[ids[0]]).await,
        1
    );
    assert_eq!(app.count("saved_articles").await, 1);
    app.sync_replica().await;
    let (shown, _) = buttons(&page(&app, &stays, "/saved").await);
    assert_eq!(shown, vec![ids[1]]);
}

/// A TCP proxy in front of a database server that can be cut (every connection dropped, new
/// ones closed at once) and restored: the primary "goes away" for this app only.
async fn cuttable_proxy(upstream: SocketAddr) -> (SocketAddr, tokio::sync::watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (cut, watch) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            if *watch.borrow() {
                continue;
            }
            let mut watch = watch.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = watch.wait_for(|cut| *cut) => {}
                }
            });
        }
    });
    (addr, cut)
}

#[tokio::test]
async fn saving_while_the_primary_cannot_take_writes_answers_503_and_offers_it_again() {
    let database = fresh_database().await;
    // SQLite: another connection holds the write lock past the busy timeout. Servers: the
    // app reaches its primary through a proxy that is cut, and reads through a direct
    // connection standing in for a replica (the failover rules: reads go on, writes 503).
    let mut proxy = None;
    let app = match backend() {
        Dialect::Sqlite => spawn_on(database, |_| {}).await,
        _ => {
            let direct = url::Url::parse(&database.url).unwrap();
            let upstream: SocketAddr =
                format!("{}:{}", direct.host_str().unwrap(), direct.port().unwrap())
                    .parse()
                    .unwrap();
            let (addr, cut) = cuttable_proxy(upstream).await;
            let mut via = direct.clone();
            via.set_port(Some(addr.port())).unwrap();
            proxy = Some(cut);
            let db = TestDatabase::on_server(via.to_string(), Some(direct.to_string()));
            spawn_on(db, |_| {}).await
        }
    };
    app.db.upsert_articles(&articles(1..=2), 0).await.unwrap();
    let reader = app.signed_up("failover_saver").await;
    let ids = feed_ids(&app, &reader).await;
    let t = token(&app, &reader).await;
    let news = page(&app, &reader, "/news").await;

    let mut lock = None;
    match &proxy {
        None => {
            install_drivers();
            let mut conn = sqlx::AnyConnection::connect(&app.database.url)
                .await
                .unwrap();
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut conn)
                .await
                .unwrap();
            lock = Some(conn);
        }
        Some(cut) => {
            cut.send_replace(true);
            for _ in 0..100 {
                if !app.db.primary_healthy() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(!app.db.primary_healthy(), "the probe saw the primary go");
            // Reading goes on.
            assert_eq!(buttons(&page(&app, &reader, "/news").await).1, ids);
        }
    }

    // The form: 503, Retry-After, and the same save offered again.
    let r = reader
        .post(app.url(&format!("/saved/{}", ids[0])))
        .form(&[
            ("csrf_token", csrf_token(&news).as_str()),
            ("next", "/news"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("retry-after").is_some());
    let html = r.text().await.unwrap();
    assert!(html.contains("read-only for a moment"), "{html}");
    assert!(
        html.contains(&format!("action=\"/saved/{}\"", ids[0])),
        "{html}"
    );
    assert!(html.contains("Save again") && html.contains(&t));
    // The API: 503 JSON with Retry-After, for saving and removing.
    for method in [Method::PUT, Method::DELETE] {
        let r = api(
            &app,
            &reader,
            method,
            &format!("/api/v1/saved/{}", ids[0]),
            Some(&t),
        )
        .await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().get("retry-after").is_some());
        assert_eq!(error_code(r).await, "unavailable");
    }

    // Back to normal: the save offered again goes through.
    match (&proxy, lock.take()) {
        (None, Some(mut conn)) => {
            sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            conn.close().await.ok();
        }
        (Some(cut), _) => {
            cut.send_replace(false);
        }
        (None, None) => unreachable!(),
    }
    let mut saved = false;
    for _ in 0..100 {
        let r = reader
            .post(app.url(&format!("/saved/{}", ids[0])))
            .form(&[("csrf_token", t.as_str()), ("next", "/news")])
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::SEE_OTHER {
            saved = true;
            break;
        }
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(saved, "saving works again once the primary is back");
    assert_eq!(buttons(&page(&app, &reader, "/news").await).0, vec![ids[0]]);
}
