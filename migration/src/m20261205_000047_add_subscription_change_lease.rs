//! A subscription change that calls Stripe holds a short lease on the row while it does: a
//! second change started meanwhile (a double click, two tabs) is refused instead of reaching
//! Stripe too, where two first subscriptions would both be created and billed. The lease
//! expires by itself, so a change cut short by a crash blocks the next one only briefly.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("subscriptions")
                    .add_column(timestamp_with_time_zone_null("change_lease_until"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("subscriptions")
                    .drop_column("change_lease_until")
                    .to_owned(),
            )
            .await
    }
}
