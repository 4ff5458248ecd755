//! `doztra-bench key-track`: `POST /api/tokens/users/{user_id}/track` with a service API key
//! against `POST /api/tokens/me/track` with the user's access token, on the release server and
//! a fresh PostgreSQL database. The key is made by the operator's command
//! (`doztra-auth create-api-key`); both sides track the same kind of events for the same
//! accounts (professional plan, unique `request_id`s), alternating runs, best of each side.
//! Target (issue 14): the key within 10 % of the token's throughput.

use std::sync::Arc;
use std::time::Duration;

use crate::api::{self, Account};
use crate::db::{self, TempDb};
use crate::load::{Bounds, BoxFut, Stats, closed_loop};
use crate::report;
use crate::server::{self, ServerArgs, ServerConfig};

/// Markers of this scenario's section in docs/BENCHMARKS.md.
const BEGIN: &str = "<!-- bench:key-track:begin -->";
const END: &str = "<!-- bench:key-track:end -->";

/// The key's throughput must be at least this share of the token's.
const TARGET_RATIO: f64 = 0.9;

#[derive(Debug, Clone, clap::Args)]
pub struct KeyTrackArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Concurrent clients.
    #[arg(long, value_delimiter = ',', default_value = "8,32")]
    pub clients: Vec<usize>,
    /// Measured runs per level and side, alternating; the best of each side is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Unmeasured warm-up seconds before each run.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Accounts the load is spread over.
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    /// Markdown output (this scenario's section is replaced); "-" writes no file.
    #[arg(long)]
    pub output: Option<String>,
}

/// Who tracks: the user with their token, or the backend with its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Token,
    Key,
}

struct Level {
    clients: usize,
    token: Stats,
    key: Stats,
}

fn track_op(
    client: reqwest::Client,
    base: String,
    accounts: Arc<Vec<Account>>,
    key: Arc<String>,
    side: Side,
    prefix: String,
) -> impl Fn(u64, usize) -> BoxFut + Clone + Send + Sync + 'static {
    let base = Arc::new(base);
    move |seq, _| {
        let client = client.clone();
        let account = accounts[(seq % accounts.len() as u64) as usize].clone();
        let (url, credential) = match side {
            Side::Token => (format!("{base}/api/tokens/me/track"), account.token.clone()),
            Side::Key => (
                format!("{base}/api/tokens/users/{}/track", account.id),
                key.as_str().to_owned(),
            ),
        };
        let body = api::track_body(&prefix, seq, 150, None, None);
        Box::pin(async move { api::post_ok(&client, &url, &credential, &body).await })
    }
}

pub async fn key_track(args: KeyTrackArgs) -> Result<(), String> {
    let result = server::on_fresh_database(&args.server, async |binary, db| {
        levels(&args, binary, db).await
    })
    .await?;
    let markdown = markdown(&args, &result);
    report::publish_section(args.output.as_deref(), BEGIN, END, &markdown)
}

async fn levels(
    args: &KeyTrackArgs,
    binary: &std::path::Path,
    db: &TempDb,
) -> Result<Vec<Level>, String> {
    let config = ServerConfig::on(binary, db, &args.server.log_dir, Vec::new());
    config.migrate()?;
    let printed = config.run_cli(
        "create-api-key",
        &["--name", "bench-backend", "--scope", "usage:write"],
    )?;
    // The key is the line of its own among the JSON log lines.
    let key = printed
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("dzk_"))
        .ok_or_else(|| format!("create-api-key printed no key: {printed}"))?
        .to_owned();
    let srv = config.start().await?;
    let max_clients = args.clients.iter().copied().max().unwrap_or(1);
    let client = api::client(max_clients + 2)?;
    let accounts = api::register_many(&client, &srv.base, "keytrack", args.users, 4).await?;
    let pool = db::pool(&db.url, 2).await?;
    db::make_all_professional(&pool).await?;
    let accounts = Arc::new(accounts);
    let key = Arc::new(key);
    let mut out = Vec::new();
    let mut run = 0u64;
    for &clients in &args.clients {
        let mut best: [Option<Stats>; 2] = [None, None];
        for round in 0..args.repeat.max(1) {
            // Alternate which side goes first, so neither always meets a warmer database.
            let order = if round % 2 == 0 {
                [Side::Token, Side::Key]
            } else {
                [Side::Key, Side::Token]
            };
            for side in order {
                run += 1;
                let op = |prefix: String| {
                    track_op(
                        client.clone(),
                        srv.base.clone(),
                        Arc::clone(&accounts),
                        Arc::clone(&key),
                        side,
                        prefix,
                    )
                };
                closed_loop(
                    clients,
                    Bounds::new(Duration::from_secs_f64(args.warmup), u64::MAX),
                    op(format!("warm-{run}-")),
                )
                .await;
                let stats = closed_loop(
                    clients,
                    Bounds::new(Duration::from_secs_f64(args.seconds), u64::MAX),
                    op(format!("run-{run}-")),
                )
                .await;
                eprintln!(
                    "  {clients:>3} clients, {:<5} {}",
                    if side == Side::Token { "token" } else { "key" },
                    stats.summary()
                );
                let slot = &mut best[usize::from(side == Side::Key)];
                if slot
                    .as_ref()
                    .is_none_or(|b| stats.throughput() > b.throughput())
                {
                    *slot = Some(stats);
                }
            }
        }
        let [Some(token), Some(key_stats)] = best else {
            return Err("no run measured".to_owned());
        };
        out.push(Level {
            clients,
            token,
            key: key_stats,
        });
    }
    let violations = db::invariant_violations(&pool).await?;
    if violations != 0 {
        return Err(format!(
            "{violations} rows break the counters/roll-ups invariants"
        ));
    }
    drop(srv);
    Ok(out)
}

fn markdown(args: &KeyTrackArgs, levels: &[Level]) -> String {
    let mut md = String::new();
    md.push_str(&format!(
        "## Tracking through a service API key vs a user token ({})\n\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    ));
    md.push_str(&format!(
        "`doztra-bench key-track`: the release server (`APP_ENV=production`, HS256 tokens) on a \
         fresh PostgreSQL database on the same 2 cores as the load generator; {} accounts \
         (professional plan), 150-token tracks with unique `request_id`s; per level {} runs of \
         {} s per side after {} s of warm-up, alternating which side goes first; the best run \
         of each side. Token: `POST /api/tokens/me/track` with the user's access token (one \
         joined read of account, sign-in and subscription). Key: `POST \
         /api/tokens/users/{{user_id}}/track` with one key made by `doztra-auth create-api-key` \
         (one statement: the key by its hash left-joined to the account and its subscription). Counters and \
         roll-ups checked against the events afterwards: consistent.\n\n",
        args.users, args.repeat, args.seconds, args.warmup
    ));
    md.push_str("| clients | token req/s | p50 ms | p99 ms | key req/s | p50 ms | p99 ms | key / token | target ≥ 0.90 |\n");
    md.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for level in levels {
        let ratio = level.key.throughput() / level.token.throughput().max(f64::MIN_POSITIVE);
        md.push_str(&format!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {} |\n",
            level.clients,
            level.token.throughput(),
            level.token.p50(),
            level.token.p99(),
            level.key.throughput(),
            level.key.p50(),
            level.key.p99(),
            ratio,
            if ratio >= TARGET_RATIO {
                "met"
            } else {
                "**missed**"
            }
        ));
    }
    let failed: u64 = levels.iter().map(|l| l.token.errors + l.key.errors).sum();
    md.push_str(&format!(
        "\nFailed requests in the reported runs: {failed}.\n"
    ));
    md
}
