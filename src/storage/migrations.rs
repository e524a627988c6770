//! Schema migrations: per-dialect folders with the same versions, applied under a lock so
//! instances starting together take turns, and the readiness check that the schema is
//! current.
use std::path::PathBuf;

use sqlx::any::AnyRow;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::Row;

use super::dialect::Dialect;
use super::error::{is_unavailable, Error};
use super::Db;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
static MYSQL_MIGRATIONS: Migrator = sqlx::migrate!("migrations/mysql");

pub(super) fn migrator(dialect: Dialect) -> &'static Migrator {
    match dialect {
        Dialect::Sqlite => &SQLITE_MIGRATIONS,
        Dialect::Postgres => &POSTGRES_MIGRATIONS,
        Dialect::MySql => &MYSQL_MIGRATIONS,
    }
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
        let result = migrator
            .run(&self.inner.primary)
            .await
            .map_err(|e| match e {
                MigrateError::VersionMissing(found) => Error::SchemaTooNew {
                    found,
                    known: latest_version(migrator),
                },
                MigrateError::Execute(e) if is_unavailable(&e) => Error::Unavailable(Box::new(e)),
                other => Error::Migrate(other),
            });
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

    /// Readiness: the primary answers and has every migration this build needs.
    pub async fn check_schema(&self) -> Result<(), Error> {
        let known = latest_version(migrator(self.inner.dialect));
        let row: AnyRow = self
            .read_fresh(|pool| async move {
                sqlx::query("SELECT MAX(version) AS v FROM _sqlx_migrations")
                    .fetch_one(&pool)
                    .await
            })
            .await?;
        let found: Option<i64> = row.try_get("v")?;
        // A schema newer than ours is refused at start (see `migrate`), but once running we
        // stay ready when a newer release migrates ahead during a rolling deploy: migrations
        // are additive (expand, then contract a release later), so the old code keeps working.
        match found {
            Some(v) if v >= known => Ok(()),
            _ => Err(Error::SchemaTooOld {
                found,
                needed: known,
            }),
        }
    }
}

/// Held while migrations run, so instances starting together take turns.
enum MigrationLock {
    File(#[allow(dead_code)] std::fs::File),
    /// MySQL: a named lock, held by the session of this connection.
    Named(sqlx::AnyConnection),
    /// PostgreSQL: sqlx holds a session advisory lock itself.
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
