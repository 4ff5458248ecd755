//! What the deployment recipes (docs/DEPLOYMENT.md: the Dockerfile, compose.yaml, the systemd
//! unit) rely on, proved on the real `doztra-auth` binary: it serves on every interface with
//! `HOST=0.0.0.0` and logs the address it bound; a loopback `HOST` is called out in the log;
//! `doztra-auth healthcheck` exits 0 while the server answers and non-zero once it is gone;
//! `doztra-auth migrate` as its own step, then `serve` with `AUTO_MIGRATE=false`, works on
//! SQLite and PostgreSQL. The image build itself is not exercised (no Docker engine here).
//! And `doztra-auth openapi` prints exactly the committed `docs/openapi.json` (the drift check).
//!
//! These tests live in the api package because only its own tests get the binary's path
//! (`CARGO_BIN_EXE_doztra-auth`). Each process starts from an empty environment in an empty
//! working directory, so no `.env` or variable of the developer's shell leaks in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

mod support;
use support::ScratchPostgres;

const BINARY: &str = env!("CARGO_BIN_EXE_doztra-auth");
const JWT_SECRET: &str = "deployment-test-secret-0123456789abcdef";
/// Upper bound for start-up (debug build, PostgreSQL migrations on a loaded machine).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A scratch working directory (no `.env`), removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("doztra-deploy-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn sqlite_url(&self) -> String {
        format!("sqlite://{}/doztra.db?mode=rwc", self.0.display())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with only the given variables (and JSON logs, so lines can be read reliably).
fn doztra(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("LOG_FORMAT", "json")
        .env("APP_ENV", "production")
        .env("JWT_SECRET", JWT_SECRET)
        .envs(vars.iter().copied());
    command
}

fn run(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    doztra(dir, args, vars).output().expect("doztra-auth runs")
}

fn shown(output: &Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A running `doztra-auth serve`, killed when dropped.
struct Server {
    child: Child,
    lines: Receiver<String>,
    /// Every log line read so far.
    log: Vec<String>,
    /// The address the server says it bound.
    bound: SocketAddr,
}

impl Server {
    fn start(dir: &Path, vars: &[(&str, &str)]) -> Server {
        let mut child = doztra(dir, &["serve"], vars)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("server starts");
        let (send, lines) = channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let send = send.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if send.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut server = Server {
            child,
            lines,
            log: Vec::new(),
            bound: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let line = server.wait_for("listening on http://");
        let event: Value = serde_json::from_str(&line).expect("a JSON log line");
        server.bound = event["address"]
            .as_str()
            .expect("the line names the address")
            .parse()
            .expect("a socket address");
        server
    }

    /// Waits for a log line containing `needle` (panics with the log if it never comes).
    fn wait_for(&mut self, needle: &str) -> String {
        if let Some(line) = self.log.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + START_TIMEOUT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no log line with {needle:?}; log:\n{}", self.log.join("\n"));
    }

    /// The port the server bound, on loopback.
    fn loopback(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.bound.port()))
    }

    fn port(&self) -> String {
        self.bound.port().to_string()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One HTTP/1.1 exchange; returns the status code and the body.
fn http(to: SocketAddr, method: &str, path: &str, json: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&to, Duration::from_secs(5)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = json.unwrap_or("");
    let content_type = if json.is_some() {
        "Content-Type: application/json\r\n"
    } else {
        ""
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {to}\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn with_host_0_0_0_0_it_binds_every_interface_and_the_healthcheck_follows_it() {
    let dir = Scratch::new();
    let url = dir.sqlite_url();
    let mut server = Server::start(
        &dir.0,
        &[("HOST", "0.0.0.0"), ("PORT", "0"), ("DATABASE_URL", &url)],
    );
    assert!(
        server.bound.ip().is_unspecified(),
        "bound {} (every interface)",
        server.bound
    );
    assert!(
        !server.log.iter().any(|l| l.contains("loopback address")),
        "no loopback warning for 0.0.0.0: {:?}",
        server.log
    );
    let (status, body) = http(server.loopback(), "GET", "/health", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");

    // The image's HEALTHCHECK: the same HOST and PORT as the server.
    let port = server.port();
    let vars = [("HOST", "0.0.0.0"), ("PORT", port.as_str())];
    let up = run(&dir.0, &["healthcheck"], &vars);
    assert!(up.status.success(), "healthcheck while up: {}", shown(&up));
    assert!(String::from_utf8_lossy(&up.stdout).contains("200"));
    let ready = run(&dir.0, &["healthcheck", "--path", "/health/ready"], &vars);
    assert!(ready.status.success(), "ready: {}", shown(&ready));
    let missing = run(&dir.0, &["healthcheck", "--path", "/no-such-page"], &vars);
    assert!(!missing.status.success(), "a 404 is unhealthy");

    server.stop();
    let down = run(&dir.0, &["healthcheck"], &vars);
    assert!(
        !down.status.success(),
        "healthcheck once stopped: {}",
        shown(&down)
    );
    assert!(String::from_utf8_lossy(&down.stderr).contains("error"));
}

#[test]
fn a_loopback_host_is_logged_as_unreachable_from_outside() {
    let dir = Scratch::new();
    let url = dir.sqlite_url();
    let mut server = Server::start(
        &dir.0,
        &[("HOST", "127.0.0.1"), ("PORT", "0"), ("DATABASE_URL", &url)],
    );
    assert_eq!(server.bound.ip().to_string(), "127.0.0.1");
    let warning = server.wait_for("loopback address");
    assert!(warning.contains("HOST=0.0.0.0"), "{warning}");
    assert!(warning.contains("WARN"), "{warning}");
    // The default APP_BASE_URL is called out too: this service serves no email-link pages.
    let warning = server.wait_for("APP_BASE_URL is not set");
    assert!(warning.contains("/verify-email"), "{warning}");
}

/// Production never reads a `.env` left in the working directory, however `APP_ENV` spells
/// it; development does. (The `.env` here holds a value the settings refuse, so reading it
/// shows as a failed start.)
#[test]
fn production_ignores_a_leftover_env_file_however_app_env_is_spelled() {
    let dir = Scratch::new();
    std::fs::write(dir.0.join(".env"), "MAX_TOKENS_PER_REQUEST=lots\n").unwrap();
    let url = dir.sqlite_url();
    for app_env in ["production", "prod", " prod "] {
        let output = run(
            &dir.0,
            &["migrate"],
            &[("APP_ENV", app_env), ("DATABASE_URL", &url)],
        );
        assert!(output.status.success(), "{app_env:?}: {}", shown(&output));
    }
    let output = run(
        &dir.0,
        &["migrate"],
        &[("APP_ENV", "development"), ("DATABASE_URL", &url)],
    );
    assert!(!output.status.success(), "{}", shown(&output));
    assert!(
        shown(&output).contains("MAX_TOKENS_PER_REQUEST"),
        "{}",
        shown(&output)
    );
}

/// Outside production, outgoing webhooks may reach private addresses by default: said at
/// start-up, not only in the docs.
#[test]
fn private_webhook_targets_outside_production_are_warned_about() {
    let dir = Scratch::new();
    let url = dir.sqlite_url();
    let mut server = Server::start(
        &dir.0,
        &[
            ("HOST", "127.0.0.1"),
            ("PORT", "0"),
            ("DATABASE_URL", &url),
            ("APP_ENV", "development"),
        ],
    );
    let warning = server.wait_for("private and loopback addresses");
    assert!(warning.contains("APP_ENV=production"), "{warning}");
}

#[test]
fn a_configured_app_base_url_is_not_warned_about() {
    let dir = Scratch::new();
    let url = dir.sqlite_url();
    let server = Server::start(
        &dir.0,
        &[
            ("HOST", "127.0.0.1"),
            ("PORT", "0"),
            ("DATABASE_URL", &url),
            ("APP_BASE_URL", "https://app.example.com"),
        ],
    );
    assert!(
        !server.log.iter().any(|l| l.contains("APP_BASE_URL")),
        "{:?}",
        server.log
    );
    assert!(
        !server
            .log
            .iter()
            .any(|l| l.contains("private and loopback")),
        "production keeps webhooks off private addresses: {:?}",
        server.log
    );
}

/// `migrate` as a separate step (idempotent), then `serve` with `AUTO_MIGRATE=false` writes.
fn migrate_then_serve(dir: &Scratch, database_url: &str) {
    let vars = [("DATABASE_URL", database_url)];
    for attempt in ["first", "second (nothing pending)"] {
        let output = run(&dir.0, &["migrate"], &vars);
        assert!(
            output.status.success(),
            "{attempt} migrate: {}",
            shown(&output)
        );
    }
    let server = Server::start(
        &dir.0,
        &[
            ("DATABASE_URL", database_url),
            ("AUTO_MIGRATE", "false"),
            ("HOST", "127.0.0.1"),
            ("PORT", "0"),
        ],
    );
    let (status, body) = http(server.loopback(), "GET", "/health/ready", None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        server.loopback(),
        "POST",
        "/api/auth/register",
        Some(r#"{"name": "Ops", "email": "ops@example.com", "password": "Password123!"}"#),
    );
    assert_eq!(status, 201, "registration on the migrated schema: {body}");
}

#[test]
fn migrate_then_serve_without_auto_migrate_on_sqlite() {
    let dir = Scratch::new();
    migrate_then_serve(&dir, &dir.sqlite_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_then_serve_without_auto_migrate_on_postgres() {
    let Some(db) = ScratchPostgres::create("doztra_deploy").await else {
        return;
    };
    let url = db.url.clone();
    let dir = Scratch::new();
    let outcome = tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(|| migrate_then_serve(&dir, &url))
    })
    .await
    .unwrap();
    db.drop_now().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The committed OpenAPI document is the binary's own output, byte for byte: a change to a
/// route, a DTO or the version that is not regenerated fails here. The command needs no
/// settings (a broken one does not matter) and prints nothing but the document.
#[test]
fn openapi_prints_exactly_the_committed_docs_openapi_json() {
    let dir = Scratch::new();
    let output = run(&dir.0, &["openapi"], &[("PORT", "not-a-port")]);
    assert!(output.status.success(), "{}", shown(&output));
    let printed = String::from_utf8(output.stdout).expect("UTF-8");
    let committed_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        printed == committed,
        "docs/openapi.json differs from `doztra-auth openapi` (first difference at line {}). \
         Regenerate it and commit the result:\n\n    \
         cargo run -q -p doztra-server -- openapi > docs/openapi.json\n",
        printed
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || printed.lines().count().min(committed.lines().count()) + 1,
                |i| i + 1
            )
    );
    let document: Value = serde_json::from_str(&printed).expect("JSON");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
}
