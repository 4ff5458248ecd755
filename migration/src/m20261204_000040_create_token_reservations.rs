use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Reservations of tokens for streamed calls: granted by the same gate as tracks, counted as
/// used while active, settled by the track that reports the actual counts, released, or expired
/// (computed on read from `expires_at`; swept later). A `request_id` makes a reservation
/// exactly-once per user.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("token_reservations")
                    .col(pk_uuid("id"))
                    .col(uuid("user_id"))
                    .col(date("period_start"))
                    .col(string_len("request_type", 32))
                    .col(string_len("model", 128))
                    .col(big_integer("estimated_tokens"))
                    .col(string_len_null("request_id", 128))
                    .col(string_len("state", 16))
                    .col(string_len_null("settled_by", 128))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("ended_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_token_reservations_user")
                            .from("token_reservations", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_token_reservations_user_request")
                    .table("token_reservations")
                    .col("user_id")
                    .col("request_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_token_reservations_user_state")
                    .table("token_reservations")
                    .col("user_id")
                    .col("state")
                    .col("expires_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("token_reservations").to_owned())
            .await
    }
}
