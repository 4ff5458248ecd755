//! Use cases of Doztra Auth: accounts, sessions, administration, preferences and catalogs.
//! This crate orchestrates `domain` (the rules), `persistence` (the storage) and `billing` (the
//! payment gateway). It owns transactions; handlers call one function here and map the result.

mod accounts;
mod admin;
mod billing_flows;
mod billing_portal;
mod catalogs;
mod clock;
mod config;
mod email_flows;
mod error;
mod history_cursor;
mod maintenance;
mod metering;
mod outbox;
mod passwords;
mod preferences;
mod sessions;
mod stripe_sync;
mod tokens;
mod usage_reports;
mod views;
mod webhook_gate;

use std::sync::Arc;

pub use accounts::{Accounts, ProfileChanges, Registered, Registration, Subscriber};
pub use admin::{Admin, AdminPatch, NewAccount, UserListQuery, UserPage};
pub use billing::CheckoutSession;
pub use billing_flows::{Billing, SubscriptionOutcome, SubscriptionUpdate, WebhookReceipt};
pub use billing_portal::{InvoicePageView, InvoiceQuery, InvoiceView, PortalSession};
pub use catalogs::{Catalogs, ModelEntry, ModelList, PlanOffer, PlanPrices};
pub use config::{AuthConfig, JwtSecret, ThrottleConfig};
pub use email_flows::{EmailConfig, EmailFlows};
pub use error::{FieldError, ServiceError};
pub use maintenance::{MaintenanceWorker, Pruned};
pub use metering::{
    ActiveReservations, CheckOutcome, CheckRequest, MAX_BATCHES_IN_FLIGHT, Metering, Reservation,
    ReservationRequest, TokenStatistics, TokenTotals, TrackBatching, TrackOutcome, TrackRequest,
    UsageSummary,
};
pub use outbox::OutboxWorker;
pub use passwords::PasswordHasher;
pub use preferences::{PreferencesService, PreferencesUpdate};
pub use sessions::{LoginRequest, Sessions, SignedIn};
pub use tokens::{CurrentUser, SessionTokens};
pub use usage_reports::{
    AdminUsageQuery, AdminUsageReport, Breakdown, GroupTotals, HistoryPage, HistoryQuery,
    UsageEvent, UsageReports,
};
pub use views::{Account, Preferences, Profile, Subscription};

use domain::ModelCatalog;
use persistence::DatabaseConnection;

/// Everything the use cases share: the pool and the validated configuration.
#[derive(Clone)]
pub struct Context {
    pub(crate) db: DatabaseConnection,
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
    /// The longest window any throttle looks back over.
    throttle_window: std::time::Duration,
    usage_retention: Option<std::time::Duration>,
    outbox_signal: Arc<tokio::sync::Notify>,
    db: DatabaseConnection,
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
    /// Raw usage events older than this are deleted by the maintenance worker (`None`: never).
    pub usage_retention: Option<std::time::Duration>,
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
        };
        ctx.auth.keys()?; // refuse a key the JWT library cannot use, at start-up
        Ok(Self {
            accounts: Accounts::new(ctx.clone()),
            sessions: Sessions::new(ctx.clone()),
            admin: Admin::new(ctx.clone()),
            preferences: PreferencesService::new(ctx.clone()),
            catalogs: Catalogs::new(ctx.clone()),
            metering: Metering::new(
                ctx.clone(),
                settings.track_batching,
                settings.reservation_ttl,
            ),
            reports: UsageReports::new(ctx.clone()),
            email: EmailFlows::new(ctx.clone()),
            billing: Billing::new(ctx.clone()),
            throttle_window: ctx
                .throttle
                .window
                .max(ctx.email.resend_window)
                .max(ctx.email.reset_window),
            outbox_signal: ctx.outbox_signal.clone(),
            usage_retention: settings.usage_retention,
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
        )
    }

    /// The worker that deletes expired rows every `interval`; run it with `tokio::spawn`.
    pub fn maintenance_worker(&self, interval: std::time::Duration) -> MaintenanceWorker {
        let throttle_window = self.throttle_window;
        MaintenanceWorker::new(
            self.db.clone(),
            interval,
            throttle_window,
            self.usage_retention,
        )
    }

    /// The pool, for operational commands (migrations, shutdown).
    pub fn database(&self) -> &DatabaseConnection {
        &self.db
    }
}
