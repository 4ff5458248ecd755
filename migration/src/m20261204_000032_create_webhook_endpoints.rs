//! Outgoing webhook endpoints registered by admins (Standard Webhooks).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("webhook_endpoints")
                    .col(pk_uuid("id"))
                    .col(text("url"))
                    .col(text_null("description"))
                    // The event types it receives, comma-separated.
                    .col(text("event_types"))
                    // `whsec_` + base64: the receiver needs it as it is, so it is not hashed.
                    .col(string("secret"))
                    // Deliveries given up in a row; a success resets it.
                    .col(integer("consecutive_failures").default(0))
                    .col(timestamp_with_time_zone_null("disabled_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("webhook_endpoints").to_owned())
            .await
    }
}
