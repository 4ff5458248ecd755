//! Subscriptions: one per user, holding the plan, its status and admin overrides.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::subscription;

pub use subscription::Model as SubscriptionRow;

/// A subscription to create with an account.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub user_id: Uuid,
    pub plan: String,
    pub status: String,
    pub is_active: bool,
    pub auto_renew: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub payment_method_id: Option<String>,
    pub now: DateTime<Utc>,
}

/// Inserts a subscription.
pub async fn insert(
    conn: &impl ConnectionTrait,
    new: NewSubscription,
) -> Result<SubscriptionRow, StoreError> {
    Ok(subscription::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(new.user_id),
        plan: Set(new.plan),
        status: Set(new.status),
        start_date: Set(new.now),
        expires_at: Set(new.expires_at),
        is_active: Set(new.is_active),
        auto_renew: Set(new.auto_renew),
        stripe_customer_id: Set(new.stripe_customer_id),
        stripe_subscription_id: Set(new.stripe_subscription_id),
        payment_method_id: Set(new.payment_method_id),
        token_limit: Set(None),
        max_model_tier: Set(None),
        stripe_price_id: Set(None),
        billing_interval: Set(None),
        stripe_status: Set(None),
        stripe_synced_at: Set(None),
        lapse_announced_for: Set(None),
        change_lease_until: Set(None),
        created_at: Set(new.now),
        updated_at: Set(new.now),
    }
    .insert(conn)
    .await?)
}

/// The user's subscription.
pub async fn find_by_user(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Option<SubscriptionRow>, StoreError> {
    Ok(subscription::Entity::find()
        .filter(subscription::Column::UserId.eq(user_id))
        .one(conn)
        .await?)
}

/// The subscription that Stripe knows by this subscription id or, failing that, customer id.
pub async fn find_by_stripe_ids(
    conn: &impl ConnectionTrait,
    subscription_id: Option<&str>,
    customer_id: Option<&str>,
) -> Result<Option<SubscriptionRow>, StoreError> {
    if let Some(id) = subscription_id
        && let Some(row) = subscription::Entity::find()
            .filter(subscription::Column::StripeSubscriptionId.eq(id))
            .one(conn)
            .await?
    {
        return Ok(Some(row));
    }
    let Some(id) = customer_id else {
        return Ok(None);
    };
    Ok(subscription::Entity::find()
        .filter(subscription::Column::StripeCustomerId.eq(id))
        .one(conn)
        .await?)
}

/// The user's subscription, locked against concurrent writers until the transaction ends
/// (`FOR UPDATE` on PostgreSQL; a SQLite write transaction holds the database lock already).
pub async fn lock_by_user(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Option<SubscriptionRow>, StoreError> {
    let mut query = subscription::Entity::find().filter(subscription::Column::UserId.eq(user_id));
    if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    Ok(query.one(conn).await?)
}

/// Takes the user's subscription for one change until `until`, unless another change holds it
/// (its lease not yet past at `now`): `false` then. One conditional update, so of two
/// concurrent changes exactly one gets it, on either database.
pub async fn take_change_lease(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    use subscription::Column as C;
    let taken = subscription::Entity::update_many()
        .col_expr(C::ChangeLeaseUntil, Expr::value(Some(until)))
        .filter(C::UserId.eq(user_id))
        .filter(
            sea_orm::Condition::any()
                .add(C::ChangeLeaseUntil.is_null())
                .add(C::ChangeLeaseUntil.lte(now)),
        )
        .exec(conn)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Gives back the lease [`take_change_lease`] took until `until`; a lease taken since by
/// another change (this one outlived its own) stays.
pub async fn end_change_lease(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    until: DateTime<Utc>,
) -> Result<(), StoreError> {
    use subscription::Column as C;
    subscription::Entity::update_many()
        .col_expr(
            C::ChangeLeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(C::UserId.eq(user_id))
        .filter(C::ChangeLeaseUntil.eq(until))
        .exec(conn)
        .await?;
    Ok(())
}

/// Changes to a subscription; the outer `None` leaves a field as it is, `Some(None)` clears a
/// nullable one.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionChanges {
    pub plan: Option<String>,
    pub status: Option<String>,
    pub is_active: Option<bool>,
    pub auto_renew: Option<bool>,
    pub start_date: Option<DateTime<Utc>>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub token_limit: Option<Option<i64>>,
    pub max_model_tier: Option<Option<String>>,
    pub stripe_customer_id: Option<Option<String>>,
    pub stripe_subscription_id: Option<Option<String>>,
    pub payment_method_id: Option<Option<String>>,
    pub stripe_price_id: Option<Option<String>>,
    pub billing_interval: Option<Option<String>>,
    pub stripe_status: Option<Option<String>>,
    pub stripe_synced_at: Option<Option<i64>>,
}

/// Applies `changes` to the user's subscription and returns it.
pub async fn update(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    changes: SubscriptionChanges,
    now: DateTime<Utc>,
) -> Result<Option<SubscriptionRow>, StoreError> {
    let mut query = subscription::Entity::update_many()
        .col_expr(subscription::Column::UpdatedAt, Expr::value(now))
        .filter(subscription::Column::UserId.eq(user_id));
    if let Some(v) = changes.plan {
        query = query.col_expr(subscription::Column::Plan, Expr::value(v));
    }
    if let Some(v) = changes.status {
        query = query.col_expr(subscription::Column::Status, Expr::value(v));
    }
    if let Some(v) = changes.is_active {
        query = query.col_expr(subscription::Column::IsActive, Expr::value(v));
    }
    if let Some(v) = changes.auto_renew {
        query = query.col_expr(subscription::Column::AutoRenew, Expr::value(v));
    }
    if let Some(v) = changes.start_date {
        query = query.col_expr(subscription::Column::StartDate, Expr::value(v));
    }
    if let Some(v) = changes.expires_at {
        query = query.col_expr(subscription::Column::ExpiresAt, Expr::value(v));
    }
    if let Some(v) = changes.token_limit {
        query = query.col_expr(subscription::Column::TokenLimit, Expr::value(v));
    }
    if let Some(v) = changes.max_model_tier {
        query = query.col_expr(subscription::Column::MaxModelTier, Expr::value(v));
    }
    let stripe_columns = [
        (
            subscription::Column::StripeCustomerId,
            changes.stripe_customer_id,
        ),
        (
            subscription::Column::StripeSubscriptionId,
            changes.stripe_subscription_id,
        ),
        (
            subscription::Column::PaymentMethodId,
            changes.payment_method_id,
        ),
        (subscription::Column::StripePriceId, changes.stripe_price_id),
        (
            subscription::Column::BillingInterval,
            changes.billing_interval,
        ),
        (subscription::Column::StripeStatus, changes.stripe_status),
    ];
    for (column, value) in stripe_columns {
        if let Some(v) = value {
            query = query.col_expr(column, Expr::value(v));
        }
    }
    if let Some(v) = changes.stripe_synced_at {
        query = query.col_expr(subscription::Column::StripeSyncedAt, Expr::value(v));
    }
    Ok(query.exec_with_returning(conn).await?.pop())
}

/// Claims the paid subscriptions whose plan ran out and whose lapse was not announced yet:
/// marks each with its `expires_at` and returns it as it was before (one conditional update, so
/// of several instances one announces each lapse). A subscription renewing through Stripe
/// lapses `renewing_grace` after `expires_at`, any other at `expires_at`.
pub async fn claim_lapsed(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    renewing_grace: chrono::TimeDelta,
) -> Result<Vec<SubscriptionRow>, StoreError> {
    use sea_orm::sea_query::Condition;
    use subscription::Column as C;
    let renewing = Condition::all()
        .add(C::AutoRenew.eq(true))
        .add(C::StripeSubscriptionId.is_not_null());
    let lapsed = Condition::any()
        .add(
            Condition::all()
                .add(renewing.clone().not())
                .add(C::ExpiresAt.lte(now)),
        )
        .add(renewing.add(C::ExpiresAt.lte(now - renewing_grace)));
    let not_announced =
        Condition::any()
            .add(C::LapseAnnouncedFor.is_null())
            .add(sea_orm::ExprTrait::ne(
                Expr::col(C::LapseAnnouncedFor),
                Expr::col(C::ExpiresAt),
            ));
    let rows = subscription::Entity::update_many()
        .col_expr(C::LapseAnnouncedFor, Expr::col(C::ExpiresAt))
        .filter(C::Plan.ne("free"))
        .filter(C::ExpiresAt.is_not_null())
        .filter(not_announced)
        .filter(lapsed)
        .exec_with_returning(conn)
        .await?;
    Ok(rows)
}
