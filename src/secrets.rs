//! Credentials from AWS Secrets Manager, through the official SDK and its standard
//! configuration: the default credential chain (the instance role on EC2), `AWS_REGION`, and
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL` for a local emulator.
use std::sync::Arc;

use anyhow::Context as _;
use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use serde::Deserialize;

use crate::config::Config;
use crate::secret::Secret;
use crate::storage::{BoxFuture, CredentialSource};

#[derive(Clone)]
pub struct SecretsClient {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsClient {
    pub async fn from_environment() -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .load()
            .await;
        Self {
            client: aws_sdk_secretsmanager::Client::new(&shared),
        }
    }

    /// A secret's current string value. Errors name the secret, never its value.
    pub async fn get(&self, arn: &str) -> anyhow::Result<Secret<String>> {
        Ok(self.get_current(arn).await?.0)
    }

    /// The current value and its version id (rotation moves the stage between versions).
    async fn get_current(&self, arn: &str) -> anyhow::Result<(Secret<String>, String)> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(arn)
            // The default, said explicitly: moto's emulator otherwise keeps answering with the
            // version a stage move took AWSCURRENT away from.
            .version_stage("AWSCURRENT")
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "reading secret {arn} from Secrets Manager: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            })?;
        let value = out
            .secret_string()
            .map(|s| Secret::new(s.to_owned()))
            .with_context(|| format!("secret {arn} has no string value"))?;
        let version = out
            .version_id()
            .with_context(|| format!("secret {arn} has no version id"))?
            .to_owned();
        Ok((value, version))
    }

    /// Stores a new value as `AWSPENDING`: readers of the current value do not see it yet.
    async fn put_pending(&self, arn: &str, value: &Secret<String>) -> anyhow::Result<String> {
        let out = self
            .client
            .put_secret_value()
            .secret_id(arn)
            .secret_string(value.expose())
            .version_stages("AWSPENDING")
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "storing a pending version of {arn}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            })?;
        Ok(out
            .version_id()
            .with_context(|| format!("no version id for the new value of {arn}"))?
            .to_owned())
    }

    /// Makes `new` the current version (and `old` the previous one).
    async fn promote(&self, arn: &str, new: &str, old: &str) -> anyhow::Result<()> {
        self.client
            .update_secret_version_stage()
            .secret_id(arn)
            .version_stage("AWSCURRENT")
            .move_to_version_id(new)
            .remove_from_version_id(old)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "making version {new} of {arn} current: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            })?;
        Ok(())
    }
}

/// The JSON shape of an RDS-managed master user secret (other keys are ignored).
#[derive(Deserialize)]
struct RdsSecret {
    username: String,
    password: String,
}

pub struct DatabaseCredentials {
    pub username: String,
    pub password: Secret<String>,
}

pub fn parse_rds_secret(value: &Secret<String>) -> anyhow::Result<DatabaseCredentials> {
    // serde_json's error would quote the input: report only where it failed.
    let parsed: RdsSecret = serde_json::from_str(value.expose()).map_err(|e| {
        anyhow::anyhow!(
            "the database secret is not JSON with \"username\" and \"password\" (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    Ok(DatabaseCredentials {
        username: parsed.username,
        password: Secret::new(parsed.password),
    })
}

/// The mediastack key: the plain secret string, or `{"access_key": "..."}`.
pub fn parse_mediastack_secret(value: Secret<String>) -> Secret<String> {
    #[derive(Deserialize)]
    struct Shape {
        access_key: String,
    }
    match serde_json::from_str::<Shape>(value.expose()) {
        Ok(s) => Secret::new(s.access_key),
        Err(_) => Secret::new(value.expose().trim().to_owned()),
    }
}

/// A database URL with credentials put in (percent-encoded by the URL type).
pub fn with_credentials(url: &str, creds: &DatabaseCredentials) -> anyhow::Result<String> {
    let mut u = url::Url::parse(url).context("the database URL is not a valid URL")?;
    u.set_username(&creds.username)
        .map_err(|()| anyhow::anyhow!("the database URL cannot carry a username"))?;
    u.set_password(Some(creds.password.expose()))
        .map_err(|()| anyhow::anyhow!("the database URL cannot carry a password"))?;
    Ok(u.to_string())
}

/// Re-reads the RDS secret and builds fresh primary and replica URLs: used at start and again
/// whenever the database rejects our credentials (RDS rotates managed passwords).
pub struct RdsSecretSource {
    client: SecretsClient,
    arn: String,
    primary_url: String,
    replica_url: Option<String>,
}

impl CredentialSource for RdsSecretSource {
    fn urls(&self) -> BoxFuture<'_, anyhow::Result<(String, Option<String>)>> {
        Box::pin(async move {
            let creds = parse_rds_secret(&self.client.get(&self.arn).await?)?;
            let primary = with_credentials(&self.primary_url, &creds)?;
            let replica = self
                .replica_url
                .as_deref()
                .map(|r| with_credentials(r, &creds))
                .transpose()?;
            Ok((primary, replica))
        })
    }
}

/// Resolves every secret ARN in the configuration: database credentials go into the database
/// URLs (and a source for re-reading them is returned), the mediastack key into the ingest
/// settings. Without ARNs this does nothing and never touches AWS.
pub async fn resolve(config: &mut Config) -> anyhow::Result<Option<Arc<dyn CredentialSource>>> {
    if config.aws.database_secret_arn.is_none() && config.aws.mediastack_secret_arn.is_none() {
        return Ok(None);
    }
    let client = SecretsClient::from_environment().await;
    if let Some(arn) = config.aws.mediastack_secret_arn.clone() {
        config.ingest.mediastack_access_key =
            Some(parse_mediastack_secret(client.get(&arn).await?));
    }
    let Some(arn) = config.aws.database_secret_arn.clone() else {
        return Ok(None);
    };
    let source = RdsSecretSource {
        client,
        arn,
        primary_url: config.database.url.expose().to_owned(),
        replica_url: config
            .database
            .replica_url
            .as_ref()
            .map(|u| u.expose().to_owned()),
    };
    let (primary, replica) = source.urls().await?;
    config.database.url = crate::secret::DatabaseUrl::new(primary);
    config.database.replica_url = replica.map(crate::secret::DatabaseUrl::new);
    Ok(Some(Arc::new(source)))
}

/// Points the configuration at the administrator's credential for `migrate` (replica unused)
/// and returns a source for re-reading it, and the app's credential when its secret is
/// configured, so that `migrate` can create or update the app's role. Without an admin ARN
/// this is [`resolve`].
pub async fn resolve_for_migrate(
    config: &mut Config,
) -> anyhow::Result<(
    Option<Arc<dyn CredentialSource>>,
    Option<DatabaseCredentials>,
)> {
    let Some(admin_arn) = config.aws.database_admin_secret_arn.clone() else {
        return Ok((resolve(config).await?, None));
    };
    let client = SecretsClient::from_environment().await;
    let source = RdsSecretSource {
        client: client.clone(),
        arn: admin_arn,
        primary_url: config.database.url.expose().to_owned(),
        replica_url: None,
    };
    let (admin_url, _) = source.urls().await?;
    config.database.url = crate::secret::DatabaseUrl::new(admin_url);
    config.database.replica_url = None;
    let app_role = match &config.aws.database_secret_arn {
        Some(arn) => Some(parse_rds_secret(&client.get(arn).await?)?),
        None => None,
    };
    Ok((Some(Arc::new(source)), app_role))
}

/// A new password for the app's role: 40 letters and digits (no character any engine or URL
/// treats specially), from the operating system's generator.
fn new_password() -> Secret<String> {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    Secret::new(
        (0..40)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect(),
    )
}

/// Rotates the app role's password the way Secrets Manager's own rotation does: the new value
/// is stored as `AWSPENDING`, set on the role with the administrator's credential, tested by
/// logging in with it, and only then made `AWSCURRENT`. Servers keep their open connections
/// and re-read the secret when a new connection is refused. Returns the role's name.
pub async fn rotate_app_credential(config: &Config) -> anyhow::Result<String> {
    let (Some(admin_arn), Some(app_arn)) = (
        config.aws.database_admin_secret_arn.as_deref(),
        config.aws.database_secret_arn.as_deref(),
    ) else {
        anyhow::bail!(
            "rotate-db-credential needs NEWSREAD_DATABASE_ADMIN_SECRET_ARN (the master secret) \
             and NEWSREAD_DATABASE_SECRET_ARN (the app's secret)"
        );
    };
    let client = SecretsClient::from_environment().await;
    let admin = parse_rds_secret(&client.get(admin_arn).await?)?;
    let (current, current_version) = client.get_current(app_arn).await?;
    let app = parse_rds_secret(&current)?;
    // Keep every other key of the secret (engine, host, ...) as it is.
    let mut fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(current.expose())
            .map_err(|_| anyhow::anyhow!("the app's secret {app_arn} is not a JSON object"))?;
    let password = new_password();
    fields.insert(
        "password".into(),
        serde_json::Value::String(password.expose().clone()),
    );
    let pending = Secret::new(serde_json::Value::Object(fields).to_string());
    let pending_version = client.put_pending(app_arn, &pending).await?;

    let url = config.database.url.expose();
    let mut admin_db = config.database.clone();
    admin_db.url = crate::secret::DatabaseUrl::new(with_credentials(url, &admin)?);
    admin_db.replica_url = None;
    let db = crate::storage::Db::connect(&admin_db)?;
    let altered = db.ensure_app_role(&app.username, &password).await;
    db.close().await;
    altered.context("setting the new password on the app's role (the secret is unchanged)")?;

    let new_creds = DatabaseCredentials {
        username: app.username.clone(),
        password,
    };
    let mut app_db = config.database.clone();
    app_db.url = crate::secret::DatabaseUrl::new(with_credentials(url, &new_creds)?);
    app_db.replica_url = None;
    let db = crate::storage::Db::connect(&app_db)?;
    let tested = db.pending_migrations().await;
    db.close().await;
    tested.context("logging in with the new password")?;

    client
        .promote(app_arn, &pending_version, &current_version)
        .await
        .context(
            "the role already has the new password (the AWSPENDING version): run \
             rotate-db-credential again to finish with a fresh one",
        )?;
    Ok(app.username)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rds_secrets_fill_urls_and_errors_hide_values() {
        let creds = parse_rds_secret(&Secret::new(
            r#"{"username":"app","password":"p@ss/w:rd","engine":"postgres"}"#.to_owned(),
        ))
        .unwrap();
        let url = with_credentials(
            "postgres://db.internal:5432/newsread?sslmode=require",
            &creds,
        )
        .unwrap();
        assert_eq!(
            url,
            "postgres://app:p%40ss%2Fw%3Ard@db.internal:5432/newsread?sslmode=require"
        );
        let err = parse_rds_secret(&Secret::new("{\"password\":\"leaky-value\"".to_owned()))
            .err()
            .unwrap();
        assert!(!format!("{err:#}").contains("leaky-value"), "{err:#}");
    }

    #[test]
    fn mediastack_secret_plain_or_json() {
        assert_eq!(
            parse_mediastack_secret(Secret::new("abc\n".into())).expose(),
            "abc"
        );
        assert_eq!(
            parse_mediastack_secret(Secret::new(r#"{"access_key":"xyz"}"#.into())).expose(),
            "xyz"
        );
    }
}
