//! Login throttling that holds under concurrency, counts one account however it is named,
//! cannot be turned against the owner, and sees the real client behind proxies.
mod common;

use std::time::Duration;

use common::*;
use newsread::config::{Config, Limit};
use reqwest::{Client, StatusCode};

const PASSWORD: &str = "correct horse battery";

fn account_limit(max: u32) -> impl FnOnce(&mut Config) {
    move |c| {
        c.throttle.login_per_account = Limit {
            max,
            window: Duration::from_secs(600),
        }
    }
}

/// Logs in with extra request headers on both the form page and the POST.
async fn login_with(
    app: &TestApp,
    client: &Client,
    headers: &[(&str, &str)],
    username: &str,
    password: &str,
) -> StatusCode {
    let mut get = client.get(app.url("/login"));
    for (k, v) in headers {
        get = get.header(*k, *v);
    }
    let html = get.send().await.unwrap().text().await.unwrap();
    let token = csrf_token(&html);
    let mut post = client.post(app.url("/login")).form(&[
        ("csrf_token", token.as_str()),
        ("username", username),
        ("password", password),
    ]);
    for (k, v) in headers {
        post = post.header(*k, *v);
    }
    post.send().await.unwrap().status()
}

#[tokio::test]
async fn parallel_guesses_cannot_pass_the_account_limit() {
    let app = spawn_app_with(account_limit(5)).await;
    app.signed_up("besieged").await;
    // Every guess has its CSRF token before the first is sent, so all race for real.
    let mut prepared = Vec::new();
    for _ in 0..40 {
        let client = browser();
        let (_, html) = app.get_html(&client, "/login").await;
        prepared.push((client, csrf_token(&html)));
    }
    let guesses = prepared.into_iter().map(|(client, token)| {
        let url = app.url("/login");
        async move {
            client
                .post(url)
                .form(&[
                    ("csrf_token", token.as_str()),
                    ("username", "besieged"),
                    ("password", "a wrong guess"),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + refused, 40, "{statuses:?}");
    assert_eq!(checked, 5, "only the limit's worth of guesses is checked");
}

#[tokio::test]
async fn a_username_and_its_email_are_one_account() {
    let app = spawn_app_with(account_limit(4)).await;
    app.signed_up("twonames").await;
    for login in [
        "twonames",
        "TwoNames@Example.com",
        "twonames",
        "twonames@example.com",
    ] {
        let r = app.login(&browser(), login, "a wrong guess").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{login}");
    }
    for login in ["twonames", "twonames@example.com"] {
        let r = app.login(&browser(), login, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{login}");
    }
}

#[tokio::test]
async fn failures_from_elsewhere_do_not_lock_out_a_known_browser() {
    let app = spawn_app_with(account_limit(3)).await;
    app.signed_up("owner").await;
    // The owner logs in once from their browser, which then holds a device cookie.
    let owners_browser = browser();
    let r = app.login(&owners_browser, "owner", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("nr_device=")));
    app.logout(&owners_browser).await;

    // Someone else exhausts the account's limit.
    for _ in 0..5 {
        app.login(&browser(), "owner", "a wrong guess").await;
    }
    let attacker = browser();
    let r = app.login(&attacker, "owner", PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a new browser is locked out, even with the right password"
    );

    // The owner's browser is counted on its own and gets in.
    let r = app.login(&owners_browser, "owner", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/news");

    // A device cookie of another account gives no way around this account's lock.
    let other = app.signed_up("other").await;
    app.logout(&other).await;
    assert_eq!(
        app.login(&other, "other", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    app.logout(&other).await;
    assert_eq!(
        app.login(&other, "owner", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn ipv4_clients_of_a_dual_stack_listener_get_their_own_buckets() {
    let app = spawn_app_with(|c| {
        c.listen = "[::]:0".parse().unwrap();
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.throttle.login_per_address = Limit {
            max: 1,
            window: Duration::from_secs(600),
        };
    })
    .await;
    // Connect over IPv4: the listener sees ::ffff:127.0.0.1, which is our trusted proxy.
    let base = format!("http://127.0.0.1:{}", app.addr.port());
    let app = TestApp { base, ..app };
    for client_ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        let status = login_with(
            &app,
            &browser(),
            &[("x-forwarded-for", client_ip)],
            "nobody",
            "a wrong guess",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{client_ip}");
    }
    let status = login_with(
        &app,
        &browser(),
        &[("x-forwarded-for", "203.0.113.1")],
        "nobody",
        "a wrong guess",
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn behind_cloudfront_each_viewer_has_its_own_address_limit() {
    let app = spawn_app_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.client_address_header = Some("cloudfront-viewer-address".to_owned());
        c.throttle.login_per_address = Limit {
            max: 1,
            window: Duration::from_secs(600),
        };
    })
    .await;
    // Every request comes through the same edge server (the X-Forwarded-For entry).
    for viewer in [
        "198.51.100.10:40001",
        "2001:db8::7:40002",
        "198.51.100.11:40003",
    ] {
        let status = login_with(
            &app,
            &browser(),
            &[
                ("x-forwarded-for", "192.0.2.50"),
                ("cloudfront-viewer-address", viewer),
            ],
            "nobody",
            "a wrong guess",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{viewer}");
    }
    // The same viewer from another source port is the same client.
    let status = login_with(
        &app,
        &browser(),
        &[
            ("x-forwarded-for", "192.0.2.50"),
            ("cloudfront-viewer-address", "198.51.100.10:40999"),
        ],
        "nobody",
        "a wrong guess",
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn over_https_cookies_carry_the_host_prefix_and_work() {
    let app = spawn_app_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    app.signed_up("secure_reader").await;
    // reqwest's cookie store keeps no Secure cookies over plain HTTP: carry them by hand.
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let https = [("x-forwarded-proto", "https")];
    let page = client
        .get(app.url("/login"))
        .header(https[0].0, https[0].1)
        .send()
        .await
        .unwrap();
    let csrf_cookie = set_cookies(&page)
        .into_iter()
        .find(|c| c.starts_with("__Host-nr_csrf="))
        .expect("CSRF cookie with the __Host- prefix");
    let token = csrf_token(&page.text().await.unwrap());
    let r = client
        .post(app.url("/login"))
        .header(https[0].0, https[0].1)
        .header("cookie", cookie_pair(&csrf_cookie))
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", "secure_reader"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookies = set_cookies(&r);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-nr_session="))
        .expect("session cookie with the __Host- prefix");
    for c in &cookies {
        assert!(c.starts_with("__Host-"), "{c}");
        assert!(c.contains("; Secure") && c.contains("Path=/"), "{c}");
        assert!(!c.to_ascii_lowercase().contains("domain="), "{c}");
    }
    let news = |cookie: String| {
        client
            .get(app.url("/news"))
            .header(https[0].0, https[0].1)
            .header("cookie", cookie)
            .send()
    };
    assert_eq!(
        news(cookie_pair(session)).await.unwrap().status(),
        StatusCode::OK
    );
    // The same token under the bare name (as a sibling subdomain could plant it) is ignored.
    let bare = cookie_pair(session).replacen("__Host-", "", 1);
    let r = news(bare).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "sent to the login page");
}

fn set_cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// `name=value` of a `Set-Cookie` line.
fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}
