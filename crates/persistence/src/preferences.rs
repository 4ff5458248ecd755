//! User preferences: one row per user.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::user_preference;

pub use user_preference::Model as PreferencesRow;

/// Preferences to create.
#[derive(Debug, Clone)]
pub struct NewPreferences {
    pub user_id: Uuid,
    pub theme: String,
    pub notifications: bool,
    pub default_model: String,
    pub now: DateTime<Utc>,
}

/// Creates the row unless the user already has one (concurrent first reads are safe), then
/// returns the stored row.
pub async fn insert_if_missing(
    conn: &impl ConnectionTrait,
    new: NewPreferences,
) -> Result<PreferencesRow, StoreError> {
    let user_id = new.user_id;
    let row = user_preference::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(new.user_id),
        theme: Set(new.theme),
        notifications: Set(new.notifications),
        default_model: Set(new.default_model),
        created_at: Set(new.now),
        updated_at: Set(new.now),
    };
    user_preference::Entity::insert(row)
        .on_conflict_do_nothing_on([user_preference::Column::UserId])
        .exec(conn)
        .await?;
    find_by_user(conn, user_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("preferences of {user_id} vanished")))
}

/// The user's preferences.
pub async fn find_by_user(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Option<PreferencesRow>, StoreError> {
    Ok(user_preference::Entity::find()
        .filter(user_preference::Column::UserId.eq(user_id))
        .one(conn)
        .await?)
}

/// Changes to preferences; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct PreferencesChanges {
    pub theme: Option<String>,
    pub notifications: Option<bool>,
    pub default_model: Option<String>,
}

/// Applies `changes` and returns the row.
pub async fn update(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    changes: PreferencesChanges,
    now: DateTime<Utc>,
) -> Result<Option<PreferencesRow>, StoreError> {
    let mut query = user_preference::Entity::update_many()
        .col_expr(user_preference::Column::UpdatedAt, Expr::value(now))
        .filter(user_preference::Column::UserId.eq(user_id));
    if let Some(v) = changes.theme {
        query = query.col_expr(user_preference::Column::Theme, Expr::value(v));
    }
    if let Some(v) = changes.notifications {
        query = query.col_expr(user_preference::Column::Notifications, Expr::value(v));
    }
    if let Some(v) = changes.default_model {
        query = query.col_expr(user_preference::Column::DefaultModel, Expr::value(v));
    }
    Ok(query.exec_with_returning(conn).await?.pop())
}
