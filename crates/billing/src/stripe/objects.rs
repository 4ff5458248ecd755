//! The few fields of Stripe's objects that billing reads, parsed leniently with serde.
//!
//! Why not async-stripe's generated types: they mirror the OpenAPI spec of one API version
//! (2026-09-30.endive for rc.10) and make dozens of fields required (a `Subscription` needs
//! `billing_schedules`, `billing_mode`, `invoice_settings`, ...; an expanded `Invoice` ~25
//! more). One missing or renamed field and the whole answer fails with an opaque "error
//! deserializing request data", *after* Stripe has done the work. Webhooks are worse: events
//! come in the endpoint's API version, which need not be the library's. Reading only the fields
//! we use, each optional where Stripe has moved it between versions, keeps both paths working.

use std::collections::HashMap;

use serde::Deserialize;

use crate::gateway::{GatewayStatus, SubscriptionState};
use crate::settings::PriceTable;

/// A field that is an id, or the object when it was expanded.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Expandable<T> {
    Id(String),
    Object(Box<T>),
}

impl<T> Expandable<T> {
    pub(crate) fn object(&self) -> Option<&T> {
        match self {
            Self::Id(_) => None,
            Self::Object(object) => Some(object),
        }
    }
}

impl<T: HasId> Expandable<T> {
    pub(crate) fn id(&self) -> &str {
        match self {
            Self::Id(id) => id,
            Self::Object(object) => object.id(),
        }
    }
}

pub(crate) trait HasId {
    fn id(&self) -> &str;
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct List<T> {
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        Self {
            data: Vec::new(),
            has_more: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct IdOnly {
    pub id: String,
}

impl HasId for IdOnly {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Subscription {
    pub id: String,
    pub customer: Expandable<IdOnly>,
    pub status: String,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    pub cancel_at: Option<i64>,
    pub created: Option<i64>,
    /// Before API version 2025-03-31 the period was on the subscription.
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
    #[serde(default)]
    pub items: List<SubscriptionItem>,
    pub latest_invoice: Option<Expandable<Invoice>>,
    pub pending_update: Option<serde_json::Value>,
}

impl HasId for Subscription {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SubscriptionItem {
    pub id: String,
    pub price: Option<Price>,
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Price {
    pub id: String,
    pub recurring: Option<Recurring>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Recurring {
    pub interval: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Invoice {
    pub id: Option<String>,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: Option<String>,
    pub customer: Option<Expandable<IdOnly>>,
    pub billing_reason: Option<String>,
    pub attempt_count: Option<u64>,
    pub next_payment_attempt: Option<i64>,
    /// Since API version 2025-03-31: the client secret of the invoice's PaymentIntent
    /// (only when expanded).
    pub confirmation_secret: Option<ConfirmationSecret>,
    /// Since API version 2025-03-31: the invoice's payments (only when expanded).
    pub payments: Option<List<InvoicePayment>>,
    /// Before API version 2025-03-31.
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    /// Since API version 2025-03-31 the subscription is under `parent`.
    pub parent: Option<InvoiceParent>,
    /// Before API version 2025-03-31.
    pub subscription: Option<Expandable<IdOnly>>,
    #[serde(default)]
    pub lines: List<InvoiceLine>,
}

impl Invoice {
    /// The subscription the invoice bills, wherever this API version keeps it.
    pub(crate) fn subscription_id(&self) -> Option<String> {
        self.parent
            .as_ref()
            .and_then(|p| p.subscription_details.as_ref())
            .and_then(|d| d.subscription.as_ref())
            .map(|s| s.id().to_owned())
            .or_else(|| self.subscription.as_ref().map(|s| s.id().to_owned()))
            .or_else(|| {
                self.lines.data.iter().find_map(|line| {
                    line.parent
                        .as_ref()
                        .and_then(|p| p.subscription_item_details.as_ref())
                        .and_then(|d| d.subscription.clone())
                })
            })
    }

    /// The end of the latest period the invoice pays for (its lines' `period.end`).
    pub(crate) fn period_end(&self) -> Option<i64> {
        self.lines
            .data
            .iter()
            .filter_map(|line| line.period.as_ref().map(|p| p.end))
            .max()
    }

    pub(crate) fn is_paid(&self) -> bool {
        self.status.as_deref() == Some("paid")
    }

    /// The PaymentIntent that pays the invoice (its id, or the object where an older API
    /// version embedded it): the default payment's, else any payment's, else the invoice's own
    /// `payment_intent` of API versions before 2025-03-31.
    pub(crate) fn payment_intent(&self) -> Option<&Expandable<PaymentIntent>> {
        let payments = self.payments.as_ref().map(|p| &p.data[..]).unwrap_or(&[]);
        payments
            .iter()
            .filter(|payment| payment.is_default)
            .chain(payments.iter())
            .find_map(|payment| payment.payment.payment_intent.as_ref())
            .or(self.payment_intent.as_ref())
    }

    /// The client secret of the invoice's PaymentIntent, from `confirmation_secret`.
    pub(crate) fn confirmation_client_secret(&self) -> Option<String> {
        self.confirmation_secret
            .as_ref()
            .map(|c| c.client_secret.clone())
    }
}

impl HasId for Invoice {
    fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ConfirmationSecret {
    pub client_secret: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct InvoicePayment {
    #[serde(default)]
    pub is_default: bool,
    pub payment: AssociatedPayment,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AssociatedPayment {
    pub payment_intent: Option<Expandable<PaymentIntent>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct InvoiceParent {
    pub subscription_details: Option<SubscriptionDetails>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SubscriptionDetails {
    pub subscription: Option<Expandable<IdOnly>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct InvoiceLine {
    pub period: Option<Period>,
    pub parent: Option<InvoiceLineParent>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Period {
    pub end: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct InvoiceLineParent {
    pub subscription_item_details: Option<SubscriptionItemDetails>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SubscriptionItemDetails {
    pub subscription: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PaymentIntent {
    pub id: String,
    pub status: String,
    pub client_secret: Option<String>,
    pub last_payment_error: Option<PaymentError>,
}

impl PaymentIntent {
    /// The payment failed and needs another payment method: a decline.
    pub(crate) fn is_declined(&self) -> bool {
        matches!(self.status.as_str(), "requires_payment_method" | "canceled")
    }
}

impl HasId for PaymentIntent {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PaymentError {
    pub message: Option<String>,
    pub code: Option<String>,
    pub decline_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CheckoutSession {
    pub id: String,
    pub url: Option<String>,
    pub client_reference_id: Option<String>,
    pub customer: Option<Expandable<IdOnly>>,
    pub subscription: Option<Expandable<IdOnly>>,
    pub mode: Option<String>,
    pub payment_status: Option<String>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PortalSession {
    pub id: String,
    pub url: String,
}

/// An invoice as `GET /v1/invoices` lists it: the fields the customer sees.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ListedInvoice {
    pub id: String,
    pub number: Option<String>,
    pub created: i64,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: String,
    pub status: Option<String>,
    pub hosted_invoice_url: Option<String>,
    pub invoice_pdf: Option<String>,
}

impl Subscription {
    /// Our view of the subscription. `status` is Stripe's; the callers that know more (the
    /// first payment needs action) replace it.
    pub(crate) fn to_state(&self, prices: &PriceTable) -> SubscriptionState {
        let item = self.items.data.first();
        let price = item.and_then(|item| item.price.as_ref());
        let known = price.and_then(|price| prices.plan_for_price(&price.id));
        SubscriptionState {
            stripe_customer_id: self.customer.id().to_owned(),
            stripe_subscription_id: self.id.clone(),
            status: GatewayStatus::from_stripe(&self.status),
            plan: known.map(|(plan, _)| plan),
            interval: known.map(|(_, interval)| interval).or_else(|| {
                price
                    .and_then(|p| p.recurring.as_ref())
                    .and_then(|r| crate::plan::interval_from_stripe(&r.interval))
            }),
            price_id: price.map(|price| price.id.clone()),
            current_period_start: item
                .and_then(|item| item.current_period_start)
                .or(self.current_period_start),
            current_period_end: item
                .and_then(|item| item.current_period_end)
                .or(self.current_period_end),
            cancel_at_period_end: self.cancel_at_period_end,
            cancel_at: self.cancel_at,
            has_pending_update: self.pending_update.as_ref().is_some_and(|v| !v.is_null()),
            created: self.created,
        }
    }
}
