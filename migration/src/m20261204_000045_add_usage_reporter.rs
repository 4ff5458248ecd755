use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Who reported each event: `user` (the user's own `/me/track`) or the id of the service API
/// key that tracked it. The daily roll-ups are kept per reporter too, so the admin analytics
/// group and filter by reporter without reading the raw events. Existing rows were all
/// reported by their users.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["token_usage", "token_usage_summary"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(string_len("reporter", 36).default("user"))
                        .to_owned(),
                )
                .await?;
        }
        drop_index(manager, "uq_token_usage_summary_key").await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_token_usage_summary_reporter_key")
                    .table("token_usage_summary")
                    .col("user_id")
                    .col("usage_date")
                    .col("request_type")
                    .col("model")
                    .col("reporter")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Folding the roll-ups of several reporters back into one row per key would need a
        // merge; the down migration refuses rather than lose or double-count usage.
        let db = manager.get_connection();
        let split = db
            .query_one_raw(sea_orm_migration::sea_orm::Statement::from_string(
                manager.get_database_backend(),
                "SELECT 1 FROM token_usage_summary WHERE reporter <> 'user' LIMIT 1".to_owned(),
            ))
            .await?;
        if split.is_some() {
            return Err(DbErr::Migration(
                "token_usage_summary holds usage reported by API keys; merge it before going down"
                    .to_owned(),
            ));
        }
        drop_index(manager, "uq_token_usage_summary_reporter_key").await?;
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
        for table in ["token_usage", "token_usage_summary"] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .drop_column("reporter")
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// `DROP INDEX` as both databases spell it for an index that is not a constraint.
async fn drop_index(manager: &SchemaManager<'_>, name: &str) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
        .await
        .map(|_| ())
}
