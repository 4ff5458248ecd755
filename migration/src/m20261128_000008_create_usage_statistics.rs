use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Counters per (user, billing period): the quota gate. Keyed by the period's first day, so a
/// new month starts from zero with no reset job.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("usage_statistics")
                    .col(pk_uuid("id"))
                    .col(uuid("user_id"))
                    .col(date("period_start"))
                    .col(big_integer("tokens_used"))
                    .col(big_integer("chat_messages"))
                    .col(big_integer("plagiarism_checks"))
                    .col(big_integer("prompts_generated"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_usage_statistics_user")
                            .from("usage_statistics", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_usage_statistics_user_period")
                    .table("usage_statistics")
                    .col("user_id")
                    .col("period_start")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("usage_statistics").to_owned())
            .await
    }
}
