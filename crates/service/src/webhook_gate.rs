//! Where webhook signatures are computed: on the blocking pool, one delivery at a time. A
//! signature check hashes the whole body (up to 1 MiB) once per secret, about a millisecond of
//! CPU; done on the HTTP workers, a flood of such deliveries kept every other request (even
//! `/health`) waiting behind it. Here the cheap checks (header size and shape, timestamp) run
//! first and refuse most hostile deliveries outright; the rest queue for the one permit without
//! costing anything while they wait, and at most one core hashes at a time. Stripe itself
//! sends a few small events at a time, so the queue is short unless someone is attacking it.

use std::sync::Arc;

use billing::webhook::{WebhookError, WebhookEvent, WebhookVerifier};
use tokio::sync::Semaphore;

use crate::ServiceError;

/// How many deliveries may have their signature computed at once.
const AT_ONCE: usize = 1;

/// The queue in front of signature verification.
#[derive(Clone)]
pub(crate) struct WebhookGate {
    permits: Arc<Semaphore>,
}

impl Default for WebhookGate {
    fn default() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(AT_ONCE)),
        }
    }
}

impl WebhookGate {
    /// Checks `header` over `payload` with `verifier` at `now_unix` and parses the event; the
    /// outer error is the service's own failure, the inner one the delivery's.
    pub(crate) async fn verify_and_parse(
        &self,
        verifier: &Arc<WebhookVerifier>,
        payload: &[u8],
        header: &str,
        now_unix: i64,
    ) -> Result<Result<WebhookEvent, WebhookError>, ServiceError> {
        if let Err(refused) = verifier.check_header(header, now_unix) {
            return Ok(Err(refused));
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| ServiceError::internal("webhook gate", e.to_string()))?;
        let (verifier, payload, header) = (verifier.clone(), payload.to_vec(), header.to_owned());
        tokio::task::spawn_blocking(move || verifier.verify_and_parse(&payload, &header, now_unix))
            .await
            .map_err(|e| ServiceError::internal("webhook verification", e.to_string()))
    }
}
