//! Usage alerts: one row per user, billing period, unit and threshold crossed. The unique index
//! is the guard of exactly-once: a concurrent writer that also crosses it adds nothing.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("usage_alerts")
                    .col(pk_uuid("id"))
                    .col(uuid("user_id"))
                    .col(date("period_start"))
                    // tokens, chat_messages, plagiarism_checks, prompts_generated
                    .col(string("unit"))
                    // The percentage of the limit (1..=100).
                    .col(integer("threshold"))
                    // The counter and the limit in force when it crossed.
                    .col(big_integer("used"))
                    .col(big_integer("usage_limit"))
                    .col(timestamp_with_time_zone("crossed_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_usage_alerts_user")
                            .from("usage_alerts", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_usage_alerts_user_period_unit_threshold")
                    .table("usage_alerts")
                    .col("user_id")
                    .col("period_start")
                    .col("unit")
                    .col("threshold")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("usage_alerts").to_owned())
            .await
    }
}
