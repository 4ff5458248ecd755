//! A paid plan that runs out is free from that instant (decided on every read); the maintenance
//! worker announces it once (`subscription.updated`) and remembers which `expires_at` it
//! announced, so a renewed and again lapsed plan is announced again.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("subscriptions")
                    .add_column(timestamp_with_time_zone_null("lapse_announced_for"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("subscriptions")
                    .drop_column("lapse_announced_for")
                    .to_owned(),
            )
            .await
    }
}
