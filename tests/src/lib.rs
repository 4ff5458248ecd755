//! Black-box test harness: every test starts the real server on port 0 against its own fresh
//! database (a temporary SQLite file, or a uniquely named PostgreSQL database that is dropped
//! afterwards) and speaks HTTP to it.
//!
//! `db_tests!(a, b, ...)` turns each `async fn a(app: TestApp)` into two tests, `sqlite::a` and
//! `postgres::a`. PostgreSQL is found at `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); when it is unreachable the PostgreSQL tests
//! are skipped, unless `REQUIRE_POSTGRES=1`, which makes that a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use std::collections::HashMap;
use std::path::PathBuf;

use reqwest::{Method, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use server::{Application, Settings};
use service::Services;
use uuid::Uuid;

pub mod alerting;
pub mod examples;
pub mod flaky_proxy;
pub mod log_capture;
pub mod smtp_sink;
pub mod tools;
pub mod webhook_receiver;

pub use log_capture::{LogCapture, capture_logs};

pub use reqwest;
pub use serde_json;
pub use service::ManualClock;

/// The password every helper-made account uses.
pub const PASSWORD: &str = "Password123!";
/// The JWT secret of test servers (tests forge tokens with it).
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

enum TestDb {
    Sqlite(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            TestDb::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs outside any runtime we may block; use a thread with its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        if let Ok(db) = Database::connect(&admin_url).await {
                            let _ = db
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                                ))
                                .await;
                            let _ = db.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// A running server bound to a fresh database.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub backend: Backend,
    pub database_url: String,
    services: Services,
    /// Where the file mailer writes this server's messages.
    pub outbox: PathBuf,
    /// The extra settings the server was started with (a second instance gets them too).
    extra: Vec<(String, String)>,
    /// The clock the services read, when the test holds one (a second instance shares it).
    clock: Option<ManualClock>,
    /// `None` for a second instance: the first one owns (and drops) the database.
    _db: Option<TestDb>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.outbox);
    }
}

fn pg_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn postgres_required() -> bool {
    std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

async fn create_database(backend: Backend) -> Option<(TestDb, String)> {
    let id = Uuid::new_v4().simple().to_string();
    match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("doztra-test-{id}.db"));
            let url = format!("sqlite://{}?mode=rwc", path.display());
            Some((TestDb::Sqlite(path), url))
        }
        Backend::Postgres => {
            let admin_url = pg_admin_url();
            let admin = match Database::connect(&admin_url).await {
                Ok(db) => db,
                Err(e) if postgres_required() => {
                    panic!("PostgreSQL is required but unreachable at {admin_url}: {e}")
                }
                Err(e) => {
                    eprintln!(
                        "skipping: PostgreSQL unreachable at {admin_url} ({e}); set REQUIRE_POSTGRES=1 to fail instead"
                    );
                    return None;
                }
            };
            let name = format!("doztra_test_{id}");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .unwrap();
            admin.close().await.unwrap();
            let url = with_database(&admin_url, &name);
            Some((TestDb::Postgres { admin_url, name }, url))
        }
    }
}

/// Starts a server on `backend` with default test settings; `None` if PostgreSQL is not
/// available and not required.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, &[]).await
}

/// Starts a server with extra settings (environment-variable names and values).
pub async fn spawn_app_with(backend: Backend, extra: &[(&str, &str)]) -> Option<TestApp> {
    let (db, url) = create_database(backend).await?;
    Some(start_server(backend, Some(db), url, extra).await)
}

/// Starts a server whose services read the time from `clock`, which the test moves instead of
/// sleeping ([`TestApp::clock`] hands it back).
pub async fn spawn_app_with_clock(backend: Backend, clock: ManualClock) -> Option<TestApp> {
    spawn_app_with_clock_and(backend, clock, &[]).await
}

/// [`spawn_app_with_clock`] with extra settings (environment-variable names and values).
pub async fn spawn_app_with_clock_and(
    backend: Backend,
    clock: ManualClock,
    extra: &[(&str, &str)],
) -> Option<TestApp> {
    let (db, url) = create_database(backend).await?;
    let start = Start {
        clock: Some(clock),
        ..Start::default()
    };
    Some(start_server_with(backend, Some(db), url, extra, start).await)
}

/// Server logs go to the test's captured output (shown for failing tests); `RUST_LOG`
/// filters them (default: warnings and errors). A second layer feeds [`capture_logs`].
fn init_logging() {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let console = tracing_subscriber::fmt::layer()
        .with_test_writer()
        .with_filter(filter);
    let capture = tracing_subscriber::fmt::layer()
        .with_writer(log_capture::CaptureWriter)
        .with_ansi(false)
        .with_filter(log_capture::capture_filter());
    let _ = tracing_subscriber::registry()
        .with(console)
        .with(capture)
        .try_init();
}

/// Every SQL statement a server sent, in order (see [`spawn_app_recording_sql`]).
pub type SqlLog = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Starts a server whose database connection records the text of every statement it sends.
pub async fn spawn_app_recording_sql(backend: Backend) -> Option<(TestApp, SqlLog)> {
    let (db, url) = create_database(backend).await?;
    let log = SqlLog::default();
    let start = Start {
        sql_log: Some(log.clone()),
        ..Start::default()
    };
    let app = start_server_with(backend, Some(db), url, &[], start).await;
    Some((app, log))
}

/// What a test server is built with besides its settings.
#[derive(Default)]
struct Start {
    /// Records every statement the pool sends.
    sql_log: Option<SqlLog>,
    /// The services' clock (else the system's).
    clock: Option<ManualClock>,
}

async fn start_server(
    backend: Backend,
    db: Option<TestDb>,
    url: String,
    extra: &[(&str, &str)],
) -> TestApp {
    start_server_with(backend, db, url, extra, Start::default()).await
}

async fn start_server_with(
    backend: Backend,
    db: Option<TestDb>,
    url: String,
    extra: &[(&str, &str)],
    start: Start,
) -> TestApp {
    init_logging();
    let outbox = std::env::temp_dir().join(format!("doztra-outbox-{}", Uuid::new_v4().simple()));
    let outbox_dir = outbox.display().to_string();
    let mut vars: HashMap<String, String> = [
        ("APP_ENV", "test"),
        ("DATABASE_URL", url.as_str()),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("JWT_SECRET", JWT_SECRET),
        ("AUTO_MIGRATE", "true"),
        ("DATABASE_MAX_CONNECTIONS", "8"),
        ("EMAIL_OUTBOX_DIR", outbox_dir.as_str()),
        ("APP_BASE_URL", "https://app.example.com"),
        // Every test client is 127.0.0.1: the per-address registration budget would count a
        // whole test's accounts as one client's (the security tests set their own).
        ("REGISTER_MAX_PER_IP", "1000000"),
        // Tests that sign many in at once are not about the hashing queue (security_auth is).
        ("PASSWORD_HASH_QUEUE", "10000"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    // CI runs the suites once more with group commit off (`TRACK_BATCH_WINDOW=0`).
    for passed_through in ["TRACK_BATCH_WINDOW", "TRACK_BATCH_MAX"] {
        if let Ok(value) = std::env::var(passed_through) {
            vars.insert(passed_through.to_owned(), value);
        }
    }
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    let settings = Settings::from_vars(&vars).expect("test settings");
    let app = match &start {
        Start {
            sql_log: None,
            clock: None,
        } => Application::build(settings).await.expect("server starts"),
        Start { sql_log, clock } => {
            let mut db = server::startup::open_database(&settings)
                .await
                .expect("database opens");
            if let Some(log) = sql_log.clone() {
                db.set_metric_callback(move |info| {
                    log.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(info.statement.sql.clone());
                });
            }
            let clock: std::sync::Arc<dyn service::Clock> = match clock {
                Some(manual) => std::sync::Arc::new(manual.clone()),
                None => std::sync::Arc::new(service::SystemClock),
            };
            let metrics = api::metrics::Metrics::with_catalog(&settings.metering.model_catalog);
            let services =
                server::startup::build_services_on(&settings, db, metrics.business(), clock)
                    .expect("services build");
            Application::with_services(&settings, services, metrics).expect("server starts")
        }
    };
    let port = app.port();
    let services = app.services().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        extra: extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        clock: start.clock,
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        backend,
        database_url: url,
        services,
        outbox,
        _db: db,
    }
}

impl TestApp {
    /// A second server on the same database (another instance of the service), with the same
    /// extra settings and clock.
    pub async fn second_instance(&self) -> TestApp {
        let extra: Vec<(&str, &str)> = self
            .extra
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let start = Start {
            clock: self.clock.clone(),
            ..Start::default()
        };
        start_server_with(self.backend, None, self.database_url.clone(), &extra, start).await
    }

    /// The clock the server reads; panics unless it was started with one
    /// ([`spawn_app_with_clock`]).
    pub fn clock(&self) -> &ManualClock {
        self.clock
            .as_ref()
            .expect("a server started with spawn_app_with_clock")
    }

    /// A server on the same database with other extra settings (a redeploy with a new
    /// configuration, such as a rolled signing key).
    pub async fn instance_with(&self, extra: &[(&str, &str)]) -> TestApp {
        start_server(self.backend, None, self.database_url.clone(), extra).await
    }

    /// The database the server uses, for assertions on what it holds.
    pub fn db(&self) -> &DatabaseConnection {
        self.services.database()
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("request sent")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.request(Method::PUT, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::DELETE, path, token, None).await
    }

    /// Registers a free account and returns the registration response body.
    pub async fn register(&self, email: &str) -> Value {
        let res = self
            .post(
                "/api/auth/register",
                None,
                json!({"name": "Test User", "email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "register {email}");
        res.json().await.unwrap()
    }

    /// Registers a user and returns (access token, refresh token, user id).
    pub async fn user(&self, email: &str) -> Session {
        Session::from_login(&self.register(email).await)
    }

    /// Creates an admin the way operators do (the CLI's code path) and signs it in.
    pub async fn admin(&self, email: &str) -> Session {
        self.services
            .admin
            .bootstrap_admin(
                domain::UserName::parse("Admin").unwrap(),
                domain::Email::parse(email).unwrap(),
                domain::Password::parse(PASSWORD).unwrap(),
            )
            .await
            .expect("admin created");
        self.login(email, PASSWORD).await
    }

    /// Signs in with JSON credentials; panics unless 200.
    pub async fn login(&self, email: &str, password: &str) -> Session {
        let res = self
            .post(
                "/api/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "login {email}");
        Session::from_login(&res.json().await.unwrap())
    }

    /// The raw messages the file mailer wrote to `to` so far, oldest first.
    pub fn emails_to(&self, to: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.outbox) else {
            return Vec::new();
        };
        let mut names: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter(|m| {
                m.lines()
                    .any(|l| l.to_ascii_lowercase().starts_with("to:") && l.contains(to))
            })
            .collect()
    }

    /// Waits (up to 10 s) until `to` has received `count` messages; returns them.
    pub async fn wait_for_emails(&self, to: &str, count: usize) -> Vec<String> {
        for _ in 0..200 {
            let found = self.emails_to(to);
            if found.len() >= count {
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "{to} did not receive {count} message(s); got {}",
            self.emails_to(to).len()
        );
    }

    /// [`count`](Self::count) of `sql` once it reaches `expected`, or what it was after 10 s
    /// (for state a background worker writes).
    pub async fn count_reaching(&self, sql: &str, expected: i64) -> i64 {
        let mut found = 0;
        for _ in 0..200 {
            found = self.count(sql).await;
            if found == expected {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        found
    }

    /// One number from a SQL query (for assertions on stored state).
    pub async fn count(&self, sql: &str) -> i64 {
        let backend = self.db().get_database_backend();
        let row = self
            .db()
            .query_one_raw(Statement::from_string(backend, sql.to_owned()))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }
}

/// A signed-in client.
#[derive(Debug, Clone)]
pub struct Session {
    pub access: String,
    pub refresh: String,
    pub user_id: String,
}

impl Session {
    pub fn from_login(body: &Value) -> Self {
        Self {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
            user_id: body["user"]["id"].as_str().unwrap().to_owned(),
        }
    }
}

/// The token of the `...?token=` link in a message.
pub fn link_token(message: &str) -> String {
    let start = message.find("token=").expect("a link with a token") + "token=".len();
    message[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The names of the fields a 422 body lists, in its order.
pub fn error_fields(body: &Value) -> Vec<&str> {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("a 422 lists its fields: {body}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap_or_default())
        .collect()
}

/// Asserts the status and the standard error envelope; returns the body.
pub async fn expect_error(res: Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status for expected {code}");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "error body must be JSON, got {content_type}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], code, "body: {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "detail missing: {body}"
    );
    body
}

/// Like [`db_tests!`], with extra settings for every server: `db_tests_with!(module,
/// &[("NAME", "value")], a, b)` makes `module::sqlite::a`, `module::postgres::a`, ...; and
/// `db_tests_with!(&[("NAME", "value")]; a, b)` makes `sqlite::a`, `postgres::a` in place.
#[macro_export]
macro_rules! db_tests_with {
    ($module:ident, $settings:expr, $($name:ident),* $(,)?) => {
        mod $module {
            mod sqlite {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let app = $crate::spawn_app_with($crate::Backend::Sqlite, $settings).await;
                        if let Some(app) = app {
                            super::super::$name(app).await;
                        }
                    }
                )*
            }
            mod postgres {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let app = $crate::spawn_app_with($crate::Backend::Postgres, $settings).await;
                        if let Some(app) = app {
                            super::super::$name(app).await;
                        }
                    }
                )*
            }
        }
    };
    ($settings:expr; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let settings: &[(&str, &str)] = $settings;
                    if let Some(app) = $crate::spawn_app_with($crate::Backend::Sqlite, settings).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let settings: &[(&str, &str)] = $settings;
                    if let Some(app) = $crate::spawn_app_with($crate::Backend::Postgres, settings).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

/// Like [`db_tests!`], on servers whose services read a clock the test moves
/// ([`TestApp::clock`]; it stands at the system's time when the server starts);
/// `clock_tests!(&[("NAME", "value")]; a, b)` adds settings.
#[macro_export]
macro_rules! clock_tests {
    ($($name:ident),* $(,)?) => {
        $crate::clock_tests!(&[]; $($name),*);
    };
    ($settings:expr; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let clock = $crate::ManualClock::starting_now();
                    let settings: &[(&str, &str)] = $settings;
                    let backend = $crate::Backend::Sqlite;
                    if let Some(app) = $crate::spawn_app_with_clock_and(backend, clock, settings).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let clock = $crate::ManualClock::starting_now();
                    let settings: &[(&str, &str)] = $settings;
                    let backend = $crate::Backend::Postgres;
                    if let Some(app) = $crate::spawn_app_with_clock_and(backend, clock, settings).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

/// Runs each listed `async fn name(app: TestApp)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::spawn_app($crate::Backend::Sqlite).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::spawn_app($crate::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}
