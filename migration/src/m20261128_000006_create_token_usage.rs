use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One row per tracked LLM request: the exact history.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("token_usage")
                    .col(pk_uuid("id"))
                    .col(uuid("user_id"))
                    .col(string("request_type"))
                    .col(string("model"))
                    .col(big_integer("prompt_tokens"))
                    .col(big_integer("completion_tokens"))
                    .col(big_integer("total_tokens"))
                    // The client's idempotency key; unique per user when present.
                    .col(string_null("request_id"))
                    .col(string_null("conversation_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    // The UTC day of created_at, the key of the daily roll-up.
                    .col(date("usage_date"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_token_usage_user")
                            .from("token_usage", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_token_usage_user_request")
                    .table("token_usage")
                    .col("user_id")
                    .col("request_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        // A user's history, newest first (ids are time-ordered v7 and break ties).
        manager
            .create_index(
                Index::create()
                    .name("idx_token_usage_user_created")
                    .table("token_usage")
                    .col("user_id")
                    .col("created_at")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("token_usage").to_owned())
            .await
    }
}
