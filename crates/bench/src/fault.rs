//! The load generator of the fault scripts (`doztra-bench track-load`): tracks with unique,
//! deterministic request ids from a list of accounts, bounded in time and count, and writes
//! which request ids were acknowledged (2xx) and which ended without any answer, so a script
//! can compare them with what the database holds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api;
use crate::load::{Bounds, closed_loop};

#[derive(Debug, Clone, clap::Args)]
pub struct TrackLoadArgs {
    /// Base URL of a server on loopback, e.g. http://127.0.0.1:8123 (repeat for several
    /// instances: requests alternate between them).
    #[arg(long, required = true)]
    pub url: Vec<String>,
    /// File of accounts, one `user_id<TAB>access_token[<TAB>email]` per line (`doztra-bench register`).
    #[arg(long)]
    pub users: PathBuf,
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Stop after this many seconds...
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// ...or after this many requests.
    #[arg(long, default_value_t = 100_000)]
    pub max_requests: u64,
    /// Prefix of the request ids (`<prefix><sequence>`).
    #[arg(long, default_value = "load-")]
    pub prefix: String,
    /// First sequence number (two generators with the same prefix and start race on the same
    /// request ids).
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Tokens per request (prompt + completion).
    #[arg(long, default_value_t = 150)]
    pub tokens: i64,
    /// Fixed request type (default: cycle chat, plagiarism, prompt).
    #[arg(long)]
    pub request_type: Option<String>,
    /// Fixed model (default: cycle gpt-3.5-turbo, gpt-4, gpt-4-turbo).
    #[arg(long)]
    pub model: Option<String>,
    /// Pause of a worker after a transport error or a 5xx, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub pause_ms: u64,
    /// Where to write acknowledged requests as CSV `user_id,request_id` (2xx answers).
    #[arg(long)]
    pub ack_log: Option<PathBuf>,
    /// Where to write requests that got no HTTP answer at all (other than "connection
    /// refused", which means the request never reached a server), CSV `user_id,request_id`.
    #[arg(long)]
    pub lost_log: Option<PathBuf>,
}

#[derive(Debug, Clone)]
struct Outcome {
    at_ms: u64,
    /// HTTP status, or 0 = connection refused / could not connect, 1 = other transport error.
    code: u16,
    user: Uuid,
    request_id: String,
    /// 5xx and 4xx bodies that are not the JSON error envelope.
    bad_body: Option<String>,
    duplicate: bool,
}

fn read_accounts(path: &PathBuf) -> Result<Vec<(Uuid, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut accounts = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.split('\t');
        let (Some(id), Some(token)) = (fields.next(), fields.next()) else {
            return Err(format!("{}: expected user_id<TAB>token", path.display()));
        };
        let id = Uuid::parse_str(id.trim()).map_err(|e| format!("user id {id}: {e}"))?;
        accounts.push((id, token.trim().to_owned()));
    }
    if accounts.is_empty() {
        return Err(format!("{}: no accounts", path.display()));
    }
    Ok(accounts)
}

fn is_error_envelope(content_type: Option<&str>, body: &[u8]) -> bool {
    let json_type = content_type.is_some_and(|c| c.starts_with("application/json"));
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    json_type
        && parsed.is_some_and(|v| {
            v.get("detail").is_some_and(Value::is_string)
                && v.get("code").is_some_and(Value::is_string)
        })
}

/// Runs the load and prints a JSON summary on stdout.
pub async fn track_load(args: TrackLoadArgs) -> Result<(), String> {
    for url in &args.url {
        api::ensure_loopback(url)?;
    }
    let accounts = Arc::new(read_accounts(&args.users)?);
    let client = api::client(args.concurrency * 2)?;
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let bounds = Bounds::new(Duration::from_secs_f64(args.seconds), args.max_requests);
    let shared = Arc::new(args.clone());
    let sink = Arc::clone(&outcomes);
    closed_loop(args.concurrency, bounds, move |seq, _| {
        let client = client.clone();
        let accounts = Arc::clone(&accounts);
        let args = Arc::clone(&shared);
        let sink = Arc::clone(&sink);
        async move {
            let seq = args.start + seq;
            let (user, token) = &accounts[(seq % accounts.len() as u64) as usize];
            let base = &args.url[(seq % args.url.len() as u64) as usize];
            let body = api::track_body(
                &args.prefix,
                seq,
                args.tokens,
                args.request_type.as_deref(),
                args.model.as_deref(),
            );
            let request_id = format!("{}{seq}", args.prefix);
            let result = client
                .post(format!("{base}/api/tokens/me/track"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await;
            let (code, bad_body, duplicate) = match result {
                Err(e) if e.is_connect() => (0, None, false),
                Err(_) => (1, None, false),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let content_type = response
                        .headers()
                        .get(CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    match response.bytes().await {
                        Err(_) => (1, None, false),
                        Ok(bytes) => {
                            if (200..300).contains(&status) {
                                let duplicate = serde_json::from_slice::<Value>(&bytes)
                                    .ok()
                                    .and_then(|v| v["duplicate"].as_bool())
                                    .unwrap_or(false);
                                (status, None, duplicate)
                            } else if is_error_envelope(content_type.as_deref(), &bytes) {
                                (status, None, false)
                            } else {
                                let shown = format!(
                                    "{status} {} {}",
                                    content_type.unwrap_or_default(),
                                    String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                                );
                                (status, Some(shown), false)
                            }
                        }
                    }
                }
            };
            let at_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            if let Ok(mut sink) = sink.lock() {
                sink.push(Outcome {
                    at_ms,
                    code,
                    user: *user,
                    request_id,
                    bad_body,
                    duplicate,
                });
            }
            if !(2..500).contains(&code) {
                tokio::time::sleep(Duration::from_millis(args.pause_ms)).await;
            }
            Ok(())
        }
    })
    .await;

    let outcomes = outcomes.lock().map_err(|e| e.to_string())?.clone();
    let mut ack = String::new();
    let mut lost = String::new();
    // label -> (count, first ms, last ms)
    let mut by_label: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    let mut bad_bodies = Vec::new();
    let mut last_failure: Option<u64> = None;
    let mut duplicates = 0u64;
    for o in &outcomes {
        let label = match o.code {
            0 => "connect_error".to_owned(),
            1 => "no_response".to_owned(),
            s => s.to_string(),
        };
        let entry = by_label.entry(label).or_insert((0, o.at_ms, o.at_ms));
        entry.0 += 1;
        entry.1 = entry.1.min(o.at_ms);
        entry.2 = entry.2.max(o.at_ms);
        if (200..300).contains(&o.code) {
            let _ = writeln!(ack, "{},{}", o.user, o.request_id);
            duplicates += u64::from(o.duplicate);
        } else {
            last_failure = Some(last_failure.map_or(o.at_ms, |l| l.max(o.at_ms)));
        }
        if o.code == 1 {
            let _ = writeln!(lost, "{},{}", o.user, o.request_id);
        }
        if let Some(b) = &o.bad_body
            && bad_bodies.len() < 10
        {
            bad_bodies.push(b.clone());
        }
    }
    let recovered_at = last_failure.and_then(|last| {
        outcomes
            .iter()
            .filter(|o| (200..300).contains(&o.code) && o.at_ms > last)
            .map(|o| o.at_ms)
            .min()
    });
    if let Some(path) = &args.ack_log {
        std::fs::write(path, ack).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &args.lost_log {
        std::fs::write(path, lost).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let statuses: serde_json::Map<String, Value> = by_label
        .into_iter()
        .map(|(k, (n, first, last))| (k, json!({"count": n, "first_ms": first, "last_ms": last})))
        .collect();
    let summary = json!({
        "requests": outcomes.len(),
        "elapsed_ms": started.elapsed().as_millis() as u64,
        "statuses": statuses,
        "duplicates": duplicates,
        "non_json_error_bodies": bad_bodies,
        "last_failure_ms": last_failure,
        "first_ok_after_last_failure_ms": recovered_at,
    });
    println!("{summary}");
    Ok(())
}
