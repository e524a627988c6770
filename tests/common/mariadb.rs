//! A throwaway MariaDB server for one test (`scripts/db/mariadb`), for tests that change
//! server-wide settings: the shared test server's other users, other tests and other runs of
//! the suite, must not see them. Gone when dropped, whatever its settings were.
use std::collections::HashMap;

const MARIADB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/db/mariadb");

pub struct MariaDbServer {
    dir: tempfile::TempDir,
    /// `newsread` (ALL PRIVILEGES ON *.* WITH GRANT OPTION, as the RDS master user), on the
    /// server's `mysql` database.
    pub url: String,
}

impl MariaDbServer {
    pub async fn up() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("newsread-mariadb-test")
            .tempdir()
            .expect("temp dir");
        let out = tokio::process::Command::new(MARIADB)
            .arg("up")
            .arg(dir.path())
            .output()
            .await
            .expect("scripts/db/mariadb runs");
        // Dropped from here on: `down` also cleans up after a failed `up`.
        let mut server = Self {
            dir,
            url: String::new(),
        };
        assert!(
            out.status.success(),
            "scripts/db/mariadb up failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env =
            std::fs::read_to_string(server.dir.path().join("env")).expect("mariadb up writes env");
        let env: HashMap<&str, &str> = env.lines().filter_map(|l| l.split_once('=')).collect();
        server.url = env["MYSQL_URL"].trim_matches('"').to_owned();
        server
    }
}

impl Drop for MariaDbServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new(MARIADB)
            .arg("down")
            .arg(self.dir.path())
            .output();
    }
}
