//! The webhook worker, one per server instance: claims due deliveries with a conditional update
//! (so two instances never make one attempt twice), sends them signed, and records the outcome:
//! a 2xx ends the delivery; anything else schedules the next attempt on the retry schedule, and
//! after the last one the delivery fails. An endpoint whose last `disable_after` deliveries all
//! failed is disabled. A worker that dies mid-attempt loses nothing: its claim is a lease, and
//! the attempt is made again (with the same `webhook-id`) once the lease runs out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use persistence::webhook_deliveries::{self as deliveries, AttemptResult, DeliveryRow};
use persistence::webhook_endpoints::{self as endpoints, EndpointRow};
use persistence::{DatabaseConnection, StoreError};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use uuid::Uuid;
use webhooks::{Attempt, SendError, WebhookSecret, WebhookSender};

use super::WebhookConfig;
use super::events::EventType;
use crate::clock::{self, Clock};
use crate::metrics::{AttemptOutcome, ServiceMetrics};
use crate::worker_loop::{self, Passes, StopSignal};

/// Attempts in flight at once, across endpoints.
const IN_FLIGHT: usize = 32;
/// Attempts in flight at once to one endpoint: a receiver that hangs holds at most this many
/// slots, and the others keep flowing.
const IN_FLIGHT_PER_ENDPOINT: usize = 4;
/// Time a claim holds on top of the attempt's own timeout (database writes around it).
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Sends queued webhook deliveries.
#[derive(Clone)]
pub struct WebhookWorker {
    db: DatabaseConnection,
    sender: Arc<dyn WebhookSender>,
    signal: Arc<Notify>,
    config: Arc<WebhookConfig>,
    metrics: Arc<dyn ServiceMetrics>,
    clock: Arc<dyn Clock>,
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::hours(1))
}

impl WebhookWorker {
    pub(crate) fn new(
        db: DatabaseConnection,
        sender: Arc<dyn WebhookSender>,
        signal: Arc<Notify>,
        config: Arc<WebhookConfig>,
        metrics: Arc<dyn ServiceMetrics>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            db,
            sender,
            signal,
            config,
            metrics,
            clock,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        clock::read(self.clock.as_ref())
    }

    /// Runs until the task is dropped: sends what is due, then sleeps until the next delivery
    /// is due, a new one is queued, or the poll interval passes.
    pub async fn run(self) {
        self.run_until(StopSignal::never()).await;
    }

    /// [`run`](Self::run) until `stop` comes, then after the pass in progress.
    pub async fn run_until(self, stop: StopSignal) {
        worker_loop::run_until(self, stop).await;
    }

    /// Sends every due delivery; returns how many attempts were made. Attempts run as a
    /// pipeline: each one that ends frees its slot for the next due delivery, so a receiver
    /// that hangs until `WEBHOOK_TIMEOUT` holds up only its own slots (at most
    /// [`IN_FLIGHT_PER_ENDPOINT`]), never a whole batch of other endpoints' deliveries.
    pub async fn send_due(&self) -> Result<usize, StoreError> {
        self.send_due_until(&StopSignal::never()).await
    }

    /// [`send_due`](Self::send_due), starting nothing more once `stop` is asked for: the
    /// attempts in flight end and are recorded, the rest waits for the next start.
    async fn send_due_until(&self, stop: &StopSignal) -> Result<usize, StoreError> {
        let mut flight = Flight::default();
        let mut attempts = 0;
        loop {
            let started = if stop.is_requested() {
                Ok(())
            } else {
                self.start_due(&mut flight).await
            };
            if let Err(e) = started {
                // Let the attempts in flight finish and record their outcomes first.
                while flight.land().await.is_some() {}
                return Err(e);
            }
            if flight.tasks.is_empty() {
                return Ok(attempts);
            }
            // The next attempt to end frees a slot; a delivery queued meanwhile (or coming due)
            // may start in a free one at once.
            tokio::select! {
                landed = flight.land() => attempts += usize::from(landed.is_some()),
                () = self.signal.notified() => {}
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    /// Claims and starts due deliveries while there is room, skipping endpoints at their cap.
    async fn start_due(&self, flight: &mut Flight) -> Result<(), StoreError> {
        loop {
            let room = IN_FLIGHT.saturating_sub(flight.tasks.len());
            if room == 0 {
                return Ok(());
            }
            let now = self.now();
            let limit = u64::try_from(room).unwrap_or(1);
            let due = deliveries::due(&self.db, now, limit, &flight.full_endpoints()).await?;
            if due.is_empty() {
                return Ok(());
            }
            let targets: HashMap<_, _> = endpoints::list(&self.db)
                .await?
                .into_iter()
                .map(|e| (e.id, e))
                .collect();
            let lease_until = now + delta(self.config.timeout + LEASE_MARGIN);
            let mut skipped = false;
            for row in due {
                if flight.carries(row.id) {
                    // Still in flight here, its claim outlived by a slow outcome write: one
                    // attempt at a time.
                    continue;
                }
                if flight.is_full(row.endpoint_id) {
                    skipped = true;
                    continue;
                }
                if !deliveries::claim(&self.db, &row, lease_until, now).await? {
                    continue; // another worker has it
                }
                let Some(endpoint) = targets.get(&row.endpoint_id).cloned() else {
                    continue; // deleted meanwhile (its deliveries went with it)
                };
                let worker = self.clone();
                let delivery = row.id;
                flight.take_off(endpoint.id, delivery, async move {
                    worker.attempt(row, endpoint).await
                });
            }
            // Rows left for an endpoint at its cap took room in the query: ask again without
            // that endpoint, so the others' deliveries are not kept waiting behind it.
            if !skipped {
                return Ok(());
            }
        }
    }

    async fn attempt(&self, row: DeliveryRow, endpoint: EndpointRow) -> Result<(), StoreError> {
        let now = self.now();
        let attempt_number = row.attempts + 1;
        let sent = match WebhookSecret::parse(&endpoint.secret) {
            Ok(secret) => {
                self.sender
                    .send(Attempt {
                        url: &endpoint.url,
                        message_id: &row.message_id,
                        timestamp: now.timestamp(),
                        body: &row.payload,
                        secret: &secret,
                    })
                    .await
            }
            Err(e) => Err(SendError::Refused(e.to_string())),
        };
        let finished = self.now();
        let (outcome, status_code, error) = match &sent {
            Ok(status) if (200..300).contains(status) => {
                (AttemptOutcome::Succeeded, Some(*status), None)
            }
            Ok(status) => (
                AttemptOutcome::HttpError,
                Some(*status),
                Some(format!("HTTP {status}")),
            ),
            Err(e @ SendError::Refused(_)) => (AttemptOutcome::Refused, None, Some(e.to_string())),
            Err(e @ SendError::Timeout) => (AttemptOutcome::Timeout, None, Some(e.to_string())),
            Err(e @ SendError::Connect(_)) => {
                (AttemptOutcome::ConnectionError, None, Some(e.to_string()))
            }
            Err(e @ SendError::Other(_)) => {
                (AttemptOutcome::ConnectionError, None, Some(e.to_string()))
            }
        };
        self.metrics.webhook_attempt(outcome);
        let Some(error) = error else {
            deliveries::record_attempt(
                &self.db,
                row.id,
                AttemptResult::Succeeded {
                    status_code: status_code.unwrap_or(200),
                },
                finished,
            )
            .await?;
            endpoints::record_success(&self.db, endpoint.id, finished).await?;
            if let Ok(event_type) = EventType::parse(&row.event_type) {
                self.metrics
                    .webhook_delivery_finished(event_type.as_str(), true);
            }
            tracing::info!(delivery_id = %row.id, message_id = %row.message_id, attempt = attempt_number, "webhook delivered");
            return Ok(());
        };
        let retry_at = self.retry_at(attempt_number, finished);
        deliveries::record_attempt(
            &self.db,
            row.id,
            AttemptResult::Failed {
                status_code,
                error: error.clone(),
                retry_at,
            },
            finished,
        )
        .await?;
        if retry_at.is_some() {
            tracing::warn!(delivery_id = %row.id, attempt = attempt_number, error = %error, "webhook attempt failed; will retry");
            return Ok(());
        }
        if let Ok(event_type) = EventType::parse(&row.event_type) {
            self.metrics
                .webhook_delivery_finished(event_type.as_str(), false);
        }
        tracing::error!(delivery_id = %row.id, endpoint_id = %endpoint.id, attempts = attempt_number, error = %error, "webhook delivery given up");
        if endpoints::record_given_up(&self.db, endpoint.id, self.config.disable_after, finished)
            .await?
        {
            deliveries::fail_pending_of(&self.db, endpoint.id, "endpoint disabled", finished)
                .await?;
            tracing::error!(endpoint_id = %endpoint.id, failed = self.config.disable_after, "webhook endpoint disabled: its last deliveries all failed");
        }
        Ok(())
    }

    /// When attempt `attempts + 1` is due, or `None` when the schedule is exhausted.
    fn retry_at(&self, attempts: i32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
        self.config
            .retry_schedule
            .get(index)
            .map(|wait| now + delta(*wait))
    }
}

/// The attempts in flight, and how many go to each endpoint.
#[derive(Default)]
struct Flight {
    tasks: JoinSet<Result<(), StoreError>>,
    /// The endpoint and the delivery of each task.
    carried: HashMap<tokio::task::Id, (Uuid, Uuid)>,
    per_endpoint: HashMap<Uuid, usize>,
}

impl Flight {
    fn is_full(&self, endpoint: Uuid) -> bool {
        self.per_endpoint.get(&endpoint).copied().unwrap_or(0) >= IN_FLIGHT_PER_ENDPOINT
    }

    fn full_endpoints(&self) -> Vec<Uuid> {
        self.per_endpoint
            .iter()
            .filter(|(_, n)| **n >= IN_FLIGHT_PER_ENDPOINT)
            .map(|(id, _)| *id)
            .collect()
    }

    fn carries(&self, delivery: Uuid) -> bool {
        self.carried.values().any(|(_, d)| *d == delivery)
    }

    fn take_off(
        &mut self,
        endpoint: Uuid,
        delivery: Uuid,
        attempt: impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static,
    ) {
        let task = self.tasks.spawn(attempt);
        self.carried.insert(task.id(), (endpoint, delivery));
        *self.per_endpoint.entry(endpoint).or_default() += 1;
    }

    /// Waits for the next attempt to end and frees its slot; `None` when none is in flight.
    async fn land(&mut self) -> Option<()> {
        let done = self.tasks.join_next_with_id().await?;
        let id = match &done {
            Ok((id, _)) => *id,
            Err(e) => e.id(),
        };
        if let Some((endpoint, _)) = self.carried.remove(&id)
            && let Some(count) = self.per_endpoint.get_mut(&endpoint)
        {
            *count = count.saturating_sub(1);
        }
        match done {
            Ok((_, Ok(()))) => {}
            Ok((_, Err(e))) => tracing::warn!(error = %e, "webhooks: an outcome was not recorded"),
            Err(e) => tracing::error!(error = %e, "webhooks: an attempt panicked"),
        }
        Some(())
    }
}

impl Passes for WebhookWorker {
    type Done = usize;
    type Error = StoreError;
    const NAME: &'static str = "webhooks";

    async fn pass(&self, stop: &StopSignal) -> Result<usize, StoreError> {
        self.send_due_until(stop).await
    }

    fn signal(&self) -> &Notify {
        &self.signal
    }

    /// Until the next delivery is due, within 5 ms and the poll interval.
    async fn wait(&self) -> Duration {
        match deliveries::next_due(&self.db).await {
            Ok(Some(at)) => (at - self.now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .clamp(Duration::from_millis(5), self.config.poll_interval),
            _ => self.config.poll_interval,
        }
    }
}
