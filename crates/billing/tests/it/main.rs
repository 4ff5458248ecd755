//! The billing crate against a local mock of Stripe's API (wiremock) and signed webhooks.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![recursion_limit = "256"]

mod checkout;
mod failures;
mod fixtures_match_stripe;
mod plan_changes;
mod portal;
mod stripe_rules;
mod subscribe;
mod webhook_events;
mod webhook_signature;
