use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The per-user metering tables keyed by `(user_id, id)` instead of `id`, on PostgreSQL: every
/// unique key of a per-user table then includes `user_id`, which is what a distributed
/// PostgreSQL (Citus, with `user_id` as the distribution column) requires of it (see
/// docs/SCALING.md). Ids stay unique (UUIDv7). SQLite is a single file and keeps its keys.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for table in TABLES {
            db.execute_unprepared(&format!(
                "ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, \
                 ADD CONSTRAINT {table}_pkey PRIMARY KEY (user_id, id)"
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for table in TABLES {
            db.execute_unprepared(&format!(
                "ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, \
                 ADD CONSTRAINT {table}_pkey PRIMARY KEY (id)"
            ))
            .await?;
        }
        Ok(())
    }
}

const TABLES: [&str; 4] = [
    "token_usage",
    "token_usage_summary",
    "usage_statistics",
    "token_reservations",
];
