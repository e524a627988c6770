//! A throwaway PostgreSQL primary + streaming replica per test (`scripts/db/pg`), for tests
//! that stop, restart or reconfigure servers.
use std::collections::HashMap;
use std::time::Duration;

use super::*;

const PG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/db/pg");

pub struct Cluster {
    dir: tempfile::TempDir,
    pub env: HashMap<String, String>,
}

impl Cluster {
    pub async fn up() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("newsread-pg-test")
            .tempdir()
            .expect("temp dir");
        let mut cluster = Self {
            dir,
            env: HashMap::new(),
        };
        cluster.run("up").await;
        let env =
            std::fs::read_to_string(cluster.dir.path().join("env")).expect("pg up writes env");
        cluster.env = env
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
            .collect();
        cluster
    }

    pub async fn run(&self, command: &str) {
        let out = tokio::process::Command::new(PG)
            .arg(command)
            .arg(self.dir.path())
            .output()
            .await
            .expect("scripts/db/pg runs");
        assert!(
            out.status.success(),
            "scripts/db/pg {command} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The cluster's own directory (data, sockets, logs).
    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn superuser(&self, port_var: &str) -> String {
        format!(
            "postgres://postgres:postgres@127.0.0.1:{}/postgres",
            self.env[port_var]
        )
    }

    /// An app on a fresh database of this cluster, with or without the replica.
    pub async fn app(&self, with_replica: bool) -> TestApp {
        let name = unique_name();
        let url = create_database(&self.env["PG_PRIMARY_URL"], &name, false).await;
        let replica = with_replica.then(|| with_database(&self.env["PG_REPLICA_URL"], &name));
        let app = spawn_on(TestDatabase::on_server(url, replica), |_| {}).await;
        app.sync_replica().await;
        // The health probe may have seen the replica before the new database reached it.
        for _ in 0..50 {
            if app.db.replica_healthy() != Some(false) {
                return app;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the replica never became healthy");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new(PG)
            .arg("down")
            .arg(self.dir.path())
            .output();
    }
}
