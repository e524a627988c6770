//! Hostile input is stored and shown literally; headers and cookies are locked down.
mod common;

use common::*;
use newsread::domain::article::NewArticle;
use reqwest::StatusCode;

#[tokio::test]
async fn sql_injection_strings_are_just_text() {
    let app = spawn_app().await;
    // The reference app's login was injectable with exactly this kind of input.
    let client = browser();
    let r = app
        .login(&client, "' OR '1'='1' --", "' OR '1'='1' --")
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let sneaky = "a'); DROP TABLE users; --";
    let r = app
        .register(&browser(), "robert.tables", "bobby@example.com", sneaky)
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "a password with SQL in it is just a password"
    );
    let client = browser();
    assert_eq!(
        app.login(&client, "robert.tables", sneaky).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(app.count("users").await, 1, "users table intact");

    // Filters are bound parameters too.
    let r = app
        .get(&client, "/api/v1/articles?country=us'%20OR%201=1--")
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// Decodes the entities an HTML escaper may use, to compare what a reader would see.
fn unescape(html: &str) -> String {
    [
        ("&#60;", "<"),
        ("&lt;", "<"),
        ("&#62;", ">"),
        ("&gt;", ">"),
        ("&#34;", "\""),
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&#x27;", "'"),
        ("&#38;", "&"),
        ("&amp;", "&"),
    ]
    .iter()
    .fold(html.to_owned(), |s, (from, to)| s.replace(from, to))
}

#[tokio::test]
async fn html_and_script_are_escaped_everywhere() {
    let app = spawn_app().await;
    let evil = "<script>alert('x')</script><img src=x onerror=alert(1)>";
    app.seed(&[NewArticle {
        title: format!("Title {evil} & more"),
        description: format!("Body \"quoted\" {evil}"),
        source: format!("Source {evil}"),
        author: Some(evil.to_owned()),
        ..article(1, "us", "en", "general")
    }])
    .await;
    let client = app.signed_up("escaper").await;
    let (_, news) = app.get_html(&client, "/news").await;
    assert!(!news.contains("<script>alert"), "raw script in page");
    assert!(!news.contains("<img src=x"), "raw tag in page");
    let shown = unescape(&news);
    assert!(
        shown.contains(&format!("Title {evil} & more")),
        "escaped, not dropped"
    );
    assert!(shown.contains(&format!("Body \"quoted\" {evil}")));

    // The same bytes come back intact through the JSON API.
    let body: serde_json::Value = app
        .get(&client, "/api/v1/articles")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["articles"][0]["title"], format!("Title {evil} & more"));
    assert_eq!(body["articles"][0]["author"], evil);

    // Typed input echoed back into a form is escaped too.
    let r = app
        .register(
            &browser(),
            "\"><script>x</script>",
            "x@example.com",
            "correct horse battery",
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script>x</script>"));
    assert!(
        unescape(&html).contains("value=\"\"><script>x</script>\""),
        "escaped echo"
    );
}

#[tokio::test]
async fn unicode_survives_the_round_trip() {
    let app = spawn_app().await;
    let title = "Zürich café: 東京 news 🚀 — «quotes» ∑";
    app.seed(&[NewArticle {
        title: title.to_owned(),
        ..article(1, "ch", "de", "science")
    }])
    .await;
    let client = app.signed_up("unicoder").await;
    let body: serde_json::Value = app
        .get(&client, "/api/v1/articles")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["articles"][0]["title"], title);
    let (_, news) = app.get_html(&client, "/news").await;
    assert!(news.contains(title));
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let client = app.signed_up("headers").await;
    for path in [
        "/",
        "/login",
        "/register",
        "/news",
        "/customize",
        "/api/v1/articles",
        "/healthz",
        "/nope",
        "/static/app.css",
    ] {
        let r = app.get(&client, path).await;
        let h = r.headers();
        let csp = h
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(
            h.get("x-content-type-options").unwrap(),
            "nosniff",
            "{path}"
        );
        assert!(
            h.get("referrer-policy").is_some() && h.get("permissions-policy").is_some(),
            "{path}"
        );
        assert!(h.get("x-request-id").is_some(), "{path}");
        assert!(
            h.get("strict-transport-security").is_none(),
            "no HSTS over plain HTTP: {path}"
        );
    }
    let r = app.get(&client, "/news").await;
    assert_eq!(
        r.headers().get("cache-control").unwrap(),
        "private, no-store"
    );

    // A request id the caller sends is returned.
    let r = client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("x-request-id").unwrap(), "trace-me-42");
}

#[tokio::test]
async fn static_assets_are_fingerprinted_and_immutable() {
    let app = spawn_app().await;
    let client = browser();
    let (_, home) = app.get_html(&client, "/").await;
    let css = home
        .split("href=\"/static/app.")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("css link");
    let path = format!("/static/app.{css}");
    assert!(
        path.ends_with(".css") && path.len() > "/static/app.css".len() + 5,
        "{path}"
    );
    let r = app.get(&client, &path).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers().get("cache-control").unwrap(),
        "public, max-age=31536000, immutable"
    );
    assert!(r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    let etag = r.headers().get("etag").unwrap().clone();
    let r = client
        .get(app.url(&path))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        app.get(&client, "/static/app.0000000000.css")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&client, "/static/../Cargo.toml").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn only_a_hash_of_the_session_token_is_stored() {
    let app = spawn_app().await;
    app.signed_up("hashed").await;
    let client = browser();
    let r = app.login(&client, "hashed", "correct horse battery").await;
    let token = session_cookie(&r).expect("session cookie");
    let hash = newsread::web::session::hash_token(&token);
    let now = newsread::clock::unix_now();
    assert!(
        app.db.find_session(&hash, now, 0).await.unwrap().is_some(),
        "stored by hash"
    );
    assert!(
        app.db.find_session(&token, now, 0).await.unwrap().is_none(),
        "never in the clear"
    );
    // Passwords are Argon2id, salted.
    let creds = app.db.find_credentials("hashed").await.unwrap().unwrap();
    assert!(creds.password_hash.starts_with("$argon2id$"));
    assert!(!creds.password_hash.contains("correct horse"));
}

#[tokio::test]
async fn https_behind_a_trusted_proxy_makes_cookies_secure_and_adds_hsts() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let client = browser();
    let r = client
        .get(app.url("/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("strict-transport-security").is_some());
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");

    // The same header from an untrusted peer changes nothing.
    let untrusted = spawn_app().await;
    let r = browser()
        .get(untrusted.url("/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("strict-transport-security").is_none());
    assert!(!r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("Secure"));
}

#[tokio::test]
async fn responses_are_compressed_when_the_client_accepts_it() {
    let app = spawn_app().await;
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["/", "/static/app.css"] {
        let r = raw
            .get(app.url(path))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap()),
            Some("gzip"),
            "{path}"
        );
        let body = r.bytes().await.unwrap();
        assert_eq!(&body[..2], &[0x1f, 0x8b], "{path}: gzip magic");
    }
    let r = raw.get(app.url("/")).send().await.unwrap();
    assert!(
        r.headers().get("content-encoding").is_none(),
        "identity when not asked"
    );
}

/// A login form ready to post: the client (with its cookies) and its CSRF token.
async fn login_form(app: &TestApp) -> (reqwest::Client, String) {
    let client = browser();
    let (_, html) = app.get_html(&client, "/login").await;
    (client, csrf_token(&html))
}

#[tokio::test]
async fn a_login_flood_is_refused_quickly_and_spares_logged_in_readers() {
    // One waiting place per hashing thread's queue: a flood overflows it at once.
    let app = spawn_app_with(|c| c.password_queue = 1).await;
    app.signed_up("flood_victim").await;
    let reader = app.signed_up("calm_reader").await;
    let mut forms = Vec::new();
    for _ in 0..32 {
        forms.push(login_form(&app).await);
    }
    let long = "x".repeat(129);
    let flood: Vec<_> = forms
        .into_iter()
        .enumerate()
        .map(|(i, (client, token))| {
            let url = app.url("/login");
            // Every other attempt carries a password longer than any account can have.
            let password = if i % 2 == 0 {
                format!("wrong password {i}")
            } else {
                long.clone()
            };
            let username = format!("flooder_{i}");
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .form(&[
                        ("csrf_token", token.as_str()),
                        ("username", &username),
                        ("password", &password),
                    ])
                    .send()
                    .await
                    .expect("POST /login");
                let status = r.status();
                let retry_after = r.headers().get("retry-after").cloned();
                let body = r.text().await.expect("body");
                (i, username, status, retry_after, body)
            })
        })
        .collect();
    // Readers already logged in are served during the flood.
    for _ in 0..5 {
        let (status, html) = app.get_html(&reader, "/news").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("calm_reader"));
    }
    let mut refused = 0;
    for task in flood {
        let (i, username, status, retry_after, body) = task.await.unwrap();
        match status {
            StatusCode::UNAUTHORIZED => {
                assert!(body.contains("Invalid username or password."), "{body}");
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(
                    i % 2 == 0,
                    "an over-long password was queued for hashing instead of refused"
                );
                refused += 1;
                assert!(retry_after.is_some(), "503 without Retry-After");
                assert!(body.contains("try again in a few seconds"), "{body}");
                assert!(
                    body.contains(&format!("value=\"{username}\"")),
                    "the username is kept"
                );
            }
            other => panic!("login {i} answered {other}: {body}"),
        }
    }
    assert!(refused > 0, "a flood past the queue is refused with 503");
    // Nothing is left queued behind the flood: the next login is hashed and succeeds.
    let r = app
        .login(&browser(), "flood_victim", "correct horse battery")
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn registration_refused_while_hashing_is_busy_keeps_the_form() {
    let app = spawn_app_with(|c| c.password_queue = 1).await;
    let mut forms = Vec::new();
    for _ in 0..24 {
        let client = browser();
        let (_, html) = app.get_html(&client, "/register").await;
        let token = csrf_token(&html);
        forms.push((client, token));
    }
    let flood: Vec<_> = forms
        .into_iter()
        .enumerate()
        .map(|(i, (client, token))| {
            let url = app.url("/register");
            tokio::spawn(async move {
                let (username, email) = (format!("joiner_{i}"), format!("joiner_{i}@example.com"));
                let r = client
                    .post(url)
                    .form(&[
                        ("csrf_token", token.as_str()),
                        ("username", &username),
                        ("email", &email),
                        ("password", "correct horse battery"),
                        ("password_confirm", "correct horse battery"),
                    ])
                    .send()
                    .await
                    .expect("POST /register");
                let status = r.status();
                let retry_after = r.headers().get("retry-after").cloned();
                (
                    username,
                    email,
                    status,
                    retry_after,
                    r.text().await.unwrap(),
                )
            })
        })
        .collect();
    let mut refused = 0;
    for task in flood {
        let (username, email, status, retry_after, body) = task.await.unwrap();
        match status {
            StatusCode::SEE_OTHER => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                assert!(retry_after.is_some());
                assert!(body.contains("try again in a few seconds"), "{body}");
                assert!(body.contains(&format!("value=\"{username}\"")));
                assert!(body.contains(&format!("value=\"{email}\"")));
                assert!(
                    !body.contains("correct horse battery"),
                    "passwords are never echoed"
                );
            }
            other => panic!("registration answered {other}: {body}"),
        }
    }
    assert!(refused > 0, "a flood past the queue is refused with 503");
}
