//! The `cirrus` binary: parses the command line and wires the crates together.
//! No business logic lives here.

mod bench;
mod cli;
mod client;
mod cluster;
mod cluster_members;
mod cluster_status;
mod serve;

use clap::Parser;

use crate::cli::{Cli, ClusterCommand, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CIRRUS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn")),
        )
        .init();
    let outcome = match cli.command {
        Command::Serve(options) => serve::run(options).map_err(|e| e.to_string()),
        Command::Bench(options) => bench::run(options).map_err(|e| e.to_string()),
        Command::Cluster(ClusterCommand::Status(options)) => cluster_status::run(options),
        Command::Cluster(ClusterCommand::AddNode(options)) => cluster_members::add(options),
        Command::Cluster(ClusterCommand::RemoveNode(options)) => cluster_members::remove(options),
        Command::Cluster(ClusterCommand::ReplaceNode(options)) => cluster_members::replace(options),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            std::process::ExitCode::FAILURE
        }
    }
}
