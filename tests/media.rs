//! The shared image cache: fetched once, served by every instance from the shared directory,
//! and never a way to reach private addresses.
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::get;
use common::*;
use newsread::domain::article::NewArticle;
use reqwest::StatusCode;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-test-image-bytes";

/// An image host on loopback: a PNG, an HTML page posing as an image, and hit counts.
async fn image_host() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let (h1, h2) = (hits.clone(), hits.clone());
    let app = axum::Router::new()
        .route(
            "/photo.png",
            get(move || async move {
                h1.fetch_add(1, Ordering::SeqCst);
                ([("content-type", "image/png")], PNG)
            }),
        )
        .route(
            "/fake.png",
            get(move || async move {
                h2.fetch_add(1, Ordering::SeqCst);
                (
                    [("content-type", "image/png")],
                    "<html><script>alert(1)</script></html>",
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits)
}

fn with_image(n: i64, url: String) -> NewArticle {
    NewArticle {
        image_url: Some(url),
        ..article(n, "us", "en", "general")
    }
}

/// The image URL of the first card on the news page.
async fn first_image(app: &TestApp, client: &reqwest::Client) -> String {
    let (_, html) = app.get_html(client, "/news").await;
    let card = html.split("class=\"card-media\"").nth(1).expect("a card");
    card.split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an img")
        .to_owned()
}

#[tokio::test]
async fn images_are_fetched_once_and_served_by_every_instance() {
    let (host, hits) = image_host().await;
    let shared = tempfile::tempdir().unwrap();
    let dir = shared.path().to_owned();
    let tweak = |c: &mut newsread::config::Config| {
        c.shared_dir = Some(dir.clone());
        c.media_private_addresses = true;
    };
    let first = spawn_app_with(tweak).await;
    first
        .seed(&[with_image(1, format!("{host}/photo.png"))])
        .await;
    let second = spawn_on(first.same_database(), tweak).await;

    let client = first.signed_up("picture_fan").await;
    let src = first_image(&first, &client).await;
    assert!(
        src.starts_with("/media/"),
        "the page points at the cache, not the host: {src}"
    );
    let r = first.get(&client, &src).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert!(r.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    assert_eq!(&r.bytes().await.unwrap()[..], PNG);
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // Another instance sharing the directory serves it without fetching again.
    let r = second.get(&browser(), &src).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(&r.bytes().await.unwrap()[..], PNG);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "served from the shared directory"
    );
    let stored = walk(shared.path());
    assert_eq!(stored.len(), 1, "{stored:?}");

    // URLs that do not name a stored article's image are not fetched.
    for bad in [
        "/media/1/0000000000000000",
        "/media/999/abcdefabcdefabcd",
        "/media/x/y",
    ] {
        assert_eq!(
            first.get(&client, bad).await.status(),
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn non_images_and_private_addresses_get_the_placeholder() {
    let (host, hits) = image_host().await;
    let shared = tempfile::tempdir().unwrap();
    // Default: private addresses refused, as an image host inside the VPC or the metadata
    // service would be.
    let dir = shared.path().to_owned();
    let app = spawn_app_with(move |c| c.shared_dir = Some(dir)).await;
    app.seed(&[
        with_image(1, format!("{host}/photo.png")),
        with_image(2, format!("{host}/fake.png")),
    ])
    .await;
    let client = app.signed_up("careful_reader").await;
    let (_, html) = app.get_html(&client, "/news").await;
    let srcs: Vec<String> = html
        .split("class=\"card-media\"")
        .skip(1)
        .filter_map(|c| {
            c.split("src=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(srcs.len(), 2);
    for src in &srcs {
        let r = app.get(&client, src).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()["content-type"],
            "image/svg+xml",
            "placeholder for {src}"
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing was fetched from a loopback host"
    );

    // Allowed to reach loopback, a page posing as an image is still refused.
    let shared2 = tempfile::tempdir().unwrap();
    let dir2 = shared2.path().to_owned();
    let local = spawn_app_with(move |c| {
        c.shared_dir = Some(dir2);
        c.media_private_addresses = true;
    })
    .await;
    local
        .seed(&[with_image(2, format!("{host}/fake.png"))])
        .await;
    let client = local.signed_up("careful_reader").await;
    let src = first_image(&local, &client).await;
    let r = local.get(&client, &src).await;
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // A failure is remembered: the next view does not hit the host again.
    local.get(&client, &src).await;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn without_a_shared_directory_images_link_to_their_source() {
    let app = spawn_app().await;
    app.seed(&[with_image(1, "https://images.example.org/a.jpg".to_owned())])
        .await;
    let client = app.signed_up("direct_reader").await;
    assert_eq!(
        first_image(&app, &client).await,
        "https://images.example.org/a.jpg"
    );
    assert_eq!(
        app.get(&client, "/media/1/0123456789abcdef").await.status(),
        StatusCode::NOT_FOUND
    );
}

/// A listener that counts the connections made to it and closes them: a proxy that records.
async fn recording_proxy() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (format!("http://{addr}"), connections)
}

#[tokio::test]
async fn proxy_variables_do_not_route_image_fetches_around_the_address_check() {
    let (host, hits) = image_host().await;
    let (proxy, proxied) = recording_proxy().await;
    let shared = tempfile::tempdir().unwrap();
    let database = fresh_database().await;
    let config = test_config(&database);
    // A server process of its own: proxy variables are process-wide.
    let dir = shared.path().display().to_string();
    let mut env: Vec<(&str, &str)> = vec![
        ("NEWSREAD_SHARED_DIR", &dir),
        ("NEWSREAD_MEDIA_PRIVATE_ADDRESSES", "on"),
        ("NEWSREAD_SAMPLE_NEWS", "off"),
        ("NEWSREAD_INGEST", "off"),
    ];
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        env.push((var, &proxy));
    }
    let server = common::server::start_server_on(database, &env).await;
    let db = newsread::storage::Db::connect(&config.database).expect("connect");
    db.upsert_articles(&[with_image(1, format!("{host}/photo.png"))], 0)
        .await
        .expect("seed");

    let client = browser();
    let r = register_at(
        &server.base(),
        &client,
        "proxied",
        "proxied@example.com",
        "correct horse battery",
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = client
        .get(format!("{}/news", server.base()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let src = html
        .split("class=\"card-media\"")
        .nth(1)
        .and_then(|c| c.split("src=\"").nth(1))
        .and_then(|s| s.split('"').next())
        .expect("an image")
        .to_owned();
    let r = client
        .get(format!("{}{src}", server.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.load(Ordering::SeqCst), 0, "the proxy was used");
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(&r.bytes().await.unwrap()[..], PNG);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "fetched from the host itself"
    );
}

#[tokio::test]
async fn concurrent_first_requests_share_one_upstream_fetch() {
    // A slow image host: every request overlaps the first one's fetch.
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let host = axum::Router::new().route(
        "/slow.png",
        get(move || async move {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            ([("content-type", "image/png")], PNG)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, host).await });
    let shared = tempfile::tempdir().unwrap();
    let dir = shared.path().to_owned();
    let app = spawn_app_with(move |c| {
        c.shared_dir = Some(dir);
        c.media_private_addresses = true;
    })
    .await;
    app.seed(&[with_image(1, format!("http://{addr}/slow.png"))])
        .await;
    let client = app.signed_up("eager_viewer").await;
    let src = first_image(&app, &client).await;
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let url = app.url(&src);
            tokio::spawn(async move {
                let r = reqwest::get(url).await.expect("GET image");
                let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
                let length = r.headers()["content-length"].to_str().unwrap().to_owned();
                (kind, length, r.bytes().await.unwrap())
            })
        })
        .collect();
    for r in requests {
        let (kind, length, bytes) = r.await.unwrap();
        assert_eq!(kind, "image/png");
        assert_eq!(length, PNG.len().to_string());
        assert_eq!(&bytes[..], PNG);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "one upstream fetch for all");
}
