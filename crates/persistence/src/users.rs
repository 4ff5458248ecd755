//! Accounts: the `users` table.

use chrono::{DateTime, Utc};
use domain::{PageRequest, Plan, Role, SortOrder, UserSort};
use sea_orm::sea_query::{Expr, Func, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::{subscription, user};

pub use user::Model as UserRow;

/// Everything needed to insert an account.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub role: String,
    pub is_active: bool,
    pub is_verified: bool,
    pub now: DateTime<Utc>,
}

/// Inserts an account; a taken email is [`StoreError::Duplicate`].
pub async fn insert(conn: &impl ConnectionTrait, new: NewUser) -> Result<UserRow, StoreError> {
    let row = user::ActiveModel {
        id: Set(new.id),
        email: Set(new.email),
        name: Set(new.name),
        password_hash: Set(new.password_hash),
        role: Set(new.role),
        is_active: Set(new.is_active),
        is_verified: Set(new.is_verified),
        tokens_valid_after: Set(new.now),
        last_login: Set(None),
        created_at: Set(new.now),
        updated_at: Set(new.now),
    };
    Ok(row.insert(conn).await?)
}

/// The account with this id.
pub async fn find_by_id(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<UserRow>, StoreError> {
    Ok(user::Entity::find_by_id(id).one(conn).await?)
}

/// The account with this (normalised) email.
pub async fn find_by_email(
    conn: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<UserRow>, StoreError> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(crate::lookup_text(email).as_ref()))
        .one(conn)
        .await?)
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub email: Option<String>,
    pub name: Option<String>,
    pub password_hash: Option<String>,
    pub role: Option<String>,
    pub is_active: Option<bool>,
    pub is_verified: Option<bool>,
    pub tokens_valid_after: Option<DateTime<Utc>>,
    pub last_login: Option<DateTime<Utc>>,
}

/// Applies `changes` and returns the updated row (`None` if the account is gone). A taken email
/// is [`StoreError::Duplicate`].
pub async fn update(
    conn: &impl ConnectionTrait,
    id: Uuid,
    changes: UserChanges,
    now: DateTime<Utc>,
) -> Result<Option<UserRow>, StoreError> {
    let mut query = user::Entity::update_many()
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id));
    if let Some(v) = changes.email {
        query = query.col_expr(user::Column::Email, Expr::value(v));
    }
    if let Some(v) = changes.name {
        query = query.col_expr(user::Column::Name, Expr::value(v));
    }
    if let Some(v) = changes.password_hash {
        query = query.col_expr(user::Column::PasswordHash, Expr::value(v));
    }
    if let Some(v) = changes.role {
        query = query.col_expr(user::Column::Role, Expr::value(v));
    }
    if let Some(v) = changes.is_active {
        query = query.col_expr(user::Column::IsActive, Expr::value(v));
    }
    if let Some(v) = changes.is_verified {
        query = query.col_expr(user::Column::IsVerified, Expr::value(v));
    }
    if let Some(v) = changes.tokens_valid_after {
        query = query.col_expr(user::Column::TokensValidAfter, Expr::value(v));
    }
    if let Some(v) = changes.last_login {
        query = query.col_expr(user::Column::LastLogin, Expr::value(v));
    }
    let mut rows = query.exec_with_returning(conn).await?;
    Ok(rows.pop())
}

/// Records a successful sign-in without touching `updated_at`.
pub async fn touch_last_login(
    conn: &impl ConnectionTrait,
    id: Uuid,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    user::Entity::update_many()
        .col_expr(user::Column::LastLogin, Expr::value(at))
        .filter(user::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes an account (its sessions, subscription and preferences cascade). Returns whether a
/// row was deleted.
pub async fn delete(conn: &impl ConnectionTrait, id: Uuid) -> Result<bool, StoreError> {
    let result = user::Entity::delete_by_id(id).exec(conn).await?;
    Ok(result.rows_affected > 0)
}

/// How many accounts hold this role and are active (to keep the last admin from leaving).
pub async fn count_active_with_role(
    conn: &impl ConnectionTrait,
    role: &str,
) -> Result<u64, StoreError> {
    Ok(user::Entity::find()
        .filter(user::Column::Role.eq(role))
        .filter(user::Column::IsActive.eq(true))
        .count(conn)
        .await?)
}

/// The ids of the active accounts holding this role, in id order, locked until the transaction
/// ends: `FOR UPDATE` on PostgreSQL (a concurrent change of one of them waits, and a row it
/// changed is checked again against the filter once it commits); a SQLite write transaction
/// ([`begin_write`](crate::begin_write)) holds the database lock already. Changes that take an
/// admin's rights away call it first, so of two such changes the second sees the first.
pub async fn lock_active_with_role(
    conn: &impl ConnectionTrait,
    role: &str,
) -> Result<Vec<Uuid>, StoreError> {
    let mut query = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Role.eq(role))
        .filter(user::Column::IsActive.eq(true))
        .order_by_asc(user::Column::Id);
    if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    Ok(query.into_tuple().all(conn).await?)
}

/// Filters, order and page of the admin listing.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Case-insensitive substring of email or name (empty: no filter).
    pub search: Option<String>,
    pub role: Option<Role>,
    pub plan: Option<Plan>,
    pub is_active: Option<bool>,
    pub sort: UserSort,
    pub order: SortOrder,
    pub page: PageRequest,
}

/// One page of accounts with their subscriptions, and the total number of matches.
pub async fn list(
    conn: &impl ConnectionTrait,
    query: &ListQuery,
) -> Result<(u64, Vec<(UserRow, Option<subscription::Model>)>), StoreError> {
    let mut select = user::Entity::find();
    if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        select = select.filter(
            Expr::col(user::Column::Email)
                .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'))
                .or(Expr::expr(Func::lower(Expr::col(user::Column::Name)))
                    .like(sea_orm::sea_query::LikeExpr::new(pattern).escape('\\'))),
        );
    }
    if let Some(role) = query.role {
        select = select.filter(user::Column::Role.eq(role.as_str()));
    }
    if let Some(active) = query.is_active {
        select = select.filter(user::Column::IsActive.eq(active));
    }
    if let Some(plan) = query.plan {
        select = select.filter(
            user::Column::Id.in_subquery(
                Query::select()
                    .column(subscription::Column::UserId)
                    .from(subscription::Entity)
                    .and_where(subscription::Column::Plan.eq(plan.as_str()))
                    .to_owned(),
            ),
        );
    }
    let order = match query.order {
        SortOrder::Desc => sea_orm::Order::Desc,
        SortOrder::Asc => sea_orm::Order::Asc,
    };
    let column = match query.sort {
        UserSort::CreatedAt => user::Column::CreatedAt,
        UserSort::Email => user::Column::Email,
        UserSort::Name => user::Column::Name,
    };
    // The id breaks ties so pages never overlap.
    let select = select
        .order_by(column, order.clone())
        .order_by(user::Column::Id, order);
    let total = select.clone().count(conn).await?;
    let (page, per_page) = (query.page.page(), query.page.per_page());
    let Some(offset) = crate::page_offset(page, per_page) else {
        return Ok((total, Vec::new()));
    };
    let users = select.offset(offset).limit(per_page).all(conn).await?;
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let subscriptions = if ids.is_empty() {
        Vec::new()
    } else {
        subscription::Entity::find()
            .filter(subscription::Column::UserId.is_in(ids))
            .all(conn)
            .await?
    };
    let rows = users
        .into_iter()
        .map(|u| {
            let sub = subscriptions.iter().find(|s| s.user_id == u.id).cloned();
            (u, sub)
        })
        .collect();
    Ok((total, rows))
}

fn escape_like(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in crate::lookup_text(raw).chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The accounts with these ids (missing ones are skipped).
pub async fn find_many(
    conn: &impl ConnectionTrait,
    ids: Vec<Uuid>,
) -> Result<Vec<UserRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(ids))
        .all(conn)
        .await?)
}

/// The account `id` with its subscription (`None` if it has none), in one query (a left join).
pub async fn find_with_subscription(
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<(UserRow, Option<subscription::Model>)>, StoreError> {
    let subscription_of_user: sea_orm::RelationDef = subscription::Entity::belongs_to(user::Entity)
        .from(subscription::Column::UserId)
        .to(user::Column::Id)
        .into();
    Ok(user::Entity::find_by_id(id)
        .join(sea_orm::JoinType::LeftJoin, subscription_of_user.rev())
        .select_also(subscription::Entity)
        .one(conn)
        .await?)
}
