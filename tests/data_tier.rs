//! Data-tier guarantees that must hold on every backend: racing migrations, racing
//! sign-ups, schema version checks, backend selection.
mod common;

use std::process::Stdio;

use common::*;
use reqwest::StatusCode;
use sqlx::Connection as _;

const BIN: &str = env!("CARGO_BIN_EXE_newsread");

fn newsread(args: &[&str], database_url: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NEWSREAD_DATABASE_URL", database_url)
        .env("NEWSREAD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

#[tokio::test]
async fn instances_migrating_one_empty_database_at_once_end_with_one_schema() {
    let db = fresh_database().await;
    let runs: Vec<_> = (0..6)
        .map(|_| newsread(&["migrate"], &db.url).output())
        .collect();
    for out in futures_join_all(runs).await {
        let out = out.expect("newsread runs");
        assert!(
            out.status.success(),
            "migrate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    install_drivers();
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let applied: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations")
            .fetch_one(&mut conn)
            .await
            .unwrap(),
        "n",
    );
    let expected = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    assert_eq!(
        applied as usize, expected,
        "each migration applied exactly once"
    );
    conn.close().await.ok();
    // And the schema works: an app on it serves a registration.
    let app = spawn_on(db, |_| {}).await;
    app.signed_up("after_race").await;
}

/// Polls the futures together (the test crate has no `futures` dependency).
async fn futures_join_all<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn fifty_concurrent_registrations_of_one_username_yield_one_account() {
    // A race for one username, not a flood: every contender gets a place in the hashing
    // queue (by default a flood past it is answered 503).
    let app = std::sync::Arc::new(spawn_app_with(|c| c.password_queue = 100).await);
    // Each contender has its own browser and a loaded form, then all submit at once.
    let mut contenders = Vec::new();
    for _ in 0..50 {
        let client = browser();
        let (_, page) = app.get_html(&client, "/register").await;
        contenders.push((client, csrf_token(&page)));
    }
    let tasks: Vec<_> = contenders
        .into_iter()
        .enumerate()
        .map(|(i, (client, token))| {
            let app = app.clone();
            async move {
                let email = format!("racer{i}@example.com");
                let r = client
                    .post(app.url("/register"))
                    .form(&[
                        ("csrf_token", token.as_str()),
                        ("username", "the_one"),
                        ("email", email.as_str()),
                        ("password", "correct horse battery"),
                        ("password_confirm", "correct horse battery"),
                    ])
                    .send()
                    .await
                    .expect("POST");
                let status = r.status();
                (status, r.text().await.unwrap_or_default())
            }
        })
        .collect();
    let results = futures_join_all(tasks).await;
    let created = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::SEE_OTHER)
        .count();
    let duplicates: Vec<_> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .collect();
    assert_eq!(
        created,
        1,
        "statuses: {:?}",
        results.iter().map(|(s, _)| *s).collect::<Vec<_>>()
    );
    assert_eq!(duplicates.len(), 49);
    assert!(duplicates
        .iter()
        .all(|(_, body)| body.contains("This username is already taken")));
    assert_eq!(app.count("users").await, 1);
}

#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused_at_start() {
    let db = fresh_database().await;
    let out = newsread(&["migrate"], &db.url).output().await.unwrap();
    assert!(out.status.success());
    install_drivers();
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let insert = if backend() == Dialect::Postgres {
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ($1, 'from the future', TRUE, $2, 0)"
    } else {
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (?, 'from the future', TRUE, ?, 0)"
    };
    sqlx::query(insert)
        .bind(99_991_231_000_000_i64)
        .bind(vec![0u8; 48])
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    for args in [&["migrate"][..], &["serve", "--listen", "127.0.0.1:0"][..]] {
        let out = newsread(args, &db.url).output().await.unwrap();
        assert!(!out.status.success(), "{args:?} must refuse");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("newer than this build of newsread knows"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("99991231000000"), "{stderr}");
    }
}

#[tokio::test]
async fn unknown_database_schemes_are_a_startup_error_naming_the_accepted_ones() {
    let out = newsread(&["serve"], "oracle://db.example/newsread")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for scheme in ["sqlite:", "postgres:", "postgresql:", "mysql:", "mariadb:"] {
        assert!(stderr.contains(scheme), "{scheme} missing from: {stderr}");
    }
}

#[tokio::test]
async fn check_config_prints_the_effective_configuration_without_secrets() {
    let out = newsread(
        &["check-config"],
        "postgres://app:TopSecret123@db.internal:5432/newsread",
    )
    .env("NEWSREAD_SHUTDOWN_GRACE", "15s")
    .output()
    .await
    .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("NEWSREAD_SHUTDOWN_GRACE=15s"), "{stdout}");
    assert!(stdout.contains("db.internal:5432/newsread"), "{stdout}");
    assert!(!stdout.contains("TopSecret123"), "{stdout}");
}

#[tokio::test]
async fn check_config_hides_credentials_in_query_strings_and_feed_urls() {
    let out = newsread(
        &["check-config"],
        "postgres://db.internal:5432/newsread?user=app&password=QuerySecret1&sslmode=require",
    )
    .env(
        "NEWSREAD_FEEDS",
        "https://FeedUser:FeedPass2@feeds.example.org/rss?token=FeedToken3 country=us; \
         https://news.example.net/atom?ApiKey4",
    )
    .output()
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for secret in [
        "QuerySecret1",
        "FeedUser",
        "FeedPass2",
        "FeedToken3",
        "ApiKey4",
    ] {
        assert!(!stdout.contains(secret), "{secret} printed: {stdout}");
    }
    assert!(stdout.contains("sslmode=require"), "{stdout}");
    assert!(stdout.contains("feeds.example.org/rss"), "{stdout}");
}

#[tokio::test]
async fn a_sqlite_file_in_a_missing_directory_is_created_on_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not/yet/here/newsread.db");
    let out = newsread(&["migrate"], &format!("sqlite://{}", file.display()))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(file.is_file());
}

#[tokio::test]
async fn seed_refuses_to_add_known_password_readers_beside_real_ones() {
    let app = spawn_app().await;
    app.signed_up("real_reader").await;
    let url = app.database.url.clone();
    let out = newsread(&["seed", "--articles", "10", "--users", "3"], &url)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--allow-existing-readers"), "{stderr}");
    assert_eq!(app.count("users").await, 1, "nobody added");
    // Articles alone are harmless; an explicit flag allows the readers.
    let out = newsread(&["seed", "--articles", "10", "--users", "0"], &url)
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let out = newsread(
        &[
            "seed",
            "--articles",
            "0",
            "--users",
            "3",
            "--allow-existing-readers",
        ],
        &url,
    )
    .output()
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(app.count("users").await, 4);
}

#[tokio::test]
async fn seed_adds_a_large_archive_and_readers_who_can_log_in() {
    let db = fresh_database().await;
    let out = newsread(&["seed", "--articles", "2500", "--users", "4"], &db.url)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("seeded 2500 articles and 4 readers"));
    // Seeding again adds nothing: same URLs, same readers.
    let again = newsread(&["seed", "--articles", "2500", "--users", "4"], &db.url)
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("seeded 0 articles and 0 readers"));

    let app = spawn_on(db, |_| {}).await;
    app.sync_replica().await;
    assert_eq!(app.count("articles").await, 2500);
    let client = browser();
    let r = app
        .login(&client, "reader00002", newsread::seed::SEED_PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = app.get_html(&client, "/news").await;
    assert_eq!(titles(&html).len(), 30);
    assert!(
        html.contains("<strong>Countries:</strong>"),
        "reader00002 has a filtered feed"
    );
}

#[tokio::test]
async fn without_migrate_on_start_serve_waits_for_newsread_migrate() {
    let db = fresh_database().await;
    let url = db.url.clone();
    let server = tokio::spawn(common::server::start_server_on(
        db,
        &[
            ("NEWSREAD_MIGRATE_ON_START", "off"),
            ("NEWSREAD_LOG", "info"),
        ],
    ));
    // The server waits for the schema instead of creating it.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        !server.is_finished(),
        "serve started on an unmigrated database"
    );
    let out = newsread(&["migrate"], &url).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = server.await.unwrap();
    assert!(
        server.logs().contains("waiting for `newsread migrate`"),
        "{}",
        server.logs()
    );
    let r = reqwest::get(format!("{}/news", server.base()))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_app_role_gets_data_rights_and_nothing_more() {
    let app = spawn_app().await;
    let role = unique_name();
    let password = newsread::secret::Secret::new("Role-Password-0123456789".to_owned());
    let result = app.db.ensure_app_role(&role, &password).await;
    if backend() == Dialect::Sqlite {
        let err = result.expect_err("SQLite has no roles");
        assert!(
            err.to_string().contains("SQLite has no database roles"),
            "{err}"
        );
        return;
    }
    result.unwrap();
    // Twice is fine (every instance runs migrate), and a new password replaces the old.
    let password = newsread::secret::Secret::new("Role-Password-9876543210".to_owned());
    app.db.ensure_app_role(&role, &password).await.unwrap();

    let mut url = url::Url::parse(&app.database.url).unwrap();
    url.set_username(&role).unwrap();
    url.set_password(Some("Role-Password-0123456789")).unwrap();
    assert!(sqlx::AnyConnection::connect(url.as_str()).await.is_err());
    url.set_password(Some(password.expose())).unwrap();
    let mut conn = sqlx::AnyConnection::connect(url.as_str()).await.unwrap();
    sqlx::query("SELECT COUNT(*) FROM users")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM rate_limits")
        .execute(&mut conn)
        .await
        .unwrap();
    for ddl in ["CREATE TABLE intruder (id BIGINT)", "DROP TABLE users"] {
        assert!(
            sqlx::query(ddl).execute(&mut conn).await.is_err(),
            "the app role may run `{ddl}`"
        );
    }
    // Unsafe names never reach the database.
    let err = app
        .db
        .ensure_app_role("x\"; DROP TABLE users; --", &password)
        .await;
    assert!(err.is_err());
}
