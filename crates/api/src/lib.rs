//! The HTTP face of Doztra Auth (actix-web): routes, extractors, DTOs, the one error-to-HTTP
//! mapping, OpenAPI, metrics and the application they make ([`app::app`]). It talks only to
//! `service` and `domain`; the `doztra-server` crate wires it to the database, Stripe, email
//! and the workers, and runs it.

pub mod app;
pub mod business_metrics;
pub mod client_address;
pub mod dto;
pub mod dto_api_keys;
pub mod dto_billing;
pub mod dto_reservations;
pub mod dto_usage;
pub mod dto_webhooks;
pub mod error;
pub mod extractors;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod routes;
pub mod secure_headers;
pub mod state;
pub mod static_app;
