//! Service API keys: stored by the SHA-256 of the secret (one indexed lookup authenticates a
//! request), revoked by stamping `revoked_at`, and `last_used_at` moved forward at most once a
//! minute by a conditional update.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::api_key;

pub use api_key::Model as ApiKeyRow;

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    pub scopes: Vec<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The separator of the stored scopes (no scope contains it).
const SEPARATOR: &str = ",";

/// The scopes of a stored key.
pub fn scopes(row: &ApiKeyRow) -> impl Iterator<Item = &str> {
    row.scopes.split(SEPARATOR).filter(|s| !s.is_empty())
}

/// Stores a key.
pub async fn insert(conn: &impl ConnectionTrait, new: NewApiKey) -> Result<ApiKeyRow, StoreError> {
    Ok(api_key::ActiveModel {
        id: Set(new.id),
        name: Set(new.name),
        prefix: Set(new.prefix),
        key_hash: Set(new.key_hash),
        scopes: Set(new.scopes.join(SEPARATOR)),
        created_by: Set(new.created_by),
        created_at: Set(new.created_at),
        expires_at: Set(new.expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
    }
    .insert(conn)
    .await?)
}

/// Every key, newest first.
pub async fn list(conn: &impl ConnectionTrait) -> Result<Vec<ApiKeyRow>, StoreError> {
    Ok(api_key::Entity::find()
        .order_by_desc(api_key::Column::CreatedAt)
        .order_by_desc(api_key::Column::Id)
        .all(conn)
        .await?)
}

/// One key.
pub async fn find(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<ApiKeyRow>, StoreError> {
    Ok(api_key::Entity::find_by_id(id).one(conn).await?)
}

/// The key whose secret hashes to `key_hash` (revoked and expired ones too: the caller
/// decides).
pub async fn find_by_hash(
    conn: &impl ConnectionTrait,
    key_hash: &str,
) -> Result<Option<ApiKeyRow>, StoreError> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(key_hash))
        .one(conn)
        .await?)
}

/// Revokes a key; `None` when there is no such key. Revoking a revoked key keeps its first
/// revocation time.
pub async fn revoke(
    conn: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<ApiKeyRow>, StoreError> {
    let mut rows = api_key::Entity::update_many()
        .col_expr(
            api_key::Column::RevokedAt,
            Expr::col(api_key::Column::RevokedAt).if_null(now),
        )
        .filter(api_key::Column::Id.eq(id))
        .exec_with_returning(conn)
        .await?;
    Ok(rows.pop())
}

/// Stamps `last_used_at = now` unless it is already within `granularity` of now: at most one
/// write per key and `granularity`, however many requests the key makes.
pub async fn touch_last_used(
    conn: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
    granularity: TimeDelta,
) -> Result<(), StoreError> {
    api_key::Entity::update_many()
        .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
        .filter(api_key::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(api_key::Column::LastUsedAt.is_null())
                .add(api_key::Column::LastUsedAt.lt(now - granularity)),
        )
        .exec(conn)
        .await?;
    Ok(())
}

/// What a key route needs, read in one round trip: the key whose secret hashes to `key_hash`,
/// and the account `user_id` with its subscription (`None` when there is no such account; the
/// subscription `None` when it has none). `None` altogether when there is no such key.
pub type KeyAndAccount = (
    ApiKeyRow,
    Option<(
        crate::users::UserRow,
        Option<crate::subscriptions::SubscriptionRow>,
    )>,
);

/// The key and the account of a key route in one statement: `api_keys` by its unique hash,
/// left-joined to the account by id and to its subscription.
pub async fn find_with_account(
    conn: &impl ConnectionTrait,
    key_hash: &str,
    user_id: Uuid,
) -> Result<Option<KeyAndAccount>, StoreError> {
    use sea_orm::sea_query::{Alias, JoinType, Query};
    use sea_orm::{FromQueryResult, IdenStatic, Iterable};

    use crate::entities::{subscription, user};

    let mut query = Query::select();
    query
        .from(api_key::Entity)
        .join(
            JoinType::LeftJoin,
            user::Entity,
            Expr::col((user::Entity, user::Column::Id)).eq(user_id),
        )
        .join(
            JoinType::LeftJoin,
            subscription::Entity,
            Expr::col((subscription::Entity, subscription::Column::UserId))
                .equals((user::Entity, user::Column::Id)),
        )
        .and_where(Expr::col((api_key::Entity, api_key::Column::KeyHash)).eq(key_hash));
    for column in api_key::Column::iter() {
        query.expr_as(
            Expr::col((api_key::Entity, column)),
            Alias::new(format!("k_{}", column.as_str())),
        );
    }
    for column in user::Column::iter() {
        query.expr_as(
            Expr::col((user::Entity, column)),
            Alias::new(format!("u_{}", column.as_str())),
        );
    }
    for column in subscription::Column::iter() {
        query.expr_as(
            Expr::col((subscription::Entity, column)),
            Alias::new(format!("s_{}", column.as_str())),
        );
    }
    let Some(row) = conn.query_one(&query).await? else {
        return Ok(None);
    };
    let key = ApiKeyRow::from_query_result(&row, "k_")?;
    let account = match crate::users::UserRow::from_query_result_optional(&row, "u_")? {
        Some(user) => Some((
            user,
            crate::subscriptions::SubscriptionRow::from_query_result_optional(&row, "s_")?,
        )),
        None => None,
    };
    Ok(Some((key, account)))
}
