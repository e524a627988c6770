//! `GET /api/v1/articles`: session auth, filters, limits, cursor paging, JSON errors.
mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

async fn json(app: &TestApp, client: &reqwest::Client, path: &str) -> (StatusCode, Value) {
    let r = app.get(client, path).await;
    let status = r.status();
    assert!(
        r.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{path}"
    );
    (status, r.json().await.unwrap())
}

fn ids(body: &Value) -> Vec<i64> {
    body["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn unauthenticated_gets_401_json_not_a_redirect() {
    let app = spawn_app().await;
    let (status, body) = json(&app, &browser(), "/api/v1/articles").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert!(body["error"]["message"].as_str().unwrap().len() > 5);
    let (status, body) = json(&app, &browser(), "/api/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
}

#[tokio::test]
async fn filters_limits_and_cursor_paging() {
    let app = spawn_app().await;
    let mut seed: Vec<_> = (1..=120)
        .map(|n| article(n, "us", "en", "business"))
        .collect();
    seed.extend((121..=130).map(|n| article(n, "gb", "en", "sports")));
    seed.extend((131..=135).map(|n| article(n, "fr", "fr", "sports")));
    app.seed(&seed).await;
    let client = app.signed_up("api_user").await;

    let (status, body) = json(&app, &client, "/api/v1/articles").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["articles"].as_array().unwrap().len(),
        30,
        "default limit"
    );
    let first = &body["articles"][0];
    assert_eq!(first["title"], "Article 135 from fr in fr about sports");
    for key in [
        "id",
        "title",
        "description",
        "url",
        "source",
        "author",
        "image_url",
        "category",
        "country",
        "language",
        "published_at",
    ] {
        assert!(first.get(key).is_some(), "missing {key}");
    }
    assert!(
        first["published_at"].as_str().unwrap().ends_with('Z'),
        "UTC RFC 3339"
    );

    // Repeatable and comma-separated filters.
    let (_, body) = json(
        &app,
        &client,
        "/api/v1/articles?country=gb&country=fr&category=sports&limit=100",
    )
    .await;
    assert_eq!(body["articles"].as_array().unwrap().len(), 15);
    assert!(body["next_cursor"].is_null());
    let (_, same) = json(
        &app,
        &client,
        "/api/v1/articles?country=gb,fr&category=sports&limit=100",
    )
    .await;
    assert_eq!(ids(&body), ids(&same));
    let (_, body) = json(&app, &client, "/api/v1/articles?language=fr").await;
    assert!(body["articles"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["language"] == "fr"));

    // Walk all 120 US articles 50 at a time: no gaps, no repeats, strictly newest first.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/articles?country=us&limit=50&cursor={c}"),
            None => "/api/v1/articles?country=us&limit=50".to_owned(),
        };
        let (status, body) = json(&app, &client, &path).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(ids(&body));
        pages += 1;
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 120);
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(seen, sorted, "unique and in order");

    // Articles published in the same second still page exactly (id breaks the tie).
    let same_time: Vec<_> = (200..230)
        .map(|n| newsread::domain::article::NewArticle {
            published_at: 1_900_000_000,
            ..article(n, "ng", "en", "health")
        })
        .collect();
    app.seed(&same_time).await;
    let (_, p1) = json(&app, &client, "/api/v1/articles?country=ng&limit=7").await;
    let mut all = ids(&p1);
    let mut next = p1["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = next {
        let (_, p) = json(
            &app,
            &client,
            &format!("/api/v1/articles?country=ng&limit=7&cursor={c}"),
        )
        .await;
        all.extend(ids(&p));
        next = p["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(all.len(), 30);
    all.dedup();
    assert_eq!(all.len(), 30);
}

#[tokio::test]
async fn bad_parameters_are_4xx_json_errors() {
    let app = spawn_app().await;
    let client = app.signed_up("api_errors").await;
    for (query, status, needle) in [
        ("limit=0", StatusCode::UNPROCESSABLE_ENTITY, "limit"),
        ("limit=101", StatusCode::UNPROCESSABLE_ENTITY, "limit"),
        ("limit=lots", StatusCode::BAD_REQUEST, "limit"),
        ("limit=-5", StatusCode::UNPROCESSABLE_ENTITY, "limit"),
        ("limit=1&limit=2", StatusCode::BAD_REQUEST, "only once"),
        ("cursor=garbage!", StatusCode::BAD_REQUEST, "cursor"),
        ("country=zz", StatusCode::UNPROCESSABLE_ENTITY, "country"),
        (
            "language=klingon",
            StatusCode::UNPROCESSABLE_ENTITY,
            "language",
        ),
        (
            "category=gossip",
            StatusCode::UNPROCESSABLE_ENTITY,
            "category",
        ),
        (
            "countries=us",
            StatusCode::BAD_REQUEST,
            "Unknown query parameter",
        ),
    ] {
        let (got, body) = json(&app, &client, &format!("/api/v1/articles?{query}")).await;
        assert_eq!(got, status, "{query}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{query}: {message}");
        assert!(body["error"]["code"].is_string());
    }
}

#[tokio::test]
async fn multi_value_filters_page_completely_and_in_order() {
    let app = spawn_app().await;
    let mut seed: Vec<_> = (1..=40)
        .map(|n| article(n, "us", "en", "business"))
        .collect();
    seed.extend((41..=60).map(|n| article(n, "gb", "en", "sports")));
    seed.extend((61..=75).map(|n| article(n, "ng", "fr", "sports")));
    seed.extend((76..=90).map(|n| article(n, "de", "de", "sports")));
    // Ties on the publication second across the branches.
    seed.extend((300..320).map(|n| {
        let country = ["us", "gb", "ng"][n as usize % 3];
        newsread::domain::article::NewArticle {
            published_at: 1_800_000_000,
            ..article(n, country, "en", "health")
        }
    }));
    app.seed(&seed).await;
    let client = app.signed_up("multi_filter").await;

    // Three countries (one branch each) with a second dimension, walked 7 at a time.
    let mut seen: Vec<(String, i64)> = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut path = "/api/v1/articles?country=us,gb,ng&language=en,fr&limit=7".to_owned();
        if let Some(c) = &next {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, body) = json(&app, &client, &path).await;
        assert_eq!(status, StatusCode::OK);
        for a in body["articles"].as_array().unwrap() {
            assert_ne!(a["country"], "de");
            seen.push((
                a["published_at"].as_str().unwrap().to_owned(),
                a["id"].as_i64().unwrap(),
            ));
        }
        match body["next_cursor"].as_str() {
            Some(c) => next = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen.len(),
        40 + 20 + 15 + 20,
        "every matching article exactly once"
    );
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "strictly newest first, ties broken by id"
    );
}
