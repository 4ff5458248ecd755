//! The outbox worker: sends queued messages after their transaction committed, with retries
//! and exponential backoff. Several server instances may run it at once: each message is
//! claimed with a conditional update before it is sent.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use mail::{Email, Mailer};
use persistence::DatabaseConnection;
use persistence::email as store;
use tokio::sync::Notify;

use crate::clock::{self, Clock};
use crate::metrics::ServiceMetrics;
use crate::usage_alerts;
use crate::worker_loop::{self, Passes, StopSignal};

/// Attempts before a message is given up.
pub const MAX_ATTEMPTS: i32 = 10;

/// Sends what the outbox holds.
#[derive(Clone)]
pub struct OutboxWorker {
    db: DatabaseConnection,
    mailer: Arc<dyn Mailer>,
    signal: Arc<Notify>,
    poll_interval: Duration,
    metrics: Arc<dyn ServiceMetrics>,
    clock: Arc<dyn Clock>,
}

/// Wait before attempt `n + 1` after `n` failed ones: 30 s, 2 min, 8 min, ... capped at 6 h.
fn backoff(attempts: i32) -> TimeDelta {
    let exponent = u32::try_from(attempts.clamp(1, 10) - 1).unwrap_or(0);
    let secs = 30i64
        .saturating_mul(4i64.saturating_pow(exponent))
        .min(6 * 3600);
    TimeDelta::seconds(secs)
}

impl OutboxWorker {
    pub(crate) fn new(
        db: DatabaseConnection,
        mailer: Arc<dyn Mailer>,
        signal: Arc<Notify>,
        poll_interval: Duration,
        metrics: Arc<dyn ServiceMetrics>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            db,
            mailer,
            signal,
            poll_interval,
            metrics,
            clock,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        clock::read(self.clock.as_ref())
    }

    /// Runs until the task is dropped: sends due messages, then sleeps until woken by a new
    /// message or the poll interval passes.
    pub async fn run(self) {
        self.run_until(StopSignal::never()).await;
    }

    /// [`run`](Self::run) until `stop` comes, then after the pass in progress.
    pub async fn run_until(self, stop: StopSignal) {
        worker_loop::run_until(self, stop).await;
    }

    /// One pass over the due messages. Returns how many were sent.
    pub async fn send_due(&self) -> Result<usize, persistence::StoreError> {
        self.send_due_until(&StopSignal::never()).await
    }

    /// [`send_due`](Self::send_due), claiming nothing more once `stop` is asked for: the
    /// message being sent is finished and marked, the rest waits for the next start.
    async fn send_due_until(&self, stop: &StopSignal) -> Result<usize, persistence::StoreError> {
        let mut sent = 0;
        loop {
            if stop.is_requested() {
                return Ok(sent);
            }
            let now = self.now();
            let batch = store::due(&self.db, now, 20).await?;
            if batch.is_empty() {
                return Ok(sent);
            }
            let mut claimed_any = false;
            for row in batch {
                if stop.is_requested() {
                    return Ok(sent);
                }
                // A crashed worker's claim expires after the lease and the message is retried.
                if !store::claim(&self.db, &row, now + TimeDelta::minutes(5)).await? {
                    continue;
                }
                claimed_any = true;
                let email = Email {
                    to: row.recipient.clone(),
                    subject: row.subject.clone(),
                    body: row.body.clone(),
                };
                let attempts = row.attempts + 1;
                match self.mailer.send(&email).await {
                    Ok(()) => {
                        store::mark_sent(&self.db, row.id, self.now()).await?;
                        sent += 1;
                        if row.kind.as_deref() == Some(usage_alerts::EMAIL_KIND) {
                            self.metrics.alert_email_sent();
                        }
                        tracing::info!(message_id = %row.id, attempts, "email sent");
                    }
                    Err(e) => {
                        let give_up = e.is_permanent() || attempts >= MAX_ATTEMPTS;
                        let retry_at = (!give_up).then(|| self.now() + backoff(attempts));
                        store::mark_failed(&self.db, row.id, &e.to_string(), retry_at, self.now())
                            .await?;
                        if give_up {
                            tracing::error!(message_id = %row.id, attempts, error = %e, "email given up");
                        } else {
                            tracing::warn!(message_id = %row.id, attempts, error = %e, "email send failed; will retry");
                        }
                    }
                }
            }
            if !claimed_any {
                return Ok(sent);
            }
        }
    }
}

impl Passes for OutboxWorker {
    type Done = usize;
    type Error = persistence::StoreError;
    const NAME: &'static str = "outbox";

    async fn pass(&self, stop: &StopSignal) -> Result<usize, persistence::StoreError> {
        self.send_due_until(stop).await
    }

    fn signal(&self) -> &Notify {
        &self.signal
    }

    async fn wait(&self) -> Duration {
        self.poll_interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), TimeDelta::seconds(30));
        assert_eq!(backoff(2), TimeDelta::seconds(120));
        assert_eq!(backoff(3), TimeDelta::seconds(480));
        assert_eq!(backoff(9), TimeDelta::hours(6));
        assert_eq!(backoff(50), TimeDelta::hours(6));
    }
}
