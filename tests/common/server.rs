//! `newsread serve` as a child process with its log lines collected, for tests of signals,
//! logs and process-wide settings such as AWS environment variables.
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_newsread");

/// A `newsread serve` process on a fresh database, with its log lines collected.
pub struct Server {
    pub child: tokio::process::Child,
    pub addr: String,
    pub lines: Arc<Mutex<Vec<String>>>,
    /// The tasks reading stdout and stderr: done once the process has closed both.
    readers: Vec<tokio::task::JoinHandle<()>>,
    /// The database, when the server owns it (dropped with it).
    _db: Option<TestDatabase>,
}

impl Server {
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn logs(&self) -> String {
        self.lines.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Every log line, after the process has exited and its output has been read to the end
    /// (right after `wait()` the readers may still hold its last lines).
    pub async fn final_logs(&mut self) -> String {
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(10), reader).await;
        }
        self.logs()
    }
}

pub async fn start_server(extra_env: &[(&str, &str)]) -> Server {
    start_server_on(fresh_database().await, extra_env).await
}

pub async fn start_server_on(db: TestDatabase, extra_env: &[(&str, &str)]) -> Server {
    let mut server = start_binary(std::path::Path::new(BIN), &db.url, extra_env).await;
    server._db = Some(db);
    server
}

/// `serve` from `bin` (another build of newsread, say) on a database the caller keeps.
pub async fn start_binary(
    bin: &std::path::Path,
    database_url: &str,
    extra_env: &[(&str, &str)],
) -> Server {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NEWSREAD_DATABASE_URL", database_url)
        .env("NEWSREAD_LISTEN", "127.0.0.1:0")
        .env("NEWSREAD_LOG_FORMAT", "json")
        .env("NEWSREAD_SAMPLE_NEWS", "on")
        .env("NEWSREAD_SHUTDOWN_GRACE", "0s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("newsread starts");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let lines = lines.clone();
        let tx = tx.clone();
        readers.push(tokio::spawn(async move {
            let mut reader = BufReader::new(stream).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let _ = tx.send(line.clone());
                lines.lock().unwrap().push(line);
            }
        }));
    }
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = rx.recv().await {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if v["message"] == "NewsRead is listening" {
                    return v["address"].as_str().map(str::to_owned);
                }
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .expect("server reports its address");
    Server {
        child,
        addr,
        lines,
        readers,
        _db: None,
    }
}

pub fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().expect("running").to_string();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM");
}
