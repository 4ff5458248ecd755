//! The release server as a child process: start, wait until ready, measure, stop. Loopback only.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::db::TempDb;

/// The JWT secret of bench servers (at least 32 bytes, as production requires).
pub const JWT_SECRET: &str = "bench-secret-bench-secret-bench-secret-0123456789";

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("local_addr: {e}"))?
        .port();
    Ok(port)
}

/// The options of every scenario that runs the release server on a database of its own.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// The server binary (default: doztra-auth next to this binary, else target/release).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// A PostgreSQL URL whose user may create databases; the bench creates and drops its own.
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub admin_url: String,
    /// Directory for the server's log.
    #[arg(long, default_value = "target/bench")]
    pub log_dir: PathBuf,
}

/// Runs a scenario on a fresh database: checks that the server binary exists, makes the log
/// directory, creates the database, runs `scenario` with the binary and the database (or stops
/// at Ctrl-C), and drops the database whatever happened. The scenario stops its servers before
/// it returns.
pub async fn on_fresh_database<T>(
    args: &ServerArgs,
    scenario: impl AsyncFnOnce(&Path, &TempDb) -> Result<T, String>,
) -> Result<T, String> {
    let binary = require_binary(args.server_bin.clone())?;
    std::fs::create_dir_all(&args.log_dir)
        .map_err(|e| format!("{}: {e}", args.log_dir.display()))?;
    let db = TempDb::create(&args.admin_url).await?;
    eprintln!("database {}", db.name);
    let result = tokio::select! {
        r = scenario(&binary, &db) => r,
        _ = tokio::signal::ctrl_c() => Err("interrupted".to_owned()),
    };
    if let Err(e) = db.drop_now().await {
        eprintln!("warning: {e}");
    }
    result
}

/// How to run the server binary.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub binary: PathBuf,
    pub database_url: String,
    pub log_file: PathBuf,
    /// Extra environment (overrides the defaults below).
    pub env: Vec<(String, String)>,
}

impl ServerConfig {
    /// The server on `db`, logging to `{log_dir}/{database}.log`, with extra environment.
    pub fn on(binary: &Path, db: &TempDb, log_dir: &Path, env: Vec<(String, String)>) -> Self {
        Self {
            binary: binary.to_path_buf(),
            database_url: db.url.clone(),
            log_file: log_dir.join(format!("{}.log", db.name)),
            env,
        }
    }

    fn command(&self, subcommand: &str, port: u16) -> Result<Command, String> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .map_err(|e| format!("log file {}: {e}", self.log_file.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&self.binary);
        cmd.arg(subcommand)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            // Production settings: JSON logs at info (one access line per request), as deployed.
            .env("APP_ENV", "production")
            .env("DATABASE_URL", &self.database_url)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("JWT_SECRET", JWT_SECRET)
            .env("AUTO_MIGRATE", "false")
            // Long enough for a whole bench run; token lifetime does not change the work.
            .env("ACCESS_TOKEN_TTL", "2h")
            // Every bench client is 127.0.0.1: its thousands of accounts are not one abuser's.
            .env("REGISTER_MAX_PER_IP", "100000000")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        Ok(cmd)
    }

    /// Runs a command-line subcommand of the server (`create-api-key --name ...`) to
    /// completion; returns what it printed on stdout.
    pub fn run_cli(&self, subcommand: &str, args: &[&str]) -> Result<String, String> {
        let output = self
            .command(subcommand, 0)?
            .args(args)
            .stdout(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        if !output.status.success() {
            return Err(format!(
                "{subcommand} failed ({}); see {}",
                output.status,
                self.log_file.display()
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs `doztra-auth migrate` to completion; returns how long it took.
    pub fn migrate(&self) -> Result<Duration, String> {
        let t0 = Instant::now();
        let status = self
            .command("migrate", 0)?
            .status()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        if !status.success() {
            return Err(format!(
                "migrate failed ({status}); see {}",
                self.log_file.display()
            ));
        }
        Ok(t0.elapsed())
    }

    /// Runs `doztra-auth create-admin` (password [`crate::api::PASSWORD`]).
    pub fn create_admin(&self, email: &str) -> Result<(), String> {
        let status = self
            .command("create-admin", 0)?
            .args(["--email", email, "--name", "Bench Admin"])
            .env("DOZTRA_ADMIN_PASSWORD", crate::api::PASSWORD)
            .status()
            .map_err(|e| format!("cannot run {}: {e}", self.binary.display()))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "create-admin failed ({status}); see {}",
                self.log_file.display()
            ))
        }
    }

    /// Starts `doztra-auth serve` on a free port and waits until `/health/ready` answers 200.
    pub async fn start(&self) -> Result<Server, String> {
        let port = free_port()?;
        let t0 = Instant::now();
        let child = self
            .command("serve", port)?
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.binary.display()))?;
        let mut server = Server {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            startup: Duration::ZERO,
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string())?;
        let url = format!("{}/health/ready", server.base);
        let deadline = t0 + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Some(status) = server.try_exit()? {
                return Err(format!(
                    "server exited during start-up ({status}); see {}",
                    self.log_file.display()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "server not ready after 60 s; see {}",
                    self.log_file.display()
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.startup = t0.elapsed();
        Ok(server)
    }
}

/// A running server; killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    /// From spawn to the first 200 of `/health/ready`.
    pub startup: Duration,
}

impl Server {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn try_exit(&mut self) -> Result<Option<ExitStatus>, String> {
        match &mut self.child {
            Some(child) => child.try_wait().map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }

    /// Peak resident set size (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.pid()?, "VmHWM:")
    }

    /// Current resident set size (VmRSS) in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        proc_status_kib(self.pid()?, "VmRSS:")
    }

    /// CPU time the server used so far (user + system).
    pub fn cpu_time(&self) -> Option<Duration> {
        process_cpu(self.pid()?)
    }

    /// Sends SIGTERM and waits (at most `timeout`) for the exit; returns the status and how
    /// long the drain took.
    pub async fn terminate(&mut self, timeout: Duration) -> Result<(ExitStatus, Duration), String> {
        let pid = self.pid().ok_or("server already stopped")?;
        let t0 = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .map_err(|e| format!("kill: {e}"))?;
        if !status.success() {
            return Err(format!("kill -TERM {pid} failed"));
        }
        loop {
            if let Some(status) = self.try_exit()? {
                self.child = None;
                return Ok((status, t0.elapsed()));
            }
            if t0.elapsed() > timeout {
                return Err(format!("server did not exit within {timeout:?} of SIGTERM"));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ; 100 on Linux x86-64).
const TICKS_PER_SEC: u64 = 100;

/// User + system CPU time of a process, from `/proc/<pid>/stat`.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    ticks_of_stat(&stat).map(|t| Duration::from_millis(t * 1000 / TICKS_PER_SEC))
}

fn ticks_of_stat(stat: &str) -> Option<u64> {
    // The command name may contain spaces; fields after the closing parenthesis are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state(0) ppid(1) ... utime(11) stime(12).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU time used so far by the PostgreSQL processes that serve `database` (its backends) and
/// by the cluster's writer processes (WAL writer, checkpointer, background writer).
pub fn postgres_cpu(database: &str) -> Duration {
    let mut total = 0u64;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline);
        if !cmdline.starts_with("postgres: ") {
            continue;
        }
        // Backends and autovacuum workers name their database; the name is unique.
        let ours = cmdline.contains(database)
            || ["walwriter", "checkpointer", "background writer"]
                .iter()
                .any(|p| cmdline.contains(p));
        if ours
            && let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            && let Some(t) = ticks_of_stat(&stat)
        {
            total += t;
        }
    }
    Duration::from_millis(total * 1000 / TICKS_PER_SEC)
}

/// CPU time used by the whole machine so far (all processes, all cores), from `/proc/stat`.
pub fn machine_busy() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return Duration::ZERO;
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return Duration::ZERO;
    };
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: u64 = fields
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| *v)
        .sum();
    Duration::from_millis(busy * 1000 / TICKS_PER_SEC)
}

/// CPU time of this process (the load generator).
pub fn self_cpu() -> Duration {
    process_cpu(std::process::id()).unwrap_or_default()
}

/// The binary next to this one's target directory, e.g. `target/release/doztra-auth`.
/// The server binary to run: `chosen`, or the default; an error telling how to build it when
/// it is missing.
pub fn require_binary(chosen: Option<PathBuf>) -> Result<PathBuf, String> {
    let binary = chosen.unwrap_or_else(default_server_binary);
    if binary.exists() {
        Ok(binary)
    } else {
        Err(format!(
            "{} not found: build it with `cargo build --release -p doztra-server -p doztra-bench`",
            binary.display()
        ))
    }
}

pub fn default_server_binary() -> PathBuf {
    let here = std::env::current_exe().unwrap_or_default();
    let sibling = here.with_file_name("doztra-auth");
    if sibling.exists() {
        return sibling;
    }
    Path::new("target/release/doztra-auth").to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_ticks_with_spaces_in_the_name() {
        let stat = "123 (a b) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0";
        assert_eq!(ticks_of_stat(stat), Some(300));
    }
}
