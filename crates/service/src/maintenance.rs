//! Housekeeping: rows that no longer mean anything are deleted in the background, so tables
//! that grow with traffic (sign-in attempts, refresh tokens, email tokens, Stripe events,
//! finished webhook deliveries) stay small; expired token reservations are closed; and raw
//! usage events older than `USAGE_EVENT_RETENTION` (when set) are deleted in bounded batches,
//! while counters and daily roll-ups stay, so statistics and analytics of old periods keep
//! answering. Correctness never depends on it: every read already ignores what is expired.
//! Several instances may run it at once; every step is idempotent.
//!
//! It also announces paid plans that ran out (`subscription.updated`), once each: a lapse is
//! decided on every read and changes nothing stored, so this is where it becomes an event.

use crate::worker_loop::StopSignal;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use persistence::DatabaseConnection;

use crate::ServiceError;
use crate::clock::{self, Clock};

/// Deletes what has expired, once per interval.
#[derive(Clone)]
pub struct MaintenanceWorker {
    db: DatabaseConnection,
    interval: Duration,
    /// Sign-in and email-request attempts older than this no longer count for any throttle.
    attempts_kept: TimeDelta,
    /// Raw usage events older than this are deleted (`None`: kept forever).
    usage_retention: Option<TimeDelta>,
    clock: Arc<dyn Clock>,
}

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub login_attempts: u64,
    pub refresh_tokens: u64,
    pub email_tokens: u64,
    pub stripe_events: u64,
    pub expired_reservations: u64,
    pub usage_events: u64,
    pub webhook_deliveries: u64,
    /// Paid plans that ran out and were announced.
    pub lapses_announced: u64,
}

/// Rows deleted per statement, and statements per pass, when pruning usage events: a pass stays
/// short (it never holds locks for long), and a backlog is worked off over several passes.
const EVENTS_PER_BATCH: u64 = 5_000;
const EVENT_BATCHES_PER_PASS: u64 = 40;
/// Expired reservations closed per pass.
const RESERVATIONS_PER_PASS: u64 = 1_000;

/// Stripe redelivers for three days; a month of event ids is plenty to recognise repeats.
const STRIPE_EVENTS_KEPT: TimeDelta = TimeDelta::days(30);
/// Finished webhook deliveries stay visible to the admin for a month.
const WEBHOOK_DELIVERIES_KEPT: TimeDelta = TimeDelta::days(30);
/// Expired email tokens are kept a day, so a late click reads "expired" in the logs.
const EMAIL_TOKENS_KEPT: TimeDelta = TimeDelta::days(1);

/// How long after start the first pass waits at most.
const FIRST_PASS_AFTER: Duration = Duration::from_secs(60);

impl MaintenanceWorker {
    pub(crate) fn new(
        db: DatabaseConnection,
        interval: Duration,
        longest_window: Duration,
        usage_retention: Option<Duration>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let window = TimeDelta::from_std(longest_window).unwrap_or(TimeDelta::days(1));
        Self {
            db,
            interval,
            attempts_kept: window.max(TimeDelta::days(1)),
            usage_retention: usage_retention.and_then(|d| TimeDelta::from_std(d).ok()),
            clock,
        }
    }

    /// Runs until the task is dropped: a first pass a minute after start (or after the
    /// interval, if shorter), so that start-up and a rolling deploy do not wait on deletes and
    /// a caller's own [`run_once`](Self::run_once) right after start is never raced by it; then
    /// one per interval.
    pub async fn run(self) {
        self.run_until(StopSignal::never()).await;
    }

    /// [`run`](Self::run) until `stop` comes, then after the pass in progress.
    pub async fn run_until(self, mut stop: StopSignal) {
        let first = tokio::time::Instant::now() + self.interval.min(FIRST_PASS_AFTER);
        let mut ticker = tokio::time::interval_at(first, self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = stop.requested() => return,
            }
            let pass = self.clone();
            match tokio::spawn(async move { pass.run_once().await }).await {
                Ok(Ok(pruned)) if pruned != Pruned::default() => {
                    tracing::info!(?pruned, "maintenance: expired rows deleted");
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "maintenance pass failed"),
                Err(e) => tracing::error!(error = %e, "maintenance pass panicked"),
            }
        }
    }

    /// One pass: deletes expired rows of every kind and announces lapsed plans.
    pub async fn run_once(&self) -> Result<Pruned, ServiceError> {
        let now = clock::read(self.clock.as_ref());
        Ok(Pruned {
            expired_reservations: self.close_expired_reservations(now).await?,
            usage_events: self.prune_usage_events(now).await?,
            login_attempts: persistence::throttle::prune_all(&self.db, now - self.attempts_kept)
                .await?,
            refresh_tokens: persistence::sessions::prune_expired(&self.db, now).await?,
            email_tokens: persistence::email::prune_tokens(&self.db, now - EMAIL_TOKENS_KEPT)
                .await?,
            stripe_events: persistence::stripe_events::prune(&self.db, now - STRIPE_EVENTS_KEPT)
                .await?,
            webhook_deliveries: persistence::webhook_deliveries::prune(
                &self.db,
                now - WEBHOOK_DELIVERIES_KEPT,
            )
            .await?,
            lapses_announced: crate::subscription_events::announce_lapses(&self.db, now).await?,
        })
    }

    /// Closes reservations whose time ran out (they stopped counting at `expires_at` already;
    /// this keeps each period's `open_reservations` small).
    async fn close_expired_reservations(&self, now: DateTime<Utc>) -> Result<u64, ServiceError> {
        let expired =
            persistence::reservations::expired(&self.db, now, RESERVATIONS_PER_PASS).await?;
        for row in &expired {
            let expired = persistence::reservations::EXPIRED;
            crate::metering::close_reservation(&self.db, row, expired, now).await?;
        }
        Ok(expired.len() as u64)
    }

    /// Deletes raw events older than the retention, in bounded batches.
    async fn prune_usage_events(&self, now: DateTime<Utc>) -> Result<u64, ServiceError> {
        let Some(retention) = self.usage_retention else {
            return Ok(0);
        };
        let before = now - retention;
        let mut deleted = 0;
        for _ in 0..EVENT_BATCHES_PER_PASS {
            let batch =
                persistence::metering::delete_events_before(&self.db, before, EVENTS_PER_BATCH)
                    .await?;
            deleted += batch;
            if batch < EVENTS_PER_BATCH {
                break;
            }
        }
        Ok(deleted)
    }
}
