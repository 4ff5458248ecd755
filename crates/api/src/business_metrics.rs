//! Business metrics on `/metrics`, beside the HTTP ones: the service reports events through
//! [`service::ServiceMetrics`] and this module counts them in Prometheus families; the gauges
//! (outbox backlogs, the database pool) are read from the service at each scrape. Every label
//! value comes from a closed set: plans, request types, units, configured thresholds, the model
//! catalog (anything else is `other`), fixed outcome words.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicU64;

use domain::{MeteredUnit, ModelCatalog, Plan, RequestType};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use service::{AttemptOutcome, OperationalGauges, ServiceMetrics, TrackAnswer};

/// The Stripe event types the service handles; any other is counted as `other`.
const STRIPE_EVENT_TYPES: [&str; 7] = [
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
    "unverified",
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TrackLabels {
    outcome: &'static str,
    reason: &'static str,
    plan: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    plan: &'static str,
    request_type: &'static str,
    model: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HashLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabels {
    unit: &'static str,
    threshold: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabels {
    channel: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    event_type: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StripeLabels {
    event_type: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboxLabels {
    outbox: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The business families, registered in the server's registry.
pub struct BusinessMetrics {
    models: BTreeSet<String>,
    tracks: Family<TrackLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    batch_size: Histogram,
    alerts_recorded: Family<AlertLabels, Counter>,
    alerts_delivered: Family<ChannelLabels, Counter>,
    webhook_attempts: Family<OutcomeLabels, Counter>,
    webhook_deliveries: Family<DeliveryLabels, Counter>,
    stripe_events: Family<StripeLabels, Counter>,
    outbox_backlog: Family<OutboxLabels, Gauge>,
    outbox_oldest: Family<OutboxLabels, FloatGauge>,
    pool_connections: Family<PoolLabels, Gauge>,
    pool_size: Gauge,
    pool_max: Gauge,
    password_hashes: Family<HashLabels, Counter>,
    password_hash_pending: Gauge,
}

impl BusinessMetrics {
    /// Registers every family in `registry`; `catalog` names the model label's values.
    pub fn register(registry: &mut Registry, catalog: &ModelCatalog) -> Self {
        let metrics = Self {
            models: catalog.models().map(|(name, _)| name.to_owned()).collect(),
            tracks: Family::default(),
            tokens: Family::default(),
            batch_size: Histogram::new([
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1000.0,
            ]),
            alerts_recorded: Family::default(),
            alerts_delivered: Family::default(),
            webhook_attempts: Family::default(),
            webhook_deliveries: Family::default(),
            stripe_events: Family::default(),
            outbox_backlog: Family::default(),
            outbox_oldest: Family::default(),
            pool_connections: Family::default(),
            pool_size: Gauge::default(),
            pool_max: Gauge::default(),
            password_hashes: Family::default(),
            password_hash_pending: Gauge::default(),
        };
        let r = registry;
        r.register(
            "doztra_tracks",
            "Tracks answered, by outcome (accepted, duplicate, refused, conflict, failed), refusal reason and plan",
            metrics.tracks.clone(),
        );
        r.register(
            "doztra_tracked_tokens",
            "Tokens recorded by accepted tracks, by plan, request type and model",
            metrics.tokens.clone(),
        );
        r.register(
            "doztra_track_batch_size",
            "Tracks per committed track transaction (group commit)",
            metrics.batch_size.clone(),
        );
        r.register(
            "doztra_usage_alerts_recorded",
            "Usage alerts recorded, by unit and threshold",
            metrics.alerts_recorded.clone(),
        );
        r.register(
            "doztra_usage_alerts_delivered",
            "Usage alerts delivered: emails sent, usage.threshold_crossed webhooks received",
            metrics.alerts_delivered.clone(),
        );
        r.register(
            "doztra_webhook_attempts",
            "Outgoing webhook attempts, by outcome",
            metrics.webhook_attempts.clone(),
        );
        r.register(
            "doztra_webhook_deliveries",
            "Outgoing webhook deliveries finished, by event type and outcome (succeeded, failed)",
            metrics.webhook_deliveries.clone(),
        );
        r.register(
            "doztra_stripe_webhook_events",
            "Stripe webhook deliveries handled, by event type and outcome",
            metrics.stripe_events.clone(),
        );
        r.register(
            "doztra_outbox_backlog",
            "Messages waiting in an outbox (email, webhook)",
            metrics.outbox_backlog.clone(),
        );
        r.register(
            "doztra_outbox_oldest_age_seconds",
            "Age of the oldest message waiting in an outbox, in seconds (0 when empty)",
            metrics.outbox_oldest.clone(),
        );
        r.register(
            "doztra_db_pool_connections",
            "Database pool connections, by state (idle, in_use)",
            metrics.pool_connections.clone(),
        );
        r.register(
            "doztra_db_pool_size",
            "Open database pool connections (idle and in use)",
            metrics.pool_size.clone(),
        );
        r.register(
            "doztra_password_hashes",
            "Password hashes (argon2) since start, by outcome: computed, skipped (the request had gone), refused (queue full: 503 service_busy)",
            metrics.password_hashes.clone(),
        );
        r.register(
            "doztra_password_hash_pending",
            "Password hashes queued or running now",
            metrics.password_hash_pending.clone(),
        );
        r.register(
            "doztra_db_pool_max_connections",
            "The most connections the database pool opens",
            metrics.pool_max.clone(),
        );
        metrics
    }

    /// Sets the gauges from a scrape's reading.
    pub fn set_gauges(&self, gauges: &OperationalGauges) {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for (outbox, backlog, oldest) in [
            (
                "email",
                gauges.email_backlog,
                gauges.email_oldest_age_seconds,
            ),
            (
                "webhook",
                gauges.webhook_backlog,
                gauges.webhook_oldest_age_seconds,
            ),
        ] {
            let labels = OutboxLabels { outbox };
            self.outbox_backlog
                .get_or_create(&labels)
                .set(count(backlog));
            self.outbox_oldest.get_or_create(&labels).set(oldest);
        }
        let pool = gauges.pool;
        let in_use = pool.size.saturating_sub(pool.idle);
        for (state, value) in [("idle", pool.idle), ("in_use", in_use)] {
            self.pool_connections
                .get_or_create(&PoolLabels { state })
                .set(i64::from(value));
        }
        self.pool_size.set(i64::from(pool.size));
        self.pool_max.set(i64::from(pool.max));
        let hashes = gauges.password_hashes;
        for (outcome, total) in [
            ("computed", hashes.computed),
            ("skipped", hashes.skipped),
            ("refused", hashes.refused),
        ] {
            // The hasher keeps the running totals; the counter shows them as they are.
            self.password_hashes
                .get_or_create(&HashLabels { outcome })
                .inner()
                .store(total, std::sync::atomic::Ordering::Relaxed);
        }
        self.password_hash_pending.set(count(hashes.pending));
    }

    fn model_label(&self, model: &str) -> String {
        if self.models.contains(model) {
            model.to_owned()
        } else {
            "other".to_owned()
        }
    }
}

impl ServiceMetrics for BusinessMetrics {
    fn track_answered(&self, plan: Plan, answer: TrackAnswer) {
        self.tracks
            .get_or_create(&TrackLabels {
                outcome: answer.outcome(),
                reason: answer.reason(),
                plan: plan.as_str(),
            })
            .inc();
    }

    fn tokens_tracked(&self, plan: Plan, request_type: RequestType, model: &str, tokens: u64) {
        self.tokens
            .get_or_create(&TokenLabels {
                plan: plan.as_str(),
                request_type: request_type.as_str(),
                model: self.model_label(model),
            })
            .inc_by(tokens);
    }

    fn track_batch(&self, size: usize) {
        self.batch_size.observe(size as f64);
    }

    fn alert_recorded(&self, unit: MeteredUnit, threshold: u8) {
        self.alerts_recorded
            .get_or_create(&AlertLabels {
                unit: unit.as_str(),
                threshold: threshold.to_string(),
            })
            .inc();
    }

    fn alert_email_sent(&self) {
        self.alerts_delivered
            .get_or_create(&ChannelLabels { channel: "email" })
            .inc();
    }

    fn webhook_attempt(&self, outcome: AttemptOutcome) {
        self.webhook_attempts
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    fn webhook_delivery_finished(&self, event_type: &'static str, succeeded: bool) {
        let outcome = if succeeded { "succeeded" } else { "failed" };
        self.webhook_deliveries
            .get_or_create(&DeliveryLabels {
                event_type,
                outcome,
            })
            .inc();
        // One per alert and endpoint: `usage.limit_reached` rides along with the 100 % alert.
        if succeeded && event_type == service::EventType::UsageThresholdCrossed.as_str() {
            self.alerts_delivered
                .get_or_create(&ChannelLabels { channel: "webhook" })
                .inc();
        }
    }

    fn stripe_event(&self, event_type: &str, outcome: &'static str) {
        let known = STRIPE_EVENT_TYPES
            .iter()
            .find(|known| **known == event_type)
            .copied()
            .unwrap_or("other");
        self.stripe_events
            .get_or_create(&StripeLabels {
                event_type: known,
                outcome,
            })
            .inc();
    }
}
