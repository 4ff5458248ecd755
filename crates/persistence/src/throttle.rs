//! Throttle events (failed sign-ins, reset requests, registrations...), counted per subject
//! (an email, a client address, a user id) within a window. Subjects are stored as their
//! SHA-256, so a row has a fixed size whatever the caller sent and holds no address in clear.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::login_attempt;

/// What a failure is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Failed sign-ins per email.
    Email,
    /// Failed sign-ins per client address.
    Ip,
    /// Verification emails re-sent per user.
    ResendVerification,
    /// Password-reset requests per email.
    ResetEmail,
    /// Password-reset requests per client address.
    ResetIp,
    /// Registrations per client address.
    RegisterIp,
    /// Reset-token redemptions per client address.
    ResetRedeemIp,
    /// Email changes per user.
    EmailChange,
    /// Wrong current passwords per user (password and email changes).
    PasswordChange,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Email => "email",
            Scope::Ip => "ip",
            Scope::ResendVerification => "resend_verification",
            Scope::ResetEmail => "reset_email",
            Scope::ResetIp => "reset_ip",
            Scope::RegisterIp => "register_ip",
            Scope::ResetRedeemIp => "reset_redeem_ip",
            Scope::EmailChange => "email_change",
            Scope::PasswordChange => "password_change",
        }
    }
}

/// The stored form of a subject: its SHA-256, hex.
fn key(subject: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(subject.as_bytes()))
}

/// Failures since `since` and the oldest of them (which decides when the lock lifts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentFailures {
    pub count: u64,
    pub oldest: Option<DateTime<Utc>>,
}

/// Counts failures for `subject` since `since`.
pub async fn recent_failures(
    conn: &impl ConnectionTrait,
    scope: Scope,
    subject: &str,
    since: DateTime<Utc>,
) -> Result<RecentFailures, StoreError> {
    let base = login_attempt::Entity::find()
        .filter(login_attempt::Column::Scope.eq(scope.as_str()))
        .filter(login_attempt::Column::Subject.eq(key(subject)))
        .filter(login_attempt::Column::AttemptedAt.gt(since));
    let count = base.clone().count(conn).await?;
    let oldest = if count == 0 {
        None
    } else {
        base.order_by_asc(login_attempt::Column::AttemptedAt)
            .one(conn)
            .await?
            .map(|row| row.attempted_at)
    };
    Ok(RecentFailures { count, oldest })
}

/// Records one event (a failure, an attempt in progress, or a throttled request); returns its
/// id so an attempt that turns out well can be taken back with [`forget`].
pub async fn record_failure(
    conn: &impl ConnectionTrait,
    scope: Scope,
    subject: &str,
    at: DateTime<Utc>,
) -> Result<Uuid, StoreError> {
    let id = Uuid::now_v7();
    login_attempt::ActiveModel {
        id: Set(id),
        scope: Set(scope.as_str().to_owned()),
        subject: Set(key(subject)),
        attempted_at: Set(at),
    }
    .insert(conn)
    .await?;
    Ok(id)
}

/// Takes back recorded events by id.
pub async fn forget(conn: &impl ConnectionTrait, ids: &[Uuid]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    login_attempt::Entity::delete_many()
        .filter(login_attempt::Column::Id.is_in(ids.iter().copied()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Forgets the failures of `subject` (after a successful sign-in).
pub async fn clear(
    conn: &impl ConnectionTrait,
    scope: Scope,
    subject: &str,
) -> Result<(), StoreError> {
    login_attempt::Entity::delete_many()
        .filter(login_attempt::Column::Scope.eq(scope.as_str()))
        .filter(login_attempt::Column::Subject.eq(key(subject)))
        .exec(conn)
        .await?;
    Ok(())
}

/// Deletes events of these scopes older than `before`: they no longer count.
pub async fn prune(
    conn: &impl ConnectionTrait,
    scopes: &[Scope],
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let result = login_attempt::Entity::delete_many()
        .filter(login_attempt::Column::Scope.is_in(names))
        .filter(login_attempt::Column::AttemptedAt.lt(before))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

/// Deletes every event older than `before`, whatever its scope (housekeeping; `before` must
/// lie beyond the longest throttle window).
pub async fn prune_all(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let result = login_attempt::Entity::delete_many()
        .filter(login_attempt::Column::AttemptedAt.lt(before))
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}
