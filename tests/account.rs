//! The account page: changing the password (every other session ends), deleting the account
//! (everything of the reader's goes, by cascade), both behind CSRF, the login limits and the
//! failover rules.
mod common;

use std::time::Duration;

use common::*;
use newsread::config::{Config, Limit};
use reqwest::{Client, Response, StatusCode};
use sqlx::Connection as _;

const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "a brand new passphrase";

/// Posts the password form, with the CSRF token of the reader's account page.
async fn change_password(
    app: &TestApp,
    client: &Client,
    current: &str,
    new: &str,
    confirm: &str,
) -> Response {
    app.post_form(
        client,
        "/account",
        "/account/password",
        &[
            ("current_password", current),
            ("password", new),
            ("password_confirm", confirm),
        ],
    )
    .await
}

async fn delete_account(app: &TestApp, client: &Client, password: &str) -> Response {
    app.post_form(
        client,
        "/account",
        "/account/delete",
        &[("password", password)],
    )
    .await
}

/// Whether the client's session still lets it read its account page.
async fn logged_in(app: &TestApp, client: &Client) -> bool {
    let r = app.get(client, "/account").await;
    match r.status() {
        StatusCode::OK => true,
        StatusCode::SEE_OTHER => {
            assert_eq!(location(&r), "/login?next=%2Faccount");
            false
        }
        other => panic!("GET /account answered {other}"),
    }
}

/// A second browser logged in as `username`.
async fn second_session(app: &TestApp, username: &str, password: &str) -> Client {
    let client = browser();
    let r = app.login(&client, username, password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "login of {username}");
    client
}

/// How many sessions `username` has, counted straight in the database.
async fn sessions_of(app: &TestApp, username: &str) -> i64 {
    install_drivers();
    let mut conn = sqlx::AnyConnection::connect(&app.database.url)
        .await
        .expect("connect");
    let sql = app.db.dialect().placeholders(
        "SELECT COUNT(*) AS n FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE u.username_key = ?",
    );
    let row = sqlx::query(&sql)
        .bind(username.to_ascii_lowercase())
        .fetch_one(&mut conn)
        .await
        .expect("count sessions");
    conn.close().await.ok();
    sqlx::Row::get::<i64, _>(&row, "n")
}

fn clears_cookie(r: &Response, name: &str) -> bool {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.starts_with(&format!("{name}=;")) && v.contains("Max-Age=0"))
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session_and_keeps_this_one() {
    let app = spawn_app().await;
    let here = app.signed_up("changer").await;
    let elsewhere = second_session(&app, "changer", PASSWORD).await;
    let bystander = app.signed_up("bystander").await;
    assert_eq!(sessions_of(&app, "changer").await, 2);

    let (status, html) = app.get_html(&here, "/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("href=\"/account\" aria-current=\"page\""),
        "{html}"
    );
    assert!(html.contains("changer"));
    let old_csrf = csrf_token(&html);

    let r = change_password(&app, &here, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account");
    let new_session = session_cookie(&r).expect("this session goes on under a new id");
    assert_eq!(new_session.len(), 43);

    // This browser stays logged in, with a fresh CSRF token, and is told what happened.
    let (status, html) = app.get_html(&here, "/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Your password was changed"), "{html}");
    assert_ne!(csrf_token(&html), old_csrf, "a fresh CSRF token");
    assert!(logged_in(&app, &here).await);
    // Every other session of the reader has ended; other readers are untouched.
    assert!(!logged_in(&app, &elsewhere).await);
    assert!(logged_in(&app, &bystander).await);
    assert_eq!(sessions_of(&app, "changer").await, 1);

    // The old password no longer works, the new one does.
    let r = app.login(&browser(), "changer", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app.login(&browser(), "changer", NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_wrong_current_password_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let here = app.signed_up("careful").await;
    let elsewhere = second_session(&app, "careful", PASSWORD).await;

    let r = change_password(&app, &here, "not my password", NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(session_cookie(&r).is_none());
    let html = r.text().await.unwrap();
    assert!(
        html.contains("This is not your current password."),
        "{html}"
    );
    // The message is tied to the field, which gets the focus.
    assert!(
        html.contains(
            "id=\"current_password\" name=\"current_password\" type=\"password\" \
             autocomplete=\"current-password\" required aria-invalid=\"true\" \
             aria-describedby=\"current_password-error\" autofocus"
        ),
        "{html}"
    );
    assert!(html.contains("id=\"current_password-error\""));
    // Nothing typed is echoed back.
    assert!(!html.contains(NEW_PASSWORD) && !html.contains("not my password"));

    assert!(logged_in(&app, &here).await && logged_in(&app, &elsewhere).await);
    assert_eq!(sessions_of(&app, "careful").await, 2);
    let r = app.login(&browser(), "careful", NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app.login(&browser(), "careful", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_weak_or_unconfirmed_new_password_is_refused_on_its_field() {
    let app = spawn_app().await;
    let here = app.signed_up("weakling").await;

    let r = change_password(&app, &here, PASSWORD, "short", "short").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Password must be at least 8 characters long."),
        "{html}"
    );
    assert!(
        html.contains(
            "aria-describedby=\"password-help password-error\" aria-invalid=\"true\" autofocus"
        ),
        "{html}"
    );

    let r = change_password(
        &app,
        &here,
        PASSWORD,
        NEW_PASSWORD,
        "a different passphrase",
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("The two passwords do not match."), "{html}");
    assert!(
        html.contains(
            "aria-invalid=\"true\" aria-describedby=\"password_confirm-error\" autofocus"
        ),
        "{html}"
    );

    let r = change_password(&app, &here, PASSWORD, PASSWORD, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Choose a password other than your current one."));

    let r = change_password(&app, &here, "", NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Enter your current password."));

    // Nothing changed.
    assert!(logged_in(&app, &here).await);
    let r = app.login(&browser(), "weakling", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn both_forms_need_the_csrf_token() {
    let app = spawn_app().await;
    let here = app.signed_up("forged").await;
    for (action, fields) in [
        (
            "/account/password",
            vec![
                ("current_password", PASSWORD),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        ),
        ("/account/delete", vec![("password", PASSWORD)]),
    ] {
        let r = here
            .post(app.url(action))
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "{action} without a token"
        );
        let mut forged = fields.clone();
        forged.push(("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        let r = here
            .post(app.url(action))
            .form(&forged)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "{action} with a wrong token"
        );
    }
    assert!(logged_in(&app, &here).await);
    assert_eq!(app.count("users").await, 1);
    let r = app.login(&browser(), "forged", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_account_page_and_its_forms_need_a_login() {
    let app = spawn_app().await;
    let anonymous = browser();
    let r = app.get(&anonymous, "/account").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?next=%2Faccount");
    for action in ["/account/password", "/account/delete"] {
        let r = app
            .post_form(
                &anonymous,
                "/login",
                action,
                &[("password", PASSWORD), ("current_password", PASSWORD)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{action}");
        assert_eq!(location(&r), "/login?next=%2Faccount", "{action}");
    }
    // The header links to the page for readers only.
    let (_, home) = app.get_html(&anonymous, "/").await;
    assert!(!home.contains("href=\"/account\""));
    let reader = app.signed_up("linked").await;
    let (_, news) = app.get_html(&reader, "/news").await;
    assert!(
        news.contains("<a class=\"nav-link\" href=\"/account\">Account</a>"),
        "{news}"
    );
}

#[tokio::test]
async fn the_current_password_check_is_throttled_like_login() {
    let app = spawn_app_with(|c: &mut Config| {
        c.throttle.login_per_account = Limit {
            max: 3,
            window: Duration::from_secs(600),
        }
    })
    .await;
    let here = app.signed_up("guessed").await;
    for guess in ["guess one", "guess two"] {
        let r = change_password(&app, &here, guess, NEW_PASSWORD, NEW_PASSWORD).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Both forms and the login form draw on one account budget.
    let r = delete_account(&app, &here, "guess three").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for r in [
        change_password(&app, &here, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await,
        delete_account(&app, &here, PASSWORD).await,
        app.login(&browser(), "guessed", PASSWORD).await,
    ] {
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in seconds");
        assert!((1..=600).contains(&retry), "{retry}");
    }
    // Refused means not checked: the password is unchanged and the account is there.
    assert_eq!(app.count("users").await, 1);
    assert!(logged_in(&app, &here).await);
}

#[tokio::test]
async fn deleting_the_account_removes_everything_of_the_reader_and_logs_out() {
    let app = spawn_app().await;
    let stayer = app.signed_up("stayer").await;
    let r = app.customize(&stayer, &[("country", "gb")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let leaver = app.signed_up("leaver").await;
    let r = app.customize(&leaver, &[("country", "ng")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // A second browser, which also leaves a known-device record.
    let elsewhere = second_session(&app, "leaver", PASSWORD).await;
    assert_eq!(
        (
            app.count("users").await,
            app.count("sessions").await,
            app.count("user_preferences").await,
            app.count("login_devices").await,
        ),
        (2, 3, 2, 1)
    );

    let r = delete_account(&app, &leaver, "not my password").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("This is not your current password."),
        "{html}"
    );
    assert!(html.contains("aria-describedby=\"delete-help delete_password-error\" aria-invalid=\"true\" autofocus"), "{html}");
    let r = delete_account(&app, &leaver, "").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("users").await, 2);

    let r = delete_account(&app, &leaver, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    assert!(
        clears_cookie(&r, "nr_session"),
        "the session cookie is cleared"
    );
    assert!(clears_cookie(&r, "nr_device"));
    let (status, home) = app.get_html(&leaver, "/").await;
    assert_eq!(status, StatusCode::OK, "logged out: the landing page");
    assert!(
        home.contains("Your account and everything in it were deleted."),
        "{home}"
    );

    // Every row of the reader is gone, through the cascade; the other reader's remain.
    assert_eq!(
        (
            app.count("users").await,
            app.count("sessions").await,
            app.count("user_preferences").await,
            app.count("login_devices").await,
        ),
        (1, 1, 1, 0)
    );
    assert_eq!(app.preferences_of("stayer").await.countries, vec!["gb"]);
    assert!(!logged_in(&app, &elsewhere).await);
    assert!(logged_in(&app, &stayer).await);

    // The account cannot log in, and its name and email are free again.
    let r = app.login(&browser(), "leaver", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let again = app.signed_up("leaver").await;
    assert!(logged_in(&app, &again).await);
    assert_eq!(
        app.preferences_of("leaver").await.countries,
        Vec::<&str>::new()
    );
}

/// Deleting an account deletes only its `users` row and relies on the database for the rest:
/// every table with a `user_id`, in every dialect's migrations (later ones included), must
/// reference `users` with ON DELETE CASCADE.
#[test]
fn every_per_reader_table_cascades_from_users() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut checked = 0;
    for dialect in ["sqlite", "postgres", "mysql"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dialect))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let sql = std::fs::read_to_string(&file).unwrap();
            for statement in sql.split(';') {
                let upper = statement.to_ascii_uppercase();
                if !upper.contains("CREATE TABLE") || !upper.contains("USER_ID") {
                    continue;
                }
                let refs: Vec<usize> = upper
                    .match_indices("REFERENCES USERS")
                    .map(|(i, _)| i)
                    .collect();
                assert!(!refs.is_empty(), "{}: {statement}", file.display());
                for i in refs {
                    let tail = &upper[i..(i + 60).min(upper.len())];
                    assert!(
                        tail.contains("ON DELETE CASCADE"),
                        "{}: {statement}",
                        file.display()
                    );
                }
                checked += 1;
            }
        }
    }
    // sessions, user_preferences and login_devices in each of the three dialects, at least.
    assert!(checked >= 9, "{checked}");
}

/// Makes the test database refuse writes while reads go on, as a primary does in the
/// moment of a failover: PostgreSQL, by making the database read-only for new connections and
/// ending the app's current ones; SQLite, which has no failover, by holding its write lock
/// (a write waits out the busy timeout, then is refused as "try again"). MariaDB has no
/// read-only switch for one database (only for the whole, shared, server): not staged there.
enum Outage {
    Postgres(sqlx::AnyConnection),
    Sqlite(sqlx::AnyConnection),
}

impl Outage {
    async fn start(app: &TestApp) -> Option<Outage> {
        install_drivers();
        let mut conn = sqlx::AnyConnection::connect(&app.database.url)
            .await
            .expect("connect");
        match backend() {
            Dialect::Postgres => {
                set_read_only(&mut conn, true).await;
                Some(Outage::Postgres(conn))
            }
            Dialect::Sqlite => {
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .expect("take the write lock");
                Some(Outage::Sqlite(conn))
            }
            Dialect::MySql => None,
        }
    }

    async fn end(self) {
        match self {
            Outage::Postgres(mut conn) => set_read_only(&mut conn, false).await,
            Outage::Sqlite(mut conn) => {
                sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
            }
        }
    }
}

async fn set_read_only(conn: &mut sqlx::AnyConnection, on: bool) {
    let value = if on { "on" } else { "off" };
    let name: String = sqlx::Row::get(
        &sqlx::query("SELECT CAST(current_database() AS TEXT) AS name")
            .fetch_one(&mut *conn)
            .await
            .unwrap(),
        "name",
    );
    // Test database names are `t_` and hex digits.
    assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    sqlx::query(&format!(
        "ALTER DATABASE {name} SET default_transaction_read_only = {value}"
    ))
    .execute(&mut *conn)
    .await
    .unwrap();
    // Every connection that may have read the setting before it changed is ended, including
    // those still starting up at the time (they show up a moment later).
    let changed_at: String = sqlx::Row::get(
        &sqlx::query("SELECT CAST(clock_timestamp() AS TEXT) AS t")
            .fetch_one(&mut *conn)
            .await
            .unwrap(),
        "t",
    );
    for _ in 0..50 {
        let row = sqlx::query(
            "SELECT CAST(COUNT(pg_terminate_backend(pid)) AS BIGINT) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND backend_start <= CAST($1 AS TIMESTAMPTZ)",
        )
        .bind(&changed_at)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if sqlx::Row::get::<i64, _>(&row, "n") == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("connections opened before the change did not end");
}

/// Waits until the app serves the account page again: its health probe (every 500 ms) has
/// seen its connection end and opened a new one, and its pool has reconnected.
async fn until_serving(app: &TestApp, client: &Client) {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..100 {
        if app.db.primary_healthy() && app.get(client, "/account").await.status() == StatusCode::OK
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the app did not serve the account page again");
}

#[tokio::test]
async fn without_a_writable_database_both_forms_answer_503_and_change_nothing() {
    let app = spawn_app().await;
    let here = app.signed_up("failover").await;
    let elsewhere = second_session(&app, "failover", PASSWORD).await;
    let Some(outage) = Outage::start(&app).await else {
        eprintln!("skipped on {}: no per-database read-only switch", backend());
        return;
    };
    until_serving(&app, &here).await;

    let r = change_password(&app, &here, PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("retry-after").is_some());
    assert!(session_cookie(&r).is_none());
    let html = r.text().await.unwrap();
    assert!(html.contains("read-only for a moment"), "{html}");
    assert!(
        html.contains("action=\"/account/password\""),
        "the form again: {html}"
    );

    let r = delete_account(&app, &here, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("retry-after").is_some());
    assert!(!clears_cookie(&r, "nr_session"));
    let html = r.text().await.unwrap();
    assert!(html.contains("read-only for a moment"), "{html}");
    assert!(html.contains("action=\"/account/delete\""), "{html}");

    outage.end().await;
    until_serving(&app, &here).await;
    // Nothing was half-done: same account, same password, every session still there.
    assert_eq!(app.count("users").await, 1);
    assert_eq!(sessions_of(&app, "failover").await, 2);
    assert!(logged_in(&app, &elsewhere).await);
    let r = app.login(&browser(), "failover", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}
