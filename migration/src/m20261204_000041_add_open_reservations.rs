use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// How many reservations of the period are open (granted, not settled or released; expired ones
/// until the maintenance worker sweeps them). The batch's counters lock returns it, so a track of
/// an account without open reservations pays nothing for the feature.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("usage_statistics")
                    .add_column(big_integer("open_reservations").default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("usage_statistics")
                    .drop_column("open_reservations")
                    .to_owned(),
            )
            .await
    }
}
