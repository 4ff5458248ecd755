//! Refresh tokens: stored only as hashes, rotated, grouped in families (one per sign-in); and
//! the account behind an access token read together with whether its sign-in is still live.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, JoinType, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    FromQueryResult, IdenStatic, QueryFilter, QueryResult, QuerySelect, RelationDef, SelectA,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::{refresh_token, subscription, user};
use crate::subscriptions::SubscriptionRow;
use crate::users::UserRow;

pub use refresh_token::Model as RefreshTokenRow;

/// A refresh token to store.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub family_expires_at: DateTime<Utc>,
}

/// Stores a refresh token.
pub async fn insert(conn: &impl ConnectionTrait, new: NewRefreshToken) -> Result<(), StoreError> {
    refresh_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(new.user_id),
        family_id: Set(new.family_id),
        token_hash: Set(new.token_hash),
        created_at: Set(new.created_at),
        expires_at: Set(new.expires_at),
        family_expires_at: Set(new.family_expires_at),
        used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Spends a live token in one conditional statement: of any number of concurrent callers with
/// the same token, exactly one gets the row back.
pub async fn spend(
    conn: &impl ConnectionTrait,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<RefreshTokenRow>, StoreError> {
    let mut rows = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .filter(refresh_token::Column::UsedAt.is_null())
        .filter(refresh_token::Column::RevokedAt.is_null())
        .filter(refresh_token::Column::ExpiresAt.gt(now))
        .exec_with_returning(conn)
        .await?;
    Ok(rows.pop())
}

/// The stored token with this hash, live or not.
pub async fn find_by_hash(
    conn: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<RefreshTokenRow>, StoreError> {
    Ok(refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(token_hash))
        .one(conn)
        .await?)
}

/// Revokes every token of a family. Returns how many were live.
pub async fn revoke_family(
    conn: &impl ConnectionTrait,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let result = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

/// Revokes every token of a user, except those of `keep_family`.
pub async fn revoke_all_for_user(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    keep_family: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut query = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(refresh_token::Column::RevokedAt.is_null());
    if let Some(family) = keep_family {
        query = query.filter(refresh_token::Column::FamilyId.ne(family));
    }
    Ok(query.exec(conn).await?.rows_affected)
}

/// An account as an authenticated request sees it: the row, and whether the sign-in (refresh
/// token family) its access token names is still live.
#[derive(Debug, Clone)]
pub struct SessionAccount {
    pub user: UserRow,
    /// Some token of the family is not revoked (sign-out, reuse detection and the
    /// revocations of password change, reset, deactivation revoke them all).
    pub session_live: bool,
}

const SESSION_LIVE: &str = "session_live";

impl FromQueryResult for SessionAccount {
    fn from_query_result(row: &QueryResult, prefix: &str) -> Result<Self, DbErr> {
        Ok(Self {
            user: UserRow::from_query_result(row, prefix)?,
            session_live: row.try_get(prefix, SESSION_LIVE)?,
        })
    }
}

/// `EXISTS` a live token of family `session_id` belonging to the selected account: a lookup on
/// the family index inside the account's own query (no extra round trip).
fn session_live(session_id: Uuid) -> Expr {
    Expr::exists(
        Query::select()
            .column((refresh_token::Entity, refresh_token::Column::Id))
            .from(refresh_token::Entity)
            .and_where(
                Expr::col((refresh_token::Entity, refresh_token::Column::FamilyId)).eq(session_id),
            )
            .and_where(
                Expr::col((refresh_token::Entity, refresh_token::Column::UserId))
                    .equals((user::Entity, user::Column::Id)),
            )
            .and_where(
                Expr::col((refresh_token::Entity, refresh_token::Column::RevokedAt)).is_null(),
            )
            .to_owned(),
    )
}

/// The account `user_id` and whether its sign-in `session_id` is live, in one query.
pub async fn find_account(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<Option<SessionAccount>, StoreError> {
    Ok(user::Entity::find_by_id(user_id)
        .column_as(session_live(session_id), SESSION_LIVE)
        .into_model::<SessionAccount>()
        .one(conn)
        .await?)
}

/// [`find_account`] with the account's subscription, still one query (a left join: `None`
/// for the subscription if the account has none).
pub async fn find_account_with_subscription(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<Option<(SessionAccount, Option<SubscriptionRow>)>, StoreError> {
    let subscription_of_user: RelationDef = subscription::Entity::belongs_to(user::Entity)
        .from(subscription::Column::UserId)
        .to(user::Column::Id)
        .into();
    // `select_also` prefixes the account's columns with `A_`; the extra column follows suit
    // so that `SessionAccount` reads it under the same prefix.
    Ok(user::Entity::find_by_id(user_id)
        .join(JoinType::LeftJoin, subscription_of_user.rev())
        .select_also(subscription::Entity)
        .column_as(
            session_live(session_id),
            format!("{}{SESSION_LIVE}", SelectA.as_str()),
        )
        .into_model::<SessionAccount, SubscriptionRow>()
        .one(conn)
        .await?)
}

/// Deletes tokens whose family expired before `before` (housekeeping).
pub async fn prune_expired(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let result = refresh_token::Entity::delete_many()
        .filter(refresh_token::Column::FamilyExpiresAt.lt(before))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}
