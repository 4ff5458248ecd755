#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
// The Stripe-shaped fixtures of `test_support` are big `json!` literals.
#![cfg_attr(feature = "test-support", recursion_limit = "256")]

mod customer_portal;
mod error;
mod gateway;
mod idempotency;
mod plan;
mod settings;
mod stripe;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod webhook;

use std::sync::Arc;

pub use crate::settings::{
    DEFAULT_API_BASE, PriceTable, SecretString, SettingsError, StripeSettings,
};
pub use customer_portal::{InvoiceList, InvoicePage, InvoiceSummary, PortalSession};
pub use error::BillingError;
pub use gateway::{
    BillingCustomer, CheckoutSession, DisabledGateway, GatewayStatus, PaymentGateway,
    SubscriptionState,
};
pub use idempotency::idempotency_key;
pub use plan::{BillingInterval, PaidPlan};
pub use stripe::StripeGateway;

/// The gateway for the configuration: Stripe when configured, else [`DisabledGateway`]
/// (every call answers `NotConfigured`, i.e. 503 `billing_unavailable`).
pub fn gateway_from_settings(
    settings: Option<&StripeSettings>,
) -> Result<Arc<dyn PaymentGateway>, BillingError> {
    Ok(match settings {
        Some(settings) => Arc::new(StripeGateway::new(settings)?),
        None => Arc::new(DisabledGateway),
    })
}
