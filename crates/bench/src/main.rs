//! `doztra-bench`: benchmarks of the release server against PostgreSQL's own limit, and the
//! load generator of the fault scripts in `scripts/`.
//!
//! ```sh
//! cargo build --release -p doztra-server -p doztra-bench
//! target/release/doztra-bench run            # full run, writes docs/BENCHMARKS.md
//! target/release/doztra-bench run --quick    # a short smoke run (no file written)
//! target/release/doztra-bench webhook-flood  # /health under hostile webhook signatures
//! target/release/doztra-bench key-track      # track through an API key vs a user token
//! ```
//!
//! Every load loop is bounded in time and in requests, and targets 127.0.0.1 only.

mod api;
mod db;
mod fault;
mod hash_flood;
mod key_track;
mod load;
mod report;
mod run;
mod scenarios;
mod server;
mod webhook_flood;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "doztra-bench",
    version,
    about = "Benchmarks and fault-test load for Doztra Auth"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the release server on a fresh PostgreSQL database, run every benchmark, print the
    /// tables and write them to docs/BENCHMARKS.md.
    Run(run::RunArgs),
    /// Register accounts on a running server; writes `user_id<TAB>token<TAB>email` lines.
    Register(RegisterArgs),
    /// Track load for the fault scripts; prints a JSON summary, writes acknowledged ids.
    TrackLoad(fault::TrackLoadArgs),
    /// `GET /health` latency while clients flood the webhook with hostile Stripe-Signature
    /// headers; writes its own section of docs/BENCHMARKS.md.
    WebhookFlood(webhook_flood::WebhookFloodArgs),
    /// Sign-in latency while clients flood the server with requests that make it hash
    /// passwords; writes its own section of docs/BENCHMARKS.md.
    HashFlood(hash_flood::HashFloodArgs),
    /// Track throughput through a service API key vs through a user token; writes its own
    /// section of docs/BENCHMARKS.md.
    KeyTrack(key_track::KeyTrackArgs),
}

#[derive(clap::Args)]
struct RegisterArgs {
    /// Base URL of the server (loopback only).
    #[arg(long)]
    url: String,
    #[arg(long, default_value_t = 4)]
    count: usize,
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    #[arg(long, default_value = "fault")]
    prefix: String,
    #[arg(long)]
    out: PathBuf,
}

async fn register(args: RegisterArgs) -> Result<(), String> {
    api::ensure_loopback(&args.url)?;
    let client = api::client(args.concurrency)?;
    let accounts = api::register_many(
        &client,
        &args.url,
        &args.prefix,
        args.count,
        args.concurrency,
    )
    .await?;
    let lines: String = accounts
        .iter()
        .map(|a| format!("{}\t{}\t{}\n", a.id, a.token, a.email))
        .collect();
    std::fs::write(&args.out, lines).map_err(|e| format!("{}: {e}", args.out.display()))?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args).await,
        Command::Register(args) => register(args).await,
        Command::TrackLoad(args) => fault::track_load(args).await,
        Command::WebhookFlood(args) => webhook_flood::webhook_flood(args).await,
        Command::HashFlood(args) => hash_flood::hash_flood(args).await,
        Command::KeyTrack(args) => key_track::key_track(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
