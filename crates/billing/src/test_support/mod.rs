//! Test support (feature `test-support`): a local Stripe stand-in and Stripe-shaped fixtures,
//! shared by this crate's tests and the black-box tests of the server.
//!
//! [`StripeMock`] is a wiremock server that answers what each test mounts, behind a guard that
//! refuses, as Stripe does and with Stripe's error body, what Stripe would refuse: an `expand[]`
//! path over four levels, a parameter the endpoint does not take (and an endpoint we do not
//! know), and an `Idempotency-Key` reused with other parameters (see [`rules`]). By default a
//! refused request also fails the test when the mock is dropped, so a refusal cannot hide
//! behind an error the code under test handles. [`fixtures`] holds Stripe's objects as the API
//! version async-stripe pins returns them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

mod endpoints;
pub mod fixtures;
pub mod rules;
mod stripe_mock;

pub use stripe_mock::*;

/// Every `expand[]` path the gateway can send (for tests that check them against [`rules`]).
pub const GATEWAY_EXPAND_PATHS: &[&str] = crate::stripe::EXPAND_PATHS;
