//! Credentials from AWS Secrets Manager, through the official SDK and its standard
//! configuration: the default credential chain (the instance role on EC2), `AWS_REGION`, and
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL` for a local emulator.
use std::sync::Arc;

use anyhow::Context as _;
use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use serde::Deserialize;

use crate::config::{Config, Secret};
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
        let out = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "reading secret {arn} from Secrets Manager: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            })?;
        out.secret_string()
            .map(|s| Secret::new(s.to_owned()))
            .with_context(|| format!("secret {arn} has no string value"))
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
    config.database.url = crate::config::DatabaseUrl::new(primary);
    config.database.replica_url = replica.map(crate::config::DatabaseUrl::new);
    Ok(Some(Arc::new(source)))
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
