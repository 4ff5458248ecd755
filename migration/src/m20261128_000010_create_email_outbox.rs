use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Messages to send, written in the same transaction as the change that causes them and sent
/// afterwards by a background worker with retries (a transactional outbox).
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("email_outbox")
                    .col(pk_uuid("id"))
                    .col(string("recipient"))
                    .col(string("subject"))
                    // Cleared once sent: it may hold a secret link.
                    .col(text("body"))
                    .col(integer("attempts"))
                    // Also the lease: a worker claiming a message pushes it forward.
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    .col(timestamp_with_time_zone_null("sent_at"))
                    .col(timestamp_with_time_zone_null("failed_at"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_email_outbox_due")
                    .table("email_outbox")
                    .col("sent_at")
                    .col("failed_at")
                    .col("next_attempt_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("email_outbox").to_owned())
            .await
    }
}
