//! The events outgoing webhooks carry, and their JSON body `{"type", "timestamp", "data"}`
//! (Standard Webhooks). The body is built once, when the event is queued, and sent byte for
//! byte on every attempt.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

/// Every event type an endpoint can receive (the domain's; a stored name is read with its
/// `parse`).
pub use domain::EventType;

/// The time format of the API: RFC 3339, UTC, milliseconds, `Z`.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An event to send to every endpoint that receives its type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OutgoingEvent {
    pub(crate) event_type: EventType,
    pub(crate) at: DateTime<Utc>,
    pub(crate) data: Value,
}

impl OutgoingEvent {
    /// The `webhook-id` of a new message: `msg_` and a time-ordered UUID.
    pub(crate) fn new_message_id() -> String {
        format!("msg_{}", Uuid::now_v7().simple())
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> String {
        json!({
            "type": self.event_type.as_str(),
            "timestamp": timestamp(self.at),
            "data": self.data,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_type_timestamp_and_data() {
        let at = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let event = OutgoingEvent {
            event_type: EventType::PaymentFailed,
            at,
            data: json!({"plan": "basic"}),
        };
        let body: Value = serde_json::from_str(&event.body()).unwrap_or_default();
        assert_eq!(body["type"], "payment.failed");
        assert_eq!(body["timestamp"], "2023-11-14T22:13:20.000Z");
        assert_eq!(body["data"]["plan"], "basic");
        assert!(OutgoingEvent::new_message_id().starts_with("msg_"));
    }
}
