//! The metering scenarios of issue 17 beyond the track levels: one hot account, history deep
//! in a large account through the cursor, and SQLite with and without group commit.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Client;
use serde_json::Value;

use crate::api::{self, Account};
use crate::load::{Bounds, Stats, closed_loop};
use crate::report::{DepthRow, SqliteRow};
use crate::server::ServerConfig;

/// History of the large account: page 1, then the page `depth` rows down reached through
/// `next_cursor` (walked 20 rows at a time: a cursor belongs to its listing, page size
/// included), and the same depth by `page=` (offset, for comparison), each measured with
/// `clients` clients for `seconds`.
pub async fn history_depth(
    client: &Client,
    base: &str,
    account: &Account,
    depth: u64,
    clients: usize,
    seconds: f64,
) -> Result<DepthRow, String> {
    let history = format!("{base}/api/tokens/me/history");
    let mut cursor: Option<String> = None;
    let mut walked = 0u64;
    while walked < depth {
        let mut url = format!("{history}?limit=20");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let body: Value = client
            .get(&url)
            .bearer_auth(&account.token)
            .send()
            .await
            .map_err(|e| format!("history walk: {e}"))?
            .json()
            .await
            .map_err(|e| format!("history walk body: {e}"))?;
        cursor = body["next_cursor"].as_str().map(str::to_owned);
        walked += 20;
        if cursor.is_none() {
            return Err(format!("history ended after {walked} rows, before {depth}"));
        }
    }
    let cursor = cursor.ok_or("no cursor")?;
    let page = depth / 20 + 1;
    let run = |url: String| {
        let client = client.clone();
        let token = Arc::new(account.token.clone());
        let url = Arc::new(url);
        closed_loop(
            clients,
            Bounds::new(Duration::from_secs_f64(seconds), u64::MAX),
            move |_, _| {
                let client = client.clone();
                let token = Arc::clone(&token);
                let url = Arc::clone(&url);
                async move { api::get_ok(&client, &url, &token).await }
            },
        )
    };
    let first = run(format!("{history}?limit=20")).await;
    eprintln!("  {:<44} {}", "history page 1 (20 rows)", first.summary());
    let deep_cursor = run(format!("{history}?limit=20&cursor={cursor}")).await;
    eprintln!(
        "  {:<44} {}",
        format!("history {depth} rows down, by cursor"),
        deep_cursor.summary()
    );
    let deep_offset = run(format!("{history}?limit=20&page={page}")).await;
    eprintln!(
        "  {:<44} {}",
        format!("history page {page}, by offset"),
        deep_offset.summary()
    );
    Ok(DepthRow {
        depth,
        page,
        first,
        deep_cursor,
        deep_offset,
    })
}

/// Track throughput on an embedded SQLite database, with group commit off (`0`) and on
/// (`1ms`), at each of `levels` clients: a fresh database file and server per window.
pub async fn sqlite_batching(
    binary: &Path,
    log_dir: &Path,
    levels: &[usize],
    seconds: f64,
) -> Result<Vec<SqliteRow>, String> {
    let mut rows = Vec::new();
    for window in ["0", "1ms"] {
        let dir =
            std::env::temp_dir().join(format!("doztra-bench-sqlite-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let config = ServerConfig {
            binary: binary.to_path_buf(),
            database_url: format!("sqlite://{}/bench.db?mode=rwc", dir.display()),
            log_file: log_dir.join(format!("sqlite-{window}.log")),
            env: vec![("TRACK_BATCH_WINDOW".to_owned(), window.to_owned())],
        };
        let result = sqlite_levels(&config, window, levels, seconds).await;
        let _ = std::fs::remove_dir_all(&dir);
        rows.extend(result?);
    }
    Ok(rows)
}

async fn sqlite_levels(
    config: &ServerConfig,
    window: &str,
    levels: &[usize],
    seconds: f64,
) -> Result<Vec<SqliteRow>, String> {
    config.migrate()?;
    config.create_admin("admin@bench.example.com")?;
    let srv = config.start().await?;
    let client = api::client(128)?;
    let accounts = api::register_many(&client, &srv.base, "sqlite", 64, 2).await?;
    // The professional plan (no limits) through the admin API: this database has no SQL door.
    let admin = api::login(&client, &srv.base, "admin@bench.example.com").await?;
    for account in &accounts {
        let response = client
            .patch(format!("{}/api/admin/users/{}", srv.base, account.id))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"plan": "professional"}))
            .send()
            .await
            .map_err(|e| format!("upgrade: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("upgrade {}: {}", account.email, response.status()));
        }
    }
    let accounts = Arc::new(accounts);
    let mut rows = Vec::new();
    for &clients in levels {
        let cpu_before = srv.cpu_time().unwrap_or_default();
        let stats: Stats = closed_loop(
            clients,
            Bounds::new(Duration::from_secs_f64(seconds), 10_000),
            api::track_op(
                client.clone(),
                &srv.base,
                Arc::clone(&accounts),
                format!("sq{window}-{clients}-"),
            ),
        )
        .await;
        let server_cpu = srv
            .cpu_time()
            .unwrap_or_default()
            .saturating_sub(cpu_before);
        eprintln!(
            "  {:<44} {}",
            format!("SQLite track, window {window}, {clients} clients"),
            stats.summary()
        );
        rows.push(SqliteRow {
            window: window.to_owned(),
            clients,
            stats,
            server_cpu,
        });
    }
    drop(srv);
    Ok(rows)
}
