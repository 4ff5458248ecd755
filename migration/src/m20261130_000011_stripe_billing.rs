//! Stripe billing: the subscription's Stripe state and the webhook events already applied.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Columns added to `subscriptions`, one `ALTER TABLE` each (SQLite adds one at a time).
const COLUMNS: [&str; 4] = [
    "stripe_price_id",
    "billing_interval",
    "stripe_status",
    "stripe_synced_at",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            // The Stripe price the subscription is on, and its interval (monthly|yearly).
            string_null("stripe_price_id"),
            string_null("billing_interval"),
            // Stripe's own status word (active, incomplete, past_due, canceled, ...).
            string_null("stripe_status"),
            // Unix seconds of the newest Stripe state applied to the row (an event's
            // `created`, or the time of a synchronous API answer): older events never apply.
            big_integer_null("stripe_synced_at"),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table("subscriptions")
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // Webhooks find the account by Stripe's ids; one customer and subscription per user.
        for column in ["stripe_customer_id", "stripe_subscription_id"] {
            manager
                .create_index(
                    Index::create()
                        .name(format!("idx_subscriptions_{column}"))
                        .table("subscriptions")
                        .col(column)
                        .unique()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("stripe_events")
                    // Stripe's event id (`evt_...`): each is applied once.
                    .col(string("id").primary_key())
                    .col(string("event_type"))
                    // The event's `created` (unix seconds).
                    .col(big_integer("created"))
                    .col(uuid_null("user_id"))
                    // What it did: applied, stale, other_subscription, unknown_customer, ignored.
                    .col(string("outcome"))
                    .col(timestamp_with_time_zone("processed_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_stripe_events_processed_at")
                    .table("stripe_events")
                    .col("processed_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("stripe_events").to_owned())
            .await?;
        for column in ["stripe_customer_id", "stripe_subscription_id"] {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("idx_subscriptions_{column}"))
                        .table("subscriptions")
                        .to_owned(),
                )
                .await?;
        }
        for column in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table("subscriptions")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
