//! Database credentials from AWS Secrets Manager (a local moto emulator), including a password
//! rotation while the app runs. Uses its own PostgreSQL cluster and server process, since the
//! AWS settings are process-wide environment variables.
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::cluster::Cluster;
use common::server::{sigterm, start_server_on};
use common::*;
use reqwest::StatusCode;
use sqlx::Connection as _;

const MOTO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/moto/bin/moto_server");

/// A moto Secrets Manager emulator on a free port, stopped on drop.
struct Moto {
    child: tokio::process::Child,
    url: String,
}

impl Moto {
    async fn start() -> Self {
        assert!(
            std::path::Path::new(MOTO).exists(),
            "{MOTO} is missing: scripts/test installs it (python3 -m venv .venv/moto && .venv/moto/bin/pip install 'moto[server]')"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new(MOTO)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("moto_server starts");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if reqwest::get(format!("{url}/moto-api/")).await.is_ok() {
                return Self { child, url };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not start");
    }

    /// One Secrets Manager call (moto routes by the credential scope and ignores signatures).
    async fn call(&self, action: &str, body: serde_json::Value) -> serde_json::Value {
        let r = reqwest::Client::new()
            .post(&self.url)
            .header("x-amz-target", format!("secretsmanager.{action}"))
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{action}: {}", r.status());
        r.json().await.unwrap()
    }
}

impl Moto {
    /// `extra` plus what a server needs to reach this emulator as its AWS, in a HOME of its own.
    fn server_env<'a>(
        &'a self,
        home: &'a tempfile::TempDir,
        extra: &[(&'a str, &'a str)],
    ) -> Vec<(&'a str, &'a str)> {
        let mut env = extra.to_vec();
        env.extend([
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", self.url.as_str()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("HOME", home.path().to_str().expect("UTF-8 temp path")),
        ]);
        env
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn superuser_exec(cluster: &Cluster, sql: &str) {
    install_drivers();
    let mut conn = sqlx::AnyConnection::connect(&cluster.superuser("PG_PRIMARY_PORT"))
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
    conn.close().await.ok();
}

#[tokio::test]
async fn database_credentials_come_from_secrets_manager_and_survive_rotation() {
    let (cluster, moto) = tokio::join!(Cluster::up(), Moto::start());
    let first = "Rotate-One-3391";
    let second = "Rotate-Two-7720";
    superuser_exec(
        &cluster,
        &format!("CREATE ROLE app_user LOGIN PASSWORD '{first}'"),
    )
    .await;
    superuser_exec(&cluster, "CREATE DATABASE appdb OWNER app_user").await;
    let secret = moto
        .call("CreateSecret", serde_json::json!({
            "Name": "rds!db-newsread",
            "SecretString": serde_json::json!({"username": "app_user", "password": first, "engine": "postgres"}).to_string(),
        }))
        .await;
    let arn = secret["ARN"].as_str().unwrap().to_owned();

    // The URL carries no credentials: they come from the secret.
    let port = &cluster.env["PG_PRIMARY_PORT"];
    let url = format!("postgres://127.0.0.1:{port}/appdb");
    let home = tempfile::tempdir().unwrap();
    let mut server = start_server_on(
        TestDatabase::on_server(url.clone(), None),
        &moto.server_env(
            &home,
            &[
                ("NEWSREAD_DATABASE_SECRET_ARN", arn.as_str()),
                ("NEWSREAD_INGEST", "off"),
                ("NEWSREAD_LOG", "info"),
            ],
        ),
    )
    .await;
    let base = server.base();
    let client = browser();
    let r = register_at(
        &base,
        &client,
        "rotating",
        "rotating@example.com",
        "correct horse battery",
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the app reached the database with the secret's credentials"
    );

    // Rotate as RDS does: new password in the database and in the secret; then cut the
    // app's open connections so that it must log in again.
    superuser_exec(
        &cluster,
        &format!("ALTER ROLE app_user PASSWORD '{second}'"),
    )
    .await;
    moto.call("PutSecretValue", serde_json::json!({
        "SecretId": arn,
        "SecretString": serde_json::json!({"username": "app_user", "password": second}).to_string(),
    }))
    .await;
    superuser_exec(
        &cluster,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app_user'",
    )
    .await;

    let mut statuses = Vec::new();
    let mut recovered = false;
    for _ in 0..100 {
        let status = client
            .get(format!("{base}/news"))
            .send()
            .await
            .unwrap()
            .status();
        statuses.push(status.as_u16());
        if status == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "no recovery after rotation: {statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "only 503 while rotating: {statuses:?}"
    );
    // New connections really use the new password: force one more reconnect.
    superuser_exec(
        &cluster,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app_user'",
    )
    .await;
    let mut ok_again = false;
    for _ in 0..50 {
        if client
            .get(format!("{base}/news"))
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::OK
        {
            ok_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok_again);

    sigterm(&server.child);
    let _ = tokio::time::timeout(Duration::from_secs(30), server.child.wait()).await;
    let logs = server.final_logs().await;
    assert!(
        logs.contains("re-read them and updated the pools"),
        "{logs}"
    );
    for secret in [first, second] {
        assert!(!logs.contains(secret), "password leaked into logs");
    }
}

#[tokio::test]
async fn an_unreadable_secret_is_a_clear_startup_error() {
    let moto = Moto::start().await;
    let home = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(common::server::BIN)
        .arg("migrate")
        .env_clear()
        .env("NEWSREAD_DATABASE_URL", "postgres://127.0.0.1:9/nothing")
        .env(
            "NEWSREAD_DATABASE_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf",
        )
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &moto.url)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home.path())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "reading secret arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("ResourceNotFound"), "{stderr}");
}

/// A mediastack stand-in that records the access keys it is called with.
async fn fake_mediastack() -> (String, Arc<Mutex<Vec<String>>>) {
    let keys = Arc::new(Mutex::new(Vec::new()));
    let seen = keys.clone();
    let app = axum::Router::new().route(
        "/v1/news",
        axum::routing::get(move |axum::extract::RawQuery(q): axum::extract::RawQuery| {
            let seen = seen.clone();
            async move {
                let q = q.unwrap_or_default();
                let key = form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "access_key")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                seen.lock().unwrap().push(key);
                axum::Json(serde_json::json!({
                    "pagination": {"limit": 100, "offset": 0, "count": 0, "total": 0},
                    "data": []
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1"), keys)
}

#[tokio::test]
async fn the_mediastack_key_comes_from_secrets_manager_and_follows_its_rotation() {
    let (moto, (base, keys)) = tokio::join!(Moto::start(), fake_mediastack());
    let secret = moto
        .call(
            "CreateSecret",
            serde_json::json!({"Name": "newsread/mediastack", "SecretString": r#"{"access_key":"ms-key-one"}"#}),
        )
        .await;
    let arn = secret["ARN"].as_str().unwrap().to_owned();
    let home = tempfile::tempdir().unwrap();
    let mut server = start_server_on(
        fresh_database().await,
        &moto.server_env(
            &home,
            &[
                ("NEWSREAD_MEDIASTACK_SECRET_ARN", arn.as_str()),
                ("NEWSREAD_MEDIASTACK_BASE_URL", base.as_str()),
                ("NEWSREAD_MEDIASTACK_MONTHLY_BUDGET", "1000000"),
                ("NEWSREAD_INGEST", "on"),
                ("NEWSREAD_INGEST_INTERVAL", "1s"),
            ],
        ),
    )
    .await;
    let seen = |key: &str| keys.lock().unwrap().iter().any(|k| k == key);
    for _ in 0..100 {
        if seen("ms-key-one") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        seen("ms-key-one"),
        "mediastack was called with the secret's key: {:?}",
        keys.lock().unwrap()
    );

    moto.call(
        "PutSecretValue",
        serde_json::json!({"SecretId": arn, "SecretString": r#"{"access_key":"ms-key-two"}"#}),
    )
    .await;
    for _ in 0..100 {
        if seen("ms-key-two") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        seen("ms-key-two"),
        "the rotated key is used without a restart: {:?}",
        keys.lock().unwrap()
    );
    sigterm(&server.child);
    let _ = tokio::time::timeout(Duration::from_secs(30), server.child.wait()).await;
    let logs = server.final_logs().await;
    for key in ["ms-key-one", "ms-key-two"] {
        assert!(!logs.contains(key), "the key leaked into logs");
    }
}

/// `newsread COMMAND` against moto with the given extra variables; returns (success, stderr).
async fn run_with_aws(moto: &Moto, command: &str, vars: &[(&str, &str)]) -> (bool, String, String) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(common::server::BIN);
    cmd.arg(command)
        .env_clear()
        .env("NEWSREAD_LOG", "info")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &moto.url)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home.path());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn connect_as(
    cluster: &Cluster,
    user: &str,
    password: &str,
) -> Result<sqlx::AnyConnection, sqlx::Error> {
    install_drivers();
    let port = &cluster.env["PG_PRIMARY_PORT"];
    sqlx::AnyConnection::connect(&format!(
        "postgres://{user}:{password}@127.0.0.1:{port}/appdb"
    ))
    .await
}

#[tokio::test]
async fn servers_connect_as_a_least_privilege_role_that_migrate_creates_and_rotation_renews() {
    let (cluster, moto) = tokio::join!(Cluster::up(), Moto::start());
    superuser_exec(&cluster, "CREATE DATABASE appdb").await;
    let initial = "Initial-App-Password-5150";
    let admin = moto
        .call("CreateSecret", serde_json::json!({
            "Name": "rds!db-master",
            "SecretString": serde_json::json!({"username": "postgres", "password": "postgres"}).to_string(),
        }))
        .await["ARN"]
        .as_str()
        .unwrap()
        .to_owned();
    let app_secret = moto
        .call("CreateSecret", serde_json::json!({
            "Name": "newsread/db-app",
            "SecretString": serde_json::json!({"username": "newsread_app", "password": initial, "engine": "postgres"}).to_string(),
        }))
        .await["ARN"]
        .as_str()
        .unwrap()
        .to_owned();
    let port = &cluster.env["PG_PRIMARY_PORT"];
    let url = format!("postgres://127.0.0.1:{port}/appdb");
    let both = [
        ("NEWSREAD_DATABASE_URL", url.as_str()),
        ("NEWSREAD_DATABASE_ADMIN_SECRET_ARN", admin.as_str()),
        ("NEWSREAD_DATABASE_SECRET_ARN", app_secret.as_str()),
    ];

    // migrate: the schema, as the master user, and the app's role.
    let (ok, _, stderr) = run_with_aws(&moto, "migrate", &both).await;
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run_with_aws(&moto, "migrate", &both).await;
    assert!(ok, "migrate is idempotent: {stderr}");

    // The role reads and writes data, and nothing more.
    let mut app = connect_as(&cluster, "newsread_app", initial).await.unwrap();
    sqlx::query("SELECT COUNT(*) FROM users")
        .execute(&mut app)
        .await
        .unwrap();
    for ddl in [
        "CREATE TABLE intruder (id BIGINT)",
        "DROP TABLE users",
        "DELETE FROM _sqlx_migrations",
        "ALTER TABLE users ADD COLUMN x TEXT",
    ] {
        let err = sqlx::query(ddl).execute(&mut app).await.err();
        let err = err.unwrap_or_else(|| panic!("the app role may run `{ddl}`"));
        assert!(
            err.to_string().contains("permission denied")
                || err.to_string().contains("must be owner"),
            "{ddl}: {err}"
        );
    }
    app.close().await.ok();

    // serve: the app's secret only, no DDL at start.
    let home = tempfile::tempdir().unwrap();
    let mut server = start_server_on(
        TestDatabase::on_server(url.clone(), None),
        &moto.server_env(
            &home,
            &[
                ("NEWSREAD_DATABASE_SECRET_ARN", app_secret.as_str()),
                ("NEWSREAD_MIGRATE_ON_START", "off"),
                ("NEWSREAD_INGEST", "off"),
                ("NEWSREAD_LOG", "info"),
            ],
        ),
    )
    .await;
    let base = server.base();
    let client = browser();
    let r = register_at(
        &base,
        &client,
        "least",
        "least@example.com",
        "correct horse battery",
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Rotation: a new password, set on the role, then current in the secret.
    let (ok, stdout, stderr) = run_with_aws(&moto, "rotate-db-credential", &both).await;
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("rotated the password of database role newsread_app"),
        "{stdout}"
    );
    let current = moto
        .call(
            "GetSecretValue",
            serde_json::json!({"SecretId": app_secret, "VersionStage": "AWSCURRENT"}),
        )
        .await;
    let value: serde_json::Value =
        serde_json::from_str(current["SecretString"].as_str().unwrap()).unwrap();
    let rotated = value["password"].as_str().unwrap().to_owned();
    assert_ne!(rotated, initial);
    assert_eq!(value["engine"], "postgres", "other keys are kept");
    assert!(connect_as(&cluster, "newsread_app", initial).await.is_err());
    connect_as(&cluster, "newsread_app", &rotated)
        .await
        .unwrap()
        .close()
        .await
        .ok();

    // The running server keeps serving: cut its connections, it logs in again with the new one.
    superuser_exec(
        &cluster,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'newsread_app'",
    )
    .await;
    let mut recovered = false;
    for _ in 0..100 {
        if client
            .get(format!("{base}/news"))
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::OK
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "the server follows the rotation without a restart"
    );

    sigterm(&server.child);
    let _ = tokio::time::timeout(Duration::from_secs(30), server.child.wait()).await;
    let logs = server.final_logs().await;
    for secret in [initial, rotated.as_str(), "postgres:postgres"] {
        assert!(!logs.contains(secret), "a password leaked into the logs");
    }
}

/// Commands other than `serve` connect the same way: the ingestion worker, too, re-reads a
/// rotated database credential when the database refuses the old one.
#[tokio::test]
async fn the_ingest_worker_follows_a_database_credential_rotation() {
    let (cluster, moto) = tokio::join!(Cluster::up(), Moto::start());
    let first = "Worker-One-4471";
    let second = "Worker-Two-9032";
    superuser_exec(
        &cluster,
        &format!("CREATE ROLE app_user LOGIN PASSWORD '{first}'"),
    )
    .await;
    superuser_exec(&cluster, "CREATE DATABASE appdb OWNER app_user").await;
    let arn = moto
        .call("CreateSecret", serde_json::json!({
            "Name": "rds!db-worker",
            "SecretString": serde_json::json!({"username": "app_user", "password": first}).to_string(),
        }))
        .await["ARN"]
        .as_str()
        .unwrap()
        .to_owned();
    let port = &cluster.env["PG_PRIMARY_PORT"];
    let url = format!("postgres://127.0.0.1:{port}/appdb");
    let home = tempfile::tempdir().unwrap();
    let log_path = home.path().join("worker.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = tokio::process::Command::new(common::server::BIN);
    cmd.arg("ingest")
        .env_clear()
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true);
    for (k, v) in moto.server_env(
        &home,
        &[
            ("NEWSREAD_DATABASE_URL", url.as_str()),
            ("NEWSREAD_DATABASE_SECRET_ARN", arn.as_str()),
            ("NEWSREAD_LOG", "info"),
        ],
    ) {
        cmd.env(k, v);
    }
    let mut worker = cmd.spawn().unwrap();
    let logs = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // Connected and migrated with the first password, and running: a connection cut while
    // it still migrates ends the command (migrations are not retried), which is not what
    // this test is about.
    let mut migrated = false;
    for _ in 0..200 {
        if !logs().contains("ingestion scheduler started") {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        if let Ok(mut conn) = connect_as(&cluster, "app_user", first).await {
            migrated = sqlx::query("SELECT 1 AS one FROM _sqlx_migrations LIMIT 1")
                .fetch_optional(&mut conn)
                .await
                .is_ok_and(|row| row.is_some());
            conn.close().await.ok();
        }
        if migrated {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(migrated, "the worker did not migrate: {}", logs());

    // Rotate as RDS does, then cut the worker's connections so that it must log in again.
    superuser_exec(
        &cluster,
        &format!("ALTER ROLE app_user PASSWORD '{second}'"),
    )
    .await;
    moto.call("PutSecretValue", serde_json::json!({
        "SecretId": arn,
        "SecretString": serde_json::json!({"username": "app_user", "password": second}).to_string(),
    }))
    .await;
    superuser_exec(
        &cluster,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app_user'",
    )
    .await;
    let mut followed = false;
    for _ in 0..200 {
        if logs().contains("re-read them and updated the pools") {
            followed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sigterm(&worker);
    let _ = tokio::time::timeout(Duration::from_secs(30), worker.wait()).await;
    let logs = logs();
    assert!(
        followed,
        "the worker did not re-read its credential: {logs}"
    );
    for secret in [first, second] {
        assert!(!logs.contains(secret), "password leaked into logs");
    }
}
