//! Search (issue 17) through the news page and the API, on the backend of this run: words,
//! phrases, exclusions, case and accents, stemming where the engine stems, the reader's
//! selection, keyset paging, limits, and hostile input that must never be syntax.
mod common;

use common::*;
use newsread::domain::article::NewArticle;
use reqwest::StatusCode;
use serde_json::Value;

fn story(
    n: i64,
    language: &'static str,
    country: &'static str,
    title: &str,
    description: &str,
) -> NewArticle {
    NewArticle {
        title: title.to_owned(),
        description: description.to_owned(),
        ..article(n, country, language, "general")
    }
}

fn newsroom() -> Vec<NewArticle> {
    vec![
        story(
            1,
            "en",
            "us",
            "Telescope finds distant galaxies",
            "Astronomers report a survey.",
        ),
        story(
            2,
            "en",
            "gb",
            "The final release of the budget",
            "Parliament votes on spending.",
        ),
        story(
            3,
            "en",
            "us",
            "Release final notes for the telescope",
            "A budget telescope for schools.",
        ),
        story(
            4,
            "fr",
            "fr",
            "Élection municipale à Lyon",
            "Les résultats de l'élection sont connus.",
        ),
        story(
            5,
            "de",
            "de",
            "Neue Brücke über den Rhein",
            "Die Stadt eröffnet die Brücke.",
        ),
        story(
            6,
            "en",
            "ng",
            "Harbour authority opens terminal",
            "Lagos harbour expands its capacity.",
        ),
    ]
}

async fn app_with_newsroom() -> (TestApp, reqwest::Client) {
    let app = spawn_app().await;
    app.seed(&newsroom()).await;
    let client = app.signed_up("searcher").await;
    (app, client)
}

async fn search(app: &TestApp, client: &reqwest::Client, q: &str) -> (StatusCode, String) {
    let path = format!("/news?q={}", urlencoding(q));
    app.get_html(client, &path).await
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn numbers(html: &str) -> Vec<i64> {
    let mut found: Vec<i64> = newsroom()
        .iter()
        .enumerate()
        .filter(|(_, a)| titles(html).iter().any(|t| t == &a.title))
        .map(|(i, _)| i as i64 + 1)
        .collect();
    found.sort_unstable();
    found
}

#[tokio::test]
async fn words_phrases_and_exclusions_find_the_right_articles() {
    let (app, client) = app_with_newsroom().await;
    let cases: &[(&str, &[i64])] = &[
        ("telescope", &[1, 3]),
        ("TELESCOPE", &[1, 3]),
        ("telescope budget", &[3]),
        ("\"final release\"", &[2]),
        ("\"release final\"", &[3]),
        ("telescope -budget", &[1]),
        ("harbour -\"authority opens\"", &[]),
        // Accents do not matter, either way.
        ("election", &[4]),
        ("brucke", &[5]),
        ("élection", &[4]),
    ];
    for (q, expected) in cases {
        let (status, html) = search(&app, &client, q).await;
        assert_eq!(status, StatusCode::OK, "{q}");
        assert_eq!(numbers(&html), *expected, "q = {q}");
    }
}

#[tokio::test]
async fn words_are_stemmed_where_the_engine_stems() {
    let (app, client) = app_with_newsroom().await;
    let (_, html) = search(&app, &client, "galaxy").await;
    if backend() == Dialect::MySql {
        // InnoDB FULLTEXT does not stem (documented).
        assert_eq!(numbers(&html), Vec::<i64>::new());
    } else {
        assert_eq!(numbers(&html), [1]);
    }
}

#[tokio::test]
async fn results_are_the_readers_selection_newest_first_with_keyset_paging() {
    let app = spawn_app().await;
    // 45 matching articles in Nigeria, 10 matching ones elsewhere, 20 that do not match.
    let mut articles: Vec<NewArticle> = (1..=45)
        .map(|n| {
            story(
                n,
                "en",
                "ng",
                &format!("Festival day {n}"),
                "Music in Lagos.",
            )
        })
        .collect();
    articles
        .extend((46..=55).map(|n| story(n, "en", "us", &format!("Festival day {n}"), "Music.")));
    articles
        .extend((56..=75).map(|n| story(n, "en", "ng", &format!("Market report {n}"), "Prices.")));
    app.seed(&articles).await;
    let client = app.signed_up("pager").await;
    let r = app.customize(&client, &[("country", "ng")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let (status, first) = search(&app, &client, "festival").await;
    assert_eq!(status, StatusCode::OK);
    let first_titles = titles(&first);
    let expected: Vec<String> = (16..=45)
        .rev()
        .map(|n| format!("Festival day {n}"))
        .collect();
    assert_eq!(first_titles, expected);
    let marker = "href=\"/news?q=festival&#38;cursor=";
    let start = first
        .find(marker)
        .unwrap_or_else(|| panic!("no older link: {first}"))
        + 6;
    let end = first[start..].find('"').unwrap() + start;
    let next = first[start..end].replace("&#38;", "&");
    let (_, second) = app.get_html(&client, &next).await;
    let expected: Vec<String> = (1..=15)
        .rev()
        .map(|n| format!("Festival day {n}"))
        .collect();
    assert_eq!(titles(&second), expected);
    // (The page's save form names the page itself, cursor included, as where to come back.)
    assert!(
        !second.contains("href=\"/news?q=festival&#38;cursor="),
        "the last page links no further"
    );
}

#[tokio::test]
async fn hostile_queries_are_words_never_errors_and_are_shown_escaped() {
    let (app, client) = app_with_newsroom().await;
    for q in [
        "\"",
        "\"\"\"",
        "-",
        "%",
        "*",
        "%telescope%",
        "tele*",
        "' OR 1=1 --",
        "telescope' OR '1'='1",
        "\"; DROP TABLE articles; --",
        "NEAR(telescope budget)",
        "title:telescope",
        "telescope AND NOT budget",
        "^telescope",
        "+telescope -",
        "(telescope",
        "telescope OR budget",
        "<script>alert(1)</script>",
        "a\u{0}b",
        "ü",
        "🙂",
        "-\"unclosed phrase",
    ] {
        let (status, html) = search(&app, &client, q).await;
        assert_eq!(status, StatusCode::OK, "q = {q:?}");
        assert!(!html.contains("<script>alert"), "q = {q:?} is escaped");
        if !titles(&html).is_empty() {
            continue;
        }
        assert!(html.contains("No articles match"), "q = {q:?}: {html}");
    }
    // Operators are words, never syntax: `telescope AND NOT budget` is not "telescope
    // without budget" (article 1). It asks for the words "and" and "not" too (nothing
    // matches), or, where they are stop words (PostgreSQL's English), for telescope and
    // budget (article 3).
    let (_, html) = search(&app, &client, "telescope AND NOT budget").await;
    let found = numbers(&html);
    assert!(found.is_empty() || found == [3], "{found:?}");
    // The table is still there.
    assert_eq!(app.count("articles").await, 6);
}

#[tokio::test]
async fn limits_are_enforced_with_a_message() {
    let (app, client) = app_with_newsroom().await;
    let (status, html) = search(&app, &client, &"x".repeat(201)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("at most 200 characters"), "{html}");
    let (status, _) = search(&app, &client, &"x".repeat(200)).await;
    assert_eq!(status, StatusCode::OK);
    let many = "telescope one two three four five six seven eight nine ten";
    let (status, html) = search(&app, &client, many).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Only the first 10 words were searched"));
}

#[tokio::test]
async fn the_api_searches_too() {
    let (app, client) = app_with_newsroom().await;
    let get = |q: &str| {
        let url = app.url(&format!("/api/v1/articles?q={}", urlencoding(q)));
        let client = client.clone();
        async move { client.get(url).send().await.expect("GET") }
    };
    let r = get("telescope -budget").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let titles: Vec<&str> = body["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Telescope finds distant galaxies"]);
    assert!(body["next_cursor"].is_null());
    // The API's own filters apply (not the reader's saved selection).
    let url = app.url("/api/v1/articles?q=telescope&country=gb");
    let body: Value = client.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["articles"].as_array().unwrap().len(), 0);
    let r = get(&"y".repeat(201)).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("200"),
        "{body}"
    );
    for q in ["' OR 1=1 --", "\"", "%", "*"] {
        assert_eq!(get(q).await.status(), StatusCode::OK, "{q}");
    }
}

#[tokio::test]
async fn new_and_changed_articles_are_searchable_and_deleted_ones_are_not() {
    let (app, client) = app_with_newsroom().await;
    let mut changed = newsroom()[0].clone();
    changed.title = "Observatory spots a comet".into();
    app.db.upsert_articles(&[changed], 10).await.unwrap();
    app.sync_replica().await;
    let (_, html) = search(&app, &client, "comet").await;
    assert_eq!(titles(&html), ["Observatory spots a comet"]);
    let (_, html) = search(&app, &client, "galaxies").await;
    assert!(
        titles(&html).is_empty(),
        "the old title is no longer indexed"
    );
    // Retention deletes everything published before the cutoff.
    let deleted = app
        .db
        .delete_articles_published_before(i64::MAX, 100)
        .await
        .unwrap();
    assert_eq!(deleted, 6);
    app.sync_replica().await;
    let (_, html) = search(&app, &client, "harbour").await;
    assert!(titles(&html).is_empty());
}
