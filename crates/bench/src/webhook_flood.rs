//! `doztra-bench webhook-flood`: does a flood of hostile `Stripe-Signature` headers starve the
//! server? The release server runs with billing configured (no Stripe call is ever made: every
//! hostile delivery is refused) while `--attackers` clients post webhooks in a closed loop and
//! one client probes `GET /health`; the probe's latency is compared with an idle run. Two
//! attacks: the issue's 4,000 one-byte `v1` values (24 KB header), and the costliest delivery
//! the verifier still reads (a fresh timestamp, a header just under 8 KiB, a 1 MiB body: one
//! HMAC over the body per secret). Target: `/health` p99 under 100 ms.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;

use crate::api;
use crate::db::TempDb;
use crate::load::{Bounds, BoxFut, Stats, closed_loop, on_own_runtime};
use crate::report;
use crate::server::{self, ServerArgs, ServerConfig};

/// Markers of this scenario's section in docs/BENCHMARKS.md.
const BEGIN: &str = "<!-- bench:webhook-flood:begin -->";
const END: &str = "<!-- bench:webhook-flood:end -->";

/// The `/health` latency the scenario must keep under attack (p99).
const TARGET_MS: f64 = 100.0;

#[derive(Debug, Clone, clap::Args)]
pub struct WebhookFloodArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Concurrent hostile clients.
    #[arg(long, default_value_t = 32)]
    pub attackers: usize,
    /// Measured seconds of each phase (idle probe, then each attack).
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Body size of the costliest delivery, in KiB (the webhook route reads at most 1 MiB).
    #[arg(long, default_value_t = 1023)]
    pub body_kib: usize,
    /// Markdown output (this scenario's section is replaced); "-" writes no file.
    #[arg(long)]
    pub output: Option<String>,
}

/// One attack: its name, what was sent, and what the probe saw meanwhile.
struct Phase {
    attack: String,
    hostile: Option<Stats>,
    health: Stats,
    cpu: Cpu,
}

/// CPU used during a phase: the server's, and everybody's on the machine but the server,
/// PostgreSQL and the bench (other processes sharing the cores).
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    server: Duration,
    others_share: f64,
}

/// CPU counters at one moment: (server, PostgreSQL of the bench database, this process,
/// the whole machine).
fn cpu_now(srv: &server::Server, database: &str) -> [Duration; 4] {
    [
        srv.cpu_time().unwrap_or_default(),
        server::postgres_cpu(database),
        server::self_cpu(),
        server::machine_busy(),
    ]
}

fn cpu_since(before: [Duration; 4], after: [Duration; 4], wall: Duration) -> Cpu {
    let used: Vec<Duration> = after
        .iter()
        .zip(before)
        .map(|(a, b)| a.saturating_sub(b))
        .collect();
    let ours = used[0] + used[1] + used[2];
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let available = wall.as_secs_f64() * cores;
    Cpu {
        server: used[0],
        others_share: if available > 0.0 {
            used[3].saturating_sub(ours).as_secs_f64() / available
        } else {
            0.0
        },
    }
}

/// A hostile delivery: header and body (both shared by every request of the attack; the body
/// is leaked once so that sending it copies nothing in the load generator).
#[derive(Clone)]
struct Delivery {
    header: Arc<String>,
    body: &'static [u8],
}

impl Delivery {
    /// The issue's attack: 4,000 one-byte `v1` values (each used to cost an HMAC per secret).
    fn flood() -> Self {
        let header = format!("t={}{}", unix_now(), ",v1=00".repeat(4000));
        Self {
            header: Arc::new(header),
            body: br#"{"id":"evt_flood","object":"event"}"#,
        }
    }

    /// The most work the verifier still does for a stranger: a fresh timestamp, five wrong
    /// `v1` values, padding to just under 8 KiB, and a body of `body_kib` KiB. With `stale`,
    /// the timestamp is ten minutes old: the same bytes to receive, but no HMAC (the control
    /// that tells the HMAC's cost from the transfer's).
    fn costliest(body_kib: usize, stale: bool) -> Self {
        let t = unix_now() - if stale { 600 } else { 0 };
        let mut header = format!("t={t}{}", format!(",v1={}", "ab".repeat(32)).repeat(5));
        while header.len() + 6 <= 8 * 1024 {
            header.push_str(",v0=00");
        }
        let mut body = br#"{"id":"evt_costly","object":"event","padding":""#.to_vec();
        body.resize(body_kib * 1024 - 2, b'x');
        body.extend_from_slice(br#""}"#);
        Self {
            header: Arc::new(header),
            body: Box::leak(body.into_boxed_slice()),
        }
    }
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Posts the delivery; a 400 (refused) is the expected answer.
fn attack_op(
    client: reqwest::Client,
    url: String,
    delivery: Delivery,
) -> impl Fn(u64, usize) -> BoxFut + Clone + Send + Sync + 'static {
    let url = Arc::new(url);
    move |_, _| {
        let client = client.clone();
        let url = Arc::clone(&url);
        let delivery = delivery.clone();
        Box::pin(async move {
            let response = client
                .post(url.as_str())
                .header("content-type", "application/json")
                .header("stripe-signature", delivery.header.as_str())
                .body(delivery.body)
                .send()
                .await
                .map_err(|e| format!("webhook: {e}"))?;
            let status = response.status();
            let _ = response.bytes().await;
            if status == StatusCode::BAD_REQUEST {
                Ok(())
            } else {
                Err(format!("webhook: expected 400, got {status}"))
            }
        })
    }
}

fn health_op(
    client: reqwest::Client,
    url: String,
) -> impl Fn(u64, usize) -> BoxFut + Clone + Send + Sync + 'static {
    let url = Arc::new(url);
    move |_, _| {
        let client = client.clone();
        let url = Arc::clone(&url);
        Box::pin(async move { api::get_ok(&client, &url, "").await })
    }
}

/// Probes `url` from a thread and runtime of its own, so that the attackers' tasks in this
/// process never delay the probe: what it measures is the server (and the shared cores).
async fn probe_health(url: String, bounds: Bounds) -> Result<Stats, String> {
    on_own_runtime(move |rt| {
        let client = api::client(1)?;
        Ok(rt.block_on(closed_loop(1, bounds, health_op(client, url))))
    })
    .await
}

pub async fn webhook_flood(args: WebhookFloodArgs) -> Result<(), String> {
    let result = server::on_fresh_database(&args.server, async |binary, db| {
        phases(&args, binary, db).await
    })
    .await?;
    let markdown = markdown(&args, &result);
    report::publish_section(args.output.as_deref(), BEGIN, END, &markdown)
}

async fn phases(
    args: &WebhookFloodArgs,
    binary: &std::path::Path,
    db: &TempDb,
) -> Result<Vec<Phase>, String> {
    let billing = [
        ("STRIPE_SECRET_KEY", "sk_test_bench"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_bench_current"),
        ("STRIPE_WEBHOOK_SECRET_PREVIOUS", "whsec_bench_previous"),
        ("STRIPE_PRICE_BASIC", "price_bench_basic"),
        ("STRIPE_PRICE_PROFESSIONAL", "price_bench_pro"),
        ("STRIPE_SUCCESS_URL", "https://app.example.com/ok"),
        ("STRIPE_CANCEL_URL", "https://app.example.com/cancel"),
        // Never called: every delivery of this bench is refused before Stripe matters.
        ("STRIPE_API_BASE", "http://127.0.0.1:9/"),
    ];
    let env = billing
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let config = ServerConfig::on(binary, db, &args.server.log_dir, env);
    config.migrate()?;
    let srv = config.start().await?;
    let client = api::client(args.attackers + 2)?;
    let bounds = Bounds::new(Duration::from_secs_f64(args.seconds), u64::MAX);
    let health_url = format!("{}/health", srv.base);
    let webhook_url = format!("{}/api/billing/webhook", srv.base);

    let mut phases = Vec::new();
    let before = cpu_now(&srv, &db.name);
    let idle = probe_health(health_url.clone(), bounds).await?;
    let cpu = cpu_since(before, cpu_now(&srv, &db.name), idle.elapsed);
    eprintln!("  {:<40} {}", "GET /health, idle", idle.summary());
    phases.push(Phase {
        attack: "none (idle)".to_owned(),
        hostile: None,
        health: idle,
        cpu,
    });
    let attacks = [
        (
            "4,000 × `v1=00` (24 KB header, the issue's attack)".to_owned(),
            Delivery::flood(),
        ),
        (
            format!(
                "fresh `t`, 5 wrong `v1`, header just under 8 KiB, {} KiB body (2 HMACs over it)",
                args.body_kib
            ),
            Delivery::costliest(args.body_kib, false),
        ),
        (
            "control: the same with a stale `t` (no HMAC, the same bytes to receive)".to_owned(),
            Delivery::costliest(args.body_kib, true),
        ),
    ];
    for (attack, delivery) in attacks {
        let before = cpu_now(&srv, &db.name);
        let hostile = tokio::spawn(closed_loop(
            args.attackers,
            bounds,
            attack_op(client.clone(), webhook_url.clone(), delivery),
        ));
        // Let the attack reach its stride before probing.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let probe = Bounds::new(
            bounds.duration.saturating_sub(Duration::from_millis(400)),
            u64::MAX,
        );
        let health = probe_health(health_url.clone(), probe).await?;
        let hostile = hostile.await.map_err(|e| e.to_string())?;
        let cpu = cpu_since(before, cpu_now(&srv, &db.name), hostile.elapsed);
        eprintln!("  {:<40} {}", "hostile webhooks", hostile.summary());
        eprintln!("  {:<40} {}", "GET /health meanwhile", health.summary());
        phases.push(Phase {
            attack,
            hostile: Some(hostile),
            health,
            cpu,
        });
    }
    drop(srv);
    Ok(phases)
}

fn markdown(args: &WebhookFloodArgs, phases: &[Phase]) -> String {
    use std::fmt::Write as _;
    let mut m = String::new();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let _ = writeln!(
        m,
        "## Hostile `Stripe-Signature` headers ({} UTC)\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M")
    );
    let _ = writeln!(
        m,
        "`doztra-bench webhook-flood`: the release server (billing configured, two webhook secrets) on a fresh PostgreSQL database; {} clients post hostile webhooks in a closed loop for {} s while one client (its own thread and runtime) probes `GET /health`. Load generator and server share the {cores} cores; \"other processes\" is the share of the cores used by anything else on the machine meanwhile. Server CPU per hostile request is the server's CPU time over the phase, less the probe's requests at their idle cost, divided by the hostile requests. Target: `/health` p99 under {TARGET_MS:.0} ms.\n",
        args.attackers, args.seconds
    );
    // What one probe request costs the server, from the idle phase.
    let probe_cost = phases
        .iter()
        .find(|p| p.hostile.is_none())
        .filter(|p| p.health.ok > 0)
        .map_or(0.0, |p| p.cpu.server.as_secs_f64() / p.health.ok as f64);
    let _ = writeln!(
        m,
        "| attack | hostile req/s | server CPU ms / hostile req | answered | `/health` req/s | p50 ms | p99 ms | max ms | other processes' CPU | target |"
    );
    let _ = writeln!(m, "|---|---:|---:|---|---:|---:|---:|---:|---:|---|");
    for phase in phases {
        let per_request = match &phase.hostile {
            Some(s) if s.ok + s.errors > 0 => {
                let probes = probe_cost * phase.health.ok as f64;
                let hostile = (phase.cpu.server.as_secs_f64() - probes).max(0.0);
                format!("{:.2}", hostile * 1000.0 / (s.ok + s.errors) as f64)
            }
            _ => "—".to_owned(),
        };
        let (rate, answered) = match &phase.hostile {
            Some(s) => (
                format!("{:.0}", s.throughput()),
                if s.errors == 0 {
                    "all 400 `invalid_signature`".to_owned()
                } else {
                    format!(
                        "{} not 400 (first: {})",
                        s.errors,
                        s.first_error.as_deref().unwrap_or("?")
                    )
                },
            ),
            None => ("—".to_owned(), "—".to_owned()),
        };
        let verdict = if phase.hostile.is_none() {
            "—"
        } else if phase.health.p99() < TARGET_MS && phase.health.errors == 0 {
            "met"
        } else {
            "**missed**"
        };
        let _ = writeln!(
            m,
            "| {} | {rate} | {per_request} | {answered} | {:.0} | {:.2} | {:.2} | {:.1} | {:.0}% | {verdict} |",
            phase.attack,
            phase.health.throughput(),
            phase.health.p50(),
            phase.health.p99(),
            phase.health.max_ms(),
            phase.cpu.others_share * 100.0
        );
    }
    m
}
