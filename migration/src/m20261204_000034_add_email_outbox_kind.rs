//! What an outbox message is about (`usage_alert`; `NULL` for account email), so the metrics
//! can count alerts delivered by email.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("email_outbox")
                    .add_column(string_null("kind"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("email_outbox")
                    .drop_column("kind")
                    .to_owned(),
            )
            .await
    }
}
