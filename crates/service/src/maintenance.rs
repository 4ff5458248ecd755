//! Housekeeping: rows that no longer mean anything are deleted in the background, so tables
//! that grow with traffic (sign-in attempts, refresh tokens, email tokens, Stripe events,
//! finished webhook deliveries) stay small. Correctness never depends on it: every read already
//! ignores what is expired. Several instances may run it at once; the deletes are idempotent.
//!
//! It also announces paid plans that ran out (`subscription.updated`), once each: a lapse is
//! decided on every read and changes nothing stored, so this is where it becomes an event.

use std::time::Duration;

use chrono::TimeDelta;
use persistence::{DatabaseConnection, StoreError};

use crate::clock;

/// Deletes what has expired, once per interval.
#[derive(Clone)]
pub struct MaintenanceWorker {
    db: DatabaseConnection,
    interval: Duration,
    /// Sign-in and email-request attempts older than this no longer count for any throttle.
    attempts_kept: TimeDelta,
}

/// What one pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub login_attempts: u64,
    pub refresh_tokens: u64,
    pub email_tokens: u64,
    pub stripe_events: u64,
    pub webhook_deliveries: u64,
    /// Paid plans that ran out and were announced.
    pub lapses_announced: u64,
}

/// Stripe redelivers for three days; a month of event ids is plenty to recognise repeats.
const STRIPE_EVENTS_KEPT: TimeDelta = TimeDelta::days(30);
/// Finished webhook deliveries stay visible to the admin for a month.
const WEBHOOK_DELIVERIES_KEPT: TimeDelta = TimeDelta::days(30);
/// Expired email tokens are kept a day, so a late click reads "expired" in the logs.
const EMAIL_TOKENS_KEPT: TimeDelta = TimeDelta::days(1);

impl MaintenanceWorker {
    pub(crate) fn new(
        db: DatabaseConnection,
        interval: Duration,
        longest_window: Duration,
    ) -> Self {
        let window = TimeDelta::from_std(longest_window).unwrap_or(TimeDelta::days(1));
        Self {
            db,
            interval,
            attempts_kept: window.max(TimeDelta::days(1)),
        }
    }

    /// Runs until the task is dropped: a pass shortly after start, then one per interval.
    pub async fn run(self) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
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
    pub async fn run_once(&self) -> Result<Pruned, StoreError> {
        let now = clock::now();
        Ok(Pruned {
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
            lapses_announced: crate::subscription_events::announce_lapses(&self.db).await?,
        })
    }
}
