//! Stripe webhook events already applied: the id is written in the same transaction as the
//! event's effect, so a redelivery finds it and changes nothing.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TryInsertResult,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::stripe_event;

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewStripeEvent<'a> {
    pub id: &'a str,
    pub event_type: &'a str,
    pub created: i64,
    pub user_id: Option<Uuid>,
    pub outcome: &'a str,
    pub processed_at: DateTime<Utc>,
}

/// Records the event; `false` when its id was recorded before (a redelivery). Inside a
/// transaction a concurrent delivery of the same id waits here until the first commits.
pub async fn record(
    conn: &impl ConnectionTrait,
    event: NewStripeEvent<'_>,
) -> Result<bool, StoreError> {
    let row = stripe_event::ActiveModel {
        id: Set(event.id.to_owned()),
        event_type: Set(event.event_type.to_owned()),
        created: Set(event.created),
        user_id: Set(event.user_id),
        outcome: Set(event.outcome.to_owned()),
        processed_at: Set(event.processed_at),
    };
    let result = stripe_event::Entity::insert(row)
        .on_conflict_do_nothing_on([stripe_event::Column::Id])
        .exec_without_returning(conn)
        .await?;
    Ok(matches!(result, TryInsertResult::Inserted(n) if n > 0))
}

/// Whether the event id was recorded already.
pub async fn exists(conn: &impl ConnectionTrait, id: &str) -> Result<bool, StoreError> {
    Ok(stripe_event::Entity::find_by_id(id.to_owned())
        .one(conn)
        .await?
        .is_some())
}

/// Forgets events processed before `before` (Stripe stops redelivering after three days).
pub async fn prune(conn: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, StoreError> {
    let result = stripe_event::Entity::delete_many()
        .filter(stripe_event::Column::ProcessedAt.lt(before))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}
