//! Schema migrations: per-dialect folders with the same versions, applied under a lock so
//! instances starting together take turns, and the readiness check that the schema is
//! current.
use std::path::PathBuf;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::Row;

use super::dialect::Dialect;
use super::error::{is_unavailable, Error};
use super::Db;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static MYSQL_MIGRATIONS: Migrator = sqlx::migrate!("migrations/mysql");

/// The oldest schema this release's code runs on: the newest migration whose tables or
/// columns it uses. Readiness requires it; `migrate` brings a database there. A release may
/// declare less than the newest migration it carries only if its code uses nothing newer.
pub const OLDEST_SCHEMA: i64 = 7;

#[cfg(not(feature = "next-release"))]
pub(super) fn migrator(dialect: Dialect) -> &'static Migrator {
    match dialect {
        Dialect::Sqlite => &SQLITE_MIGRATIONS,
        Dialect::Postgres => &POSTGRES_MIGRATIONS,
        Dialect::MySql => &MYSQL_MIGRATIONS,
    }
}

/// Test builds of "the next release" (feature `next-release`): this release's migrations
/// plus the expand-only one in tests/next-release/, so tests have two builds of newsread
/// with different schemas (tests/rollback.rs).
#[cfg(feature = "next-release")]
pub(super) fn migrator(dialect: Dialect) -> &'static Migrator {
    use std::sync::OnceLock;
    static NEXT_SQLITE: Migrator = sqlx::migrate!("tests/next-release/sqlite");
    static NEXT_POSTGRES: Migrator = sqlx::migrate!("tests/next-release/postgres");
    static NEXT_MYSQL: Migrator = sqlx::migrate!("tests/next-release/mysql");
    static COMBINED: [OnceLock<Migrator>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let (base, next, slot) = match dialect {
        Dialect::Sqlite => (&SQLITE_MIGRATIONS, &NEXT_SQLITE, &COMBINED[0]),
        Dialect::Postgres => (&POSTGRES_MIGRATIONS, &NEXT_POSTGRES, &COMBINED[1]),
        Dialect::MySql => (&MYSQL_MIGRATIONS, &NEXT_MYSQL, &COMBINED[2]),
    };
    slot.get_or_init(|| Migrator {
        migrations: base.iter().chain(next.iter()).cloned().collect(),
        ..Migrator::DEFAULT
    })
}

impl Db {
    /// Applies pending migrations under a lock (an advisory lock on PostgreSQL and MySQL, a
    /// file lock beside a SQLite database), so instances starting together never race.
    pub async fn migrate(&self) -> Result<(), Error> {
        let migrator = migrator(self.inner.dialect);
        let lock = match (&self.inner.sqlite_path, self.inner.dialect) {
            (Some(path), _) => MigrationLock::File(lock_sqlite(path).await?),
            (None, dialect) => match dialect.migration_lock() {
                Some(sql) => MigrationLock::Named(self.lock_named(sql).await?),
                None => MigrationLock::Builtin,
            },
        };
        let result = self.migrate_locked(migrator).await;
        if let MigrationLock::Named(conn) = lock {
            // Ending the session releases the lock.
            let _ = sqlx::Connection::close(conn).await;
        }
        result?;
        self.optimize(false).await
    }

    /// Keeps the query planner's statistics current where nothing else does. Without them
    /// SQLite picks the category index for `country = ? AND category = ?` and filters
    /// thousands of rows (bench/README.md, finding 2). `PRAGMA optimize` re-analyzes only
    /// what changed a lot, sampling at most `analysis_limit` rows per index, so it takes
    /// milliseconds even on a million articles; `full` analyzes every table and merges the
    /// search index into one segment (after a bulk load).
    /// SQLite connections read statistics when they load the schema, so pooled connections
    /// pick up new ones as they are recycled (`NEWSREAD_DATABASE_MAX_LIFETIME`).
    /// PostgreSQL (autovacuum) and InnoDB (persistent statistics) keep their own.
    pub async fn optimize(&self, full: bool) -> Result<(), Error> {
        if self.inner.dialect != Dialect::Sqlite {
            return Ok(());
        }
        let mut conn = self.inner.primary.acquire().await?;
        sqlx::query("PRAGMA analysis_limit = 1000")
            .execute(&mut *conn)
            .await?;
        let analyze = if full {
            "ANALYZE"
        } else {
            "PRAGMA optimize = 0x10002"
        };
        sqlx::query(analyze).execute(&mut *conn).await?;
        if full {
            // After a bulk load the search index is many small segments, and every query
            // merges them all: one segment makes a search page several times cheaper.
            sqlx::query("INSERT INTO articles_search (articles_search) VALUES ('optimize')")
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Takes the dialect's named migration lock on a connection of its own (the lock lives
    /// as long as its session) and insists on getting it.
    async fn lock_named(&self, sql: &str) -> Result<sqlx::AnyConnection, Error> {
        use sqlx::Connection as _;
        let options = self.inner.primary.connect_options();
        let mut conn = sqlx::AnyConnection::connect_with(&options).await?;
        let row = sqlx::query(sql).fetch_one(&mut conn).await?;
        match row.try_get::<Option<i64>, _>("got")? {
            Some(1) => Ok(conn),
            other => Err(Error::Setup(format!(
                "could not take the migration lock (GET_LOCK returned {other:?})"
            ))),
        }
    }

    /// Under the migration lock: applies this release's pending migrations, unless a newer
    /// release has migrated ahead, in which case this one only checks that the newer schema
    /// still declares it may run (expand/contract), so a rollback starts.
    async fn migrate_locked(&self, migrator: &Migrator) -> Result<(), Error> {
        let status = self.read_schema_status(self.primary()?.clone()).await?;
        if status.is_newer() {
            if !status.pending.is_empty() {
                return Err(Error::Setup(format!(
                    "the database schema is at version {}, newer than this release, but lacks \
                     this release's migrations {:?}; migrate it with the release that made it",
                    status.schema().unwrap_or_default(),
                    status.pending
                )));
            }
            status.verdict()?;
            tracing::info!(
                schema = status.schema(),
                known = status.known,
                "the database schema is newer than this release and declares it compatible"
            );
            return Ok(());
        }
        migrator
            .run(&self.inner.primary)
            .await
            .map_err(|e| match e {
                MigrateError::VersionMissing(found) => Error::SchemaTooNew {
                    found,
                    known: status.known,
                    runs_from: None,
                },
                MigrateError::Execute(e) if is_unavailable(&e) => Error::Unavailable(Box::new(e)),
                other => Error::Migrate(other),
            })
    }

    /// Readiness: the primary answers, has the schema this release needs, and no newer
    /// release has contracted it past this one.
    pub async fn check_schema(&self) -> Result<(), Error> {
        // Every `/readyz` asks: one small query decides unless a newer release migrated.
        let newest = self
            .read_fresh(|pool| async move { newest_applied(&pool).await })
            .await?;
        let known = latest_version(migrator(self.inner.dialect));
        match newest {
            Some(v) if v > known => self.schema_status().await?.verdict(),
            Some(v) if v >= OLDEST_SCHEMA => Ok(()),
            found => Err(Error::SchemaTooOld {
                found,
                needed: OLDEST_SCHEMA,
            }),
        }
    }

    /// The schema's version and what it declares about releases, read fresh (the primary,
    /// or the replica while the primary is down).
    pub async fn schema_status(&self) -> Result<SchemaStatus, Error> {
        let known = latest_version(migrator(self.inner.dialect));
        let dialect = self.inner.dialect;
        let raw = self
            .read_fresh(|pool| async move { read_raw_status(&pool).await })
            .await?;
        Ok(SchemaStatus::new(raw, known, dialect))
    }

    /// Migrations of this build that the database has not applied yet (servers that may not
    /// run DDL wait for `newsread migrate` instead).
    pub async fn pending_migrations(&self) -> Result<Vec<i64>, Error> {
        Ok(self.schema_status().await?.pending)
    }

    async fn read_schema_status(&self, pool: sqlx::AnyPool) -> Result<SchemaStatus, Error> {
        let raw = read_raw_status(&pool).await?;
        Ok(SchemaStatus::new(
            raw,
            latest_version(migrator(self.inner.dialect)),
            self.inner.dialect,
        ))
    }
}

/// Applied migrations and the `schema_releases` rows, as stored.
struct RawStatus {
    applied: Vec<(i64, String)>,
    declared: Vec<(i64, i64)>,
}

async fn read_raw_status(pool: &sqlx::AnyPool) -> Result<RawStatus, sqlx::Error> {
    let applied = match sqlx::query(
        "SELECT version, description FROM _sqlx_migrations WHERE success = TRUE ORDER BY version",
    )
    .fetch_all(pool)
    .await
    {
        Ok(rows) => rows
            .iter()
            .map(|r| {
                // MySQL's TEXT arrives as bytes through sqlx's Any driver.
                let description = r
                    .try_get::<String, _>("description")
                    .or_else(|_| {
                        r.try_get::<Vec<u8>, _>("description")
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                    })
                    .unwrap_or_default();
                Ok((r.try_get::<i64, _>("version")?, description))
            })
            .collect::<Result<_, sqlx::Error>>()?,
        Err(sqlx::Error::Database(e)) if is_missing_table(e.code().as_deref()) => Vec::new(),
        Err(e) => return Err(e),
    };
    let declared = match sqlx::query("SELECT version, oldest_release FROM schema_releases")
        .fetch_all(pool)
        .await
    {
        Ok(rows) => rows
            .iter()
            .map(|r| Ok((r.try_get("version")?, r.try_get("oldest_release")?)))
            .collect::<Result<_, sqlx::Error>>()?,
        Err(sqlx::Error::Database(e)) if is_missing_table(e.code().as_deref()) => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(RawStatus { applied, declared })
}

/// The newest applied migration; `None` before the first.
async fn newest_applied(pool: &sqlx::AnyPool) -> Result<Option<i64>, sqlx::Error> {
    match sqlx::query("SELECT MAX(version) AS v FROM _sqlx_migrations WHERE success = TRUE")
        .fetch_one(pool)
        .await
    {
        Ok(row) => row.try_get::<Option<i64>, _>("v"),
        Err(sqlx::Error::Database(e)) if is_missing_table(e.code().as_deref()) => Ok(None),
        Err(e) => Err(e),
    }
}

/// "No such table": PostgreSQL's and MySQL's SQLSTATEs; SQLite reports its generic error 1.
pub(super) fn is_missing_table(code: Option<&str>) -> bool {
    matches!(code, Some("42P01" | "42S02" | "1"))
}

/// A database's schema as one release sees it: `newsread migrate --status`, the start-up
/// check and readiness. Releases are named by the newest migration they know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The newest applied migration and its description; `None` before the first.
    pub version: Option<(i64, String)>,
    /// Releases that know migrations up to this version or later may run on the schema
    /// (the largest `oldest_release` any applied migration declares).
    pub oldest_release: Option<i64>,
    /// Applied migrations newer than this release that declare nothing (no
    /// `schema_releases` row): their effect on this release is unknown.
    pub undeclared: Vec<i64>,
    /// This release: the newest migration it knows, and the oldest schema it runs on.
    pub known: i64,
    pub needs: i64,
    /// This release's migrations that are not applied.
    pub pending: Vec<i64>,
}

impl SchemaStatus {
    fn new(raw: RawStatus, known: i64, dialect: Dialect) -> Self {
        let applied: Vec<i64> = raw.applied.iter().map(|(v, _)| *v).collect();
        let pending = migrator(dialect)
            .iter()
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect();
        let undeclared = applied
            .iter()
            .copied()
            .filter(|v| *v > known && !raw.declared.iter().any(|(d, _)| d == v))
            .collect();
        SchemaStatus {
            version: raw.applied.into_iter().max_by_key(|(v, _)| *v),
            oldest_release: raw.declared.iter().map(|(_, oldest)| *oldest).max(),
            undeclared,
            known,
            needs: OLDEST_SCHEMA,
            pending,
        }
    }

    /// The newest applied migration's version.
    pub fn schema(&self) -> Option<i64> {
        self.version.as_ref().map(|(v, _)| *v)
    }

    /// A newer release has migrated the database past this one.
    pub fn is_newer(&self) -> bool {
        self.schema().is_some_and(|v| v > self.known)
    }

    /// Whether this release may serve on the schema as it is: it has what the release needs,
    /// and whatever is newer declares that it keeps this release working.
    pub fn verdict(&self) -> Result<(), Error> {
        let found = self.schema();
        match found {
            Some(v) if v >= self.needs => {}
            _ => {
                return Err(Error::SchemaTooOld {
                    found,
                    needed: self.needs,
                })
            }
        }
        if !self.is_newer() {
            return Ok(());
        }
        let found = found.unwrap_or_default();
        if !self.undeclared.is_empty() {
            return Err(Error::SchemaTooNew {
                found,
                known: self.known,
                runs_from: None,
            });
        }
        match self.oldest_release {
            Some(oldest) if oldest > self.known => Err(Error::SchemaTooNew {
                found,
                known: self.known,
                runs_from: Some(oldest),
            }),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for SchemaStatus {
    /// What `newsread migrate --status` prints.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.version {
            Some((v, description)) => writeln!(f, "schema version: {v} ({description})")?,
            None => writeln!(f, "schema version: none (no migration applied)")?,
        }
        match (self.oldest_release, self.undeclared.as_slice()) {
            _ if self.version.is_none() => writeln!(
                f,
                "releases that may run on it: none before `newsread migrate`"
            )?,
            (_, [first, ..]) => writeln!(
                f,
                "releases that may run on it: unknown (migration {first} does not declare)"
            )?,
            (Some(oldest), []) => writeln!(
                f,
                "releases that may run on it: those that know schema {oldest} or newer, \
                 and run on schema {} or older",
                self.schema().unwrap_or_default()
            )?,
            // Older than release declarations: a release that knows it, or migrates it.
            (None, []) => writeln!(
                f,
                "releases that may run on it: those that know schema {} or newer",
                self.schema().unwrap_or_default()
            )?,
        }
        writeln!(
            f,
            "this release: knows schema up to {}, runs on schema {} or newer when the newer \
             schema declares it compatible",
            self.known, self.needs
        )?;
        if self.pending.is_empty() {
            writeln!(f, "pending for this release: none")?;
        } else {
            let pending: Vec<String> = self.pending.iter().map(i64::to_string).collect();
            writeln!(
                f,
                "pending for this release: {} (`newsread migrate` applies them)",
                pending.join(", ")
            )?;
        }
        match self.verdict() {
            Ok(()) => writeln!(f, "this release may run on it: yes"),
            Err(e) if self.pending.is_empty() || self.is_newer() => {
                writeln!(f, "this release may run on it: no: {e}")
            }
            Err(_) => writeln!(f, "this release may run on it: after `newsread migrate`"),
        }
    }
}

/// Held while migrations run, so instances starting together take turns.
enum MigrationLock {
    File(#[allow(dead_code)] std::fs::File),
    /// PostgreSQL and MySQL: a named lock, held by the session of this connection.
    Named(sqlx::AnyConnection),
    /// An in-memory SQLite database: one process, nothing to race.
    Builtin,
}

fn latest_version(m: &Migrator) -> i64 {
    m.iter().map(|m| m.version).max().unwrap_or(0)
}

async fn lock_sqlite(db_path: &std::path::Path) -> Result<std::fs::File, Error> {
    let mut lock_path = db_path.as_os_str().to_owned();
    lock_path.push(".migrate-lock");
    let lock_path = PathBuf::from(lock_path);
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::sqlite_file(format!("{}: {e}", lock_path.display())))?;
        file.lock()
            .map_err(|e| Error::sqlite_file(format!("{}: {e}", lock_path.display())))?;
        Ok(file)
    })
    .await
    .map_err(|e| Error::sqlite_file(format!("migration lock task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every migration's `schema_releases` row: (version, oldest_release) from the file
    /// names and the INSERT, per dialect folder.
    fn declared(folder: &str) -> Vec<(i64, Option<i64>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("migration folder") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let version: i64 = name
                .split('_')
                .next()
                .and_then(|v| v.parse().ok())
                .expect(name);
            let sql = std::fs::read_to_string(&path).expect("readable");
            let rows: Vec<&str> = sql
                .lines()
                .filter(|l| l.starts_with("INSERT INTO schema_releases"))
                .collect();
            let oldest = match rows.as_slice() {
                [] => None,
                [row] => {
                    let values = row
                        .split_once("VALUES (")
                        .and_then(|(_, v)| v.strip_suffix(");"))
                        .expect(row);
                    let (v, oldest) = values.split_once(", ").expect(row);
                    assert_eq!(
                        v.parse::<i64>().ok(),
                        Some(version),
                        "{name}: its own version"
                    );
                    Some(oldest.parse().expect(row))
                }
                _ => panic!("{name}: more than one schema_releases row"),
            };
            out.push((version, oldest));
        }
        out.sort();
        out
    }

    /// Expand/contract needs every migration since the table exists to say which releases it
    /// keeps working, the same on every engine, and never a release newer than itself.
    #[test]
    fn every_migration_declares_the_releases_it_keeps_working() {
        for extra in ["", "tests/next-release/"] {
            let folders: Vec<_> = ["sqlite", "postgres", "mysql"]
                .iter()
                .map(|d| {
                    let base = if extra.is_empty() {
                        "migrations/"
                    } else {
                        extra
                    };
                    declared(&format!("{base}{d}"))
                })
                .collect();
            assert_eq!(folders[0], folders[1], "sqlite and postgres differ");
            assert_eq!(folders[0], folders[2], "sqlite and mysql differ");
            for (version, oldest) in &folders[0] {
                if *version < 7 {
                    assert_eq!(*oldest, None, "{version} predates schema_releases");
                    continue;
                }
                let oldest =
                    oldest.unwrap_or_else(|| panic!("migration {version} declares nothing"));
                assert!(
                    oldest <= *version,
                    "{version} declares a release newer than itself"
                );
            }
        }
        let known = latest_version(migrator(Dialect::Sqlite));
        assert!((7..=known).contains(&OLDEST_SCHEMA));
    }

    fn status(applied: &[i64], declared: &[(i64, i64)], known: i64) -> SchemaStatus {
        let raw = RawStatus {
            applied: applied.iter().map(|v| (*v, format!("m{v}"))).collect(),
            declared: declared.to_vec(),
        };
        let mut s = SchemaStatus::new(raw, known, Dialect::Sqlite);
        // The pending list comes from this build's migrator; these cases test the verdict.
        s.pending.clear();
        s.needs = 7;
        s
    }

    #[test]
    fn a_release_runs_on_newer_schemas_only_while_they_declare_it_compatible() {
        let ours = [1, 2, 3, 4, 5, 6, 7];
        let expanded = [1, 2, 3, 4, 5, 6, 7, 8];
        // Our own schema.
        let s = status(&ours, &[(7, 6)], 7);
        assert!(s.verdict().is_ok() && !s.is_newer());
        assert!(
            s.to_string().contains("this release may run on it: yes"),
            "{s}"
        );
        // A newer release's expand migration.
        let s = status(&expanded, &[(7, 6), (8, 7)], 7);
        assert!(s.is_newer() && s.verdict().is_ok());
        assert!(
            s.to_string().contains("those that know schema 7 or newer"),
            "{s}"
        );
        // Its contract migration: only releases that know 8 may run.
        let s = status(&expanded, &[(7, 6), (8, 8)], 7);
        match s.verdict() {
            Err(Error::SchemaTooNew {
                found: 8,
                known: 7,
                runs_from: Some(8),
            }) => {}
            other => panic!("{other:?}"),
        }
        assert!(
            s.to_string().contains("this release may run on it: no"),
            "{s}"
        );
        // A newer migration that declares nothing is not trusted.
        let s = status(&expanded, &[(7, 6)], 7);
        assert!(matches!(
            s.verdict(),
            Err(Error::SchemaTooNew {
                runs_from: None,
                ..
            })
        ));
        assert!(
            s.to_string().contains("migration 8 does not declare"),
            "{s}"
        );
        // Older than this release needs.
        let s = status(&[1, 2, 3, 4, 5, 6], &[], 7);
        assert!(matches!(
            s.verdict(),
            Err(Error::SchemaTooOld {
                found: Some(6),
                needed: 7
            })
        ));
        let s = status(&[], &[], 7);
        assert!(matches!(
            s.verdict(),
            Err(Error::SchemaTooOld { found: None, .. })
        ));
        assert!(s.to_string().contains("schema version: none"), "{s}");
    }
}
