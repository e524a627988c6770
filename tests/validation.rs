//! Every bad input gets a clear message and the right status; nothing is half-saved.
mod common;

use common::*;
use reqwest::StatusCode;

const GOOD: &str = "correct horse battery";

async fn register_fields(app: &TestApp, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let client = browser();
    let r = app
        .post_form(&client, "/register", "/register", fields)
        .await;
    let status = r.status();
    (status, r.text().await.unwrap())
}

/// The error paragraph rendered for a field, if any.
fn field_error(html: &str, field: &str) -> Option<String> {
    let marker = format!("id=\"{field}-error\">");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('<')?;
    Some(html[start..start + end].to_owned())
}

#[tokio::test]
async fn each_register_field_is_validated_next_to_itself() {
    let app = spawn_app().await;
    // (form fields, the field that must show an error, a phrase of that error)
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            &[
                ("username", "abcd"),
                ("email", "a@example.com"),
                ("password", GOOD),
                ("password_confirm", GOOD),
            ],
            "username",
            "5 to 20",
        ),
        (
            &[
                ("username", "abcdefghijklmnopqrstu"),
                ("email", "a@example.com"),
                ("password", GOOD),
                ("password_confirm", GOOD),
            ],
            "username",
            "5 to 20",
        ),
        (
            &[
                ("username", "bad name!"),
                ("email", "a@example.com"),
                ("password", GOOD),
                ("password_confirm", GOOD),
            ],
            "username",
            "only letters",
        ),
        (
            &[
                ("username", "gooduser"),
                ("email", "not-an-email"),
                ("password", GOOD),
                ("password_confirm", GOOD),
            ],
            "email",
            "valid email",
        ),
        (
            &[
                ("username", "gooduser"),
                ("email", ""),
                ("password", GOOD),
                ("password_confirm", GOOD),
            ],
            "email",
            "required",
        ),
        (
            &[
                ("username", "gooduser"),
                ("email", "a@example.com"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
            "password",
            "at least 8",
        ),
        (
            &[
                ("username", "gooduser"),
                ("email", "a@example.com"),
                ("password", &"p".repeat(129)),
                ("password_confirm", &"p".repeat(129)),
            ],
            "password",
            "at most 128",
        ),
        (
            &[
                ("username", "gooduser"),
                ("email", "a@example.com"),
                ("password", GOOD),
                ("password_confirm", "different thing"),
            ],
            "password_confirm",
            "do not match",
        ),
    ];
    for (fields, field, message) in cases {
        let (status, html) = register_fields(&app, fields).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        let shown =
            field_error(&html, field).unwrap_or_else(|| panic!("no error for {field}: {fields:?}"));
        assert!(shown.contains(message), "{field}: {shown}");
        // What the user typed comes back, passwords excepted.
        let typed_user = fields[0].1;
        assert!(
            html.contains(&format!(
                "value=\"{}\"",
                typed_user.chars().take(254).collect::<String>()
            )) || typed_user.is_empty()
        );
        assert!(!html.contains(GOOD), "passwords are never echoed");
    }
    assert_eq!(app.count("users").await, 0, "nothing was created");

    // Several problems at once are all reported.
    let (status, html) = register_fields(
        &app,
        &[
            ("username", "x"),
            ("email", "y"),
            ("password", "z"),
            ("password_confirm", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for f in ["username", "email", "password"] {
        assert!(field_error(&html, f).is_some(), "{f} error missing");
    }
}

#[tokio::test]
async fn duplicate_username_or_email_is_a_conflict_case_insensitively() {
    let app = spawn_app().await;
    app.signed_up("Original").await; // email original@example.com
    let (status, html) = register_fields(
        &app,
        &[
            ("username", "ORIGINAL"),
            ("email", "new@example.com"),
            ("password", GOOD),
            ("password_confirm", GOOD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(field_error(&html, "username")
        .unwrap()
        .contains("already taken"));
    assert!(field_error(&html, "email").is_none());
    assert!(html.contains("value=\"ORIGINAL\"") && html.contains("value=\"new@example.com\""));

    let (status, html) = register_fields(
        &app,
        &[
            ("username", "someone_else"),
            ("email", "Original@Example.COM"),
            ("password", GOOD),
            ("password_confirm", GOOD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(field_error(&html, "email")
        .unwrap()
        .contains("already exists"));
    assert_eq!(app.count("users").await, 1);
}

#[tokio::test]
async fn wrong_credentials_get_one_generic_message() {
    let app = spawn_app().await;
    app.signed_up("known_user").await;
    let mut bodies = Vec::new();
    for (user, pass) in [
        ("known_user", "wrong password"),
        ("unknown_user", GOOD),
        ("known_user", ""),
    ] {
        let client = browser();
        let r = app.login(&client, user, pass).await;
        let status = r.status();
        let body = r.text().await.unwrap();
        if pass.is_empty() {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
            assert!(body.contains("Enter your username and password."));
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert!(body.contains("Invalid username or password."));
            assert!(body.contains(&format!("value=\"{user}\"")), "username kept");
            bodies.push(body.replace(user, "USER"));
        }
        let r = app.get(&client, "/news").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "not logged in");
    }
    // Apart from the echoed username, a wrong password and an unknown user look identical.
    let strip = |b: &str| b.replace(&csrf_token(b), "TOKEN");
    assert_eq!(strip(&bodies[0]), strip(&bodies[1]));
    // Email works as the login name, case-insensitively.
    let client = browser();
    let r = app.login(&client, "KNOWN_USER@example.com", GOOD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn csrf_is_required_on_every_form() {
    let app = spawn_app().await;
    let client = app.signed_up("csrf_target").await;
    let (_, news) = app.get_html(&client, "/news").await;
    let good = csrf_token(&news);
    let other = app.signed_up("csrf_other").await;
    let (_, other_news) = app.get_html(&other, "/news").await;
    let foreign = csrf_token(&other_news);

    for token in ["", "forged", foreign.as_str()] {
        let r = client
            .post(app.url("/customize"))
            .form(&[("csrf_token", token), ("country", "us")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "token {token:?}");
        assert!(r.text().await.unwrap().contains("expired"));
        let r = client
            .post(app.url("/logout"))
            .form(&[("csrf_token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let prefs = app.preferences_of("csrf_target").await;
    assert!(prefs.is_empty(), "nothing saved by forged posts");
    assert_eq!(
        app.get(&client, "/news").await.status(),
        StatusCode::OK,
        "still logged in"
    );

    // Anonymous forms: a token without its cookie (another browser's) is refused.
    let stranger = browser();
    for (action, fields) in [
        (
            "/login",
            vec![("username", "csrf_target"), ("password", GOOD)],
        ),
        (
            "/register",
            vec![
                ("username", "newcomer"),
                ("email", "n@example.com"),
                ("password", GOOD),
                ("password_confirm", GOOD),
            ],
        ),
    ] {
        let mut body = vec![("csrf_token", good.as_str())];
        body.extend(fields);
        let r = stranger
            .post(app.url(action))
            .form(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{action}");
    }
    assert_eq!(app.count("users").await, 2);
}

#[tokio::test]
async fn bad_requests_get_the_right_status_and_a_real_page() {
    let app = spawn_app().await;
    let client = app.signed_up("edge_cases").await;

    let (status, html) = app.get_html(&client, "/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("<h1 id=\"error-title\">Not Found</h1>") && html.contains("href=\"/\""));
    // The reader is still shown as logged in, with a working logout form.
    assert!(html.contains("edge_cases"), "{html}");
    assert!(html.contains("action=\"/logout\"") && !html.contains("href=\"/login\""));
    let (_, news) = app.get_html(&client, "/news").await;
    assert_eq!(csrf_token(&html), csrf_token(&news));
    // A visitor without a session gets the logged-out frame.
    let (status, anonymous) = app.get_html(&browser(), "/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(anonymous.contains("href=\"/login\"") && !anonymous.contains("action=\"/logout\""));

    let (status, html) = app.get_html(&client, "/news?cursor=not-a-cursor").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("cursor is not valid"));
    assert!(html.contains("edge_cases"));

    // Oversized body: 413.
    let (_, page) = app.get_html(&client, "/customize").await;
    let token = csrf_token(&page);
    let huge = format!("csrf_token={token}&country={}", "us,".repeat(40_000));
    let r = client
        .post(app.url("/customize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let r = client
        .post(app.url("/customize"))
        .body("{}")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Unknown codes on the customize form: 422, nothing saved.
    let r = app
        .customize(
            &client,
            &[("country", "us"), ("country", "zz"), ("category", "sports")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Unknown country code `zz`"));
    assert!(app.preferences_of("edge_cases").await.is_empty());
}
