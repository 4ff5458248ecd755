//! Usage alerts: the thresholds crossed, each recorded once per user, period, unit and
//! threshold (the unique index decides), and who to tell about them.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{JoinType, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, RelationDef,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::{usage_alert, user, user_preference};

pub use usage_alert::Model as AlertRow;

/// A crossing to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    pub id: Uuid,
    pub user_id: Uuid,
    pub period_start: NaiveDate,
    pub unit: &'static str,
    pub threshold: i32,
    pub used: i64,
    pub limit: i64,
    pub crossed_at: DateTime<Utc>,
}

/// Records the alerts, skipping any already recorded for its user, period, unit and threshold,
/// and returns the ids of those inserted (one statement). Rows are written in key order, like
/// every other multi-row write of a batch.
pub async fn insert_alerts(
    conn: &impl ConnectionTrait,
    alerts: &[NewAlert],
) -> Result<HashSet<Uuid>, StoreError> {
    use usage_alert::Column as C;
    if alerts.is_empty() {
        return Ok(HashSet::new());
    }
    let mut sorted: Vec<&NewAlert> = alerts.iter().collect();
    sorted.sort_by_key(|a| (a.user_id, a.period_start, a.unit, a.threshold));
    let rows = sorted.into_iter().map(|a| usage_alert::ActiveModel {
        id: Set(a.id),
        user_id: Set(a.user_id),
        period_start: Set(a.period_start),
        unit: Set(a.unit.to_owned()),
        threshold: Set(a.threshold),
        used: Set(a.used),
        usage_limit: Set(a.limit),
        crossed_at: Set(a.crossed_at),
    });
    let mut statement = usage_alert::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([C::UserId, C::PeriodStart, C::Unit, C::Threshold])
                .do_nothing()
                .to_owned(),
        )
        .into_query();
    statement.returning_col(C::Id);
    conn.query_all(&statement)
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<Uuid>(0).map_err(StoreError::from))
        .collect()
}

/// A user's alerts of one period, in the order they were crossed.
pub async fn for_period(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    period_start: NaiveDate,
) -> Result<Vec<AlertRow>, StoreError> {
    use usage_alert::Column as C;
    Ok(usage_alert::Entity::find()
        .filter(C::UserId.eq(user_id))
        .filter(C::PeriodStart.eq(period_start))
        .order_by_asc(C::CrossedAt)
        .order_by_asc(C::Unit)
        .order_by_asc(C::Threshold)
        .all(conn)
        .await?)
}

/// Who an alert goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    /// The `notifications` preference (on when the user never saved preferences).
    pub notifications: bool,
}

/// The accounts with these ids and their `notifications` preference, in one query.
pub async fn recipients(
    conn: &impl ConnectionTrait,
    user_ids: &[Uuid],
) -> Result<Vec<Recipient>, StoreError> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let preferences_of_user: RelationDef = user_preference::Entity::belongs_to(user::Entity)
        .from(user_preference::Column::UserId)
        .to(user::Column::Id)
        .into();
    let rows = user::Entity::find()
        .filter(user::Column::Id.is_in(user_ids.iter().copied()))
        .join(JoinType::LeftJoin, preferences_of_user.rev())
        .select_also(user_preference::Entity)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(user, preferences)| Recipient {
            user_id: user.id,
            email: user.email,
            name: user.name,
            notifications: preferences.is_none_or(|p| p.notifications),
        })
        .collect())
}
