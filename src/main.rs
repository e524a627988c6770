use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    newsread::cli::run(newsread::cli::Cli::parse()).await
}
