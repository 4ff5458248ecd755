//! Schema migrations of Doztra Auth. One change per file, each with a real `down`; an applied
//! migration is never edited, a new one is added instead.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_create_users;
mod m20261128_000002_create_refresh_tokens;
mod m20261128_000003_create_subscriptions;
mod m20261128_000004_create_user_preferences;
mod m20261128_000005_create_login_attempts;
mod m20261128_000006_create_token_usage;
mod m20261128_000007_create_token_usage_summary;
mod m20261128_000008_create_usage_statistics;
mod m20261128_000009_create_email_tokens;
mod m20261128_000010_create_email_outbox;
mod m20261130_000011_stripe_billing;
mod m20261204_000030_add_usage_alert_levels;
mod m20261204_000031_create_usage_alerts;
mod m20261204_000032_create_webhook_endpoints;
mod m20261204_000033_create_webhook_deliveries;
mod m20261204_000034_add_email_outbox_kind;
mod m20261204_000035_add_subscription_lapse_announced;
mod m20261204_000040_create_token_reservations;
mod m20261204_000041_add_open_reservations;
mod m20261204_000042_key_metering_rows_by_user;
mod m20261204_000043_key_usage_alerts_by_user;
mod m20261204_000044_create_api_keys;
mod m20261204_000045_add_usage_reporter;
mod m20261205_000046_index_background_sweeps;
mod m20261205_000047_add_subscription_change_lease;

/// Every migration, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_users::Migration),
            Box::new(m20261128_000002_create_refresh_tokens::Migration),
            Box::new(m20261128_000003_create_subscriptions::Migration),
            Box::new(m20261128_000004_create_user_preferences::Migration),
            Box::new(m20261128_000005_create_login_attempts::Migration),
            Box::new(m20261128_000006_create_token_usage::Migration),
            Box::new(m20261128_000007_create_token_usage_summary::Migration),
            Box::new(m20261128_000008_create_usage_statistics::Migration),
            Box::new(m20261128_000009_create_email_tokens::Migration),
            Box::new(m20261128_000010_create_email_outbox::Migration),
            Box::new(m20261130_000011_stripe_billing::Migration),
            Box::new(m20261204_000030_add_usage_alert_levels::Migration),
            Box::new(m20261204_000031_create_usage_alerts::Migration),
            Box::new(m20261204_000032_create_webhook_endpoints::Migration),
            Box::new(m20261204_000033_create_webhook_deliveries::Migration),
            Box::new(m20261204_000034_add_email_outbox_kind::Migration),
            Box::new(m20261204_000035_add_subscription_lapse_announced::Migration),
            Box::new(m20261204_000040_create_token_reservations::Migration),
            Box::new(m20261204_000041_add_open_reservations::Migration),
            Box::new(m20261204_000042_key_metering_rows_by_user::Migration),
            Box::new(m20261204_000043_key_usage_alerts_by_user::Migration),
            Box::new(m20261204_000044_create_api_keys::Migration),
            Box::new(m20261204_000045_add_usage_reporter::Migration),
            Box::new(m20261205_000046_index_background_sweeps::Migration),
            Box::new(m20261205_000047_add_subscription_change_lease::Migration),
        ]
    }
}
