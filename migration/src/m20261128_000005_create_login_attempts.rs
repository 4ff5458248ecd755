use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One row per failed login, keyed by the email tried and by the client address, so the
/// throttle holds across server instances. Rows older than the lockout window are pruned.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("login_attempts")
                    .col(pk_uuid("id"))
                    // "email" or "ip"
                    .col(string("scope"))
                    .col(string("subject"))
                    .col(timestamp_with_time_zone("attempted_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_login_attempts_lookup")
                    .table("login_attempts")
                    .col("scope")
                    .col("subject")
                    .col("attempted_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_login_attempts_attempted_at")
                    .table("login_attempts")
                    .col("attempted_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("login_attempts").to_owned())
            .await
    }
}
