//! Queuing events for delivery: one delivery row per event and enabled endpoint that receives
//! its type, written in the caller's transaction (the transaction of the change the event is
//! about), so an event is delivered if and only if its change committed.

use std::collections::BTreeMap;

use persistence::webhook_deliveries::{self, NewDelivery};
use persistence::webhook_endpoints;
use persistence::{ConnectionTrait, StoreError};

use super::events::OutgoingEvent;

/// Queues `events` for every endpoint that receives them; returns how many deliveries were
/// queued (0 when no endpoint listens: then nothing is written).
pub(crate) async fn publish(
    conn: &impl ConnectionTrait,
    events: &[OutgoingEvent],
) -> Result<usize, StoreError> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut endpoints = BTreeMap::new();
    for event_type in events.iter().map(|e| e.event_type) {
        if let std::collections::btree_map::Entry::Vacant(slot) = endpoints.entry(event_type) {
            slot.insert(webhook_endpoints::subscribed(conn, event_type.as_str()).await?);
        }
    }
    let mut deliveries = Vec::new();
    for event in events {
        let listening = endpoints
            .get(&event.event_type)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if listening.is_empty() {
            continue;
        }
        // One message id per event and endpoint, the same on every attempt: a receiver that
        // serves two endpoints and de-duplicates on `webhook-id` alone still gets both.
        let payload = event.body();
        deliveries.extend(listening.iter().map(|endpoint| NewDelivery {
            endpoint_id: endpoint.id,
            message_id: OutgoingEvent::new_message_id(),
            event_type: event.event_type.as_str().to_owned(),
            payload: payload.clone(),
            now: event.at,
        }));
    }
    webhook_deliveries::insert_many(conn, &deliveries).await?;
    Ok(deliveries.len())
}
