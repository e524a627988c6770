//! PostgreSQL primary + streaming replica faults. Each test starts its own throwaway cluster
//! (`scripts/db/pg`), so stopping a server never disturbs another test.
mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::cluster::Cluster;
use common::*;
use reqwest::StatusCode;
use sqlx::Connection as _;

async fn news_titles(app: &TestApp, client: &reqwest::Client) -> Vec<String> {
    let (status, html) = app.get_html(client, "/news").await;
    assert_eq!(status, StatusCode::OK);
    titles(&html)
}

#[tokio::test]
async fn feed_reads_are_served_by_the_replica_and_own_writes_by_the_primary() {
    let cluster = Cluster::up().await;
    let app = cluster.app(true).await;
    app.seed(&[article(1, "us", "en", "general")]).await;
    let client = app.signed_up("replica_reader").await;
    assert_eq!(news_titles(&app, &client).await.len(), 1);

    // Freeze the replica: from now on it cannot see new writes.
    let mut replica = sqlx::AnyConnection::connect(&cluster.superuser("PG_REPLICA_PORT"))
        .await
        .unwrap();
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&mut replica)
        .await
        .unwrap();
    app.db
        .upsert_articles(&[article(2, "us", "en", "general")], 0)
        .await
        .unwrap();
    let served_before = app.db.read_stats().replica.load(Ordering::Relaxed);

    // The feed and the API come from the frozen replica, so the new article is not there...
    assert_eq!(
        news_titles(&app, &client).await,
        vec!["Article 1 from us in en about general"]
    );
    // (Another page size than the news page's, so the feed cache cannot answer it.)
    let api: serde_json::Value = app
        .get(&client, "/api/v1/articles?limit=5")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(api["articles"].as_array().unwrap().len(), 1);
    assert!(app.db.read_stats().replica.load(Ordering::Relaxed) >= served_before + 2);

    // ...while writes, sessions and the reader's own preferences use the primary.
    let r = app.customize(&client, &[("category", "general")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, form) = app.get_html(&client, "/customize").await;
    assert!(
        form.contains("value=\"general\" checked"),
        "read-your-own-writes"
    );
    let fresh = app.signed_up("while_frozen").await;
    assert_eq!(news_titles(&app, &fresh).await.len(), 1);

    // Thaw: the replica catches up and the article appears.
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&mut replica)
        .await
        .unwrap();
    let mut seen = false;
    for _ in 0..100 {
        if news_titles(&app, &client).await.len() == 2 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the replica caught up");
}

#[tokio::test]
async fn a_stopped_replica_never_shows_a_reader_an_error() {
    let cluster = Cluster::up().await;
    let app = cluster.app(true).await;
    app.seed(
        &(1..=3)
            .map(|n| article(n, "gb", "en", "science"))
            .collect::<Vec<_>>(),
    )
    .await;
    let client = app.signed_up("steady_reader").await;
    assert_eq!(news_titles(&app, &client).await.len(), 3);

    cluster.run("stop-replica").await;
    for _ in 0..20 {
        assert_eq!(news_titles(&app, &client).await.len(), 3);
        let r = app.get(&client, "/api/v1/articles?country=gb").await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert!(
        app.db.read_stats().primary_fallback.load(Ordering::Relaxed) > 0,
        "reads fell back"
    );

    // Once the replica is back, reads return to it without a restart.
    cluster.run("start-replica").await;
    let before = app.db.read_stats().replica.load(Ordering::Relaxed);
    let mut returned = false;
    for _ in 0..100 {
        assert_eq!(news_titles(&app, &client).await.len(), 3);
        if app.db.read_stats().replica.load(Ordering::Relaxed) > before {
            returned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(returned, "reads returned to the replica");
}

#[tokio::test]
async fn a_primary_restart_is_survived_without_restarting_the_app() {
    let cluster = Cluster::up().await;
    let app = cluster.app(false).await;
    app.seed(&[article(1, "ng", "en", "sports")]).await;
    let client = app.signed_up("patient_reader").await;
    assert_eq!(news_titles(&app, &client).await.len(), 1);

    cluster.run("stop-primary").await;
    // For up to the session cache's TTL (1 s) this instance may still answer the reader
    // from memory; after it a page needs the database.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // While it is down: a designed 503 with Retry-After (the client's 20 s timeout would
    // fail the test on a hang), JSON for the API; liveness stays up, readiness goes down.
    let r = app.get(&client, "/news").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("retry-after").is_some());
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("changes cannot be saved for a moment"));
    let r = app.get(&client, "/api/v1/articles").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("retry-after").is_some());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert_eq!(
        app.get(&client, "/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(app.get(&client, "/healthz").await.status(), StatusCode::OK);

    cluster.run("start-primary").await;
    let mut recovered = false;
    for _ in 0..100 {
        if app.get(&client, "/news").await.status() == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "service came back without an app restart");
    assert_eq!(
        news_titles(&app, &client).await.len(),
        1,
        "same session, same feed"
    );
    assert_eq!(app.get(&client, "/readyz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn with_a_replica_readers_keep_reading_while_the_primary_is_down() {
    let cluster = Cluster::up().await;
    let app = cluster.app(true).await;
    app.seed(&[
        article(1, "ng", "en", "sports"),
        article(2, "gb", "en", "business"),
    ])
    .await;
    let client = app.signed_up("steady_reader").await;
    let r = app.customize(&client, &[("country", "ng")]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    app.sync_replica().await;
    assert_eq!(news_titles(&app, &client).await.len(), 1);

    cluster.run("stop-primary").await;
    // Wait for the health probe to see it (every 500 ms); reads never fail meanwhile.
    for _ in 0..50 {
        if !app.db.primary_healthy() {
            break;
        }
        assert_eq!(app.get(&client, "/news").await.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!app.db.primary_healthy());

    // Reads: the session and the saved selection come from the replica.
    assert_eq!(news_titles(&app, &client).await.len(), 1, "selection kept");
    let r = app.get(&client, "/api/v1/articles").await;
    assert_eq!(r.status(), StatusCode::OK);
    let (status, html) = app.get_html(&client, "/customize").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("steady_reader"));
    assert_eq!(
        app.get(&client, "/readyz").await.status(),
        StatusCode::OK,
        "can serve"
    );

    // Writes: 503 at once, with Retry-After, and the form offered again as filled.
    let r = app
        .post_form(&client, "/customize", "/customize", &[("country", "gb")])
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("retry-after").is_some());
    let html = r.text().await.unwrap();
    assert!(html.contains("read-only for a moment"), "{html}");
    assert!(
        html.contains("value=\"gb\" checked"),
        "the reader's choice is kept: {html}"
    );
    let r = app
        .register(
            &browser(),
            "newcomer",
            "n@example.com",
            "correct horse battery",
        )
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("read-only for a moment") && html.contains("n@example.com"),
        "{html}"
    );
    let r = client.put(app.url("/api/v1/nothing")).send().await.unwrap();
    assert_ne!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);

    cluster.run("start-primary").await;
    let mut saved = false;
    for _ in 0..100 {
        let r = app
            .post_form(&client, "/customize", "/customize", &[("country", "gb")])
            .await;
        if r.status() == StatusCode::SEE_OTHER {
            saved = true;
            break;
        }
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(saved, "writes work again once the primary is back");
}

#[tokio::test]
async fn a_primary_endpoint_that_leads_to_a_read_only_server_answers_503_not_500() {
    // After a failover the old endpoint may briefly lead to a standby: here, the replica.
    let cluster = Cluster::up().await;
    let migrated = cluster.app(true).await;
    migrated.signed_up("before_failover").await;
    migrated.sync_replica().await;
    let standby = migrated
        .database
        .replica_url
        .clone()
        .expect("the cluster app has a replica");
    let app = spawn_on(TestDatabase::on_server(standby, None), |c| {
        c.migrate_on_start = false;
    })
    .await;
    // The probe sees a server that answers but refuses writes: the primary counts as down.
    for _ in 0..50 {
        if !app.db.primary_healthy() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !app.db.primary_healthy(),
        "a read-only primary endpoint is not healthy"
    );
    let r = app
        .register(
            &browser(),
            "during_failover",
            "d@example.com",
            "correct horse battery",
        )
        .await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("retry-after").is_some());
    assert!(r.text().await.unwrap().contains("read-only for a moment"));
}
