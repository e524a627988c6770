//! Behind a load balancer: throttling shared by instances, metrics on their own port,
//! draining on SIGTERM, logs without secrets, configuration errors reported together.
mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::server::{sigterm, start_server, BIN};
use common::*;
use newsread::config::Limit;
use reqwest::StatusCode;

#[tokio::test]
async fn throttling_is_shared_by_instances_on_one_database() {
    let tight = |c: &mut newsread::config::Config| {
        let window = Duration::from_secs(600);
        c.throttle.login_per_account = Limit { max: 3, window };
        c.throttle.register_per_address = Limit { max: 4, window };
    };
    let first = spawn_app_with(tight).await;
    let second = spawn_on(first.same_database(), tight).await;
    first.signed_up("target_user").await; // registration 1 of 4 from this address

    // Three wrong passwords, alternating instances, then both refuse, even the right one.
    for (i, app) in [&first, &second, &first].into_iter().enumerate() {
        let r = app.login(&browser(), "target_user", "wrong password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    for app in [&first, &second] {
        let r = app
            .login(&browser(), "TARGET_USER", "correct horse battery")
            .await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=600).contains(&retry), "{retry}");
        assert!(r.text().await.unwrap().contains("Too many attempts"));
    }
    // Other accounts are unaffected.
    second.signed_up("bystander").await; // registration 2
    assert_eq!(
        first
            .login(&browser(), "bystander", "correct horse battery")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );

    // Registrations per address: 4 allowed in the window across both instances.
    assert_eq!(
        first
            .register(
                &browser(),
                "third_one",
                "t3@example.com",
                "correct horse battery"
            )
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        second
            .register(
                &browser(),
                "fourth_one",
                "t4@example.com",
                "correct horse battery"
            )
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let r = first
        .register(
            &browser(),
            "fifth_one",
            "t5@example.com",
            "correct horse battery",
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(first.count("users").await, 4);
}

#[tokio::test]
async fn login_attempts_per_address_are_limited() {
    let app = spawn_app_with(|c| {
        c.throttle.login_per_address = Limit {
            max: 5,
            window: Duration::from_secs(600),
        }
    })
    .await;
    for i in 0..5 {
        let r = app
            .login(&browser(), &format!("nobody{i}"), "whatever password")
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app.login(&browser(), "nobody9", "whatever password").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn metrics_are_served_only_on_their_own_listener() {
    let app = spawn_app_with(|c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let client = app.signed_up("measured").await;
    app.get(&client, "/news").await;
    app.get(&client, "/api/v1/articles?limit=5").await;
    app.get(&client, "/nope/123").await;

    assert_eq!(
        app.get(&client, "/metrics").await.status(),
        StatusCode::NOT_FOUND,
        "not on the public port"
    );
    let addr = app.metrics_addr.expect("metrics listener");
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "newsread_http_requests_total{method=\"GET\",route=\"/news\",status=\"200\"} 1",
        "newsread_http_requests_total{method=\"POST\",route=\"/register\",status=\"303\"} 1",
        "newsread_http_requests_total{method=\"GET\",route=\"/api/v1/articles\",status=\"200\"} 1",
        // Unknown paths are one label, not one per path.
        "newsread_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}",
        "newsread_http_request_duration_seconds_bucket{method=\"GET\",route=\"/news\",le=\"+Inf\"} 1",
        "newsread_db_pool_connections{pool=\"primary\"}",
        "newsread_db_up{pool=\"primary\"} 1",
        "newsread_sessions_active 1",
        "newsread_ready 1",
        "# TYPE newsread_ingest_articles_total counter",
        "# TYPE newsread_feed_cache_lookups_total counter",
        "# TYPE newsread_db_lag_tolerant_reads_total counter",
    ] {
        assert!(text.contains(needle), "missing `{needle}` in:\n{text}");
    }
    // Every family whose samples only grow is typed a counter and named `_total`.
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut words = line.split_whitespace().skip(2);
        let (name, kind) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        assert_eq!(name.ends_with("_total"), kind == "counter", "{line}");
    }
    assert!(!text.contains("/nope/123"));
}

/// The `newsread_http_*` sample lines of a metrics page.
fn http_series(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("newsread_http_"))
        .map(|l| {
            l.rsplit_once(' ')
                .map_or(l, |(series, _)| series)
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn made_up_methods_and_paths_do_not_grow_the_metrics() {
    let app = spawn_app_with(|c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let metrics = format!(
        "http://{}/metrics",
        app.metrics_addr.expect("metrics listener")
    );
    let client = browser();
    let mut made_up = Vec::new();
    let mut send_junk = async |round: u32| {
        for i in 0..12 {
            let n: u32 = rand::random();
            let method = format!("M{round}X{i}Z{n:08X}");
            let path = format!("/junk{round}-{i}-{n:x}/deeper");
            made_up.push(method.clone());
            made_up.push(path.clone());
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            for target in [path.as_str(), "/news", "/login", "/static/x.css"] {
                let r = client
                    .request(method.clone(), app.url(target))
                    .send()
                    .await
                    .expect("request");
                assert_ne!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
            }
            app.get(&client, &path).await;
        }
    };
    send_junk(1).await;
    let first = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
    send_junk(2).await;
    let second = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
    assert_eq!(
        http_series(&first),
        http_series(&second),
        "new method names and paths added series"
    );
    for junk in &made_up {
        assert!(!second.contains(junk.as_str()), "`{junk}` became a label");
    }
    assert!(second.contains("method=\"other\",route=\"/news\",status=\"405\""));
    assert!(second.contains("method=\"other\",route=\"unmatched\",status=\"404\""));
}

/// Reads until the server closes the connection (or `limit` passes, which fails the test);
/// returns what was received.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut received = Vec::new();
    let closed = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&received).into_owned()
}

const HEALTH_REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: newsread\r\n\r\n";

#[tokio::test]
async fn a_client_slow_to_send_its_headers_is_cut_off() {
    use tokio::io::AsyncWriteExt as _;
    let app = spawn_app_with(|c| {
        c.header_read_timeout = Duration::from_millis(300);
        c.idle_timeout = Duration::from_secs(3600);
    })
    .await;
    // Half a request line, then silence.
    let mut half = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    half.write_all(b"GET /healthz HT").await.unwrap();
    let got = read_until_closed(&mut half, Duration::from_secs(20)).await;
    assert!(!got.contains("200 OK"), "{got}");
    // Connected, and nothing sent at all.
    let mut silent = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    read_until_closed(&mut silent, Duration::from_secs(20)).await;
    // A client that answers after a response keeps its connection past the header timeout:
    // the wait for a next request is the (long) idle timeout, not the header one.
    let mut kept = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    for _ in 0..2 {
        kept.write_all(HEALTH_REQUEST).await.unwrap();
        let mut head = [0u8; 12];
        tokio::io::AsyncReadExt::read_exact(&mut kept, &mut head)
            .await
            .expect("a response on the kept-alive connection");
        assert_eq!(&head, b"HTTP/1.1 200");
        let mut rest = [0u8; 4096];
        let _ = tokio::io::AsyncReadExt::read(&mut kept, &mut rest).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    use tokio::io::AsyncWriteExt as _;
    let app = spawn_app_with(|c| {
        c.header_read_timeout = Duration::from_secs(3600);
        c.idle_timeout = Duration::from_millis(300);
    })
    .await;
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    conn.write_all(HEALTH_REQUEST).await.unwrap();
    let got = read_until_closed(&mut conn, Duration::from_secs(20)).await;
    assert!(
        got.starts_with("HTTP/1.1 200"),
        "answered, then closed: {got}"
    );
}

#[tokio::test]
async fn sigterm_drains_without_failing_a_request() {
    let mut server = start_server(&[("NEWSREAD_SHUTDOWN_GRACE", "2s")]).await;
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // Load like a balancer's: keeps sending until the health check reports not-ready.
    let routed = Arc::new(AtomicBool::new(true));
    let sent = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (routed, sent, failures, client, base) = (
            routed.clone(),
            sent.clone(),
            failures.clone(),
            client.clone(),
            base.clone(),
        );
        workers.push(tokio::spawn(async move {
            let paths = ["/", "/login", "/register", "/healthz", "/api/v1/articles"];
            let mut i = w;
            while routed.load(Ordering::Relaxed) {
                let path = paths[i % paths.len()];
                i += 1;
                sent.fetch_add(1, Ordering::Relaxed);
                match client.get(format!("{base}{path}")).send().await {
                    Ok(r) if r.status().is_server_error() => failures
                        .lock()
                        .unwrap()
                        .push(format!("{path}: {}", r.status())),
                    Ok(_) => {}
                    Err(e) => failures.lock().unwrap().push(format!("{path}: {e}")),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&server.child);
    // The "balancer" polls readiness every 100 ms, as a tight health check would.
    let mut saw_not_ready = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let status = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .map(|r| r.status())
            .ok();
        if status == Some(StatusCode::SERVICE_UNAVAILABLE) {
            saw_not_ready = true;
            break;
        }
    }
    routed.store(false, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    assert!(saw_not_ready, "readiness turned 503 after SIGTERM");
    // Still serving during the grace period for stragglers.
    assert_eq!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let status = tokio::time::timeout(Duration::from_secs(15), server.child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(status.success(), "exit status {status}");
    let failures = failures.lock().unwrap().clone();
    assert!(sent.load(Ordering::Relaxed) > 50, "load was applied");
    assert!(
        failures.is_empty(),
        "failed requests during drain: {failures:?}"
    );
    let logs = server.final_logs().await;
    // One line per request at info, except the load balancer's health checks.
    assert!(
        logs.contains("\"route\":\"/login\""),
        "request lines are logged"
    );
    assert!(logs.contains("\"request_id\""), "with their request id");
    assert!(
        !logs.contains("\"route\":\"/healthz\"") && !logs.contains("\"route\":\"/readyz\""),
        "health checks are not logged at info"
    );
    assert!(
        logs.contains("draining") && logs.contains("\"stopped\""),
        "{logs}"
    );
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("mediastack.key");
    std::fs::write(&key_file, "MsKey-7f3a9c0d2e\n").unwrap();
    let mut env = vec![
        ("NEWSREAD_LOG", "trace"),
        (
            "NEWSREAD_MEDIASTACK_ACCESS_KEY_FILE",
            key_file.to_str().unwrap(),
        ),
        ("NEWSREAD_INGEST", "off"),
    ];
    // On server backends, also an unreachable replica whose URL carries a password: its
    // connection errors are logged and must not show it.
    let replica = match backend() {
        Dialect::Postgres => {
            Some("postgres://reader:ReplicaPw-5521@127.0.0.1:9/newsread".to_owned())
        }
        Dialect::MySql => Some("mysql://reader:ReplicaPw-5521@127.0.0.1:9/newsread".to_owned()),
        Dialect::Sqlite => None,
    };
    if let Some(r) = &replica {
        env.push(("NEWSREAD_DATABASE_REPLICA_URL", r.as_str()));
    }
    let mut server = start_server(&env).await;
    let base = format!("http://{}", server.addr);
    let client = browser();
    let password = "Pw-Correct-Horse-8812";
    let r = register_at(
        &base,
        &client,
        "logged_user",
        "logged@example.com",
        password,
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let session = session_cookie(&r).expect("session cookie");
    // A failed login with a wrong password, and some reads (replica errors, if any).
    let news = client
        .get(format!("{base}/news"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_token(&news);
    let wrong = "Wrong-Pw-Unique-4471";
    post_form_at(
        &base,
        &browser(),
        "/login",
        "/login",
        &[("username", "logged_user"), ("password", wrong)],
    )
    .await;
    for _ in 0..3 {
        client
            .get(format!("{base}/api/v1/articles"))
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await; // a health probe of the replica
    sigterm(&server.child);
    let _ = tokio::time::timeout(Duration::from_secs(30), server.child.wait()).await;
    let logs = server.final_logs().await;
    assert!(
        logs.lines().count() > 10,
        "trace logging produced output:\n{logs}"
    );
    assert!(
        logs.contains("\"route\":\"/register\""),
        "request lines are logged"
    );
    for secret in [
        password,
        wrong,
        session.as_str(),
        csrf.as_str(),
        "MsKey-7f3a9c0d2e",
        "ReplicaPw-5521",
    ] {
        assert!(!logs.contains(secret), "secret `{secret}` leaked into logs");
    }
    if replica.is_some() {
        assert!(
            logs.contains("replica"),
            "replica errors were logged (redacted):\n{logs}"
        );
    }
}

#[tokio::test]
async fn configuration_errors_are_all_reported_at_once() {
    let out = tokio::process::Command::new(BIN)
        .arg("check-config")
        .env_clear()
        .env("NEWSREAD_LISTEN", "not-an-address")
        .env("NEWSREAD_SHUTDOWN_GRACE", "forever")
        .env("NEWSREAD_DATABASE_MAX_CONNECTIONS", "0")
        .env("NEWSREAD_FEEDS", "gopher://old.example/feed")
        .env("NEWSREAD_TRUSTED_PROXIES", "10.0.0.0/99")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for name in [
        "NEWSREAD_LISTEN",
        "NEWSREAD_SHUTDOWN_GRACE",
        "NEWSREAD_DATABASE_MAX_CONNECTIONS",
        "NEWSREAD_FEEDS",
        "NEWSREAD_TRUSTED_PROXIES",
    ] {
        assert!(stderr.contains(name), "{name} not reported:\n{stderr}");
    }
}
