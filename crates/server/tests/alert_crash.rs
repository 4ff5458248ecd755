//! Crash between commit and delivery (issue 16), on the real `doztra-auth` binary: a track
//! crosses 80 %, its alert is committed and the webhook worker's attempt is on the wire (the
//! receiver holds it without answering) when the process is killed with SIGKILL. Restarted on
//! the same database, the server sends the attempt again once the dead worker's lease runs out:
//! the alert is recorded once, emailed once, and delivered, every attempt with the same
//! webhook-id and body. On SQLite and PostgreSQL.
//!
//! Here rather than in `tests/` because only this package's tests get the binary's path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

mod support;
use support::ScratchPostgres;

const BINARY: &str = env!("CARGO_BIN_EXE_doztra-auth");
const JWT_SECRET: &str = "alert-crash-test-secret-0123456789abcdef";
const PASSWORD: &str = "Password123!";
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A scratch working directory with the email outbox, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("doztra-crash-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn outbox(&self) -> PathBuf {
        self.0.join("outbox")
    }

    /// The alert emails the file mailer wrote.
    fn alert_emails(&self) -> usize {
        std::fs::read_dir(self.outbox())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .filter(|m| m.contains("your monthly"))
                    .count()
            })
            .unwrap_or(0)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn doztra(dir: &Path, database_url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("LOG_FORMAT", "json")
        .env("APP_ENV", "test")
        .env("JWT_SECRET", JWT_SECRET)
        .env("DATABASE_URL", database_url)
        .env("AUTO_MIGRATE", "true")
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("EMAIL_OUTBOX_DIR", "outbox")
        .env("EMAIL_POLL_INTERVAL", "1s")
        // An attempt's lease is the timeout plus 5 s: the restarted server retries after it.
        .env("WEBHOOK_TIMEOUT", "5s")
        .env("WEBHOOK_RETRY_SCHEDULE", "1s")
        .env("WEBHOOK_POLL_INTERVAL", "1s");
    command
}

/// A running `doztra-auth serve`, killed with SIGKILL when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(dir: &Path, database_url: &str) -> Self {
        let mut child = doztra(dir, database_url, &["serve"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("server starts");
        let (send, lines): (_, Receiver<String>) = channel();
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
        let deadline = Instant::now() + START_TIMEOUT;
        let mut log = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = lines.recv_timeout(left) else {
                break;
            };
            if line.contains("listening on http://") {
                let event: Value = serde_json::from_str(&line).unwrap();
                let address = event["address"].as_str().unwrap().to_owned();
                // Keep draining the pipes so the server never blocks on a full one.
                std::thread::spawn(move || while lines.recv().is_ok() {});
                return Self {
                    child,
                    base: format!("http://{address}"),
                };
            }
            log.push(line);
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server did not start:\n{}", log.join("\n"));
    }

    /// SIGKILL: no shutdown, no draining, nothing flushed.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A webhook receiver that records each request and holds it unanswered until `answer` is set.
#[derive(Clone, Default)]
struct Hook {
    received: Arc<Mutex<Vec<(String, String)>>>,
    answer: Arc<AtomicBool>,
}

impl Hook {
    async fn start(&self) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hook = self.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let hook = hook.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let (head, body) = loop {
                        let Ok(read) = stream.read(&mut chunk).await else {
                            return;
                        };
                        if read == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..read]);
                        let text = String::from_utf8_lossy(&buffer).into_owned();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let length: usize = head
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if body.len() >= length {
                                break (head.to_owned(), body.to_owned());
                            }
                        }
                    };
                    let id = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .starts_with("webhook-id:")
                                .then(|| l[11..].trim().to_owned())
                        })
                        .unwrap_or_default();
                    hook.received.lock().unwrap().push((id, body));
                    while !hook.answer.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        )
                        .await;
                });
            }
        });
        port
    }

    fn received(&self) -> Vec<(String, String)> {
        self.received.lock().unwrap().clone()
    }

    async fn wait_for(&self, count: usize) -> Vec<(String, String)> {
        for _ in 0..1500 {
            if self.received().len() >= count {
                return self.received();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "the hook did not get {count} request(s): {:?}",
            self.received()
        );
    }
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let res = request.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    let backend = db.get_database_backend();
    db.query_one_raw(Statement::from_string(backend, sql.to_owned()))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

async fn killed_between_commit_and_delivery(database_url: String) {
    let dir = Scratch::new();
    let created = doztra(
        &dir.0,
        &database_url,
        &[
            "create-admin",
            "--email",
            "admin@example.com",
            "--name",
            "Admin",
        ],
    )
    .env("DOZTRA_ADMIN_PASSWORD", PASSWORD)
    .output()
    .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let hook = Hook::default();
    let port = hook.start().await;
    let client = reqwest::Client::new();
    let mut server = Server::start(&dir.0, &database_url);
    let base = server.base.clone();
    let db = Database::connect(&database_url).await.unwrap();

    let (status, body) = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/auth/login"),
        None,
        Some(json!({"email": "admin@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let admin = body["access_token"].as_str().unwrap().to_owned();
    let (status, body) = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/auth/register"),
        None,
        Some(json!({"name": "Writer", "email": "writer@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let user = body["access_token"].as_str().unwrap().to_owned();
    let user_id = body["user"]["id"].as_str().unwrap().to_owned();
    let (status, body) = call(&client, reqwest::Method::POST, format!("{base}/api/admin/webhooks"), Some(&admin),
        Some(json!({"url": format!("http://127.0.0.1:{port}/hook"), "event_types": ["usage.threshold_crossed"]}))).await;
    assert_eq!(status, 201, "{body}");
    let endpoint = body["id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &client,
        reqwest::Method::PATCH,
        format!("{base}/api/admin/users/{user_id}"),
        Some(&admin),
        Some(json!({"token_limit": 100})),
    )
    .await;
    assert_eq!(status, 200);

    // The crossing commits; its delivery goes out and is held on the wire; the email is sent.
    let (status, body) = call(&client, reqwest::Method::POST, format!("{base}/api/tokens/me/track"), Some(&user),
        Some(json!({"request_type": "chat", "model": "gpt-3.5-turbo", "total_tokens": 90, "request_id": "crossing"}))).await;
    assert_eq!(status, 200, "{body}");
    let first = hook.wait_for(1).await;
    for _ in 0..500 {
        if count(
            &db,
            "SELECT count(*) FROM email_outbox WHERE kind = 'usage_alert' AND sent_at IS NOT NULL",
        )
        .await
            == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND attempts = 1"
        )
        .await,
        1,
        "the attempt in flight was claimed and never finished"
    );

    // Restarted: the receiver answers now; the attempt is made again after the lease.
    hook.answer.store(true, Ordering::SeqCst);
    let server = Server::start(&dir.0, &database_url);
    let base = server.base.clone();
    let received = hook.wait_for(2).await;
    let mut deliveries = Value::Null;
    for _ in 0..500 {
        let (status, body) = call(
            &client,
            reqwest::Method::GET,
            format!("{base}/api/admin/webhooks/{endpoint}/deliveries"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(status, 200);
        if body["deliveries"][0]["status"] == "succeeded" {
            deliveries = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivery = &deliveries["deliveries"][0];
    assert_eq!(delivery["status"], "succeeded", "{deliveries}");
    assert_eq!(delivery["attempts"], 2);
    assert_eq!(deliveries["total_records"], 1);
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[0], first[0]);
    assert_eq!(
        received[1].0, received[0].0,
        "the same webhook-id on every attempt"
    );
    assert_eq!(
        received[1].1, received[0].1,
        "the same body on every attempt"
    );
    assert_eq!(
        delivery["message_id"].as_str(),
        Some(received[0].0.as_str())
    );
    let (status, body) = call(
        &client,
        reqwest::Method::GET,
        format!("{base}/api/usage/me/alerts"),
        Some(&user),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["alerts"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(count(&db, "SELECT count(*) FROM usage_alerts").await, 1);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM email_outbox WHERE kind = 'usage_alert'"
        )
        .await,
        1
    );
    assert_eq!(dir.alert_emails(), 1);
    db.close().await.unwrap();
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_between_commit_and_delivery_still_delivers_once_on_sqlite() {
    let file =
        std::env::temp_dir().join(format!("doztra-crash-{}.db", uuid::Uuid::new_v4().simple()));
    killed_between_commit_and_delivery(format!("sqlite://{}?mode=rwc", file.display())).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_between_commit_and_delivery_still_delivers_once_on_postgres() {
    let Some(db) = ScratchPostgres::create("doztra_crash").await else {
        return;
    };
    let outcome = tokio::spawn(killed_between_commit_and_delivery(db.url.clone())).await;
    db.drop_now().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}
