use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Service API keys: credentials of the AI backends, created by admins, each acting for users
/// within its scopes. Only the key's SHA-256 is stored (the secret is shown once); a revoked
/// key keeps its row so that the events it reported still name it.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("api_keys")
                    .col(pk_uuid("id"))
                    .col(string_len("name", 100))
                    // The first characters of the key, for display (`dzk_` + 8).
                    .col(string_len("prefix", 16))
                    // Hex SHA-256 of the whole key.
                    .col(string_len("key_hash", 64))
                    // Comma-separated scopes (`usage:write,users:read`).
                    .col(string_len("scopes", 100))
                    // The admin who created it; `NULL` for the command line.
                    .col(uuid_null("created_by"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .col(timestamp_with_time_zone_null("revoked_at"))
                    // Updated at most once a minute (not a write per request).
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_api_keys_key_hash")
                    .table("api_keys")
                    .col("key_hash")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("api_keys").to_owned())
            .await
    }
}
