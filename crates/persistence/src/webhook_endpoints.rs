//! Outgoing webhook endpoints: where events go, which types each receives, and the count of
//! deliveries it failed in a row (an endpoint that keeps failing is disabled).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait,
    QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::webhook_endpoint;

pub use webhook_endpoint::Model as EndpointRow;

/// An endpoint to register.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub secret: String,
    pub now: DateTime<Utc>,
}

/// The separator of the stored event types (no event type contains it).
const SEPARATOR: char = ',';

/// The event types of a stored endpoint.
pub fn event_types(row: &EndpointRow) -> Vec<&str> {
    row.event_types
        .split(SEPARATOR)
        .filter(|t| !t.is_empty())
        .collect()
}

/// Stores an endpoint.
pub async fn insert(
    conn: &impl ConnectionTrait,
    new: NewEndpoint,
) -> Result<EndpointRow, StoreError> {
    Ok(webhook_endpoint::ActiveModel {
        id: Set(new.id),
        url: Set(new.url),
        description: Set(new.description),
        event_types: Set(new.event_types.join(&SEPARATOR.to_string())),
        secret: Set(new.secret),
        consecutive_failures: Set(0),
        disabled_at: Set(None),
        created_at: Set(new.now),
        updated_at: Set(new.now),
    }
    .insert(conn)
    .await?)
}

/// Every endpoint, newest first.
pub async fn list(conn: &impl ConnectionTrait) -> Result<Vec<EndpointRow>, StoreError> {
    Ok(webhook_endpoint::Entity::find()
        .order_by_desc(webhook_endpoint::Column::CreatedAt)
        .order_by_desc(webhook_endpoint::Column::Id)
        .all(conn)
        .await?)
}

/// One endpoint.
pub async fn find(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<EndpointRow>, StoreError> {
    Ok(webhook_endpoint::Entity::find_by_id(id).one(conn).await?)
}

/// Deletes an endpoint and its deliveries; `false` when there was none.
pub async fn delete(conn: &impl ConnectionTrait, id: Uuid) -> Result<bool, StoreError> {
    let result = webhook_endpoint::Entity::delete_by_id(id)
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The enabled endpoints that receive `event_type`.
pub async fn subscribed(
    conn: &impl ConnectionTrait,
    event_type: &str,
) -> Result<Vec<EndpointRow>, StoreError> {
    let enabled = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::DisabledAt.is_null())
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(conn)
        .await?;
    Ok(enabled
        .into_iter()
        .filter(|row| event_types(row).contains(&event_type))
        .collect())
}

/// A delivery succeeded: the endpoint's run of failures is over.
pub async fn record_success(
    conn: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    webhook_endpoint::Entity::update_many()
        .col_expr(
            webhook_endpoint::Column::ConsecutiveFailures,
            Expr::value(0),
        )
        .col_expr(webhook_endpoint::Column::UpdatedAt, Expr::value(now))
        .filter(webhook_endpoint::Column::Id.eq(id))
        .filter(webhook_endpoint::Column::ConsecutiveFailures.ne(0))
        .exec(conn)
        .await?;
    Ok(())
}

/// A delivery was given up (every attempt failed): counts it, and disables the endpoint when
/// `disable_after` deliveries in a row have now failed. Returns `true` when this call disabled
/// it (of concurrent callers, one).
pub async fn record_given_up(
    conn: &impl ConnectionTrait,
    id: Uuid,
    disable_after: u32,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    use webhook_endpoint::Column as C;
    webhook_endpoint::Entity::update_many()
        .col_expr(
            C::ConsecutiveFailures,
            Expr::col(C::ConsecutiveFailures).add(1),
        )
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(id))
        .exec(conn)
        .await?;
    let threshold = i32::try_from(disable_after).unwrap_or(i32::MAX);
    let disabled = webhook_endpoint::Entity::update_many()
        .col_expr(C::DisabledAt, Expr::value(now))
        .filter(C::Id.eq(id))
        .filter(C::DisabledAt.is_null())
        .filter(C::ConsecutiveFailures.gte(threshold))
        .exec(conn)
        .await?;
    Ok(disabled.rows_affected == 1)
}
