//! `doztra-bench run`: the whole benchmark on a fresh PostgreSQL database.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::PgPool;

use crate::api::{self, Account};
use crate::db::{self, DirectTrack, TempDb};
use crate::load::{Bounds, BoxFut, Stats, closed_loop};
use crate::report::{self, Report};
use crate::scenarios;
use crate::server::{self, Server, ServerArgs, ServerConfig};

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Concurrent clients of the track benchmark.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32,64")]
    pub clients: Vec<usize>,
    /// Measured runs per track level and side, alternating service and direct; the best run of
    /// each side is reported.
    #[arg(long, default_value_t = 2)]
    pub repeat: usize,
    /// Measured seconds per track level (each side: service, then direct).
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Unmeasured warm-up seconds before each measured run.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Request budget of each measured run.
    #[arg(long, default_value_t = 200_000)]
    pub max_requests: u64,
    /// Accounts the track load is spread over.
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    /// Database pool size of the server (DATABASE_MAX_CONNECTIONS) and of the direct baseline.
    #[arg(long, default_value_t = 16)]
    pub pool: u32,
    /// Clients of the hot-account run (every one on the same account); 0 skips it.
    #[arg(long, default_value_t = 32)]
    pub hot_clients: usize,
    /// Rows above the deep history page (reached through `next_cursor`); 0 skips it.
    #[arg(long, default_value_t = 100_000)]
    pub history_depth: u64,
    /// Client levels of the SQLite runs (group commit off and on); empty skips them.
    #[arg(long, value_delimiter = ',', default_value = "8,32")]
    pub sqlite_clients: Vec<usize>,
    /// Events of the "large" account of the read benchmark.
    #[arg(long, default_value_t = 1_000_000)]
    pub big_events: u64,
    /// Events of the "small" account of the read benchmark.
    #[arg(long, default_value_t = 1_000)]
    pub small_events: u64,
    /// Days the seeded events are spread over (ending now).
    #[arg(long, default_value_t = 60)]
    pub seed_days: u32,
    /// Concurrent clients of the read benchmark.
    #[arg(long, default_value_t = 8)]
    pub read_clients: usize,
    /// Measured seconds of each read benchmark.
    #[arg(long, default_value_t = 3.0)]
    pub read_seconds: f64,
    /// Concurrent sign-ins of the login benchmark.
    #[arg(long, default_value_t = 8)]
    pub login_clients: usize,
    /// Measured seconds of the login benchmark.
    #[arg(long, default_value_t = 5.0)]
    pub login_seconds: f64,
    /// Clients of the profile runs (where the service's time goes).
    #[arg(long, default_value_t = 32)]
    pub profile_clients: usize,
    /// Skip the profile runs.
    #[arg(long)]
    pub no_profile: bool,
    /// A short smoke run: 1 s levels, 100,000-event large account, no file written.
    #[arg(long)]
    pub quick: bool,
    /// Markdown output (the generated section between the bench markers is replaced).
    /// Default: docs/BENCHMARKS.md; "-" writes no file.
    #[arg(long)]
    pub output: Option<String>,
    /// Extra environment of the server, NAME=VALUE (repeatable), e.g. for experiments.
    #[arg(long = "server-env")]
    pub server_env: Vec<String>,
    /// Before starting, wait (at most this many seconds) until other processes use less than
    /// 15% of the machine's CPU; 0 = do not wait. The report shows their share in any case.
    #[arg(long, default_value_t = 0)]
    pub wait_quiet: u64,
}

impl RunArgs {
    fn apply_quick(&mut self) {
        if self.quick {
            self.seconds = self.seconds.min(1.0);
            self.warmup = self.warmup.min(0.3);
            self.repeat = 1;
            self.read_seconds = self.read_seconds.min(1.0);
            self.login_seconds = self.login_seconds.min(2.0);
            self.big_events = self.big_events.min(100_000);
            self.history_depth = self.history_depth.min(self.big_events / 2);
            self.users = self.users.min(64);
            if self.output.is_none() {
                self.output = Some("-".to_owned());
            }
        }
    }
}

/// CPU used during a measured run, per component.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    pub server: Duration,
    pub postgres: Duration,
    pub client: Duration,
    /// Everything the machine ran in the meantime (ours and anybody else's).
    pub machine: Duration,
    pub wall: Duration,
}

impl CpuUse {
    /// Milliseconds of CPU per operation of `stats`.
    pub fn per_op_ms(cpu: Duration, stats: &Stats) -> f64 {
        if stats.ok == 0 {
            0.0
        } else {
            cpu.as_secs_f64() * 1000.0 / stats.ok as f64
        }
    }

    /// Share of the machine's CPU used (all components), 0..=1.
    pub fn utilisation(&self, cores: usize) -> f64 {
        let used = (self.server + self.postgres + self.client).as_secs_f64();
        let avail = self.wall.as_secs_f64() * cores as f64;
        if avail > 0.0 { used / avail } else { 0.0 }
    }

    /// Share of the machine's CPU used by processes outside this benchmark, 0..=1.
    pub fn others(&self, cores: usize) -> f64 {
        let ours = self.server + self.postgres + self.client;
        let avail = self.wall.as_secs_f64() * cores as f64;
        if avail > 0.0 {
            self.machine.saturating_sub(ours).as_secs_f64() / avail
        } else {
            0.0
        }
    }
}

struct Snapshot {
    server: Duration,
    postgres: Duration,
    client: Duration,
    machine: Duration,
}

fn snapshot(server: Option<&Server>, database: &str) -> Snapshot {
    Snapshot {
        server: server.and_then(Server::cpu_time).unwrap_or_default(),
        postgres: server::postgres_cpu(database),
        client: server::self_cpu(),
        machine: server::machine_busy(),
    }
}

fn since(before: &Snapshot, after: &Snapshot, wall: Duration) -> CpuUse {
    CpuUse {
        server: after.server.saturating_sub(before.server),
        postgres: after.postgres.saturating_sub(before.postgres),
        client: after.client.saturating_sub(before.client),
        machine: after.machine.saturating_sub(before.machine),
        wall,
    }
}

/// One measured run with CPU accounting, after an unmeasured warm-up.
async fn measure<F, Fut>(
    ctx: &Ctx<'_>,
    label: &str,
    clients: usize,
    seconds: f64,
    op: F,
) -> (Stats, CpuUse)
where
    F: Fn(u64, usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    if ctx.args.warmup > 0.0 {
        // Warm-up sequence numbers live far above the measured ones (unique request ids).
        let warm = op.clone();
        closed_loop(
            clients,
            Bounds::new(
                Duration::from_secs_f64(ctx.args.warmup),
                ctx.args.max_requests,
            ),
            move |seq, w| warm(seq + 1_000_000_000, w),
        )
        .await;
    }
    let before = snapshot(ctx.server, &ctx.db.name);
    let stats = closed_loop(
        clients,
        Bounds::new(Duration::from_secs_f64(seconds), ctx.args.max_requests),
        op,
    )
    .await;
    let cpu = since(&before, &snapshot(ctx.server, &ctx.db.name), stats.elapsed);
    let rss = ctx
        .server
        .and_then(Server::rss_kib)
        .map_or_else(String::new, |k| {
            format!(", server RSS {:.0} MiB", k as f64 / 1024.0)
        });
    eprintln!(
        "  {label:<44} {}; CPU busy {:.0}% + others {:.0}%{rss}",
        stats.summary(),
        cpu.utilisation(ctx.cores) * 100.0,
        cpu.others(ctx.cores) * 100.0
    );
    (stats, cpu)
}

struct Ctx<'a> {
    args: &'a RunArgs,
    cores: usize,
    db: &'a TempDb,
    server: Option<&'a Server>,
}

fn direct_track_op(
    pool: PgPool,
    accounts: Arc<Vec<Account>>,
    prefix: String,
    with_reads: bool,
) -> impl Fn(u64, usize) -> BoxFut + Clone + Send + Sync + 'static {
    let prefix = Arc::new(prefix);
    move |seq, _| {
        let pool = pool.clone();
        let accounts = Arc::clone(&accounts);
        let prefix = Arc::clone(&prefix);
        Box::pin(async move {
            let account = &accounts[(seq % accounts.len() as u64) as usize];
            let tokens = 150i64;
            let track = DirectTrack {
                user_id: account.id,
                session_id: account.session_id,
                request_type: api::REQUEST_TYPES[(seq % 3) as usize],
                model: api::MODELS[((seq / 3) % 3) as usize],
                prompt_tokens: tokens / 3,
                completion_tokens: tokens - tokens / 3,
                request_id: format!("{prefix}{seq}"),
                conversation_id: Some(format!("conv-{}", seq / 10)),
            };
            db::direct_track(&pool, &track, with_reads)
                .await
                .map_err(|e| format!("direct track: {e}"))
        })
    }
}

fn get_op(
    client: reqwest::Client,
    url: String,
    token: String,
) -> impl Fn(u64, usize) -> BoxFut + Clone + Send + Sync + 'static {
    let url = Arc::new(url);
    let token = Arc::new(token);
    move |_, _| {
        let client = client.clone();
        let url = Arc::clone(&url);
        let token = Arc::clone(&token);
        Box::pin(async move { api::get_ok(&client, &url, &token).await })
    }
}

fn post_json_op(
    client: reqwest::Client,
    url: String,
    accounts: Arc<Vec<Account>>,
    body: serde_json::Value,
) -> impl Fn(u64, usize) -> BoxFut + Clone + Send + Sync + 'static {
    let url = Arc::new(url);
    let body = Arc::new(body);
    move |seq, _| {
        let client = client.clone();
        let url = Arc::clone(&url);
        let accounts = Arc::clone(&accounts);
        let body = Arc::clone(&body);
        Box::pin(async move {
            let account = &accounts[(seq % accounts.len() as u64) as usize];
            api::post_ok(&client, &url, &account.token, &body).await
        })
    }
}

fn login_op(
    client: reqwest::Client,
    base: String,
    accounts: Arc<Vec<Account>>,
) -> impl Fn(u64, usize) -> BoxFut + Clone + Send + Sync + 'static {
    let base = Arc::new(base);
    move |seq, _| {
        let client = client.clone();
        let base = Arc::clone(&base);
        let accounts = Arc::clone(&accounts);
        Box::pin(async move {
            let account = &accounts[(seq % accounts.len() as u64) as usize];
            api::login(&client, &base, &account.email).await.map(|_| ())
        })
    }
}

fn output_path(args: &RunArgs) -> Option<PathBuf> {
    match args.output.as_deref() {
        Some("-") => None,
        Some(p) => Some(PathBuf::from(p)),
        None => {
            let local = PathBuf::from("docs");
            if local.is_dir() {
                Some(local.join("BENCHMARKS.md"))
            } else {
                Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/BENCHMARKS.md"))
            }
        }
    }
}

pub async fn run(mut args: RunArgs) -> Result<(), String> {
    args.apply_quick();
    let report = server::on_fresh_database(&args.server, async |binary, db| {
        run_on(&args, binary, db).await
    })
    .await?;
    let markdown = report.markdown();
    println!("{markdown}");
    if let Some(path) = output_path(&args) {
        report::write_into(&path, &markdown)?;
        eprintln!("written to {}", path.display());
    }
    Ok(())
}

async fn run_on(args: &RunArgs, binary: &std::path::Path, db: &TempDb) -> Result<Report, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut env = vec![("DATABASE_MAX_CONNECTIONS".to_owned(), args.pool.to_string())];
    for pair in &args.server_env {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("--server-env {pair}: expected NAME=VALUE"))?;
        env.push((k.to_owned(), v.to_owned()));
    }
    let mut config = ServerConfig::on(binary, db, &args.server.log_dir, env);
    if args.wait_quiet > 0 {
        wait_quiet(cores, Duration::from_secs(args.wait_quiet)).await;
    }
    eprintln!("server log: {}", config.log_file.display());
    let migrate = config.migrate()?;
    let mut srv = config.start().await?;
    eprintln!(
        "server ready in {:.0} ms (migrations took {:.0} ms)",
        srv.startup.as_secs_f64() * 1000.0,
        migrate.as_secs_f64() * 1000.0
    );
    let rss_idle = srv.rss_kib();
    let pool = db::pool(&db.url, args.pool).await?;
    let mut report = Report::new(
        args,
        cores,
        &db::server_version(&pool).await,
        migrate,
        srv.startup,
    );
    report.server_version = server_version(&srv.base).await;
    report.tls = db::uses_tls(&pool).await;

    // Accounts: registered over HTTP (one argon2 hash each), then given the unlimited plan.
    let client = api::client(256)?;
    let total_users = args.users + 2;
    eprintln!("registering {total_users} accounts");
    let mut all =
        api::register_many(&client, &srv.base, "bench", total_users, cores.max(2)).await?;
    db::make_all_professional(&pool).await?;
    let big = all.pop().ok_or("no accounts")?;
    let small = all.pop().ok_or("no accounts")?;
    let accounts = Arc::new(all);

    let phase = Phase {
        args,
        cores,
        db,
        srv: &srv,
        pool: &pool,
        client: &client,
        accounts: &accounts,
    };
    track_levels(&phase, &mut report).await?;
    hot_account(&phase, &mut report).await?;
    profile(&phase, &mut report).await?;
    reads(&phase, &mut report, &small, &big).await?;
    logins(&phase, &mut report).await?;

    report.rss_peak_kib = srv.peak_rss_kib();
    report.rss_idle_kib = rss_idle;

    // Access logs off: how much of a track is the JSON log line.
    if !args.no_profile {
        let c = args.profile_clients;
        let (status, drain) = srv.terminate(Duration::from_secs(40)).await?;
        report.shutdown = Some((status_text(status), drain));
        config.env.push(("RUST_LOG".to_owned(), "warn".to_owned()));
        srv = config.start().await?;
        let ctx = Ctx {
            args,
            cores,
            db,
            server: Some(&srv),
        };
        let op = api::track_op(
            client.clone(),
            &srv.base,
            Arc::clone(&accounts),
            format!("q{c}-"),
        );
        let r = measure(&ctx, "service track, RUST_LOG=warn", c, args.seconds, op).await;
        report.profile.push((
            "service: track with access logs off (`RUST_LOG=warn`)".to_owned(),
            r.0,
            Some(r.1),
        ));
    }

    report.invariant_violations = Some(db::invariant_violations(&pool).await?);
    let (status, drain) = srv.terminate(Duration::from_secs(40)).await?;
    if report.shutdown.is_none() {
        report.shutdown = Some((status_text(status), drain));
    }
    pool.close().await;

    if !args.sqlite_clients.is_empty() {
        eprintln!("SQLite, group commit off and on");
        report.sqlite = scenarios::sqlite_batching(
            binary,
            &args.server.log_dir,
            &args.sqlite_clients,
            args.seconds,
        )
        .await?;
    }
    Ok(report)
}

/// What every phase of a run uses.
#[derive(Clone, Copy)]
struct Phase<'a> {
    args: &'a RunArgs,
    cores: usize,
    db: &'a TempDb,
    srv: &'a Server,
    pool: &'a PgPool,
    client: &'a reqwest::Client,
    accounts: &'a Arc<Vec<Account>>,
}

/// 1–2: tracks through the service and the same transaction sent directly, at each client
/// level.
async fn track_levels(p: &Phase<'_>, report: &mut Report) -> Result<(), String> {
    eprintln!("track: service vs direct");
    for &clients in &p.args.clients {
        let row = service_vs_direct(p, clients, p.accounts, &format!("{clients} clients")).await?;
        report.tracks.push(row);
    }
    Ok(())
}

/// Issue 17: every client on one account (its counters row is the contended one).
async fn hot_account(p: &Phase<'_>, report: &mut Report) -> Result<(), String> {
    let clients = p.args.hot_clients;
    if clients > 0 {
        eprintln!("hot account, {clients} clients");
        let one = Arc::new(p.accounts.iter().take(1).cloned().collect::<Vec<_>>());
        report.hot = Some(service_vs_direct(p, clients, &one, "one account").await?);
    }
    Ok(())
}

/// Tracks of `accounts` through the service and the same transaction sent directly, with
/// `clients` clients. The two sides alternate and each keeps its best run: a checkpoint, an
/// autovacuum or another process on the machine lowers one run, not the comparison.
async fn service_vs_direct(
    p: &Phase<'_>,
    clients: usize,
    accounts: &Arc<Vec<Account>>,
    label: &str,
) -> Result<report::TrackRow, String> {
    let ctx = Ctx {
        args: p.args,
        cores: p.cores,
        db: p.db,
        server: Some(p.srv),
    };
    // Request ids unique per run: the label's letters and digits, the side and the round.
    let tag: String = label.chars().filter(char::is_ascii_alphanumeric).collect();
    let mut service: Option<(Stats, CpuUse)> = None;
    let mut direct: Option<(Stats, CpuUse)> = None;
    for round in 0..p.args.repeat.max(1) {
        let op = api::track_op(
            p.client.clone(),
            &p.srv.base,
            Arc::clone(accounts),
            format!("s{tag}-{round}-"),
        );
        let run = measure(
            &ctx,
            &format!("service track, {label}"),
            clients,
            p.args.seconds,
            op,
        )
        .await;
        service = best(service, run);
        let op = direct_track_op(
            p.pool.clone(),
            Arc::clone(accounts),
            format!("d{tag}-{round}-"),
            false,
        );
        let run = measure(
            &ctx,
            &format!("direct transaction, {label}"),
            clients,
            p.args.seconds,
            op,
        )
        .await;
        direct = best(direct, run);
    }
    let (Some(service), Some(direct)) = (service, direct) else {
        return Err("no track run".to_owned());
    };
    Ok(report::TrackRow {
        clients,
        service,
        direct,
    })
}

/// Where a track's time goes: the direct transaction with the service's read, `/health`, and
/// `/check`.
async fn profile(p: &Phase<'_>, report: &mut Report) -> Result<(), String> {
    let Phase {
        args,
        cores,
        db,
        srv,
        pool,
        client,
        accounts,
    } = *p;
    // Where the time goes, at the profile level.
    if !args.no_profile {
        let c = args.profile_clients;
        eprintln!("profile at {c} clients");
        let ctx = Ctx {
            args,
            cores,
            db,
            server: Some(srv),
        };
        let op = direct_track_op(pool.clone(), Arc::clone(accounts), format!("r{c}-"), true);
        let r = measure(&ctx, "direct: read + transaction", c, args.seconds, op).await;
        report.profile.push((
            "direct: the service's joined read (account + subscription + live session) + the transaction"
                .to_owned(),
            r.0,
            Some(r.1),
        ));
        let op = get_op(
            client.clone(),
            format!("{}/health", srv.base),
            String::new(),
        );
        let r = measure(&ctx, "GET /health (HTTP only)", c, args.seconds, op).await;
        report.profile.push((
            "service: `GET /health` (HTTP + middleware, no database)".to_owned(),
            r.0,
            Some(r.1),
        ));
        let op = post_json_op(
            client.clone(),
            format!("{}/api/tokens/me/check", srv.base),
            Arc::clone(accounts),
            serde_json::json!({"request_type": "chat", "model": "gpt-4"}),
        );
        let r = measure(&ctx, "POST /api/tokens/me/check", c, args.seconds, op).await;
        report.profile.push((
            "service: `POST /api/tokens/me/check` (JSON + auth + 2 reads, no transaction)"
                .to_owned(),
            r.0,
            Some(r.1),
        ));
    }

    Ok(())
}

/// 3: reads for a small and a large account, and history deep in the large one.
async fn reads(
    p: &Phase<'_>,
    report: &mut Report,
    small: &Account,
    big: &Account,
) -> Result<(), String> {
    let Phase {
        args,
        cores,
        db,
        srv,
        pool,
        client,
        ..
    } = *p;
    // 3: reads for a small and a large account.
    eprintln!("seeding {} + {} events", args.small_events, args.big_events);
    let t_small = db::seed_events(pool, small.id, args.small_events, args.seed_days).await?;
    let t_big = db::seed_events(pool, big.id, args.big_events, args.seed_days).await?;
    eprintln!(
        "seeded in {:.1} s + {:.1} s",
        t_small.as_secs_f64(),
        t_big.as_secs_f64()
    );
    report.seed_seconds = t_big.as_secs_f64();
    let endpoints = [
        ("GET /api/tokens/me", "/api/tokens/me"),
        ("GET /api/usage/me", "/api/usage/me"),
        (
            "GET /api/tokens/me/history (page 1, 20 rows)",
            "/api/tokens/me/history?page=1&limit=20",
        ),
        (
            "GET /api/tokens/me/history (page 50, 20 rows)",
            "/api/tokens/me/history?page=50&limit=20",
        ),
    ];
    for (label, path) in endpoints {
        let ctx = Ctx {
            args,
            cores,
            db,
            server: Some(srv),
        };
        let url = format!("{}{path}", srv.base);
        let s = measure(
            &ctx,
            &format!("{label}, {} events", args.small_events),
            args.read_clients,
            args.read_seconds,
            get_op(client.clone(), url.clone(), small.token.clone()),
        )
        .await;
        let b = measure(
            &ctx,
            &format!("{label}, {} events", args.big_events),
            args.read_clients,
            args.read_seconds,
            get_op(client.clone(), url, big.token.clone()),
        )
        .await;
        report.reads.push(report::ReadRow {
            endpoint: label.to_owned(),
            small: s.0,
            big: b.0,
        });
    }

    if args.history_depth > 0 {
        eprintln!("history {} rows down", args.history_depth);
        report.depth = Some(
            scenarios::history_depth(
                client,
                &srv.base,
                big,
                args.history_depth,
                args.read_clients,
                args.read_seconds,
            )
            .await?,
        );
    }

    Ok(())
}

/// 4: sign-ins, and `GET /api/users/me` while they saturate the CPU.
async fn logins(p: &Phase<'_>, report: &mut Report) -> Result<(), String> {
    let Phase {
        args,
        cores,
        db,
        srv,
        client,
        accounts,
        ..
    } = *p;
    // 4: logins, and GET /api/users/me while they saturate the CPU.
    report.rss_before_login_kib = srv.peak_rss_kib();
    {
        eprintln!("login");
        let ctx = Ctx {
            args,
            cores,
            db,
            server: Some(srv),
        };
        let me_url = format!("{}/api/users/me", srv.base);
        let probe_token = accounts
            .first()
            .map(|a| a.token.clone())
            .unwrap_or_default();
        let me_alone = measure(
            &ctx,
            "GET /api/users/me alone, 1 client",
            1,
            args.login_seconds,
            get_op(client.clone(), me_url.clone(), probe_token.clone()),
        )
        .await;
        let logins = login_op(client.clone(), srv.base.clone(), Arc::clone(accounts));
        let bounds = Bounds::new(
            Duration::from_secs_f64(args.login_seconds),
            args.max_requests,
        );
        let before = snapshot(Some(srv), &db.name);
        let login_clients = args.login_clients;
        let login_task = tokio::spawn(closed_loop(login_clients, bounds, logins));
        // Let the sign-ins occupy the CPU before probing.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let probe_bounds = Bounds::new(
            Duration::from_secs_f64((args.login_seconds - 0.4).max(0.5)),
            args.max_requests,
        );
        let me_during =
            closed_loop(1, probe_bounds, get_op(client.clone(), me_url, probe_token)).await;
        let login_stats = login_task.await.map_err(|e| e.to_string())?;
        let cpu = since(&before, &snapshot(Some(srv), &db.name), login_stats.elapsed);
        eprintln!(
            "  {:<44} {}; CPU busy {:.0}% + others {:.0}%",
            format!("login, {login_clients} clients"),
            login_stats.summary(),
            cpu.utilisation(cores) * 100.0,
            cpu.others(cores) * 100.0
        );
        eprintln!(
            "  {:<44} {}",
            "GET /api/users/me during logins, 1 client",
            me_during.summary()
        );
        report.login = Some(report::LoginResult {
            clients: login_clients,
            logins: login_stats,
            cpu,
            me_alone: me_alone.0,
            me_during,
        });
    }
    Ok(())
}

/// The run with the higher throughput.
fn best(kept: Option<(Stats, CpuUse)>, run: (Stats, CpuUse)) -> Option<(Stats, CpuUse)> {
    match kept {
        Some(k) if k.0.throughput() >= run.0.throughput() => Some(k),
        _ => Some(run),
    }
}

/// Waits until the machine is nearly idle (below 15% busy over 2 s), at most `limit`.
async fn wait_quiet(cores: usize, limit: Duration) {
    let started = std::time::Instant::now();
    loop {
        let before = server::machine_busy();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let busy =
            server::machine_busy().saturating_sub(before).as_secs_f64() / (2.0 * cores as f64);
        if busy < 0.15 {
            eprintln!("machine quiet ({:.0}% busy)", busy * 100.0);
            return;
        }
        if started.elapsed() > limit {
            eprintln!(
                "machine still {:.0}% busy after {limit:?}; running anyway",
                busy * 100.0
            );
            return;
        }
        if started.elapsed().as_secs() % 30 < 2 {
            eprintln!("waiting for a quiet machine ({:.0}% busy)", busy * 100.0);
        }
    }
}

fn status_text(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit {code}"),
        None => format!("{status}"),
    }
}

async fn server_version(base: &str) -> String {
    let Ok(client) = api::client(1) else {
        return "?".to_owned();
    };
    let Ok(response) = client.get(format!("{base}/health")).send().await else {
        return "?".to_owned();
    };
    response
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}
