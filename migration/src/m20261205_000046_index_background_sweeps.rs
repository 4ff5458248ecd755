use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Indexes for the two sweeps of the maintenance worker that look across users:
/// - retention (`USAGE_EVENT_RETENTION`) selects the oldest 5,000 raw events by id and deletes
///   them by id. Since 000042 the primary key of `token_usage` on PostgreSQL is
///   `(user_id, id)`, so both statements scanned the whole table (about 200 ms a batch at
///   1 million rows, growing with the table); `ix_token_usage_id` makes them index scans
///   (1 ms and 5 ms). SQLite keeps `id` as its primary key and needs nothing.
/// - closing expired reservations selects active ones by `expires_at`; the existing index leads
///   with `user_id`. `ix_token_reservations_state_expiry` serves it on both databases.
///
/// Neither index is unique, so neither needs `user_id` on a distributed PostgreSQL. On a large
/// `token_usage`, create the index beforehand with `CREATE INDEX CONCURRENTLY IF NOT EXISTS
/// ix_token_usage_id ON token_usage (id)` (docs/DEPLOYMENT.md): this migration then finds it.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
            manager
                .create_index(
                    Index::create()
                        .if_not_exists()
                        .name("ix_token_usage_id")
                        .table("token_usage")
                        .col("id")
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("ix_token_reservations_state_expiry")
                    .table("token_reservations")
                    .col("state")
                    .col("expires_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for name in ["ix_token_reservations_state_expiry", "ix_token_usage_id"] {
            db.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
        Ok(())
    }
}
