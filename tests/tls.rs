//! The database over TLS, as RDS requires it (`rds.force_ssl`): the app connects with
//! `sslmode=require` to a PostgreSQL server that refuses every plain connection.
mod common;

use std::process::Command;

use common::cluster::Cluster;
use common::*;
use sqlx::{Connection as _, Row as _};

/// Turns TLS on in the running primary with a throwaway self-signed certificate and refuses
/// plain connections from then on (both reloadable: no restart).
async fn require_tls(cluster: &Cluster) {
    let dir = cluster.path().join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs (Debian package openssl)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The server reads the key as its own user, and only a private key file.
    let running_as_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if running_as_root {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let status = Command::new("chmod").arg("600").arg(&key).status().unwrap();
    assert!(status.success());

    install_drivers();
    let admin = cluster.superuser("PG_PRIMARY_PORT");
    let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap();
    let hba: String = sqlx::query("SELECT setting FROM pg_settings WHERE name = 'hba_file'")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    let rules = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(&hba, format!("hostnossl all all all reject\n{rules}")).unwrap();
    for sql in [
        format!("ALTER SYSTEM SET ssl_cert_file = '{}'", cert.display()),
        format!("ALTER SYSTEM SET ssl_key_file = '{}'", key.display()),
        "ALTER SYSTEM SET ssl = on".to_owned(),
        "SELECT pg_reload_conf()".to_owned(),
    ] {
        sqlx::query(&sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.ok();
}

#[tokio::test]
async fn the_app_works_against_a_server_that_requires_tls() {
    let cluster = Cluster::up().await;
    let name = unique_name();
    let plain = create_database(&cluster.env["PG_PRIMARY_URL"], &name, false).await;
    require_tls(&cluster).await;

    // A plain connection is now refused, so whatever works below went over TLS.
    let refused = sqlx::AnyConnection::connect(&format!("{plain}?sslmode=disable")).await;
    let message = refused
        .expect_err("plain connections are refused")
        .to_string();
    assert!(message.contains("no encryption"), "{message}");

    let url = format!("{plain}?sslmode=require");
    let app = spawn_on(TestDatabase::on_server(url, None), |_| {}).await;
    let client = app.signed_up("over_tls").await;
    let (status, _) = app.get_html(&client, "/news").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    // Every connection of the app's pool to this database is encrypted.
    let admin = cluster.superuser("PG_PRIMARY_PORT");
    let mut conn = sqlx::AnyConnection::connect(&format!("{admin}?sslmode=require"))
        .await
        .unwrap();
    let row = sqlx::query(
        "SELECT COUNT(*) FILTER (WHERE s.ssl) AS tls, COUNT(*) FILTER (WHERE NOT s.ssl) AS plain \
         FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid WHERE a.datname = $1",
    )
    .bind(&name)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let (tls, plain): (i64, i64) = (row.try_get("tls").unwrap(), row.try_get("plain").unwrap());
    assert!(tls >= 1, "the app holds TLS connections");
    assert_eq!(plain, 0);
}
