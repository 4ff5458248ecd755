use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("subscriptions")
                    .col(pk_uuid("id"))
                    // One subscription per user.
                    .col(uuid_uniq("user_id"))
                    .col(string("plan"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone("start_date"))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .col(boolean("is_active"))
                    .col(boolean("auto_renew"))
                    .col(string_null("stripe_customer_id"))
                    .col(string_null("stripe_subscription_id"))
                    .col(string_null("payment_method_id"))
                    // Admin overrides; NULL = the plan's own value.
                    .col(big_integer_null("token_limit"))
                    .col(string_null("max_model_tier"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_subscriptions_user")
                            .from("subscriptions", "user_id")
                            .to("users", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_subscriptions_plan")
                    .table("subscriptions")
                    .col("plan")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("subscriptions").to_owned())
            .await
    }
}
