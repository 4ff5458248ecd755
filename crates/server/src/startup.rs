//! Building and running the server: `Application::build(settings)` binds (port 0 in tests),
//! `port()` tells where, `run_until_stopped()` serves until SIGTERM/SIGINT, draining in-flight
//! requests first.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::HttpServer;
use actix_web::dev::Server;
use api::app::{AppParts, app};
use api::metrics::Metrics;
use api::state::AppState;
use mail::{FileOutbox, Mailer, SmtpMailer};
use migration::MigratorTrait;
use persistence::PoolSettings;
use service::{
    BillingSettings, Clock, PasswordHasher, ServiceMetrics, ServiceSettings, Services, StopWorkers,
    SystemClock,
};
use webhooks::{HttpSender, SenderSettings};

use crate::settings::Settings;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the database: {0}")]
    Database(#[from] persistence::StoreError),
    #[error("cannot apply migrations: {0}")]
    Migration(#[source] sea_orm::DbErr),
    #[error("cannot build the services: {0}")]
    Service(#[from] service::ServiceError),
    #[error("cannot set up email: {0}")]
    Mail(#[source] mail::MailError),
    #[error("cannot set up outgoing webhooks: {0}")]
    Webhooks(String),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

/// A bound, not yet running server.
pub struct Application {
    address: SocketAddr,
    server: Server,
    services: Services,
    /// The background workers, stopped after the requests have drained.
    workers: Workers,
}

/// The background workers' tasks and what stops them.
struct Workers {
    stop: StopWorkers,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// How long a shutdown waits for their passes in progress (`SHUTDOWN_TIMEOUT`).
    patience: std::time::Duration,
}

impl Workers {
    /// Asks every worker to stop after its pass in progress and waits for them (within
    /// `patience`), so no email handed to the mail server stays unmarked and no webhook
    /// attempt unrecorded when the pool closes.
    async fn stop(self) {
        self.stop.stop();
        let deadline = tokio::time::Instant::now() + self.patience;
        for task in self.tasks {
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!(
                    "background workers still busy at shutdown; their passes are cut short"
                );
                return;
            }
        }
    }
}

/// Opens the pool and applies migrations when `AUTO_MIGRATE` says so.
pub async fn open_database(
    settings: &Settings,
) -> Result<persistence::DatabaseConnection, StartupError> {
    let pool = PoolSettings {
        max_connections: settings.database.max_connections,
        acquire_timeout: settings.database.acquire_timeout,
    };
    let db = persistence::connect(&settings.database.url, &pool).await?;
    if settings.database.auto_migrate {
        migration::Migrator::up(&db, None)
            .await
            .map_err(StartupError::Migration)?;
    }
    Ok(db)
}

/// Builds the services from settings on an open pool, reporting business events to `metrics`
/// (`Arc::new(service::NoMetrics)` for none), on the system's clock.
pub fn build_services(
    settings: &Settings,
    db: persistence::DatabaseConnection,
    metrics: Arc<dyn ServiceMetrics>,
) -> Result<Services, StartupError> {
    build_services_on(settings, db, metrics, Arc::new(SystemClock))
}

/// [`build_services`] reading the time from `clock` (tests of time rules pass a
/// `service::ManualClock`).
pub fn build_services_on(
    settings: &Settings,
    db: persistence::DatabaseConnection,
    metrics: Arc<dyn ServiceMetrics>,
    clock: Arc<dyn Clock>,
) -> Result<Services, StartupError> {
    Ok(Services::new(
        db,
        ServiceSettings {
            auth: settings.auth.tokens.clone(),
            throttle: settings.auth.throttle,
            catalog: settings.metering.model_catalog.clone(),
            hasher: PasswordHasher::production()?
                .with_concurrency(settings.auth.password_hash_concurrency)?
                .with_queue(
                    settings.auth.password_hash_concurrency,
                    settings.auth.password_hash_queue,
                ),
            prices: settings.billing.prices.clone(),
            email: settings.email.flows.clone(),
            billing: settings
                .billing
                .stripe
                .as_ref()
                .map(BillingSettings::stripe)
                .transpose()?,
            track_batching: settings.metering.track_batching,
            reservation_ttl: settings.metering.reservation_ttl,
            max_tokens_per_request: settings.metering.max_tokens_per_request,
            usage_retention: settings.metering.usage_event_retention,
            alert_thresholds: settings.metering.alert_thresholds.clone(),
            webhooks: settings.webhooks.clone(),
            metrics,
            clock,
        },
    )?)
}

impl Application {
    /// Opens the database, migrates if configured, binds the listener.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let db = open_database(&settings).await?;
        let metrics = Metrics::with_catalog(&settings.metering.model_catalog);
        let services = build_services(&settings, db, metrics.business())?;
        Self::with_services(&settings, services, metrics)
    }

    /// Binds a server around ready-made services (reporting to `metrics`) and starts the
    /// workers: email outbox, webhook deliveries, maintenance.
    pub fn with_services(
        settings: &Settings,
        services: Services,
        metrics: Metrics,
    ) -> Result<Self, StartupError> {
        let mailer = build_mailer(settings)?;
        let sender = HttpSender::new(SenderSettings {
            allow_private: settings.webhooks.allow_private,
            timeout: settings.webhooks.timeout,
        })
        .map_err(StartupError::Webhooks)?;
        let (stop, signal) = StopWorkers::new();
        let workers = Workers {
            stop,
            tasks: vec![
                tokio::spawn(
                    services
                        .outbox_worker(mailer, settings.email.poll_interval)
                        .run_until(signal.clone()),
                ),
                tokio::spawn(
                    services
                        .webhook_worker(Arc::new(sender))
                        .run_until(signal.clone()),
                ),
                tokio::spawn(
                    services
                        .maintenance_worker(settings.database.maintenance_interval)
                        .run_until(signal),
                ),
            ],
            patience: settings.http.shutdown_timeout,
        };
        let address = settings.http.address();
        let listener = TcpListener::bind(&address).map_err(|source| StartupError::Bind {
            address: address.clone(),
            source,
        })?;
        let local_address = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { address, source })?;
        let parts = AppParts::new(
            AppState {
                services: services.clone(),
                metrics,
                trusted_proxies: settings.http.trusted_proxies.clone(),
                metrics_token: settings.http.metrics_token.clone(),
            },
            settings.http.hsts_max_age,
            settings.http.body_limit,
            settings.http.cors_origins.clone(),
        );
        let server = HttpServer::new(move || app(parts.clone()))
            .shutdown_timeout(settings.http.shutdown_timeout.as_secs())
            // A client that closes its connection has given up on its answer: stop the work
            // (dropping the handler skips a queued password hash) instead of finishing it for nobody.
            .h1_allow_half_closed(false)
            .listen(listener)
            .map_err(|source| StartupError::Bind {
                address: settings.http.address(),
                source,
            })?
            .run();
        Ok(Self {
            address: local_address,
            server,
            services,
            workers,
        })
    }

    /// The bound port (useful with `PORT=0`).
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The bound address, as the operating system reports it (start-up logs it).
    pub fn local_address(&self) -> SocketAddr {
        self.address
    }

    /// The services behind the server (tests use them to inspect state).
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Serves until a shutdown signal, then drains in-flight requests, lets the background
    /// workers finish their passes in progress, and closes the pool.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.workers.stop().await;
        let _ = self.services.database().clone().close().await;
        result
    }
}

/// SMTP when `SMTP_HOST` is set, else the file outbox.
pub fn build_mailer(settings: &Settings) -> Result<Arc<dyn Mailer>, StartupError> {
    let from = mail::parse_mailbox(&settings.email.from).map_err(StartupError::Mail)?;
    Ok(match &settings.email.smtp {
        Some(smtp) => Arc::new(SmtpMailer::new(smtp, from).map_err(StartupError::Mail)?),
        None => {
            tracing::info!(dir = %settings.email.outbox_dir.display(), "no SMTP_HOST: email goes to the file outbox");
            Arc::new(FileOutbox::new(settings.email.outbox_dir.clone(), from))
        }
    })
}
