//! Everything that differs between SQLite, PostgreSQL and MySQL/MariaDB, in one place:
//! placeholders, upserts, inserts that skip existing keys, ids of new rows, bounded deletes
//! and the engines' error codes. Queries elsewhere are written once, in the SQL all three
//! share, and ask this module for the few clauses that differ.
//!
//! A leaf: it imports nothing of ours, so the configuration can name a backend from a URL
//! without reaching into the storage layer.
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    MySql,
}

/// What an engine's error means for the caller, independent of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server cannot take this now (down, busy, shutting down, too many connections,
    /// locked): the same statement may work in a moment.
    Unavailable,
    /// The server is (now) a read-only standby: after a failover, writes wait for the new
    /// primary.
    ReadOnly,
    /// Our credentials were refused (being rotated): re-read them.
    AuthRejected,
}

impl Dialect {
    /// The backend named by a URL's scheme (case-insensitive, as the drivers read it).
    pub fn from_url(url: &str) -> Result<Self, String> {
        let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("sqlite") => Ok(Dialect::Sqlite),
            Some("postgres" | "postgresql") => Ok(Dialect::Postgres),
            Some("mysql" | "mariadb") => Ok(Dialect::MySql),
            _ => Err(
                "unsupported database URL scheme; use sqlite:, postgres:, postgresql:, mysql: or mariadb:"
                    .to_owned(),
            ),
        }
    }

    /// Rewrites `?` placeholders to `$1, $2, ...` for PostgreSQL. Our SQL never has `?` inside
    /// a literal.
    pub fn placeholders(self, sql: &str) -> Cow<'_, str> {
        if self != Dialect::Postgres || !sql.contains('?') {
            return Cow::Borrowed(sql);
        }
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0u32;
        for ch in sql.chars() {
            if ch == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(ch);
            }
        }
        Cow::Owned(out)
    }

    /// `INSERT INTO table (columns) VALUES (?, ...)` that, when a row with the same `key`
    /// exists, sets each of `set` to an expression instead. An expression may name the stored
    /// row's columns as `table.column`, the new row's as `new(column)`, and use `?`
    /// placeholders (bound after the inserted values, in the order written). MySQL evaluates
    /// the assignments left to right, each seeing the ones before: write them so that does
    /// not matter (an assignment must not read a column assigned before it).
    pub fn upsert(
        self,
        table: &str,
        columns: &[&str],
        key: &[&str],
        set: &[(&str, &str)],
    ) -> String {
        let mut sql = insert_head(table, columns, 1);
        let assignments: Vec<String> = set
            .iter()
            .map(|(column, expr)| format!("{column} = {}", self.new_value(expr)))
            .collect();
        match self {
            Dialect::MySql => {
                sql.push_str(" ON DUPLICATE KEY UPDATE ");
            }
            Dialect::Sqlite | Dialect::Postgres => {
                sql.push_str(&format!(" ON CONFLICT ({}) DO UPDATE SET ", key.join(", ")));
            }
        }
        sql.push_str(&assignments.join(", "));
        self.placeholders(&sql).into_owned()
    }

    /// An upsert that replaces `columns` with the new row's values.
    pub fn upsert_replacing(
        self,
        table: &str,
        columns: &[&str],
        key: &[&str],
        replaced: &[&str],
    ) -> String {
        let set: Vec<(&str, String)> = replaced.iter().map(|c| (*c, format!("new({c})"))).collect();
        let set: Vec<(&str, &str)> = set.iter().map(|(c, e)| (*c, e.as_str())).collect();
        self.upsert(table, columns, key, &set)
    }

    /// A multi-row `INSERT` that skips rows whose `key` is already stored; the affected-row
    /// count is the number of rows inserted. MySQL has no `ON CONFLICT DO NOTHING`: there it is
    /// `INSERT IGNORE`, which also lets racing inserts of one new row wait instead of
    /// deadlocking (an `ON DUPLICATE KEY UPDATE` does deadlock in InnoDB), but turns some
    /// other errors (an over-long value) into warnings: insert only validated rows with it.
    pub fn insert_or_skip(
        self,
        table: &str,
        columns: &[&str],
        key: &[&str],
        rows: usize,
    ) -> String {
        let head = insert_head(table, columns, rows);
        let sql = match self {
            Dialect::MySql => head.replacen("INSERT INTO", "INSERT IGNORE INTO", 1),
            Dialect::Sqlite | Dialect::Postgres => {
                format!("{head} ON CONFLICT ({}) DO NOTHING", key.join(", "))
            }
        };
        self.placeholders(&sql).into_owned()
    }

    /// An `INSERT` of one row whose new `id` the statement returns: `RETURNING id` where the
    /// engine has it; on MySQL the id comes from the OK packet (`LAST_INSERT_ID()`), so run
    /// it with `execute` and read `last_insert_id()` when [`Dialect::has_returning`] is false.
    pub fn insert_returning_id(self, table: &str, columns: &[&str]) -> String {
        let mut sql = insert_head(table, columns, 1);
        if self.has_returning() {
            sql.push_str(" RETURNING id");
        }
        self.placeholders(&sql).into_owned()
    }

    /// Whether `INSERT ... RETURNING` exists (MySQL 8 has none; MariaDB's is not MySQL's).
    pub fn has_returning(self) -> bool {
        self != Dialect::MySql
    }

    /// `DELETE` of at most `?` rows matching `condition`, in `order` (the limit is bound
    /// after the condition's parameters). MySQL deletes with `ORDER BY ... LIMIT`, the others
    /// by id from a bounded subquery.
    pub fn delete_limited(self, table: &str, condition: &str, order: &str) -> String {
        let sql = match self {
            Dialect::MySql => {
                format!("DELETE FROM {table} WHERE {condition} ORDER BY {order} LIMIT ?")
            }
            Dialect::Sqlite | Dialect::Postgres => format!(
                "DELETE FROM {table} WHERE id IN \
                 (SELECT id FROM {table} WHERE {condition} ORDER BY {order} LIMIT ?)"
            ),
        };
        self.placeholders(&sql).into_owned()
    }

    /// A query answering one row with the BIGINT column `ro`: non-zero when the server
    /// refuses writes (a standby). `None` for SQLite, which is never one.
    pub fn read_only_probe(self) -> Option<&'static str> {
        match self {
            Dialect::Postgres => {
                Some("SELECT CAST(CAST(pg_is_in_recovery() AS INT) AS BIGINT) AS ro")
            }
            Dialect::MySql => Some("SELECT CAST(@@global.read_only AS SIGNED) AS ro"),
            Dialect::Sqlite => None,
        }
    }

    /// A query that takes this database's migration lock and answers `got` = 1 once held
    /// (MySQL waits up to 10 minutes, PostgreSQL as long as it takes, like sqlx's own lock);
    /// `None` where a file lock is used (SQLite). The lock covers reading the schema's status
    /// as well as migrating, so a release never decides on a status another is changing.
    /// sqlx asks MySQL for `GET_LOCK(name, -1)`, which MariaDB answers with NULL (no lock) and
    /// sqlx does not check.
    pub fn migration_lock(self) -> Option<&'static str> {
        match self {
            Dialect::MySql => {
                Some("SELECT GET_LOCK(CONCAT('newsread_migrate_', DATABASE()), 600) AS got")
            }
            // Not sqlx's own key (it takes that one while it migrates, on another connection):
            // ours is held from before the schema is read until after the migrations ran.
            Dialect::Postgres => Some(
                "SELECT 1::BIGINT AS got \
                 FROM pg_advisory_lock(hashtext('newsread_migrate_' || current_database()))",
            ),
            Dialect::Sqlite => None,
        }
    }

    /// Starts a transaction that will write. SQLite's default BEGIN takes the write lock only
    /// at the first write: when another connection committed in between, that upgrade fails
    /// at once with "database is locked" (no busy wait can help it), so write transactions
    /// take the lock up front and wait their turn instead.
    pub fn begin_write(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres | Dialect::MySql => "BEGIN",
        }
    }

    /// Run on every new connection. SQLite: WAL lets readers run beside the writer, and
    /// NORMAL is durable with WAL. MySQL: times compare in UTC whatever the server's zone.
    pub fn session_setup(self) -> &'static [&'static str] {
        match self {
            Dialect::Sqlite => &["PRAGMA journal_mode = WAL", "PRAGMA synchronous = NORMAL"],
            Dialect::MySql => &["SET time_zone = '+00:00'"],
            Dialect::Postgres => &[],
        }
    }

    /// `new(column)` in an upsert expression: the value the insert proposed.
    fn new_value(self, expr: &str) -> String {
        let mut out = String::with_capacity(expr.len());
        let mut rest = expr;
        while let Some(at) = rest.find("new(") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 4..];
            let Some(close) = after.find(')') else {
                out.push_str(&rest[at..]);
                return out;
            };
            let column = &after[..close];
            match self {
                Dialect::MySql => out.push_str(&format!("VALUES({column})")),
                Dialect::Sqlite | Dialect::Postgres => out.push_str(&format!("excluded.{column}")),
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// A bind parameter of a query built at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg<'a> {
    Text(&'a str),
    Owned(String),
    Int(i64),
}

/// One page of full-text search results, newest first: what [`Dialect::search_page`] needs.
pub struct SearchPage<'a> {
    /// Words each result must have: a term is one word or a phrase (words in order).
    pub include: Vec<&'a [String]>,
    /// Terms no result may have.
    pub exclude: Vec<&'a [String]>,
    /// The columns to select, of `articles` aliased `a` (`a.id, a.title, ...`).
    pub columns: &'a str,
    /// ` AND a.column IN (?, ...)` conditions on `articles a`, and their arguments.
    pub filter: &'a str,
    pub filter_args: Vec<Arg<'a>>,
    /// Only results strictly older than this (published_at, id).
    pub after: Option<(i64, i64)>,
    pub limit: i64,
}

/// mediastack's language codes (`se` Swedish, `no` Norwegian) and the PostgreSQL text search
/// configuration each is stemmed with; any other language uses `newsread_simple`. Must match
/// `newsread_search_config` in migrations/postgres/0006_search.sql.
const SEARCH_CONFIGS: &[(&str, &str)] = &[
    ("ar", "newsread_arabic"),
    ("nl", "newsread_dutch"),
    ("en", "newsread_english"),
    ("fr", "newsread_french"),
    ("de", "newsread_german"),
    ("it", "newsread_italian"),
    ("no", "newsread_norwegian"),
    ("pt", "newsread_portuguese"),
    ("ru", "newsread_russian"),
    ("es", "newsread_spanish"),
    ("se", "newsread_swedish"),
];

/// SQLite's search key: an article's place in the feed, `published_at * 2^30 + id`, as the
/// rowid of `articles_search` (see migrations/sqlite/0006_search.sql).
const SQLITE_ID_BITS: u32 = 30;

impl Dialect {
    /// PostgreSQL's query is made of stems only it knows: this statement answers them as one
    /// tsquery, text in column `q`, for [`Dialect::search_page`]. Each term must be in the
    /// article under the stemming of some language (articles are stemmed in their own); the
    /// configurations have no stop words, so no word is dropped in one language and required
    /// in another. `None` for the engines whose query this module writes itself.
    pub fn search_terms_sql<'a>(
        self,
        include: &[&'a [String]],
        exclude: &[&'a [String]],
    ) -> Option<(String, Vec<Arg<'a>>)> {
        if self != Dialect::Postgres {
            return None;
        }
        let mut args = Vec::new();
        let mut any_language = |words: &[String]| {
            let text = words.join(" ");
            let stems: Vec<String> = SEARCH_CONFIGS
                .iter()
                .map(|(_, config)| *config)
                .chain(["newsread_simple"])
                .map(|config| {
                    args.push(Arg::Owned(text.clone()));
                    format!("phraseto_tsquery('{config}', ?)")
                })
                .collect();
            format!("({})", stems.join(" || "))
        };
        let mut parts: Vec<String> = include.iter().map(|t| any_language(t)).collect();
        parts.extend(exclude.iter().map(|t| format!("!!{}", any_language(t))));
        let sql = format!("SELECT CAST({} AS TEXT) AS q", parts.join(" && "));
        Some((self.placeholders(&sql).into_owned(), args))
    }

    /// The SQL and arguments of one page of search results, newest first (by published_at,
    /// then id). Each engine gets its own full-text syntax, built here from plain words, so
    /// nothing the reader typed is ever read as syntax. An empty `include` with some
    /// `exclude` terms pages through the reader's selection without those.
    pub fn search_page<'a>(
        self,
        page: SearchPage<'a>,
        engine_query: Option<&str>,
    ) -> (String, Vec<Arg<'a>>) {
        let positive = !page.include.is_empty();
        let mut args: Vec<Arg<'a>> = Vec::new();
        let sql = match self {
            Dialect::Sqlite => {
                let mask = (1_i64 << SQLITE_ID_BITS) - 1;
                let key_of = |p: i64, id: i64| (p << SQLITE_ID_BITS) | (id & mask);
                if positive {
                    let all: Vec<String> = page.include.iter().map(|t| fts5_phrase(t)).collect();
                    let mut match_text = format!("({})", all.join(" AND "));
                    for t in &page.exclude {
                        match_text.push_str(&format!(" NOT {}", fts5_phrase(t)));
                    }
                    let mut sql = format!(
                        "SELECT {} FROM articles_search s JOIN articles a ON a.id = (s.rowid & {mask}) \
                         WHERE articles_search MATCH ?{}",
                        page.columns, page.filter
                    );
                    args.push(Arg::Owned(match_text));
                    args.extend(page.filter_args);
                    if let Some((p, id)) = page.after {
                        sql.push_str(" AND s.rowid < ?");
                        args.push(Arg::Int(key_of(p, id)));
                    }
                    sql.push_str(" ORDER BY s.rowid DESC LIMIT ?");
                    sql
                } else {
                    let any: Vec<String> = page.exclude.iter().map(|t| fts5_phrase(t)).collect();
                    let match_text = any.join(" OR ");
                    let mut sql = format!(
                        "SELECT {} FROM articles a WHERE NOT EXISTS (SELECT 1 FROM articles_search \
                         WHERE articles_search MATCH ? AND rowid = (a.published_at << {SQLITE_ID_BITS}) | a.id){}",
                        page.columns,
                        page.filter
                    );
                    args.push(Arg::Owned(match_text));
                    args.extend(page.filter_args);
                    push_cursor(&mut sql, &mut args, page.after);
                    sql.push_str(" ORDER BY a.published_at DESC, a.id DESC LIMIT ?");
                    sql
                }
            }
            Dialect::Postgres => {
                // The query's tsquery, computed by `search_terms_sql`, goes in as a literal so
                // that the planner sees it: with its column statistics it then walks the
                // newest-first index for a common word and uses the GIN index for a rare one.
                // (A bind parameter would get a generic plan once the statement is cached.)
                let tsquery = engine_query.unwrap_or("");
                let mut sql = format!(
                    "SELECT {} FROM articles a WHERE a.search @@ CAST('{}' AS tsquery){}",
                    page.columns,
                    tsquery.replace('\'', "''"),
                    page.filter
                );
                args.extend(page.filter_args);
                push_cursor(&mut sql, &mut args, page.after);
                sql.push_str(" ORDER BY a.published_at DESC, a.id DESC LIMIT ?");
                sql
            }
            Dialect::MySql => {
                let condition = if positive {
                    let mut terms: Vec<String> = page
                        .include
                        .iter()
                        .map(|t| format!("+{}", mysql_term(t)))
                        .collect();
                    terms.extend(page.exclude.iter().map(|t| format!("-{}", mysql_term(t))));
                    args.push(Arg::Owned(terms.join(" ")));
                    "MATCH (a.title, a.description) AGAINST (? IN BOOLEAN MODE)"
                } else {
                    // Without a required term, boolean mode matches nothing: exclude the
                    // articles that have any of the terms.
                    let terms: Vec<String> = page.exclude.iter().map(|t| mysql_term(t)).collect();
                    args.push(Arg::Owned(terms.join(" ")));
                    "NOT MATCH (a.title, a.description) AGAINST (? IN BOOLEAN MODE)"
                };
                let mut sql = format!(
                    "SELECT {} FROM articles a WHERE {condition}{}",
                    page.columns, page.filter
                );
                args.extend(page.filter_args);
                push_cursor(&mut sql, &mut args, page.after);
                sql.push_str(" ORDER BY a.published_at DESC, a.id DESC LIMIT ?");
                sql
            }
        };
        args.push(Arg::Int(page.limit));
        (self.placeholders(&sql).into_owned(), args)
    }
}

/// The keyset condition of the feed's order; the redundant `published_at <= ?` gives every
/// planner an index range.
fn push_cursor(sql: &mut String, args: &mut Vec<Arg<'_>>, after: Option<(i64, i64)>) {
    if let Some((p, id)) = after {
        sql.push_str(" AND a.published_at <= ? AND (a.published_at < ? OR a.id < ?)");
        args.extend([Arg::Int(p), Arg::Int(p), Arg::Int(id)]);
    }
}

/// A term as an FTS5 string: its words in double quotes are one phrase, tokenized like the
/// index (a quote inside is doubled, though words never hold one).
fn fts5_phrase(words: &[String]) -> String {
    format!("\"{}\"", words.join(" ").replace('"', "\"\""))
}

/// A term for MySQL's boolean mode: a phrase in quotes, a word as is.
fn mysql_term(words: &[String]) -> String {
    match words {
        [word] => word.clone(),
        _ => format!("\"{}\"", words.join(" ")),
    }
}

/// `INSERT INTO table (a, b) VALUES (?, ?), (?, ?)` for `rows` rows.
fn insert_head(table: &str, columns: &[&str], rows: usize) -> String {
    let marks = format!("({})", vec!["?"; columns.len()].join(", "));
    format!(
        "INSERT INTO {table} ({}) VALUES {}",
        columns.join(", "),
        vec![marks; rows.max(1)].join(", ")
    )
}

/// What an engine's error code means. Codes are PostgreSQL's SQLSTATEs, SQLite's result
/// codes and MySQL's error numbers (its SQLSTATE is the generic HY000 for most of these);
/// they do not collide, so no dialect is needed to read them.
pub fn classify_code(code: &str) -> Option<Failure> {
    match code {
        // PostgreSQL read_only_sql_transaction; MySQL --read-only and read-only mode.
        "25006" | "1290" | "1836" => Some(Failure::ReadOnly),
        // PostgreSQL invalid password / authorization; MySQL access denied.
        "28P01" | "28000" | "1045" => Some(Failure::AuthRejected),
        // MySQL: too many connections, server shutdown, lock wait timeout.
        "1040" | "1053" | "1205" => Some(Failure::Unavailable),
        // SQLite: busy / locked beyond the busy timeout.
        "5" | "6" | "517" | "261" | "262" => Some(Failure::Unavailable),
        // PostgreSQL: operator intervention (shutting down, cannot connect now), connection
        // exceptions.
        c if c.starts_with("57P") || c.starts_with("08") => Some(Failure::Unavailable),
        _ => None,
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Sqlite => "SQLite",
            Dialect::Postgres => "PostgreSQL",
            Dialect::MySql => "MySQL",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Dialect; 3] = [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql];

    #[test]
    fn schemes_pick_backends() {
        assert_eq!(Dialect::from_url("sqlite://x.db"), Ok(Dialect::Sqlite));
        assert_eq!(Dialect::from_url("sqlite:x.db"), Ok(Dialect::Sqlite));
        assert_eq!(Dialect::from_url("SQLite:x.db"), Ok(Dialect::Sqlite));
        assert_eq!(Dialect::from_url("postgresql://h/d"), Ok(Dialect::Postgres));
        assert_eq!(Dialect::from_url("mariadb://h/d"), Ok(Dialect::MySql));
        let err = Dialect::from_url("mongodb://h/d").unwrap_err();
        assert!(err.contains("sqlite:") && err.contains("postgres:") && err.contains("mysql:"));
    }

    #[test]
    fn postgres_placeholders_are_numbered() {
        assert_eq!(
            Dialect::Postgres.placeholders("a = ? AND b IN (?, ?)"),
            "a = $1 AND b IN ($2, $3)"
        );
        assert_eq!(Dialect::MySql.placeholders("a = ?"), "a = ?");
        assert_eq!(Dialect::Sqlite.placeholders("a = ?"), "a = ?");
    }

    #[test]
    fn upserts() {
        let cols = ["k", "a", "b"];
        assert_eq!(
            Dialect::Sqlite.upsert_replacing("t", &cols, &["k"], &["a", "b"]),
            "INSERT INTO t (k, a, b) VALUES (?, ?, ?) ON CONFLICT (k) DO UPDATE SET \
             a = excluded.a, b = excluded.b"
        );
        assert_eq!(
            Dialect::MySql.upsert_replacing("t", &cols, &["k"], &["a", "b"]),
            "INSERT INTO t (k, a, b) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE \
             a = VALUES(a), b = VALUES(b)"
        );
        assert_eq!(
            Dialect::Postgres.upsert(
                "t",
                &cols,
                &["k"],
                &[("a", "CASE WHEN t.a < ? THEN 1 ELSE new(a) END")]
            ),
            "INSERT INTO t (k, a, b) VALUES ($1, $2, $3) ON CONFLICT (k) DO UPDATE SET \
             a = CASE WHEN t.a < $4 THEN 1 ELSE excluded.a END"
        );
    }

    #[test]
    fn inserts_that_skip_existing_keys() {
        assert_eq!(
            Dialect::MySql.insert_or_skip("t", &["k", "v"], &["k"], 2),
            "INSERT IGNORE INTO t (k, v) VALUES (?, ?), (?, ?)"
        );
        assert_eq!(
            Dialect::Postgres.insert_or_skip("t", &["k", "v"], &["k"], 1),
            "INSERT INTO t (k, v) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING"
        );
    }

    #[test]
    fn new_ids_and_bounded_deletes() {
        for d in ALL {
            let sql = d.insert_returning_id("t", &["a"]);
            assert_eq!(sql.ends_with("RETURNING id"), d.has_returning(), "{sql}");
            assert!(d
                .delete_limited("t", "x < ?", "x")
                .contains("ORDER BY x LIMIT"));
        }
        assert_eq!(
            Dialect::Postgres.delete_limited("t", "x < ?", "x"),
            "DELETE FROM t WHERE id IN (SELECT id FROM t WHERE x < $1 ORDER BY x LIMIT $2)"
        );
    }

    #[test]
    fn error_codes() {
        assert_eq!(classify_code("25006"), Some(Failure::ReadOnly));
        assert_eq!(classify_code("1836"), Some(Failure::ReadOnly));
        assert_eq!(classify_code("28P01"), Some(Failure::AuthRejected));
        assert_eq!(classify_code("57P01"), Some(Failure::Unavailable));
        assert_eq!(classify_code("08006"), Some(Failure::Unavailable));
        assert_eq!(classify_code("1205"), Some(Failure::Unavailable));
        // A unique violation or a syntax error is not for retrying.
        assert_eq!(classify_code("23505"), None);
        assert_eq!(classify_code("1062"), None);
        assert_eq!(classify_code("42601"), None);
    }
}
