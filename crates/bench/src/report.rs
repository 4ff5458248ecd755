//! The markdown report, and writing it into docs/BENCHMARKS.md between markers (the text
//! around the markers — the hand-written analysis — is kept).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::load::Stats;
use crate::run::{CpuUse, RunArgs};

pub const BEGIN: &str = "<!-- bench:begin -->";
pub const END: &str = "<!-- bench:end -->";

pub struct TrackRow {
    pub clients: usize,
    pub service: (Stats, CpuUse),
    pub direct: (Stats, CpuUse),
}

pub struct ReadRow {
    pub endpoint: String,
    pub small: Stats,
    pub big: Stats,
}

/// History deep in the large account: page 1, the same depth by cursor and by offset.
pub struct DepthRow {
    /// Rows above the measured page.
    pub depth: u64,
    /// The offset page number of that depth (20 rows a page).
    pub page: u64,
    pub first: Stats,
    pub deep_cursor: Stats,
    pub deep_offset: Stats,
}

/// Tracks on SQLite with one group-commit window.
pub struct SqliteRow {
    pub window: String,
    pub clients: usize,
    pub stats: Stats,
    pub server_cpu: Duration,
}

pub struct LoginResult {
    pub clients: usize,
    pub logins: Stats,
    pub cpu: CpuUse,
    pub me_alone: Stats,
    pub me_during: Stats,
}

pub struct Report {
    cores: usize,
    date: String,
    machine: String,
    pg_version: String,
    rustc: String,
    pub server_version: String,
    /// Whether the database connections use TLS.
    pub tls: Option<bool>,
    pool: u32,
    users: usize,
    seconds: f64,
    warmup: f64,
    repeat: usize,
    max_requests: u64,
    small_events: u64,
    big_events: u64,
    seed_days: u32,
    read_clients: usize,
    profile_clients: usize,
    migrate: Duration,
    startup: Duration,
    pub seed_seconds: f64,
    pub tracks: Vec<TrackRow>,
    /// Every client on one account.
    pub hot: Option<TrackRow>,
    pub depth: Option<DepthRow>,
    pub sqlite: Vec<SqliteRow>,
    pub profile: Vec<(String, Stats, Option<CpuUse>)>,
    pub reads: Vec<ReadRow>,
    pub login: Option<LoginResult>,
    pub rss_idle_kib: Option<u64>,
    pub rss_before_login_kib: Option<u64>,
    pub rss_peak_kib: Option<u64>,
    pub shutdown: Option<(String, Duration)>,
    pub invariant_violations: Option<i64>,
}

fn first_line_value(path: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    Some(line.split_once(':')?.1.trim().to_owned())
}

fn machine(cores: usize) -> String {
    let cpu = first_line_value("/proc/cpuinfo", "model name").unwrap_or_else(|| "?".to_owned());
    let mem_gib = first_line_value("/proc/meminfo", "MemTotal")
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or_else(
            || "?".to_owned(),
            |kib| format!("{:.0}", kib / 1024.0 / 1024.0),
        );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned());
    format!("{cores} cores ({cpu}), {mem_gib} GiB RAM, Linux {kernel}")
}

fn rustc_version() -> String {
    std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "rustc ?".to_owned())
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn n0(v: f64) -> String {
    // Thousands separators for readability.
    let s = format!("{:.0}", v);
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

fn f2(v: f64) -> String {
    format!("{v:.2}")
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "?".to_owned(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

fn mark(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

impl Report {
    pub fn new(
        args: &RunArgs,
        cores: usize,
        pg_version: &str,
        migrate: Duration,
        startup: Duration,
    ) -> Self {
        Self {
            cores,
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            machine: machine(cores),
            pg_version: pg_version.to_owned(),
            rustc: rustc_version(),
            server_version: "?".to_owned(),
            tls: None,
            pool: args.pool,
            users: args.users,
            seconds: args.seconds,
            warmup: args.warmup,
            repeat: args.repeat.max(1),
            max_requests: args.max_requests,
            small_events: args.small_events,
            big_events: args.big_events,
            seed_days: args.seed_days,
            read_clients: args.read_clients,
            profile_clients: args.profile_clients,
            migrate,
            startup,
            seed_seconds: 0.0,
            tracks: Vec::new(),
            hot: None,
            depth: None,
            sqlite: Vec::new(),
            profile: Vec::new(),
            reads: Vec::new(),
            login: None,
            rss_idle_kib: None,
            rss_before_login_kib: None,
            rss_peak_kib: None,
            shutdown: None,
            invariant_violations: None,
        }
    }

    pub fn markdown(&self) -> String {
        let mut m = String::new();
        let _ = writeln!(m, "## Results of {}\n", self.date);
        let _ = writeln!(
            m,
            "- Machine: {}. PostgreSQL {} on the same machine (default configuration).",
            self.machine, self.pg_version
        );
        let _ = writeln!(
            m,
            "- Server: doztra-auth {} (release build, {}), `APP_ENV=production` (JSON access log at info, to a file), database pool {} connections{}.",
            self.server_version,
            self.rustc,
            self.pool,
            match self.tls {
                Some(true) =>
                    " over TLS (sqlx's default `sslmode=prefer`; the cluster has `ssl=on`), the direct baseline likewise",
                Some(false) => " without TLS, the direct baseline likewise",
                None => "",
            }
        );
        let _ = writeln!(
            m,
            "- Load: `doztra-bench` (reqwest, HTTP/1.1 keep-alive, one connection per client, closed loop) on the same machine — load generator, server and PostgreSQL share the {} cores. Each run: {} s warm-up, then {} s or {} requests, whichever ends first; each track level runs {} times per side, alternating service and direct, and the best run of each side is shown. Tracks spread over {} accounts (professional plan), 150 tokens each, unique `request_id`s.\n",
            self.cores,
            self.warmup,
            self.seconds,
            n0(self.max_requests as f64),
            self.repeat,
            self.users
        );

        let _ = writeln!(
            m,
            "### 1–2. `POST /api/tokens/me/track` vs the same transaction sent directly\n"
        );
        let _ = writeln!(
            m,
            "| clients | service req/s | p50 ms | p99 ms | direct tx/s | p50 ms | p99 ms | service / direct | target |"
        );
        let _ = writeln!(m, "|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for row in &self.tracks {
            let ratio = throughput_ratio(&row.service.0, &row.direct.0);
            // Issue 17: faster than the per-transaction limit at 32 and 64 clients.
            let target = match row.clients {
                8 => format!("≥ 0.8: {}", mark(ratio >= 0.8)),
                32 | 64 => format!("≥ 1.0: {}", mark(ratio >= 1.0)),
                _ => "—".to_owned(),
            };
            comparison_row(
                &mut m,
                &row.clients.to_string(),
                &row.service.0,
                &row.direct.0,
                &target,
            );
        }
        if let Some(row) = &self.hot {
            let ratio = throughput_ratio(&row.service.0, &row.direct.0);
            comparison_row(
                &mut m,
                &format!("{} on **one** account (hot)", row.clients),
                &row.service.0,
                &row.direct.0,
                &format!("≥ 1.0: {}", mark(ratio >= 1.0)),
            );
        }
        let errors: u64 = self
            .tracks
            .iter()
            .chain(self.hot.iter())
            .map(|r| r.service.0.errors + r.direct.0.errors)
            .sum();
        let _ = writeln!(m, "\nFailed requests in these runs: {errors}.\n");
        let _ = writeln!(
            m,
            "CPU time per request in ms (from `/proc/<pid>/stat`: the server process, the PostgreSQL backends of the bench database plus the WAL writer/checkpointer/background writer, and the load generator), and how busy the {} cores were with these three (in brackets: with anything else on the machine, from `/proc/stat`):\n",
            self.cores
        );
        let _ = writeln!(
            m,
            "| clients | service: server | service: PostgreSQL | service: client | service: CPU busy (others) | direct: PostgreSQL | direct: client | direct: CPU busy (others) |"
        );
        let _ = writeln!(m, "|---:|---:|---:|---:|---:|---:|---:|---:|");
        for row in &self.tracks {
            let (s, sc) = (&row.service.0, &row.service.1);
            let (d, dc) = (&row.direct.0, &row.direct.1);
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {:.0}% ({:.0}%) | {} | {} | {:.0}% ({:.0}%) |",
                row.clients,
                f2(CpuUse::per_op_ms(sc.server, s)),
                f2(CpuUse::per_op_ms(sc.postgres, s)),
                f2(CpuUse::per_op_ms(sc.client, s)),
                sc.utilisation(self.cores) * 100.0,
                sc.others(self.cores) * 100.0,
                f2(CpuUse::per_op_ms(dc.postgres, d)),
                f2(CpuUse::per_op_ms(dc.client, d)),
                dc.utilisation(self.cores) * 100.0,
                dc.others(self.cores) * 100.0,
            );
        }

        if !self.profile.is_empty() {
            let _ = writeln!(
                m,
                "\n### Profile: where a track's time goes ({} clients)\n",
                self.profile_clients
            );
            let _ = writeln!(
                m,
                "| run | req/s | p50 ms | p99 ms | CPU ms/req: server | PostgreSQL | client |"
            );
            let _ = writeln!(m, "|---|---:|---:|---:|---:|---:|---:|");
            let mut rows: Vec<(String, &Stats, Option<&CpuUse>)> = Vec::new();
            if let Some(row) = self
                .tracks
                .iter()
                .find(|r| r.clients == self.profile_clients)
            {
                rows.push((
                    "direct: the track transaction alone (5 statements: BEGIN, event, gate upsert, roll-up, COMMIT)".to_owned(),
                    &row.direct.0,
                    Some(&row.direct.1),
                ));
            }
            for (label, stats, cpu) in &self.profile {
                rows.push((label.clone(), stats, cpu.as_ref()));
            }
            if let Some(row) = self
                .tracks
                .iter()
                .find(|r| r.clients == self.profile_clients)
            {
                rows.push((
                    "service: `POST /api/tokens/me/track`".to_owned(),
                    &row.service.0,
                    Some(&row.service.1),
                ));
            }
            for (label, stats, cpu) in rows {
                let per = |d: fn(&CpuUse) -> Duration| {
                    cpu.map_or_else(|| "—".to_owned(), |c| f2(CpuUse::per_op_ms(d(c), stats)))
                };
                let _ = writeln!(
                    m,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    label,
                    n0(stats.throughput()),
                    f2(stats.p50()),
                    f2(stats.p99()),
                    per(|c| c.server),
                    per(|c| c.postgres),
                    per(|c| c.client),
                );
            }
        }

        if !self.reads.is_empty() {
            let _ = writeln!(
                m,
                "\n### 3. Reads: an account with {} events vs one with {} events\n",
                n0(self.small_events as f64),
                n0(self.big_events as f64)
            );
            let _ = writeln!(
                m,
                "Events seeded with bulk SQL over the last {} days (roll-ups and counters built from them; {:.0} s for the large account). {} clients per run.\n",
                self.seed_days, self.seed_seconds, self.read_clients
            );
            let _ = writeln!(
                m,
                "| endpoint | {}: req/s | p50 ms | p99 ms | {}: req/s | p50 ms | p99 ms | p50 ratio | target: within 2x |",
                n0(self.small_events as f64),
                n0(self.big_events as f64)
            );
            let _ = writeln!(m, "|---|---:|---:|---:|---:|---:|---:|---:|---|");
            for r in &self.reads {
                let ratio = if r.small.p50() > 0.0 {
                    r.big.p50() / r.small.p50()
                } else {
                    0.0
                };
                let informative = r.endpoint.contains("page 50");
                let _ = writeln!(
                    m,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    r.endpoint,
                    n0(r.small.throughput()),
                    f2(r.small.p50()),
                    f2(r.small.p99()),
                    n0(r.big.throughput()),
                    f2(r.big.p50()),
                    f2(r.big.p99()),
                    f2(ratio),
                    if informative {
                        format!(
                            "(informative) {}",
                            if ratio <= 2.0 { "within" } else { "beyond" }
                        )
                    } else {
                        mark(ratio <= 2.0).to_owned()
                    }
                );
            }
        }

        if let Some(d) = &self.depth {
            let ratio = if d.first.p50() > 0.0 {
                d.deep_cursor.p50() / d.first.p50()
            } else {
                0.0
            };
            let _ = writeln!(
                m,
                "\n### 3b. History deep in the {}-event account: page 1 vs {} rows down (page {} of 20 rows)\n",
                n0(self.big_events as f64),
                n0(d.depth as f64),
                n0(d.page as f64)
            );
            let _ = writeln!(
                m,
                "| request | req/s | p50 ms | p99 ms | p50 / page 1 | target |"
            );
            let _ = writeln!(m, "|---|---:|---:|---:|---:|---|");
            for (label, stats, target) in [
                ("page 1 (`limit=20`)", &d.first, "—".to_owned()),
                (
                    "the same depth through `cursor=` (keyset)",
                    &d.deep_cursor,
                    format!("within 2x: {}", mark(ratio > 0.0 && ratio <= 2.0)),
                ),
                (
                    "the same depth through `page=` (offset, for comparison)",
                    &d.deep_offset,
                    "(informative)".to_owned(),
                ),
            ] {
                let _ = writeln!(
                    m,
                    "| {label} | {} | {} | {} | {} | {target} |",
                    n0(stats.throughput()),
                    f2(stats.p50()),
                    f2(stats.p99()),
                    f2(if d.first.p50() > 0.0 {
                        stats.p50() / d.first.p50()
                    } else {
                        0.0
                    }),
                );
            }
        }

        if !self.sqlite.is_empty() {
            let _ = writeln!(
                m,
                "\n### 3c. Tracks on embedded SQLite: group commit off (`TRACK_BATCH_WINDOW=0`) and on (`1ms`)\n"
            );
            let _ = writeln!(
                m,
                "A fresh SQLite file per window, 64 professional accounts, {} s per level.\n",
                self.seconds
            );
            let _ = writeln!(
                m,
                "| window | clients | req/s | p50 ms | p99 ms | server CPU ms/track | errors |"
            );
            let _ = writeln!(m, "|---|---:|---:|---:|---:|---:|---:|");
            for r in &self.sqlite {
                let _ = writeln!(
                    m,
                    "| `{}` | {} | {} | {} | {} | {} | {} |",
                    r.window,
                    r.clients,
                    n0(r.stats.throughput()),
                    f2(r.stats.p50()),
                    f2(r.stats.p99()),
                    f2(if r.stats.ok > 0 {
                        r.server_cpu.as_secs_f64() * 1000.0 / r.stats.ok as f64
                    } else {
                        0.0
                    }),
                    r.stats.errors
                );
            }
        }

        if let Some(l) = &self.login {
            let _ = writeln!(
                m,
                "\n### 4. Sign-in (argon2id m=19456 KiB, t=2, p=1) and `GET /api/users/me` under it\n"
            );
            let _ = writeln!(
                m,
                "| sign-ins/s ({} clients) | sign-in p50 ms | p99 ms | CPU busy | `/api/users/me` alone p50 / p99 ms | during sign-ins p50 / p99 ms | target: p99 < 20 ms |",
                l.clients
            );
            let _ = writeln!(m, "|---:|---:|---:|---:|---:|---:|---|");
            let _ = writeln!(
                m,
                "| {:.1} | {} | {} | {:.0}% | {} / {} | {} / {} | {} |",
                l.logins.throughput(),
                f2(l.logins.p50()),
                f2(l.logins.p99()),
                l.cpu.utilisation(self.cores) * 100.0,
                f2(l.me_alone.p50()),
                f2(l.me_alone.p99()),
                f2(l.me_during.p50()),
                f2(l.me_during.p99()),
                mark(l.me_during.p99() < 20.0 && l.me_during.ok > 0),
            );
            if l.logins.errors + l.me_during.errors > 0 {
                let _ = writeln!(
                    m,
                    "\nErrors: {} sign-ins, {} profile reads (first: {}).",
                    l.logins.errors,
                    l.me_during.errors,
                    l.logins
                        .first_error
                        .as_deref()
                        .or(l.me_during.first_error.as_deref())
                        .unwrap_or("?")
                );
            }
        }

        let _ = writeln!(m, "\n### 5. Server process\n");
        let _ = writeln!(m, "| measure | value | target |");
        let _ = writeln!(m, "|---|---:|---|");
        let peak_ok = self.rss_peak_kib.is_some_and(|k| k < 64 * 1024);
        let _ = writeln!(
            m,
            "| peak RSS over the whole run (VmHWM) | {} | < 64 MiB: {} |",
            mib(self.rss_peak_kib),
            mark(peak_ok)
        );
        let _ = writeln!(
            m,
            "| peak RSS before the sign-in benchmark | {} | — |",
            mib(self.rss_before_login_kib)
        );
        let _ = writeln!(
            m,
            "| RSS when ready, idle | {} | — |",
            mib(self.rss_idle_kib)
        );
        let _ = writeln!(
            m,
            "| start-up to ready (spawn → first 200 of `/health/ready`, migrated database) | {} | — |",
            ms(self.startup)
        );
        let _ = writeln!(
            m,
            "| `doztra-auth migrate` on an empty database | {} | — |",
            ms(self.migrate)
        );
        if let Some((status, drain)) = &self.shutdown {
            let _ = writeln!(
                m,
                "| SIGTERM → exit (idle server) | {} ({status}) | exit 0: {} |",
                ms(*drain),
                mark(status == "exit 0")
            );
        }
        if let Some(v) = self.invariant_violations {
            let _ = writeln!(
                m,
                "| rows breaking an invariant after the run (counters = events, roll-ups = events) | {v} | 0: {} |",
                mark(v == 0)
            );
        }
        m
    }
}

/// Prints a scenario's section and writes it between its markers into `output` ("-": nowhere;
/// default: docs/BENCHMARKS.md).
pub fn publish_section(
    output: Option<&str>,
    begin: &str,
    end: &str,
    markdown: &str,
) -> Result<(), String> {
    println!("{markdown}");
    let path = match output {
        Some("-") => return Ok(()),
        Some(p) => std::path::PathBuf::from(p),
        None => std::path::PathBuf::from("docs/BENCHMARKS.md"),
    };
    write_section(&path, begin, end, markdown)?;
    eprintln!("written to {}", path.display());
    Ok(())
}

/// Replaces the generated section of `path` (between the markers), creating the file if
/// needed; the rest of the file is left as it is.
pub fn write_into(path: &Path, generated: &str) -> Result<(), String> {
    write_section(path, BEGIN, END, generated)
}

/// Replaces the section of `path` between `begin` and `end` (appended if the markers are not
/// there yet), creating the file if needed; the rest of the file is left as it is.
pub fn write_section(path: &Path, begin: &str, end: &str, generated: &str) -> Result<(), String> {
    let section = format!("{begin}\n{generated}{end}");
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let text = match (existing.find(begin), existing.find(end)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{section}{}", &existing[..b], &existing[e + end.len()..])
        }
        _ if existing.trim().is_empty() => format!(
            "# Benchmarks\n\nRegenerate with `cargo run --release -p doztra-bench -- run`; the section between the markers is rewritten by each run, the notes below it are written by hand.\n\n{section}\n"
        ),
        _ => format!("{existing}\n{section}\n"),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Service throughput over direct throughput (0 when the direct run did nothing).
fn throughput_ratio(service: &Stats, direct: &Stats) -> f64 {
    if direct.throughput() > 0.0 {
        service.throughput() / direct.throughput()
    } else {
        0.0
    }
}

/// One row of a service-vs-direct table: throughput and latencies of each side, their ratio
/// and the target's verdict.
fn comparison_row(m: &mut String, label: &str, service: &Stats, direct: &Stats, target: &str) {
    let _ = writeln!(
        m,
        "| {label} | {} | {} | {} | {} | {} | {} | {} | {target} |",
        n0(service.throughput()),
        f2(service.p50()),
        f2(service.p99()),
        n0(direct.throughput()),
        f2(direct.p50()),
        f2(direct.p99()),
        f2(throughput_ratio(service, direct)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_thousands() {
        assert_eq!(n0(1234567.4), "1,234,567");
        assert_eq!(n0(999.0), "999");
        assert_eq!(n0(1000.0), "1,000");
    }

    #[test]
    fn keeps_the_hand_written_text_around_the_markers() {
        let dir = std::env::temp_dir().join(format!("bench-report-{}", std::process::id()));
        let path = dir.join("B.md");
        let _ = std::fs::create_dir_all(&dir);
        std::fs::write(&path, format!("head\n{BEGIN}\nold\n{END}\ntail\n")).unwrap_or_default();
        write_into(&path, "new\n").unwrap_or_default();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(text, format!("head\n{BEGIN}\nnew\n{END}\ntail\n"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
