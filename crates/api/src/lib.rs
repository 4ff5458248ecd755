//! The HTTP face of Doztra Auth (actix-web): routes, extractors, DTOs, the one error-to-HTTP
//! mapping, OpenAPI, metrics, and the server start-up used by the `doztra-auth` binary and the
//! black-box tests.

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
pub mod healthcheck;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod routes;
pub mod secure_headers;
pub mod settings;
mod settings_webhooks;
pub mod startup;
pub mod state;
pub mod static_app;
pub mod telemetry;

pub use settings::Settings;
pub use startup::Application;
