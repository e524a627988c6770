//! The reader's whole journey, over HTTP, as a browser would make it.
mod common;

use common::*;
use reqwest::StatusCode;

#[tokio::test]
async fn register_customize_read_page_and_log_out() {
    let app = spawn_app().await;
    // 40 Nigerian sports articles in English, plus noise that the filter must hide.
    let mut articles: Vec<_> = (1..=40).map(|n| article(n, "ng", "en", "sports")).collect();
    articles.extend((41..=60).map(|n| article(n, "us", "en", "business")));
    articles.extend((61..=70).map(|n| article(n, "fr", "fr", "sports")));
    app.seed(&articles).await;

    // Anonymous visitors see the landing page and are sent to log in for the news.
    let client = browser();
    let (status, home) = app.get_html(&client, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("href=\"/register\"") && home.contains("href=\"/login\""));
    let r = app.get(&client, "/news").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=%2Fnews");

    // Register: logged in and sent to the news, with a welcome.
    let r = app
        .register(
            &client,
            "reader_1",
            "reader1@example.com",
            "correct horse battery",
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/news");
    let (status, news) = app.get_html(&client, "/news").await;
    assert_eq!(status, StatusCode::OK);
    assert!(news.contains("Welcome to NewsRead"), "flash shown once");
    assert_eq!(titles(&news).len(), 30, "a full first page");
    assert_eq!(
        titles(&news)[0],
        "Article 70 from fr in fr about sports",
        "newest first"
    );
    let (_, again) = app.get_html(&client, "/news").await;
    assert!(
        !again.contains("Welcome to NewsRead"),
        "flash shown only once"
    );
    // A logged-in visitor on the landing page goes straight to the news.
    let r = app.get(&client, "/").await;
    assert_eq!(location(&r), "/news");

    // Customize: Nigeria + English + sports.
    let (_, form) = app.get_html(&client, "/customize").await;
    assert!(
        form.contains("value=\"ng\"") && form.contains("Nigeria"),
        "human names shown"
    );
    assert!(form.contains("value=\"technology\"") && form.contains("value=\"zh\""));
    let r = app
        .customize(
            &client,
            &[
                ("country", "ng"),
                ("language", "en"),
                ("category", "sports"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/news");

    // Filtered feed, first page: the 30 newest Nigerian sports articles.
    let (_, page1) = app.get_html(&client, "/news").await;
    assert!(page1.contains("Your feed preferences were saved."));
    let t1 = titles(&page1);
    assert_eq!(t1.len(), 30);
    assert!(t1.iter().all(|t| t.contains("from ng")), "{t1:?}");
    assert_eq!(t1[0], "Article 40 from ng in en about sports");
    assert!(page1.contains("rel=\"noopener noreferrer\"") && page1.contains("target=\"_blank\""));
    assert!(page1.contains("Nigeria") && page1.contains("English") && page1.contains("Sports"));
    let (_, form) = app.get_html(&client, "/customize").await;
    assert!(
        form.contains("value=\"ng\" checked"),
        "saved selection shown"
    );
    assert!(!form.contains("value=\"us\" checked"));

    // Older: the remaining 10, then no further link.
    let older = page1
        .split("href=\"/news?cursor=")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an older link");
    let (status, page2) = app
        .get_html(&client, &format!("/news?cursor={older}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let t2 = titles(&page2);
    assert_eq!(t2.len(), 10);
    assert_eq!(t2[0], "Article 10 from ng in en about sports");
    assert_eq!(t2[9], "Article 1 from ng in en about sports");
    assert!(
        !page2.contains("href=\"/news?cursor="),
        "last page has no older link (the save form's `next` names this page)"
    );

    // Log out is a POST that kills the session server-side.
    let r = app.get(&client, "/logout").await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let r = app.logout(&client).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    let r = app.get(&client, "/news").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "logged out");

    // Log back in: the saved selection is still there.
    let r = app
        .login(&client, "reader_1", "correct horse battery")
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/news");
    let (_, news) = app.get_html(&client, "/news").await;
    assert!(titles(&news).iter().all(|t| t.contains("from ng")));
}

#[tokio::test]
async fn a_logged_out_cookie_is_worthless() {
    let app = spawn_app().await;
    app.signed_up("cookie_thief").await;
    let client = browser();
    let r = app
        .login(&client, "cookie_thief", "correct horse battery")
        .await;
    let set_cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("nr_session="))
        .expect("login sets the session cookie")
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(
        !set_cookie.contains("Secure"),
        "plain HTTP from an untrusted peer: {set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let token = cookie.trim_start_matches("nr_session=");
    assert_eq!(token.len(), 43, "256-bit token, base64url");

    // A thief with a copy of the cookie gets in while the session lives...
    let thief = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = thief
        .get(app.url("/news"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // ...and not after the owner logs out: the session is gone server-side.
    let r = app.logout(&client).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = thief
        .get(app.url("/news"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login"));
}

#[tokio::test]
async fn two_readers_at_once_each_see_their_own_feed() {
    let app = spawn_app().await;
    let mut articles: Vec<_> = (1..=5)
        .map(|n| article(n, "gb", "en", "technology"))
        .collect();
    articles.extend((6..=10).map(|n| article(n, "de", "de", "health")));
    app.seed(&articles).await;

    let alice = app.signed_up("alice_reads").await;
    let bob = app.signed_up("bob_reads").await;
    app.customize(&alice, &[("country", "gb")]).await;
    app.customize(&bob, &[("language", "de"), ("category", "health")])
        .await;

    let ((_, a), (_, b)) = tokio::join!(app.get_html(&alice, "/news"), app.get_html(&bob, "/news"));
    let (ta, tb) = (titles(&a), titles(&b));
    assert_eq!(ta.len(), 5);
    assert!(ta.iter().all(|t| t.contains("from gb")), "{ta:?}");
    assert_eq!(tb.len(), 5);
    assert!(tb.iter().all(|t| t.contains("from de")), "{tb:?}");
    assert!(a.contains("alice_reads") && !a.contains("bob_reads"));
    assert!(b.contains("bob_reads") && !b.contains("alice_reads"));
}

#[tokio::test]
async fn login_returns_to_the_local_page_asked_for_and_never_elsewhere() {
    let app = spawn_app().await;
    app.signed_up("wanderer").await;
    for (next, expected) in [
        ("/customize", "/customize"),
        ("/news?cursor=abc", "/news?cursor=abc"),
        ("https://evil.example/", "/news"),
        ("//evil.example/", "/news"),
        ("/\\evil.example", "/news"),
        ("javascript:alert(1)", "/news"),
    ] {
        let client = browser();
        let encoded: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
        let (_, page) = app
            .get_html(&client, &format!("/login?next={encoded}"))
            .await;
        let r = client
            .post(app.url("/login"))
            .form(&[
                ("csrf_token", csrf_token(&page).as_str()),
                ("username", "wanderer"),
                ("password", "correct horse battery"),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), expected, "next={next}");
    }
}

#[tokio::test]
async fn a_fresh_instance_shows_the_bundled_sample_news() {
    let app = spawn_app_with(|c| c.sample_news = true).await;
    app.sync_replica().await;
    let client = app.signed_up("first_user").await;
    let (_, news) = app.get_html(&client, "/news").await;
    assert_eq!(titles(&news).len(), 30);
    assert!(news.contains("badge-sample"), "sample articles are marked");
    assert!(app.count("articles").await >= 200);
    // A second start does not load them twice.
    let again = newsread::ingest::sample::load_if_empty(&app.db, 0)
        .await
        .unwrap();
    assert!(again.is_none());
    // French news from Canada, as the reference app's defaults promise variety.
    app.customize(&client, &[("country", "ca"), ("language", "fr")])
        .await;
    let (_, news) = app.get_html(&client, "/news").await;
    assert!(
        !titles(&news).is_empty(),
        "sample set has French Canadian news"
    );
}
