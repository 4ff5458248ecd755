use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `usage_alerts` keyed by `(user_id, id)` on PostgreSQL, like the other per-user metering
/// tables (see m20261204_000042 and docs/SCALING.md). SQLite keeps its key.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rekey(manager, "(user_id, id)").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rekey(manager, "(id)").await
    }
}

async fn rekey(manager: &SchemaManager<'_>, columns: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
        return Ok(());
    }
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "ALTER TABLE usage_alerts DROP CONSTRAINT usage_alerts_pkey, \
             ADD CONSTRAINT usage_alerts_pkey PRIMARY KEY {columns}"
        ))
        .await?;
    Ok(())
}
