//! `subscriptions`: one per user; the plan and its admin overrides.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub user_id: Uuid,
    pub plan: String,
    pub status: String,
    pub start_date: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub is_active: bool,
    pub auto_renew: bool,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub payment_method_id: Option<String>,
    /// Admin override of the plan's monthly tokens; `None` = the plan's.
    pub token_limit: Option<i64>,
    /// Admin override of the plan's max model tier; `None` = the plan's.
    pub max_model_tier: Option<String>,
    /// The Stripe price the subscription is on.
    pub stripe_price_id: Option<String>,
    /// `monthly` or `yearly`, when billed through Stripe.
    pub billing_interval: Option<String>,
    /// Stripe's status word, as last seen.
    pub stripe_status: Option<String>,
    /// Unix seconds of the newest Stripe state applied (older events never apply).
    pub stripe_synced_at: Option<i64>,
    /// The `expires_at` whose lapse was announced (`subscription.updated`), once.
    pub lapse_announced_for: Option<DateTimeUtc>,
    /// Until when a change in progress holds the row (it calls Stripe); `None` when free.
    pub change_lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
