//! `doztra-auth`: the server binary. `serve` (default), `migrate`, `create-admin`, `create-api-key`, `healthcheck`,
//! `openapi`.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use migration::MigratorTrait;
use server::settings::{AppEnv, DEFAULT_APP_BASE_URL};
use server::startup::{Application, build_services, open_database};
use server::{Settings, healthcheck, telemetry};

#[derive(Parser)]
#[command(
    name = "doztra-auth",
    version,
    about = "Doztra Auth: accounts, sessions, plans and token metering"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Create an administrator. The password is read from DOZTRA_ADMIN_PASSWORD or stdin.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
    /// Create a service API key and print its secret (shown this once).
    CreateApiKey {
        #[arg(long)]
        name: String,
        /// usage:write, usage:read or users:read; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// RFC 3339 date-time after which the key stops working.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Ask the server configured by HOST and PORT for a 200 on `--path` (default /health) and
    /// exit 0, else exit 1. For container health checks: the image needs no curl.
    Healthcheck {
        #[arg(long, default_value = "/health")]
        path: String,
    },
    /// Print the OpenAPI document (the one `GET /api/openapi.json` serves) and exit. It needs no
    /// settings; `docs/openapi.json` is its output.
    Openapi,
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::Openapi)) {
        return print_openapi();
    }
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::CreateAdmin { email, name } => create_admin(settings, &email, &name).await,
        Command::CreateApiKey {
            name,
            scopes,
            expires_at,
        } => create_api_key(settings, name, scopes, expires_at).await,
        Command::Healthcheck { path } => run_healthcheck(&settings, &path),
        Command::Openapi => return print_openapi(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    if settings.auth.jwt_secret_is_random {
        tracing::warn!(
            "neither JWT_SIGNING_KEY_FILE nor JWT_SECRET is set: access tokens are signed with an \
             Ed25519 key generated at start, so they will not survive a restart"
        );
    }
    let app = Application::build(settings.clone())
        .await
        .map_err(|e| e.to_string())?;
    let address = app.local_address();
    tracing::info!(%address, "listening on http://{address}");
    if address.ip().is_loopback() {
        tracing::warn!(
            %address,
            "HOST={} is a loopback address: only this host (or this container) can connect; \
             set HOST=0.0.0.0 to accept connections from outside",
            settings.http.host
        );
    }
    if settings.webhooks.allow_private && settings.app_env != AppEnv::Production {
        tracing::warn!(
            "outgoing webhooks may target private and loopback addresses and plain http \
             (APP_ENV is not production); set APP_ENV=production, or \
             WEBHOOK_ALLOW_PRIVATE_TARGETS=false, on a server others can reach"
        );
    }
    if settings.email.flows.base_url == DEFAULT_APP_BASE_URL {
        tracing::warn!(
            "APP_BASE_URL is not set: links in verification and password-reset emails point at \
             {DEFAULT_APP_BASE_URL}, which serves neither /verify-email nor /reset-password; \
             set it to the web app that does"
        );
    }
    app.run_until_stopped().await.map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

fn print_openapi() -> ExitCode {
    match api::openapi::document_json() {
        Ok(json) => {
            print!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write the OpenAPI document: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_healthcheck(settings: &Settings, path: &str) -> Result<(), String> {
    let target = healthcheck::local_target(&settings.http.host, settings.http.port);
    let status = healthcheck::check(&target, path)?;
    println!("{target}{path}: {status}");
    Ok(())
}

async fn migrate(mut settings: Settings) -> Result<(), String> {
    settings.database.auto_migrate = false;
    let db = open_database(&settings).await.map_err(|e| e.to_string())?;
    migration::Migrator::up(&db, None)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("migrations applied");
    Ok(())
}

async fn create_admin(settings: Settings, email: &str, name: &str) -> Result<(), String> {
    let password = match std::env::var("DOZTRA_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            if std::io::stdin().is_terminal() {
                eprintln!("Password (input is echoed; end with Enter and Ctrl-D):");
            }
            let mut buf = String::new();
            std::io::stdin()
                .read_to_string(&mut buf)
                .map_err(|e| format!("cannot read the password: {e}"))?;
            buf.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    // The same parsing as `POST /api/admin/users`.
    let new: service::NewAccount = api::dto::AdminCreateUserRequest {
        name: name.to_owned(),
        email: email.to_owned(),
        password,
        role: Some("admin".to_owned()),
        plan: None,
    }
    .try_into()
    .map_err(|e: service::ServiceError| e.to_string())?;
    let db = open_database(&settings).await.map_err(|e| e.to_string())?;
    let services = build_services(&settings, db, std::sync::Arc::new(service::NoMetrics))
        .map_err(|e| e.to_string())?;
    let profile = services
        .admin
        .bootstrap_admin(new.name, new.email, new.password)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "created admin {} ({})",
        profile.account.email, profile.account.id
    );
    Ok(())
}

async fn create_api_key(
    settings: Settings,
    name: String,
    scopes: Vec<String>,
    expires_at: Option<String>,
) -> Result<(), String> {
    // The same parsing as `POST /api/admin/api-keys`.
    let new: service::NewApiKey = api::dto::api_keys::CreateApiKeyRequest {
        name,
        scopes,
        expires_at,
    }
    .try_into()
    .map_err(|e: service::ServiceError| e.to_string())?;
    let db = open_database(&settings).await.map_err(|e| e.to_string())?;
    let services = build_services(&settings, db, std::sync::Arc::new(service::NoMetrics))
        .map_err(|e| e.to_string())?;
    let created = services
        .api_keys
        .create_by_operator(new)
        .await
        .map_err(|e| e.to_string())?;
    let scopes: Vec<&str> = created.key.scopes.iter().map(|s| s.as_str()).collect();
    eprintln!(
        "created API key {} ({}) with scopes {}; the secret below is shown only now:",
        created.key.name,
        created.key.id,
        scopes.join(",")
    );
    println!("{}", created.secret);
    Ok(())
}
