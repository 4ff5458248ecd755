//! The billing error: what a payment operation can refuse, in terms the API maps in one place.

use crate::plan::{BillingInterval, PaidPlan};

/// Why a payment operation did not do what was asked.
///
/// Suggested HTTP mapping (done in `api/src/error.rs`, not here): `Declined` -> 402
/// `payment_failed`; `NotConfigured` -> 503 `billing_unavailable`; `PriceUnavailable` -> 422;
/// `InvalidRequest` -> 422 when `param` names something the client sent (e.g.
/// `payment_method`), else 500; `Gateway` -> 502/503 (log it, tell the client nothing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    /// The card was declined, or the payment failed for a reason the customer must fix.
    /// `message` is Stripe's text, written to be shown to the customer.
    #[error("{message}")]
    Declined {
        message: String,
        /// Stripe's `decline_code` (e.g. `insufficient_funds`), else its error `code`.
        code: Option<String>,
    },
    /// No Stripe key is configured: paid plans are unavailable.
    #[error("billing is not configured")]
    NotConfigured,
    /// No Stripe price is configured for this plan and interval (yearly prices are optional).
    #[error("the {plan} plan is not offered {interval}")]
    PriceUnavailable {
        plan: PaidPlan,
        interval: BillingInterval,
    },
    /// Stripe refused the request as invalid, e.g. an unknown or foreign payment method id
    /// (`code: resource_missing`, `param: payment_method`).
    #[error("Stripe refused the request: {message}")]
    InvalidRequest {
        message: String,
        code: Option<String>,
        param: Option<String>,
    },
    /// Stripe could not be reached, answered 5xx/429/401/409 after the retries, or answered
    /// something this crate does not understand. The text is for the log only.
    #[error("payment gateway error: {0}")]
    Gateway(String),
}
