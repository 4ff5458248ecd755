//! Email tokens (stored hashed, single use) and the outbox of messages to send.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::{email_outbox, email_token};

pub use email_outbox::Model as OutboxRow;
pub use email_token::Model as EmailTokenRow;

/// A token to store.
#[derive(Debug, Clone)]
pub struct NewEmailToken {
    pub user_id: Uuid,
    pub purpose: &'static str,
    pub token_hash: String,
    pub email: String,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Stores a token.
pub async fn insert_token(
    conn: &impl ConnectionTrait,
    new: NewEmailToken,
) -> Result<(), StoreError> {
    email_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(new.user_id),
        purpose: Set(new.purpose.to_owned()),
        token_hash: Set(new.token_hash),
        email: Set(new.email),
        created_at: Set(new.now),
        expires_at: Set(new.expires_at),
        used_at: Set(None),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Spends a live token of `purpose` in one conditional statement (of concurrent callers, one
/// wins). `None`: unknown, expired, already used or of another purpose.
pub async fn spend_token(
    conn: &impl ConnectionTrait,
    purpose: &str,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<EmailTokenRow>, StoreError> {
    Ok(email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(now))
        .filter(email_token::Column::TokenHash.eq(token_hash))
        .filter(email_token::Column::Purpose.eq(purpose))
        .filter(email_token::Column::UsedAt.is_null())
        .filter(email_token::Column::ExpiresAt.gt(now))
        .exec_with_returning(conn)
        .await?
        .pop())
}

/// The live token of `purpose` with this hash, without spending it (a cheap check before
/// costly work; [`spend_token`] still decides).
pub async fn find_live_token(
    conn: &impl ConnectionTrait,
    purpose: &str,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<EmailTokenRow>, StoreError> {
    Ok(email_token::Entity::find()
        .filter(email_token::Column::TokenHash.eq(token_hash))
        .filter(email_token::Column::Purpose.eq(purpose))
        .filter(email_token::Column::UsedAt.is_null())
        .filter(email_token::Column::ExpiresAt.gt(now))
        .one(conn)
        .await?)
}

/// Marks every live token of a user and purpose used (a newer one supersedes them).
pub async fn retire_tokens(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    purpose: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(email_token::Entity::update_many()
        .col_expr(email_token::Column::UsedAt, Expr::value(now))
        .filter(email_token::Column::UserId.eq(user_id))
        .filter(email_token::Column::Purpose.eq(purpose))
        .filter(email_token::Column::UsedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected)
}

/// Queues a message (in the caller's transaction).
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    recipient: &str,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    enqueue_kind(conn, recipient, subject, body, None, now).await
}

/// Queues a message of a kind (`usage_alert`), in the caller's transaction.
pub async fn enqueue_kind(
    conn: &impl ConnectionTrait,
    recipient: &str,
    subject: &str,
    body: &str,
    kind: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    email_outbox::ActiveModel {
        id: Set(id),
        recipient: Set(recipient.to_owned()),
        subject: Set(subject.to_owned()),
        body: Set(body.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        sent_at: Set(None),
        failed_at: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        kind: Set(kind.map(str::to_owned)),
    }
    .insert(conn)
    .await?;
    Ok(id)
}

/// Messages due for a (first or further) attempt, oldest first.
pub async fn due(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(email_outbox::Entity::find()
        .filter(email_outbox::Column::SentAt.is_null())
        .filter(email_outbox::Column::FailedAt.is_null())
        .filter(email_outbox::Column::NextAttemptAt.lte(now))
        .order_by_asc(email_outbox::Column::NextAttemptAt)
        .limit(limit)
        .all(conn)
        .await?)
}

/// Claims a due message for one attempt: pushes its next attempt to `lease_until` only if no
/// other worker (in this or another instance) claimed it since it was read.
pub async fn claim(
    conn: &impl ConnectionTrait,
    row: &OutboxRow,
    lease_until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let result = email_outbox::Entity::update_many()
        .col_expr(
            email_outbox::Column::NextAttemptAt,
            Expr::value(lease_until),
        )
        .col_expr(
            email_outbox::Column::Attempts,
            Expr::col(email_outbox::Column::Attempts).add(1),
        )
        .filter(email_outbox::Column::Id.eq(row.id))
        .filter(email_outbox::Column::NextAttemptAt.eq(row.next_attempt_at))
        .filter(email_outbox::Column::SentAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Records a successful send and forgets the body (it may hold a secret link).
pub async fn mark_sent(
    conn: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    email_outbox::Entity::update_many()
        .col_expr(email_outbox::Column::SentAt, Expr::value(now))
        .col_expr(email_outbox::Column::Body, Expr::value(String::new()))
        .col_expr(
            email_outbox::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .filter(email_outbox::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Records a failed attempt: retry at `retry_at`, or give up when `retry_at` is `None`.
pub async fn mark_failed(
    conn: &impl ConnectionTrait,
    id: Uuid,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut update = email_outbox::Entity::update_many()
        .col_expr(
            email_outbox::Column::LastError,
            Expr::value(error.to_owned()),
        )
        .filter(email_outbox::Column::Id.eq(id));
    update = match retry_at {
        Some(at) => update.col_expr(email_outbox::Column::NextAttemptAt, Expr::value(at)),
        None => update
            .col_expr(email_outbox::Column::FailedAt, Expr::value(now))
            .col_expr(email_outbox::Column::Body, Expr::value(String::new())),
    };
    update.exec(conn).await?;
    Ok(())
}

/// Deletes tokens that expired before `before` (used or not: neither can be spent again).
pub async fn prune_tokens(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let result = email_token::Entity::delete_many()
        .filter(email_token::Column::ExpiresAt.lt(before))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

/// Messages not yet sent nor given up, and when the oldest was queued.
pub async fn backlog(
    conn: &impl ConnectionTrait,
) -> Result<(u64, Option<DateTime<Utc>>), StoreError> {
    let waiting = email_outbox::Entity::find()
        .filter(email_outbox::Column::SentAt.is_null())
        .filter(email_outbox::Column::FailedAt.is_null());
    let count = waiting.clone().count(conn).await?;
    let oldest = waiting
        .order_by_asc(email_outbox::Column::CreatedAt)
        .one(conn)
        .await?
        .map(|row| row.created_at);
    Ok((count, oldest))
}
