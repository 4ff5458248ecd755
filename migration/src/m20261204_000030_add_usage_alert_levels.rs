//! Usage alerts, on the counters row: the highest alert threshold (percent) recorded this
//! period for each unit, so a batch of tracks knows what has fired from the row it locks anyway
//! (no extra read when nothing crosses).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Columns added to `usage_statistics`, one `ALTER TABLE` each (SQLite adds one at a time).
const COLUMNS: [&str; 4] = [
    "tokens_alert_level",
    "chat_messages_alert_level",
    "plagiarism_checks_alert_level",
    "prompts_generated_alert_level",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table("usage_statistics")
                        // 0: no threshold recorded yet this period.
                        .add_column(integer(column).default(0))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table("usage_statistics")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
