//! Rollback across a migration (issue 18), with two builds of newsread: this one (release
//! N-1) and "the next release" (N: the same code plus the expand-only migration in
//! tests/next-release/, feature `next-release`). N-1 starts and serves on a database that N
//! migrated, beside N; a later contract migration takes N-1 out of service and stops new
//! N-1 instances with a message that says why.
mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use common::server::{start_binary, BIN};
use common::*;
use newsread::storage::Dialect;
use reqwest::StatusCode;

/// The next release's binary: `NEWSREAD_NEXT_RELEASE_BIN` (scripts/test builds it), else
/// built here once, in a target directory of its own so this run's `newsread` stays as it is.
fn next_release() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        if let Some(path) = std::env::var_os("NEWSREAD_NEXT_RELEASE_BIN") {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "NEWSREAD_NEXT_RELEASE_BIN={path:?} is not a file"
            );
            return path;
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = root.join("target").join("next-release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .current_dir(root)
            .args(["build", "--locked", "--features", "next-release", "--bin"])
            .args(["newsread", "--target-dir"])
            .arg(&target)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the next release failed");
        target.join("debug").join("newsread")
    })
}

/// A one-shot command of `bin` against `url`: (exit code, stdout, stderr).
async fn run(bin: &Path, args: &[&str], url: &str) -> (Option<i32>, String, String) {
    let out = tokio::process::Command::new(bin)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NEWSREAD_DATABASE_URL", url)
        .env("NEWSREAD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("newsread runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn ready(base: &str) -> StatusCode {
    reqwest::get(format!("{base}/readyz"))
        .await
        .expect("GET /readyz")
        .status()
}

/// Adds a migration to the database as a later release would: its history row and its
/// `schema_releases` declaration.
async fn apply_future_migration(url: &str, version: i64, oldest_release: i64) {
    use sqlx::Connection as _;
    newsread::storage::install_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.expect("connect");
    let p = |n| match backend() {
        Dialect::Postgres => format!("${n}"),
        _ => "?".into(),
    };
    sqlx::query(&format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ({}, 'contract', TRUE, {}, 0)",
        p(1),
        p(2)
    ))
    .bind(version)
    .bind(vec![0u8; 48])
    .execute(&mut conn)
    .await
    .expect("history row");
    sqlx::query(&format!(
        "INSERT INTO schema_releases (version, oldest_release) VALUES ({}, {})",
        p(1),
        p(2)
    ))
    .bind(version)
    .bind(oldest_release)
    .execute(&mut conn)
    .await
    .expect("declaration");
    conn.close().await.ok();
}

#[tokio::test]
async fn the_previous_release_serves_on_a_database_the_next_release_migrated() {
    let next = next_release();
    let previous = Path::new(BIN);
    let db = fresh_database().await;

    // Release N-1 is deployed; release N migrates the database on its first boot.
    let (code, _, err) = run(previous, &["migrate"], &db.url).await;
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(next, &["migrate"], &db.url).await;
    assert_eq!(code, Some(0), "{err}");

    // Both say what the schema is and who may run on it.
    let (code, status, err) = run(previous, &["migrate", "--status"], &db.url).await;
    assert_eq!(code, Some(0), "{status}{err}");
    for line in [
        "schema version: 9001 (next release probe)",
        "releases that may run on it: those that know schema 7 or newer, and run on schema 9001 or older",
        "this release: knows schema up to 7, runs on schema 7 or newer",
        "pending for this release: none",
        "this release may run on it: yes",
    ] {
        assert!(status.contains(line), "missing {line:?} in:\n{status}");
    }
    let (code, status, _) = run(next, &["migrate", "--status"], &db.url).await;
    assert_eq!(code, Some(0));
    assert!(status.contains("knows schema up to 9001"), "{status}");

    // N-1's own migrate (its instances run it on every boot) leaves the newer schema alone.
    let (code, _, err) = run(previous, &["migrate"], &db.url).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(count_rows(&db.url, "next_release_probe").await, 0);

    // Both releases serve side by side, as during an instance refresh or its rollback.
    let sample = [("NEWSREAD_SAMPLE_NEWS", "on")];
    let mut old = start_binary(previous, &db.url, &sample).await;
    let mut new = start_binary(next, &db.url, &sample).await;
    assert_eq!(ready(&old.base()).await, StatusCode::OK, "{}", old.logs());
    assert_eq!(ready(&new.base()).await, StatusCode::OK, "{}", new.logs());

    // A reader signs up on the old release, saves an article there, and the new release
    // sees the session and the saved article (one database, one schema for both).
    let reader = browser();
    let r = register_at(
        &old.base(),
        &reader,
        "rollback_reader",
        "rollback@example.com",
        "a long enough passphrase",
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let body: serde_json::Value = reader
        .get(format!("{}/api/v1/articles", old.base()))
        .send()
        .await
        .expect("API")
        .json()
        .await
        .expect("JSON");
    let id = body["articles"][0]["id"].as_i64().expect("an article");
    let r = post_form_at(&old.base(), &reader, "/news", &format!("/saved/{id}"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "save on N-1");
    let saved: serde_json::Value = reader
        .get(format!("{}/api/v1/saved", new.base()))
        .send()
        .await
        .expect("API on N")
        .json()
        .await
        .expect("JSON");
    assert_eq!(saved["articles"][0]["id"].as_i64(), Some(id), "{saved}");

    // A later release contracts the schema (drops something N-1 uses): N-1 leaves the load
    // balancer's rotation at its next health check, N keeps serving, and a new N-1 instance
    // refuses to start, saying why.
    apply_future_migration(&db.url, 9002, 9001).await;
    assert_eq!(ready(&old.base()).await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready(&new.base()).await, StatusCode::OK);
    let (code, status, _) = run(previous, &["migrate", "--status"], &db.url).await;
    assert_eq!(code, Some(3), "{status}");
    assert!(
        status.contains("this release may run on it: no")
            && status.contains("those that know schema 9001 or newer"),
        "{status}"
    );
    for args in [&["migrate"][..], &["serve", "--listen", "127.0.0.1:0"][..]] {
        let (code, _, err) = run(previous, args, &db.url).await;
        assert_eq!(code, Some(1), "{args:?} must refuse");
        assert!(
            err.contains("the database schema is at version 9002")
                && err.contains("allow only releases that know schema 9001 or newer"),
            "{args:?}: {err}"
        );
    }
    for server in [&mut old, &mut new] {
        server.child.start_kill().ok();
        let _ = tokio::time::timeout(Duration::from_secs(10), server.child.wait()).await;
    }
}

#[tokio::test]
async fn a_release_runs_on_the_oldest_schema_it_declares_and_says_what_is_pending() {
    let db = fresh_database().await;
    let (code, _, err) = run(Path::new(BIN), &["migrate"], &db.url).await;
    assert_eq!(code, Some(0), "{err}");
    // The next release's code uses nothing of its own migration (it declares schema 7 as
    // the oldest it runs on), so it may run before `migrate`, and says what is pending.
    let (code, status, _) = run(next_release(), &["migrate", "--status"], &db.url).await;
    assert_eq!(code, Some(0), "{status}");
    for line in [
        "schema version: 7 (schema releases)",
        "pending for this release: 9001 (`newsread migrate` applies them)",
        "this release may run on it: yes",
    ] {
        assert!(status.contains(line), "missing {line:?} in:\n{status}");
    }
    // On a schema older than the one it declares, a release is not ready until migrated.
    let empty = fresh_database().await;
    let (code, status, _) = run(Path::new(BIN), &["migrate", "--status"], &empty.url).await;
    assert_eq!(code, Some(3), "{status}");
    assert!(status.contains("schema version: none"), "{status}");
    assert!(
        status.contains("this release may run on it: after `newsread migrate`"),
        "{status}"
    );
}
