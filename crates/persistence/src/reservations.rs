//! Token reservations: the rows behind reserve-then-settle for streamed calls. Every change to
//! a user's reservations happens in a transaction that holds that user's counters lock
//! ([`crate::ledger::lock_counters`]), which also keeps `usage_statistics.open_reservations`
//! exact.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Expr, Func, OnConflict, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::token_reservation;

pub use token_reservation::Model as ReservationRow;

/// Reservation states as stored.
pub const ACTIVE: &str = "active";
pub const SETTLED: &str = "settled";
pub const RELEASED: &str = "released";
pub const EXPIRED: &str = "expired";

/// Inserts a reservation unless the user already has one with its request id; `false` means a
/// reservation with that request id exists.
pub async fn insert(conn: &impl ConnectionTrait, row: &ReservationRow) -> Result<bool, StoreError> {
    use token_reservation::Column as C;
    let active = token_reservation::ActiveModel {
        id: Set(row.id),
        user_id: Set(row.user_id),
        period_start: Set(row.period_start),
        request_type: Set(row.request_type.clone()),
        model: Set(row.model.clone()),
        estimated_tokens: Set(row.estimated_tokens),
        request_id: Set(row.request_id.clone()),
        state: Set(row.state.clone()),
        settled_by: Set(row.settled_by.clone()),
        created_at: Set(row.created_at),
        expires_at: Set(row.expires_at),
        ended_at: Set(row.ended_at),
    };
    let result = token_reservation::Entity::insert(active)
        .on_conflict(
            OnConflict::columns([C::UserId, C::RequestId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(result > 0)
}

/// The user's reservation `id`.
pub async fn find(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<ReservationRow>, StoreError> {
    use token_reservation::Column as C;
    Ok(token_reservation::Entity::find()
        .filter(C::UserId.eq(user_id))
        .filter(C::Id.eq(id))
        .one(conn)
        .await?)
}

/// The reservations `(user_id, id)` that exist (a pair naming another user's reservation finds
/// nothing).
pub async fn find_many(
    conn: &impl ConnectionTrait,
    keys: &HashSet<(Uuid, Uuid)>,
) -> Result<Vec<ReservationRow>, StoreError> {
    use token_reservation::Column as C;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let users: HashSet<Uuid> = keys.iter().map(|(user, _)| *user).collect();
    let rows = token_reservation::Entity::find()
        .filter(C::UserId.is_in(users))
        .filter(C::Id.is_in(keys.iter().map(|(_, id)| *id)))
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|row| keys.contains(&(row.user_id, row.id)))
        .collect())
}

/// The user's reservation made under `request_id`.
pub async fn find_by_request_id(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    request_id: &str,
) -> Result<Option<ReservationRow>, StoreError> {
    use token_reservation::Column as C;
    Ok(token_reservation::Entity::find()
        .filter(C::UserId.eq(user_id))
        .filter(C::RequestId.eq(crate::lookup_text(request_id).as_ref()))
        .one(conn)
        .await?)
}

/// The user's reservations that count now (active and not expired), oldest first.
pub async fn list_active(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<ReservationRow>, StoreError> {
    use token_reservation::Column as C;
    Ok(token_reservation::Entity::find()
        .filter(C::UserId.eq(user_id))
        .filter(C::State.eq(ACTIVE))
        .filter(C::ExpiresAt.gt(now))
        .order_by_asc(C::CreatedAt)
        .all(conn)
        .await?)
}

/// What active reservations hold per user, period and request type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedTotal {
    pub user_id: Uuid,
    pub period_start: NaiveDate,
    pub request_type: String,
    pub tokens: i64,
    pub reservations: i64,
}

/// Sums of the reservations that count at `now` for `users` (one statement).
pub async fn reserved_totals(
    conn: &impl ConnectionTrait,
    users: &HashSet<Uuid>,
    now: DateTime<Utc>,
) -> Result<Vec<ReservedTotal>, StoreError> {
    use token_reservation::Column as C;
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let sum: SimpleExpr = Func::sum(Expr::col(C::EstimatedTokens)).into();
    let zero: SimpleExpr = Expr::val(0);
    let tokens: SimpleExpr = Func::cast_as(Func::coalesce([sum, zero]), "BIGINT").into();
    let count: SimpleExpr = Func::cast_as(Func::count(Expr::col(C::Id)), "BIGINT").into();
    let rows: Vec<(Uuid, NaiveDate, String, i64, i64)> = token_reservation::Entity::find()
        .select_only()
        .column(C::UserId)
        .column(C::PeriodStart)
        .column(C::RequestType)
        .column_as(tokens, "tokens")
        .column_as(count, "reservations")
        .filter(C::UserId.is_in(users.iter().copied()))
        .filter(C::State.eq(ACTIVE))
        .filter(C::ExpiresAt.gt(now))
        .group_by(C::UserId)
        .group_by(C::PeriodStart)
        .group_by(C::RequestType)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(user_id, period_start, request_type, tokens, reservations)| ReservedTotal {
                user_id,
                period_start,
                request_type,
                tokens,
                reservations,
            },
        )
        .collect())
}

/// Closes an active reservation (`settled` by `settled_by`, or `released`); `false` when it was
/// no longer active.
pub async fn close(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    id: Uuid,
    state: &str,
    settled_by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    use token_reservation::Column as C;
    let result = token_reservation::Entity::update_many()
        .col_expr(C::State, Expr::value(state))
        .col_expr(C::SettledBy, Expr::value(settled_by.map(str::to_owned)))
        .col_expr(C::EndedAt, Expr::value(Some(now)))
        .filter(C::UserId.eq(user_id))
        .filter(C::Id.eq(id))
        .filter(C::State.eq(ACTIVE))
        .exec(conn)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Up to `limit` active reservations that expired before `now` (for the sweep).
pub async fn expired(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<ReservationRow>, StoreError> {
    use token_reservation::Column as C;
    Ok(token_reservation::Entity::find()
        .filter(C::State.eq(ACTIVE))
        .filter(C::ExpiresAt.lte(now))
        .order_by_asc(C::ExpiresAt)
        .limit(limit)
        .all(conn)
        .await?)
}
