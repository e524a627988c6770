//! The app's own database role. On AWS, servers connect as a role with data rights only
//! (SELECT/INSERT/UPDATE/DELETE on our tables); the master credential is used by `newsread
//! migrate` alone, which also creates that role and keeps its password equal to its secret.
//!
//! Role names and passwords cannot be bound as parameters in DDL, so both are checked here
//! and written as a quoted identifier and a quoted literal.
use sqlx::Row;

use super::{Db, Dialect, Error};
use crate::secret::Secret;

/// A role name we are willing to write into DDL: lower-case letters, digits and `_`.
pub fn valid_role_name(name: &str) -> Result<(), String> {
    let ok = (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "database role `{name}` must be 1-32 characters of a-z, 0-9 and _, not starting with a digit"
        ))
    }
}

/// A password we can write as an SQL literal on every engine: printable ASCII without
/// backslashes (MySQL reads them as escapes), at least 16 characters.
pub fn valid_role_password(password: &str) -> Result<(), String> {
    let ok = password.len() >= 16
        && password.len() <= 128
        && password.chars().all(|c| c.is_ascii_graphic() && c != '\\');
    if ok {
        Ok(())
    } else {
        Err(
            "the app role's password must be 16-128 printable ASCII characters without \\"
                .to_owned(),
        )
    }
}

fn literal(password: &str) -> String {
    format!("'{}'", password.replace('\'', "''"))
}

impl Db {
    /// Creates the app role if it is missing, sets its password, and grants it data rights on
    /// every table of ours (the migration history only to read). Idempotent: `migrate` runs
    /// it on every start of every instance.
    pub async fn ensure_app_role(
        &self,
        role: &str,
        password: &Secret<String>,
    ) -> Result<(), Error> {
        valid_role_name(role).map_err(Error::Setup)?;
        valid_role_password(password.expose()).map_err(Error::Setup)?;
        let pool = self.primary()?;
        let pw = literal(password.expose());
        match self.dialect() {
            Dialect::Sqlite => return Err(Error::Setup("SQLite has no database roles".into())),
            Dialect::Postgres => {
                let exists = sqlx::query("SELECT 1 AS one FROM pg_roles WHERE rolname = $1")
                    .bind(role)
                    .fetch_optional(pool)
                    .await?
                    .is_some();
                let verb = if exists { "ALTER" } else { "CREATE" };
                let database: String = sqlx::query("SELECT current_database()::text AS db")
                    .fetch_one(pool)
                    .await?
                    .try_get("db")?;
                let database = database.replace('"', "\"\"");
                for sql in [
                    format!("{verb} ROLE \"{role}\" WITH LOGIN PASSWORD {pw}"),
                    format!("GRANT CONNECT ON DATABASE \"{database}\" TO \"{role}\""),
                    format!("GRANT USAGE ON SCHEMA public TO \"{role}\""),
                    format!("REVOKE CREATE ON SCHEMA public FROM \"{role}\""),
                    format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"{role}\""),
                    format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO \"{role}\""),
                    format!("REVOKE INSERT, UPDATE, DELETE ON _sqlx_migrations FROM \"{role}\""),
                ] {
                    sqlx::query(&sql).execute(pool).await?;
                }
            }
            Dialect::MySql => {
                let database: String = sqlx::query("SELECT DATABASE() AS db")
                    .fetch_one(pool)
                    .await?
                    .try_get("db")?;
                let database = database.replace('`', "``");
                for sql in [
                    format!("CREATE USER IF NOT EXISTS '{role}'@'%' IDENTIFIED BY {pw}"),
                    format!("ALTER USER '{role}'@'%' IDENTIFIED BY {pw}"),
                    format!(
                        "GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.* TO '{role}'@'%'"
                    ),
                ] {
                    sqlx::query(&sql).execute(pool).await?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_and_passwords_that_could_escape_are_refused() {
        assert!(valid_role_name("newsread_app").is_ok());
        for bad in ["", "App", "9app", "app\"; DROP", "a'b", &"a".repeat(33)] {
            assert!(valid_role_name(bad).is_err(), "{bad}");
        }
        assert!(valid_role_password("Abcdefgh12345678'\"!").is_ok());
        for bad in [
            "short",
            "sixteen chars ok",
            "back\\slash-0123456",
            "tab\there-0123456789",
        ] {
            assert!(valid_role_password(bad).is_err(), "{bad}");
        }
        assert_eq!(literal("it's"), "'it''s'");
    }
}
