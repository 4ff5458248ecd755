//! Outgoing webhook deliveries, an outbox: written in the same transaction as their event,
//! claimed by a worker with a conditional update before each attempt (so two instances never
//! make one attempt twice, and an attempt whose worker died is retried after its lease), and
//! finished as `succeeded` or `failed`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::{webhook_delivery, webhook_endpoint};

pub use webhook_delivery::Model as DeliveryRow;

/// Waiting for its first or a further attempt.
pub const PENDING: &str = "pending";
/// An attempt got a 2xx answer.
pub const SUCCEEDED: &str = "succeeded";
/// Every attempt failed (or its endpoint was disabled).
pub const FAILED: &str = "failed";

/// A delivery to queue.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub endpoint_id: Uuid,
    pub message_id: String,
    pub event_type: String,
    pub payload: String,
    pub now: DateTime<Utc>,
}

/// Queues deliveries (one statement, in the caller's transaction).
pub async fn insert_many(
    conn: &impl ConnectionTrait,
    deliveries: &[NewDelivery],
) -> Result<(), StoreError> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let rows = deliveries.iter().map(|d| webhook_delivery::ActiveModel {
        id: Set(Uuid::now_v7()),
        endpoint_id: Set(d.endpoint_id),
        message_id: Set(d.message_id.clone()),
        event_type: Set(d.event_type.clone()),
        payload: Set(d.payload.clone()),
        status: Set(PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(d.now),
        last_attempt_at: Set(None),
        last_status_code: Set(None),
        last_error: Set(None),
        created_at: Set(d.now),
        finished_at: Set(None),
    });
    webhook_delivery::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

fn of_enabled_endpoints() -> sea_orm::sea_query::SimpleExpr {
    webhook_delivery::Column::EndpointId.in_subquery(
        Query::select()
            .column(webhook_endpoint::Column::Id)
            .from(webhook_endpoint::Entity)
            .and_where(webhook_endpoint::Column::DisabledAt.is_null())
            .to_owned(),
    )
}

/// Deliveries of enabled endpoints due for an attempt, oldest first, leaving out the endpoints
/// in `skipping` (those with as many attempts in flight as they may have).
pub async fn due(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
    skipping: &[Uuid],
) -> Result<Vec<DeliveryRow>, StoreError> {
    use webhook_delivery::Column as C;
    let mut query = webhook_delivery::Entity::find();
    if !skipping.is_empty() {
        query = query.filter(C::EndpointId.is_not_in(skipping.iter().copied()));
    }
    Ok(query
        .filter(C::Status.eq(PENDING))
        .filter(C::NextAttemptAt.lte(now))
        .filter(of_enabled_endpoints())
        .order_by_asc(C::NextAttemptAt)
        .limit(limit)
        .all(conn)
        .await?)
}

/// When the next pending delivery of an enabled endpoint is due, if any is.
pub async fn next_due(conn: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>, StoreError> {
    use webhook_delivery::Column as C;
    Ok(webhook_delivery::Entity::find()
        .filter(C::Status.eq(PENDING))
        .filter(of_enabled_endpoints())
        .order_by_asc(C::NextAttemptAt)
        .one(conn)
        .await?
        .map(|row| row.next_attempt_at))
}

/// Claims a due delivery for one attempt: counts the attempt and pushes its next attempt to
/// `lease_until`, only if no other worker claimed it since it was read.
pub async fn claim(
    conn: &impl ConnectionTrait,
    row: &DeliveryRow,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    use webhook_delivery::Column as C;
    let result = webhook_delivery::Entity::update_many()
        .col_expr(C::NextAttemptAt, Expr::value(lease_until))
        .col_expr(C::Attempts, Expr::col(C::Attempts).add(1))
        .col_expr(C::LastAttemptAt, Expr::value(now))
        .filter(C::Id.eq(row.id))
        .filter(C::NextAttemptAt.eq(row.next_attempt_at))
        .filter(C::Status.eq(PENDING))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// A 2xx answer: the delivery is over.
    Succeeded { status_code: u16 },
    /// It failed; try again at `retry_at`, or give up when `None`.
    Failed {
        status_code: Option<u16>,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

/// Records an attempt's outcome.
pub async fn record_attempt(
    conn: &impl ConnectionTrait,
    id: Uuid,
    result: AttemptResult,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use webhook_delivery::Column as C;
    let mut update = webhook_delivery::Entity::update_many()
        .filter(C::Id.eq(id))
        .filter(C::Status.eq(PENDING));
    update = match result {
        AttemptResult::Succeeded { status_code } => update
            .col_expr(C::Status, Expr::value(SUCCEEDED))
            .col_expr(C::LastStatusCode, Expr::value(i32::from(status_code)))
            .col_expr(C::LastError, Expr::value(Option::<String>::None))
            .col_expr(C::FinishedAt, Expr::value(now)),
        AttemptResult::Failed {
            status_code,
            error,
            retry_at,
        } => {
            let update = update
                .col_expr(C::LastStatusCode, Expr::value(status_code.map(i32::from)))
                .col_expr(C::LastError, Expr::value(error));
            match retry_at {
                Some(at) => update.col_expr(C::NextAttemptAt, Expr::value(at)),
                None => update
                    .col_expr(C::Status, Expr::value(FAILED))
                    .col_expr(C::FinishedAt, Expr::value(now)),
            }
        }
    };
    update.exec(conn).await?;
    Ok(())
}

/// Fails the pending deliveries of an endpoint that was just disabled (they will not be sent).
pub async fn fail_pending_of(
    conn: &impl ConnectionTrait,
    endpoint_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    use webhook_delivery::Column as C;
    let result = webhook_delivery::Entity::update_many()
        .col_expr(C::Status, Expr::value(FAILED))
        .col_expr(C::LastError, Expr::value(reason.to_owned()))
        .col_expr(C::FinishedAt, Expr::value(now))
        .filter(C::EndpointId.eq(endpoint_id))
        .filter(C::Status.eq(PENDING))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

/// One page of an endpoint's deliveries, newest first, with the total.
pub async fn page(
    conn: &impl ConnectionTrait,
    endpoint_id: Uuid,
    page: u64,
    per_page: u64,
) -> Result<(u64, Vec<DeliveryRow>), StoreError> {
    use webhook_delivery::Column as C;
    let query = webhook_delivery::Entity::find().filter(C::EndpointId.eq(endpoint_id));
    let total = query.clone().count(conn).await?;
    let Some(offset) = crate::page_offset(page, per_page) else {
        return Ok((total, Vec::new()));
    };
    let rows = query
        .order_by_desc(C::CreatedAt)
        .order_by_desc(C::Id)
        .offset(offset)
        .limit(per_page)
        .all(conn)
        .await?;
    Ok((total, rows))
}

/// Pending deliveries (of any endpoint) and when the oldest was queued.
pub async fn backlog(
    conn: &impl ConnectionTrait,
) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
    use webhook_delivery::Column as C;
    let pending = webhook_delivery::Entity::find().filter(C::Status.eq(PENDING));
    let count = pending.clone().count(conn).await?;
    let oldest = pending
        .order_by_asc(C::CreatedAt)
        .one(conn)
        .await?
        .map(|row| row.created_at);
    Ok((count, oldest))
}

/// Deletes finished deliveries (succeeded or failed) that finished before `before`.
pub async fn prune(conn: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, StoreError> {
    use webhook_delivery::Column as C;
    let result = webhook_delivery::Entity::delete_many()
        .filter(C::Status.ne(PENDING))
        .filter(C::FinishedAt.lt(before))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}
