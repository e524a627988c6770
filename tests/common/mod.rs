//! Test harness: one app per test, on port 0, on a fresh database of the backend named by
//! `NEWSREAD_TEST_BACKEND` (sqlite, the default; postgres; mysql). The README's test command
//! runs the whole suite once per backend.
#![allow(dead_code)]

pub mod browser;
pub mod cluster;
pub mod mariadb;
pub mod server;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use newsread::app::Application;
use newsread::config::Config;
use newsread::domain::article::NewArticle;
use newsread::secret::DatabaseUrl;
use newsread::storage::Db;
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use sqlx::Connection as _;
use sqlx::Row as _;

pub use newsread::storage::{install_drivers, Dialect};

/// The engine this run of the suite tests, named as the app names it.
pub fn backend() -> Dialect {
    match std::env::var("NEWSREAD_TEST_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => Dialect::Sqlite,
        Ok("postgres") => Dialect::Postgres,
        Ok("mysql") => Dialect::MySql,
        Ok(other) => panic!("NEWSREAD_TEST_BACKEND={other}: use sqlite, postgres or mysql"),
    }
}

fn required(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the suite through scripts/test, which starts the database servers")
    })
}

async fn connect(url: &str) -> sqlx::AnyConnection {
    install_drivers();
    sqlx::AnyConnection::connect(url)
        .await
        .expect("connect to the test database")
}

/// `?` placeholders as the database at `url` wants them.
fn sql_for(url: &str, sql: &str) -> String {
    let dialect = newsread::storage::Dialect::from_url(url).expect("known scheme");
    dialect.placeholders(sql).into_owned()
}

/// How many rows `table` of the database at `url` holds.
pub async fn count_rows(url: &str, table: &str) -> i64 {
    let mut conn = connect(url).await;
    let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(&mut conn)
        .await
        .expect("count rows");
    conn.close().await.ok();
    row.get::<i64, _>("n")
}

pub fn unique_name() -> String {
    let n: u64 = rand::random();
    format!("t_{n:016x}")
}

/// Replaces the database name (the path) of a server URL.
pub fn with_database(server_url: &str, name: &str) -> String {
    let mut url = url::Url::parse(server_url).expect("valid server URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Creates an empty database on a server and returns its URL.
pub async fn create_database(server_url: &str, name: &str, mysql: bool) -> String {
    install_drivers();
    let mut conn = sqlx::AnyConnection::connect(server_url)
        .await
        .expect("connect to the test server");
    let ddl = if mysql {
        format!("CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    } else {
        format!("CREATE DATABASE {name}")
    };
    sqlx::query(&ddl)
        .execute(&mut conn)
        .await
        .expect("create the test database");
    conn.close().await.ok();
    with_database(server_url, name)
}

/// A fresh, empty database for one test.
pub struct TestDatabase {
    pub url: String,
    pub replica_url: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A database on a server the test manages itself.
    pub fn on_server(url: String, replica_url: Option<String>) -> Self {
        Self {
            url,
            replica_url,
            _dir: None,
        }
    }
}

pub async fn fresh_database() -> TestDatabase {
    match backend() {
        Dialect::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}/newsread.db", dir.path().display());
            TestDatabase {
                url,
                replica_url: None,
                _dir: Some(dir),
            }
        }
        Dialect::Postgres => {
            let name = unique_name();
            let url = create_database(&required("NEWSREAD_TEST_PG_URL"), &name, false).await;
            let replica_url = std::env::var("NEWSREAD_TEST_PG_REPLICA_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .map(|u| with_database(&u, &name));
            TestDatabase {
                url,
                replica_url,
                _dir: None,
            }
        }
        Dialect::MySql => {
            let name = unique_name();
            let url = create_database(&required("NEWSREAD_TEST_MYSQL_URL"), &name, true).await;
            TestDatabase {
                url,
                replica_url: None,
                _dir: None,
            }
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub base: String,
    pub db: Db,
    pub database: TestDatabase,
}

/// A config for tests: port 0, no drain delay, no sample news unless asked.
pub fn test_config(database: &TestDatabase) -> Config {
    let mut config = Config::from_vars(BTreeMap::new()).expect("default config");
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.database.url = DatabaseUrl::new(database.url.clone());
    config.database.replica_url = database.replica_url.clone().map(DatabaseUrl::new);
    config.shutdown_grace = std::time::Duration::ZERO;
    config.sample_news = false;
    // Ingestion (and its retention job, which would delete the fixed-date test articles)
    // runs only in the tests that turn it on.
    config.ingest.enabled = false;
    // Tests sign up many users from one address; the throttling tests set tight limits.
    let generous = newsread::config::Limit {
        max: 100_000,
        window: std::time::Duration::from_secs(60),
    };
    config.throttle.login_per_account = generous;
    config.throttle.login_per_address = generous;
    config.throttle.register_per_address = generous;
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let database = fresh_database().await;
    spawn_on(database, tweak).await
}

pub async fn spawn_on(database: TestDatabase, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = test_config(&database);
    tweak(&mut config);
    if let Ok(filter) = std::env::var("NEWSREAD_TEST_LOG") {
        config.log.filter = filter;
        newsread::telemetry::init(&config.log);
    }
    let app = Application::build(config).await.expect("app builds");
    let addr = app.local_addr().expect("bound");
    let metrics_addr = app.metrics_addr();
    let db = app.db().clone();
    tokio::spawn(app.run(std::future::pending()));
    TestApp {
        addr,
        metrics_addr,
        base: format!("http://{addr}"),
        db,
        database,
    }
}

/// A browser-like client: keeps cookies, does not follow redirects (tests assert them).
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client")
}

/// The hidden CSRF token in a page.
pub fn csrf_token(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html
        .find(marker)
        .map(|i| i + marker.len())
        .expect("page has a csrf_token field");
    let end = html[start..].find('"').expect("closing quote");
    html[start..start + end].to_owned()
}

/// The value of the `nr_session` cookie a response sets, if any.
pub fn session_cookie(r: &Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("nr_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

pub fn location(r: &Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

impl TestApp {
    /// This app's database, for a second instance sharing it.
    pub fn same_database(&self) -> TestDatabase {
        TestDatabase::on_server(self.database.url.clone(), self.database.replica_url.clone())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, client: &Client, path: &str) -> Response {
        client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_html(&self, client: &Client, path: &str) -> (StatusCode, String) {
        let r = self.get(client, path).await;
        let status = r.status();
        (status, r.text().await.expect("body"))
    }

    /// Posts a form with the CSRF token taken from `form_page`.
    pub async fn post_form(
        &self,
        client: &Client,
        form_page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        post_form_at(&self.base, client, form_page, action, fields).await
    }

    pub async fn register(
        &self,
        client: &Client,
        username: &str,
        email: &str,
        password: &str,
    ) -> Response {
        register_at(&self.base, client, username, email, password).await
    }

    /// Registers and asserts success; the client is then logged in.
    pub async fn signed_up(&self, username: &str) -> Client {
        let client = browser();
        let r = self
            .register(
                &client,
                username,
                &format!("{username}@example.com"),
                "correct horse battery",
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "registration of {username} failed"
        );
        assert_eq!(location(&r), "/news");
        client
    }

    pub async fn login(&self, client: &Client, username: &str, password: &str) -> Response {
        self.post_form(
            client,
            "/login",
            "/login",
            &[("username", username), ("password", password)],
        )
        .await
    }

    /// Logs out with the form in the page header (CSRF token from the news page).
    pub async fn logout(&self, client: &Client) -> Response {
        self.post_form(client, "/news", "/logout", &[]).await
    }

    pub async fn customize(&self, client: &Client, fields: &[(&str, &str)]) -> Response {
        self.post_form(client, "/customize", "/customize", fields)
            .await
    }

    /// The selection stored for a reader, read straight from the table (an empty one when
    /// the reader never saved one).
    pub async fn preferences_of(&self, username: &str) -> newsread::domain::feed::FeedFilter {
        let mut conn = connect(&self.database.url).await;
        let sql = "SELECT p.countries, p.languages, p.categories FROM user_preferences p \
                   JOIN users u ON u.id = p.user_id WHERE u.username_key = ?";
        let sql = sql_for(&self.database.url, sql);
        let row = sqlx::query(&sql)
            .bind(username.to_ascii_lowercase())
            .fetch_optional(&mut conn)
            .await
            .expect("read preferences");
        conn.close().await.ok();
        match row {
            None => Default::default(),
            Some(r) => newsread::domain::feed::FeedFilter::from_stored(
                &r.get::<String, _>("countries"),
                &r.get::<String, _>("languages"),
                &r.get::<String, _>("categories"),
            ),
        }
    }

    /// How many rows a table holds, counted on the primary.
    pub async fn count(&self, table: &str) -> i64 {
        count_rows(&self.database.url, table).await
    }

    /// Stores articles and waits until a replica (if any) has replayed them, so that tests
    /// reading the feed right after seeding see what they seeded.
    pub async fn seed(&self, articles: &[NewArticle]) {
        self.db
            .upsert_articles(articles, 0)
            .await
            .expect("seed articles");
        self.sync_replica().await;
    }

    pub async fn sync_replica(&self) {
        let Some(replica) = &self.database.replica_url else {
            return;
        };
        install_drivers();
        let mut primary = sqlx::AnyConnection::connect(&self.database.url)
            .await
            .expect("primary");
        let lsn: String = sqlx::Row::get(
            &sqlx::query("SELECT pg_current_wal_insert_lsn()::text AS lsn")
                .fetch_one(&mut primary)
                .await
                .expect("lsn"),
            "lsn",
        );
        primary.close().await.ok();
        // The server's own database: the test database may not have reached the replica yet.
        let mut replica = sqlx::AnyConnection::connect(&with_database(replica, "postgres"))
            .await
            .expect("replica");
        for _ in 0..200 {
            let row = sqlx::query("SELECT (pg_last_wal_replay_lsn() >= $1::pg_lsn)::int AS ok")
                .bind(&lsn)
                .fetch_one(&mut replica)
                .await
                .expect("replay lsn");
            if sqlx::Row::get::<i32, _>(&row, "ok") == 1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("replica did not replay {lsn} within 5 s");
    }
}

/// Posts a form to the server at `base` (any instance, also one in another process) with the
/// CSRF token taken from `form_page`, as a browser would.
pub async fn post_form_at(
    base: &str,
    client: &Client,
    form_page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> Response {
    let html = client
        .get(format!("{base}{form_page}"))
        .send()
        .await
        .expect("GET form")
        .text()
        .await
        .expect("form body");
    let token = csrf_token(&html);
    let mut body: Vec<(&str, &str)> = vec![("csrf_token", token.as_str())];
    body.extend_from_slice(fields);
    client
        .post(format!("{base}{action}"))
        .form(&body)
        .send()
        .await
        .expect("POST")
}

/// Submits the registration form at `base`; on success the client is logged in.
pub async fn register_at(
    base: &str,
    client: &Client,
    username: &str,
    email: &str,
    password: &str,
) -> Response {
    post_form_at(
        base,
        client,
        "/register",
        "/register",
        &[
            ("username", username),
            ("email", email),
            ("password", password),
            ("password_confirm", password),
        ],
    )
    .await
}

/// A synthetic article; `n` makes the URL and title unique and orders publication.
pub fn article(
    n: i64,
    country: &'static str,
    language: &'static str,
    category: &'static str,
) -> NewArticle {
    NewArticle {
        url: format!("https://news.example.com/{country}/{n}"),
        title: format!("Article {n} from {country} in {language} about {category}"),
        description: format!("Description of article {n}."),
        source: "Example Wire".into(),
        author: None,
        image_url: None,
        category,
        country,
        language,
        published_at: 1_700_000_000 + n * 60,
        is_sample: false,
    }
}

/// Titles of the articles on a news page, in order.
pub fn titles(html: &str) -> Vec<String> {
    html.split("<h2 class=\"card-title\">")
        .skip(1)
        .filter_map(|chunk| {
            let start = chunk.find('>')? + 1;
            let end = chunk[start..].find('<')?;
            Some(chunk[start..start + end].to_owned())
        })
        .collect()
}
