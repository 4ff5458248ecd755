use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Daily roll-up per (user, day, request type, model), updated in the same transaction as each
/// event, so statistics never scan the raw events.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("token_usage_summary")
                    .col(pk_uuid("id"))
                    .col(uuid("user_id"))
                    .col(date("usage_date"))
                    .col(string("request_type"))
                    .col(string("model"))
                    .col(big_integer("prompt_tokens"))
                    .col(big_integer("completion_tokens"))
                    .col(big_integer("total_tokens"))
                    .col(big_integer("request_count"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_token_usage_summary_user")
                            .from("token_usage_summary", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_token_usage_summary_key")
                    .table("token_usage_summary")
                    .col("user_id")
                    .col("usage_date")
                    .col("request_type")
                    .col("model")
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Admin analytics scan a date range across users.
        manager
            .create_index(
                Index::create()
                    .name("idx_token_usage_summary_date")
                    .table("token_usage_summary")
                    .col("usage_date")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("token_usage_summary").to_owned())
            .await
    }
}
