//! The `newsread` command line: one binary for the web server and its operations.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{connect, shutdown_signal, Application, Schema};
use crate::config::Config;

#[derive(Parser, Debug)]
#[command(
    name = "newsread",
    version,
    about = "NewsRead news reader: web server, API and admin tools"
)]
pub struct Cli {
    /// A file of NAME=value settings, under the environment (same as NEWSREAD_CONFIG_FILE).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the web app and API (the default).
    Serve {
        /// Address to listen on; overrides NEWSREAD_LISTEN.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Apply database migrations and exit. With NEWSREAD_DATABASE_ADMIN_SECRET_ARN, connects
    /// with that (master) credential and also creates or updates the app's own role, named
    /// with its password in NEWSREAD_DATABASE_SECRET_ARN, with data rights only.
    /// A schema that a newer release migrated further is left as it is if its migrations
    /// declare this release compatible (expand/contract), else refused.
    Migrate {
        /// Change nothing: print the schema version, which releases may run on it and
        /// whether this one may (exit 0: it may as the schema is; 3: it may not, or only
        /// after `newsread migrate`; 1: could not tell).
        #[arg(long)]
        status: bool,
    },
    /// Give the app's database role a new password: stored as AWSPENDING in its secret, set
    /// with the master credential, tested, then made current. Running servers follow.
    RotateDbCredential,
    /// Print the effective configuration, secrets redacted, and exit non-zero if it is invalid.
    CheckConfig,
    /// Run news ingestion: with --once, one cycle now, printing per source what was fetched,
    /// added, updated and skipped (exit 0: all sources fine; 3: a source failed; 1: could
    /// not run). Without it, the scheduler in the foreground, as a dedicated worker.
    Ingest {
        /// Run one cycle and exit (respects the mediastack budget and back-offs, not the lease).
        #[arg(long)]
        once: bool,
    },
    /// Add synthetic articles and readers in bulk (for benchmarks and large-archive demos).
    /// Readers are reader00001... with the password `benchmark-password`.
    Seed {
        /// How many articles to add.
        #[arg(long, default_value_t = 10_000)]
        articles: u64,
        /// How many readers to add (half with a filtered feed).
        #[arg(long, default_value_t = 20)]
        users: u64,
        /// Random seed, so that runs are comparable.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Add the readers (whose password is published) even though the database already
        /// has readers that seed did not create. Without it, seed refuses.
        #[arg(long)]
        allow_existing_readers: bool,
    },
}

fn load_config(file: Option<&std::path::Path>) -> Result<Config, ExitCode> {
    let mut vars: BTreeMap<String, String> = std::env::vars().collect();
    if let Some(path) = file {
        vars.insert("NEWSREAD_CONFIG_FILE".into(), path.display().to_string());
    }
    for name in Config::unknown_variables(&vars) {
        eprintln!("warning: {name} is not a NewsRead setting (typo?)");
    }
    Config::load(vars).map_err(|e| {
        eprintln!("newsread: {e}");
        ExitCode::from(2)
    })
}

pub async fn run(cli: Cli) -> ExitCode {
    let mut config = match load_config(cli.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let command = cli.command.unwrap_or(Command::Serve { listen: None });
    // check-config only prints.
    if !matches!(command, Command::CheckConfig) {
        crate::telemetry::init(&config.log);
    }
    match command {
        Command::CheckConfig => {
            print!("{}", config.describe());
            ExitCode::SUCCESS
        }
        Command::Seed {
            articles,
            users,
            seed,
            allow_existing_readers,
        } => {
            let result = async {
                let db = connect(&mut config, Schema::Migrate).await?;
                let report = crate::seed::seed(
                    &db,
                    articles,
                    users,
                    seed,
                    crate::clock::unix_now(),
                    allow_existing_readers,
                )
                .await?;
                db.close().await;
                println!(
                    "seeded {} articles and {} readers",
                    report.articles_added, report.users_added
                );
                anyhow::Ok(())
            }
            .await;
            report(result, "seeded")
        }
        Command::Migrate { status: true } => {
            let result = async {
                let db = connect(&mut config, Schema::Inspect).await?;
                let status = db.schema_status().await;
                db.close().await;
                anyhow::Ok(status?)
            }
            .await;
            match result {
                Ok(status) => {
                    print!("{status}");
                    if status.verdict().is_ok() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(3)
                    }
                }
                Err(e) => report(Err(e), ""),
            }
        }
        Command::Migrate { status: false } => {
            let result = async {
                connect(&mut config, Schema::MigrateAsAdmin)
                    .await?
                    .close()
                    .await;
                anyhow::Ok(())
            }
            .await;
            report(result, "migrations applied")
        }
        Command::RotateDbCredential => match crate::secrets::rotate_app_credential(&config).await {
            Ok(role) => {
                println!("rotated the password of database role {role}");
                ExitCode::SUCCESS
            }
            Err(e) => report(Err(e), ""),
        },
        Command::Ingest { once: true } => {
            let result = async {
                let db = connect(&mut config, Schema::Migrate).await?;
                crate::ingest::run_once(db, config).await
            }
            .await;
            match result {
                Ok(cycle) => {
                    print!("{cycle}");
                    if cycle.failed() {
                        ExitCode::from(3)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => report(Err(e), ""),
            }
        }
        Command::Ingest { once: false } => {
            let result = async {
                let db = connect(&mut config, Schema::Migrate).await?;
                crate::ingest::run_worker(db, config, shutdown_signal()).await
            }
            .await;
            report(result, "stopped")
        }
        Command::Serve { listen } => {
            if let Some(addr) = listen {
                config.listen = addr;
            }
            let result = async {
                let app = Application::build(config).await?;
                tracing::info!(address = %app.local_addr()?, "NewsRead is listening");
                app.run(shutdown_signal()).await
            }
            .await;
            report(result, "stopped")
        }
    }
}

fn report(result: anyhow::Result<()>, ok: &str) -> ExitCode {
    match result {
        Ok(()) => {
            tracing::info!("{ok}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "newsread failed");
            eprintln!("newsread: {e:#}");
            ExitCode::FAILURE
        }
    }
}
