//! SeaORM entities, one per table. Hand-written queries live in the repository modules.

pub mod api_key;
pub mod email_outbox;
pub mod email_token;
pub mod login_attempt;
pub mod refresh_token;
pub mod stripe_event;
pub mod subscription;
pub mod token_reservation;
pub mod token_usage;
pub mod token_usage_summary;
pub mod usage_alert;
pub mod usage_statistics;
pub mod user;
pub mod user_preference;
pub mod webhook_delivery;
pub mod webhook_endpoint;
