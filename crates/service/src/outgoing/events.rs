//! The events outgoing webhooks carry, and their JSON body `{"type", "timestamp", "data"}`
//! (Standard Webhooks). The body is built once, when the event is queued, and sent byte for
//! byte on every attempt.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ServiceError;

/// Every event type an endpoint can receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A usage threshold was crossed.
    UsageThresholdCrossed,
    /// A usage counter reached its limit (100 %).
    UsageLimitReached,
    /// A subscription's plan, status or end changed (Stripe, an admin, or expiry).
    SubscriptionUpdated,
    /// A payment was declined.
    PaymentFailed,
}

impl EventType {
    /// Every type.
    pub const ALL: [EventType; 4] = [
        EventType::UsageThresholdCrossed,
        EventType::UsageLimitReached,
        EventType::SubscriptionUpdated,
        EventType::PaymentFailed,
    ];

    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::UsageThresholdCrossed => "usage.threshold_crossed",
            Self::UsageLimitReached => "usage.limit_reached",
            Self::SubscriptionUpdated => "subscription.updated",
            Self::PaymentFailed => "payment.failed",
        }
    }

    /// Parses a wire name, exactly.
    pub fn parse(raw: &str) -> Result<Self, ServiceError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| {
                ServiceError::invalid_field(
                    "event_types",
                    format!(
                        "Unknown event type '{raw}'; expected one of {}.",
                        Self::ALL.map(|t| t.as_str()).join(", ")
                    ),
                )
            })
    }
}

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
    fn event_types_round_trip_and_unknown_ones_name_the_known() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()).ok(), Some(t));
        }
        let Err(ServiceError::Invalid { errors, .. }) = EventType::parse("usage.crossed") else {
            panic!("an unknown type is refused");
        };
        assert_eq!(errors[0].field, "event_types");
        assert!(errors[0].message.contains("payment.failed"));
    }

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
