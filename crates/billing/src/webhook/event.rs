//! Reading a verified webhook payload into the few event kinds the service acts on.
//!
//! Parsed with serde on the fields we use rather than async-stripe-webhook's `Event`: events
//! arrive in the *endpoint's* API version, not the library's, and its generated types fail a
//! known event outright when one required field is missing or renamed (see
//! `stripe/objects.rs`). Unknown event types are `EventData::Other`, never an error: Stripe adds
//! types all the time.

use std::collections::HashMap;

use serde::Deserialize;

use super::WebhookError;
use crate::gateway::SubscriptionState;
use crate::settings::PriceTable;
use crate::stripe::objects::{self, HasId};

/// One Stripe event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// `evt_...`: apply each id once.
    pub id: String,
    /// Stripe's type, e.g. `customer.subscription.updated`.
    pub type_: String,
    /// When Stripe created the event (unix seconds): the order of events, which delivery does
    /// not keep.
    pub created: i64,
    pub livemode: bool,
    pub api_version: Option<String>,
    pub data: EventData,
}

/// What happened, as far as the service cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventData {
    /// `customer.subscription.created|updated|deleted`: the subscription as it was when the
    /// event was created. Compare `WebhookEvent::created` with what is stored (or re-fetch the
    /// subscription) before applying it: events can arrive out of order.
    SubscriptionChanged {
        change: SubscriptionChange,
        subscription: SubscriptionState,
    },
    /// `checkout.session.completed`.
    CheckoutCompleted(CheckoutCompleted),
    /// `invoice.paid`: a period was paid for.
    InvoicePaid(InvoiceEvent),
    /// `invoice.payment_failed`: Stripe will retry (the subscription turns `past_due`).
    InvoicePaymentFailed(InvoiceEvent),
    /// Any other type: acknowledge it (200) and do nothing.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionChange {
    Created,
    Updated,
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutCompleted {
    pub session_id: String,
    /// Our user id, as given when the session was created.
    pub client_reference_id: Option<String>,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    /// `subscription` for sessions from this crate.
    pub mode: Option<String>,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: Option<String>,
    /// Includes `user_id`, `plan` and `billing_period`.
    pub metadata: HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceEvent {
    pub invoice_id: String,
    /// The subscription billed; `None` for a one-off invoice.
    pub subscription_id: Option<String>,
    pub customer_id: Option<String>,
    /// e.g. `subscription_create`, `subscription_cycle`, `subscription_update`.
    pub billing_reason: Option<String>,
    /// End of the period the invoice pays for (unix seconds), from its lines.
    pub period_end: Option<i64>,
    pub attempt_count: Option<u64>,
    /// When Stripe retries a failed payment (unix seconds), if it will.
    pub next_payment_attempt: Option<i64>,
}

#[derive(Deserialize)]
struct RawEvent {
    id: String,
    #[serde(rename = "type")]
    type_: String,
    created: i64,
    #[serde(default)]
    livemode: bool,
    api_version: Option<String>,
    data: RawEventData,
}

#[derive(Deserialize)]
struct RawEventData {
    object: serde_json::Value,
}

/// Reads a payload (verify it first); `prices` maps a subscription's price to its plan.
pub fn parse_event(payload: &[u8], prices: &PriceTable) -> Result<WebhookEvent, WebhookError> {
    let raw: RawEvent = serde_json::from_slice(payload)
        .map_err(|e| WebhookError::InvalidPayload(format!("not a Stripe event: {e}")))?;
    let object = raw.data.object;
    let data = match raw.type_.as_str() {
        "customer.subscription.created" => {
            subscription(SubscriptionChange::Created, object, prices)?
        }
        "customer.subscription.updated" => {
            subscription(SubscriptionChange::Updated, object, prices)?
        }
        "customer.subscription.deleted" => {
            subscription(SubscriptionChange::Deleted, object, prices)?
        }
        "checkout.session.completed" => {
            let session: objects::CheckoutSession = from_object(object)?;
            EventData::CheckoutCompleted(CheckoutCompleted {
                session_id: session.id,
                client_reference_id: session.client_reference_id,
                customer_id: session.customer.map(|c| c.id().to_owned()),
                subscription_id: session.subscription.map(|s| s.id().to_owned()),
                mode: session.mode,
                payment_status: session.payment_status,
                metadata: session.metadata,
            })
        }
        "invoice.paid" => EventData::InvoicePaid(invoice(object)?),
        "invoice.payment_failed" => EventData::InvoicePaymentFailed(invoice(object)?),
        _ => EventData::Other,
    };
    Ok(WebhookEvent {
        id: raw.id,
        type_: raw.type_,
        created: raw.created,
        livemode: raw.livemode,
        api_version: raw.api_version,
        data,
    })
}

fn from_object<T: serde::de::DeserializeOwned>(
    object: serde_json::Value,
) -> Result<T, WebhookError> {
    serde_json::from_value(object)
        .map_err(|e| WebhookError::InvalidPayload(format!("unexpected event object: {e}")))
}

fn subscription(
    change: SubscriptionChange,
    object: serde_json::Value,
    prices: &PriceTable,
) -> Result<EventData, WebhookError> {
    let subscription: objects::Subscription = from_object(object)?;
    Ok(EventData::SubscriptionChanged {
        change,
        subscription: subscription.to_state(prices),
    })
}

fn invoice(object: serde_json::Value) -> Result<InvoiceEvent, WebhookError> {
    let invoice: objects::Invoice = from_object(object)?;
    Ok(InvoiceEvent {
        invoice_id: invoice.id().to_owned(),
        subscription_id: invoice.subscription_id(),
        customer_id: invoice.customer.as_ref().map(|c| c.id().to_owned()),
        billing_reason: invoice.billing_reason.clone(),
        period_end: invoice.period_end(),
        attempt_count: invoice.attempt_count,
        next_payment_attempt: invoice.next_payment_attempt,
    })
}
