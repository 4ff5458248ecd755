//! Use cases of Doztra Auth: accounts, sessions, administration, preferences and catalogs.
//! This crate orchestrates `domain` (the rules), `persistence` (the storage) and `billing` (the
//! payment gateway). It owns transactions; handlers call one function here and map the result.

mod accounts;
mod admin;
mod api_keys;
mod auth_tokens;
mod budgets;
mod catalogs;
mod clock;
mod config;
mod email_flows;
mod error;
mod history_cursor;
mod maintenance;
mod metering;
mod metrics;
mod outbox;
mod outgoing;
mod passwords;
mod payments;
mod preferences;
mod sessions;
mod signing_keys;
mod subscription_events;
mod usage_alerts;
mod usage_reports;
mod views;
mod webhook_gate;
mod worker_loop;
pub use worker_loop::{StopSignal, StopWorkers};

use std::sync::Arc;

pub use accounts::{Accounts, ProfileChanges, Registered, Registration, Subscriber};
pub use admin::{Admin, AdminPatch, NewAccount, UserListQuery, UserPage};
pub use api_keys::{
    API_KEY_PREFIX, ApiKey, ApiKeys, CreatedApiKey, KeyCaller, NewApiKey, UserLookup, UserSummary,
};
pub use auth_tokens::{CurrentUser, SessionTokens};
pub use billing::CheckoutSession;
pub use catalogs::{Catalogs, ModelEntry, ModelList, PlanOffer, PlanPrices};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{AuthConfig, JwtSecret, ThrottleConfig};
pub use email_flows::{EmailConfig, EmailFlows};
pub use error::{FieldError, FieldErrors, ServiceError};
pub use maintenance::{MaintenanceWorker, Pruned};
pub use metering::{
    ActiveReservations, CheckCommand, CheckOutcome, MAX_BATCHES_IN_FLIGHT, Metering, Reporter,
    Reservation, ReservationCommand, TokenStatistics, TokenTotals, TrackBatching, TrackCommand,
    TrackOutcome, UsageSummary,
};
pub use metrics::{AttemptOutcome, NoMetrics, ServiceMetrics, TrackAnswer};
pub use outbox::OutboxWorker;
pub use outgoing::WebhookConfig;
pub use outgoing::endpoints::{
    CreatedWebhookEndpoint, NewWebhookEndpoint, WebhookDelivery, WebhookDeliveryPage,
    WebhookEndpoint, Webhooks,
};
pub use outgoing::events::EventType;
pub use outgoing::worker::WebhookWorker;
pub use passwords::{HashStats, PasswordHasher};
pub use payments::{
    Billing, CHECKOUT_IS_FOR_A_PAID_PLAN, CheckoutOrder, InvoicePageView, InvoiceQuery,
    InvoiceView, PortalSession, SubscriptionOutcome, SubscriptionUpdate, WebhookReceipt,
};
pub use preferences::{PreferencesService, PreferencesUpdate};
pub use sessions::{LoginRequest, Sessions, SignedIn};
pub use signing_keys::{Ed25519Keys, PublicJwk};
pub use usage_alerts::UsageAlert;
pub use usage_reports::{
    AdminUsageQuery, AdminUsageReport, Breakdown, DEFAULT_HISTORY_PAGE, GroupTotals, HistoryPage,
    HistoryQuery, HistoryStart, MAX_HISTORY_PAGE, UsageEvent, UsageReports,
};
pub use views::{Account, Preferences, Profile, Subscription};

use domain::{AlertThresholds, ModelCatalog};
use persistence::DatabaseConnection;

/// Everything the use cases share: the pool, the clock and the validated configuration.
#[derive(Clone)]
pub struct Context {
    pub(crate) db: DatabaseConnection,
    /// Where time comes from; read it through [`Context::now`].
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) auth: Arc<AuthConfig>,
    pub(crate) throttle: ThrottleConfig,
    pub(crate) catalog: Arc<ModelCatalog>,
    pub(crate) hasher: PasswordHasher,
    pub(crate) prices: Arc<PlanPrices>,
    pub(crate) email: Arc<EmailConfig>,
    /// Wakes the outbox worker when a message was queued.
    pub(crate) outbox_signal: Arc<tokio::sync::Notify>,
    /// Payments (Stripe, or the disabled gateway when billing is not configured).
    pub(crate) gateway: Arc<dyn billing::PaymentGateway>,
    /// Webhook verification; `Some` exactly when billing is configured.
    pub(crate) webhooks: Option<Arc<billing::webhook::WebhookVerifier>>,
    /// Raw usage events older than this are deleted (`None`: kept forever).
    pub(crate) usage_retention: Option<chrono::TimeDelta>,
    /// Runs webhook signature checks off the async workers, one at a time.
    pub(crate) webhook_gate: webhook_gate::WebhookGate,
    /// The percentages of a limit that raise a usage alert.
    pub(crate) alert_thresholds: Arc<AlertThresholds>,
    /// Wakes the webhook worker when a delivery was queued.
    pub(crate) webhook_signal: Arc<tokio::sync::Notify>,
    /// Where business events are reported.
    pub(crate) metrics: Arc<dyn ServiceMetrics>,
    /// The ids of new usage events ([`persistence::metering::event_id`]).
    pub(crate) event_ids: Arc<persistence::metering::EventIds>,
}

impl Context {
    /// The current time, to the millisecond.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        clock::read(self.clock.as_ref())
    }
}

/// The service facade the HTTP layer (or any embedding program) holds.
#[derive(Clone)]
pub struct Services {
    pub accounts: Accounts,
    pub sessions: Sessions,
    pub admin: Admin,
    pub preferences: PreferencesService,
    pub catalogs: Catalogs,
    pub metering: Metering,
    pub reports: UsageReports,
    pub email: EmailFlows,
    pub billing: Billing,
    pub webhooks: Webhooks,
    pub api_keys: ApiKeys,
    /// The longest window any throttle looks back over.
    throttle_window: std::time::Duration,
    usage_retention: Option<std::time::Duration>,
    outbox_signal: Arc<tokio::sync::Notify>,
    webhook_signal: Arc<tokio::sync::Notify>,
    webhook_config: Arc<WebhookConfig>,
    metrics: Arc<dyn ServiceMetrics>,
    hasher: PasswordHasher,
    auth: Arc<AuthConfig>,
    clock: Arc<dyn Clock>,
    db: DatabaseConnection,
}

/// What `/metrics` reads at each scrape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperationalGauges {
    /// Email messages neither sent nor given up.
    pub email_backlog: u64,
    /// How long the oldest of them has waited (0 when none).
    pub email_oldest_age_seconds: f64,
    /// Webhook deliveries pending.
    pub webhook_backlog: u64,
    pub webhook_oldest_age_seconds: f64,
    pub pool: persistence::PoolStats,
    pub password_hashes: HashStats,
}

/// Settings the services are built from.
pub struct ServiceSettings {
    pub auth: AuthConfig,
    pub throttle: ThrottleConfig,
    pub catalog: ModelCatalog,
    pub hasher: PasswordHasher,
    pub prices: PlanPrices,
    pub email: EmailConfig,
    /// Stripe, when configured (`None`: paid plans answer 503 `billing_unavailable`).
    pub billing: Option<BillingSettings>,
    /// How tracks are grouped into transactions (group commit).
    pub track_batching: TrackBatching,
    /// How long an unsettled token reservation counts.
    pub reservation_ttl: std::time::Duration,
    /// The most tokens one track, check estimate or reservation may carry.
    pub max_tokens_per_request: domain::MaxTokensPerRequest,
    /// Raw usage events older than this are deleted by the maintenance worker (`None`: never).
    pub usage_retention: Option<std::time::Duration>,
    /// The percentages of a limit that raise a usage alert.
    pub alert_thresholds: AlertThresholds,
    /// How outgoing webhooks are sent.
    pub webhooks: WebhookConfig,
    /// Where business events are reported ([`NoMetrics`] for none).
    pub metrics: Arc<dyn ServiceMetrics>,
    /// Where time comes from ([`SystemClock`]; a [`ManualClock`] in tests of time rules).
    pub clock: Arc<dyn Clock>,
}

/// Billing as the services use it: a gateway and the webhook verifier that go together.
pub struct BillingSettings {
    pub gateway: Arc<dyn billing::PaymentGateway>,
    pub webhooks: billing::webhook::WebhookVerifier,
}

impl BillingSettings {
    /// Stripe from its settings (the real client; its API base may point at a mock).
    pub fn stripe(settings: &billing::StripeSettings) -> Result<Self, ServiceError> {
        Ok(Self {
            gateway: billing::gateway_from_settings(Some(settings))
                .map_err(|e| ServiceError::internal("Stripe client", e))?,
            webhooks: billing::webhook::WebhookVerifier::new(settings),
        })
    }
}

impl Services {
    /// Builds the services on an open pool.
    pub fn new(db: DatabaseConnection, settings: ServiceSettings) -> Result<Self, ServiceError> {
        let ctx = Context {
            db: db.clone(),
            clock: settings.clock,
            auth: Arc::new(settings.auth),
            throttle: settings.throttle,
            catalog: Arc::new(settings.catalog),
            hasher: settings.hasher,
            prices: Arc::new(settings.prices),
            email: Arc::new(settings.email),
            outbox_signal: Arc::new(tokio::sync::Notify::new()),
            gateway: match &settings.billing {
                Some(b) => b.gateway.clone(),
                None => Arc::new(billing::DisabledGateway),
            },
            webhooks: settings.billing.map(|b| Arc::new(b.webhooks)),
            usage_retention: settings
                .usage_retention
                .and_then(|d| chrono::TimeDelta::from_std(d).ok()),
            webhook_gate: webhook_gate::WebhookGate::default(),
            alert_thresholds: Arc::new(settings.alert_thresholds),
            webhook_signal: Arc::new(tokio::sync::Notify::new()),
            metrics: settings.metrics,
            event_ids: Arc::new(persistence::metering::EventIds::new(uuid::ContextV7::new())),
        };
        let webhook_config = Arc::new(settings.webhooks);
        auth_tokens::self_test(&ctx.auth, ctx.now())?; // refuse a key the JWT library cannot use, at start-up
        let metering = Metering::new(
            ctx.clone(),
            settings.track_batching,
            settings.reservation_ttl,
            settings.max_tokens_per_request,
        );
        let reports = UsageReports::new(ctx.clone());
        Ok(Self {
            api_keys: ApiKeys::new(ctx.clone(), metering.clone(), reports.clone()),
            accounts: Accounts::new(ctx.clone()),
            sessions: Sessions::new(ctx.clone()),
            admin: Admin::new(ctx.clone()),
            preferences: PreferencesService::new(ctx.clone()),
            catalogs: Catalogs::new(ctx.clone()),
            metering,
            reports,
            email: EmailFlows::new(ctx.clone()),
            billing: Billing::new(ctx.clone()),
            webhooks: Webhooks::new(ctx.clone(), webhook_config.clone()),
            throttle_window: ctx
                .throttle
                .window
                .max(ctx.email.resend_window)
                .max(ctx.email.reset_window)
                .max(ctx.throttle.budget_window),
            outbox_signal: ctx.outbox_signal.clone(),
            usage_retention: settings.usage_retention,
            webhook_signal: ctx.webhook_signal.clone(),
            webhook_config,
            metrics: ctx.metrics.clone(),
            hasher: ctx.hasher.clone(),
            auth: ctx.auth.clone(),
            clock: ctx.clock.clone(),
            db,
        })
    }

    /// Answers whether the database responds, within two seconds (a probe must not hang for
    /// the pool's whole acquire timeout while the database is away).
    pub async fn ready(&self) -> Result<(), ServiceError> {
        match tokio::time::timeout(
            std::time::Duration::from_secs(2),
            persistence::ping(&self.db),
        )
        .await
        {
            Ok(result) => result.map_err(ServiceError::from),
            Err(_) => Err(ServiceError::from(persistence::StoreError::Unavailable(
                persistence::DbErr::Custom("readiness ping timed out".into()),
            ))),
        }
    }

    /// The worker that sends queued email through `mailer`; run it with `tokio::spawn`.
    pub fn outbox_worker(
        &self,
        mailer: Arc<dyn mail::Mailer>,
        poll_interval: std::time::Duration,
    ) -> OutboxWorker {
        OutboxWorker::new(
            self.db.clone(),
            mailer,
            self.outbox_signal.clone(),
            poll_interval,
            self.metrics.clone(),
            self.clock.clone(),
        )
    }

    /// The worker that sends queued webhook deliveries through `sender`; run it with
    /// `tokio::spawn`.
    pub fn webhook_worker(&self, sender: Arc<dyn webhooks::WebhookSender>) -> WebhookWorker {
        WebhookWorker::new(
            self.db.clone(),
            sender,
            self.webhook_signal.clone(),
            self.webhook_config.clone(),
            self.metrics.clone(),
            self.clock.clone(),
        )
    }

    /// The gauges a metrics scrape reads: the outboxes' backlogs and the pool's connections.
    pub async fn operational_gauges(&self) -> Result<OperationalGauges, ServiceError> {
        let now = clock::read(self.clock.as_ref());
        let age = |oldest: Option<chrono::DateTime<chrono::Utc>>| {
            oldest.map_or(0.0, |at| {
                (now - at).num_milliseconds().max(0) as f64 / 1000.0
            })
        };
        let (emails, oldest_email) = persistence::email::backlog(&self.db).await?;
        let (deliveries, oldest_delivery) =
            persistence::webhook_deliveries::backlog(&self.db).await?;
        Ok(OperationalGauges {
            email_backlog: emails,
            email_oldest_age_seconds: age(oldest_email),
            webhook_backlog: deliveries,
            webhook_oldest_age_seconds: age(oldest_delivery),
            pool: persistence::pool_stats(&self.db),
            password_hashes: self.hasher.stats(),
        })
    }

    /// The worker that deletes expired rows every `interval`; run it with `tokio::spawn`.
    pub fn maintenance_worker(&self, interval: std::time::Duration) -> MaintenanceWorker {
        let throttle_window = self.throttle_window;
        MaintenanceWorker::new(
            self.db.clone(),
            interval,
            throttle_window,
            self.usage_retention,
            self.clock.clone(),
        )
    }

    /// The public keys access tokens are verified with (the JWKS): the current signing key and
    /// the previous ones still accepted; empty with HS256, whose key is a secret.
    pub fn public_keys(&self) -> Vec<PublicJwk> {
        self.auth
            .signing_key
            .as_ref()
            .map(Ed25519Keys::public_jwks)
            .unwrap_or_default()
    }

    /// The algorithm access tokens are signed with: `EdDSA` with an Ed25519 signing key, else
    /// `HS256`.
    pub fn access_token_algorithm(&self) -> &'static str {
        if self.auth.signing_key.is_some() {
            "EdDSA"
        } else {
            "HS256"
        }
    }

    /// The `iss` of access tokens.
    pub fn token_issuer(&self) -> &str {
        &self.auth.issuer
    }

    /// The pool, for operational commands (migrations, shutdown).
    pub fn database(&self) -> &DatabaseConnection {
        &self.db
    }
}
