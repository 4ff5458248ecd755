//! The webhook events about subscriptions and payments: `subscription.updated` whenever the plan
//! in force, the status or the end of a subscription changes, whatever changed it (a Stripe
//! webhook, a synchronous Stripe answer, an admin, or the plan running out), and
//! `payment.failed` when a payment is declined. Each is queued in the transaction of its change.
//!
//! A plan that runs out changes nothing stored (it reads as free from that instant), so the
//! maintenance worker announces it once: it claims lapsed subscriptions with a conditional
//! update that remembers the `expires_at` announced ([`announce_lapses`]).

use chrono::{DateTime, Utc};
use domain::{Plan, RENEWAL_GRACE};
use persistence::subscriptions::{self, SubscriptionRow};
use persistence::{ConnectionTrait, DatabaseConnection, StoreError};
use serde_json::json;

use crate::outgoing::events::{EventType, OutgoingEvent, timestamp};
use crate::outgoing::publish::publish;
use crate::views::Subscription;
use crate::{Context, ServiceError};
use uuid::Uuid;

/// The `subscription.updated` event of a subscription now in force, changed from `previous`.
fn event(previous: Plan, now: &Subscription, at: DateTime<Utc>) -> OutgoingEvent {
    OutgoingEvent {
        event_type: EventType::SubscriptionUpdated,
        at,
        data: json!({
            "user_id": now.user_id,
            "plan": now.plan.as_str(),
            "previous_plan": previous.as_str(),
            "status": now.status.as_str(),
            "expires_at": now.expires_at.map(timestamp),
        }),
    }
}

/// Queues `subscription.updated` when the subscription in force differs between `before` and
/// `after` (plan, status or end) read at `at`, in the caller's transaction. Returns the
/// deliveries queued.
pub(crate) async fn announce_change(
    conn: &impl ConnectionTrait,
    before: &SubscriptionRow,
    after: &SubscriptionRow,
    at: DateTime<Utc>,
) -> Result<usize, ServiceError> {
    let was = Subscription::at(before.clone(), at)?;
    let now = Subscription::at(after.clone(), at)?;
    if (was.plan, &was.status, was.expires_at) == (now.plan, &now.status, now.expires_at) {
        return Ok(0);
    }
    Ok(publish(conn, &[event(was.plan, &now, at)]).await?)
}

/// Queues `payment.failed` (at `at`) for the subscription's owner, in the caller's transaction.
pub(crate) async fn announce_payment_failure(
    conn: &impl ConnectionTrait,
    row: &SubscriptionRow,
    decline_code: Option<&str>,
    at: DateTime<Utc>,
) -> Result<usize, ServiceError> {
    let subscription = Subscription::at(row.clone(), at)?;
    let failed = OutgoingEvent {
        event_type: EventType::PaymentFailed,
        at,
        data: json!({
            "user_id": row.user_id,
            "plan": subscription.plan.as_str(),
            "decline_code": decline_code,
        }),
    };
    Ok(publish(conn, &[failed]).await?)
}

/// Queues `payment.failed` for a payment Stripe declined while the customer waited (`plan`: the
/// plan being paid for, if one was asked). Best effort, in its own transaction: the caller's
/// answer is the decline either way, and a failure here is only logged.
pub(crate) async fn announce_decline(
    ctx: &Context,
    user_id: Uuid,
    plan: Option<Plan>,
    decline_code: Option<&str>,
) {
    let announced = async {
        let txn = persistence::begin_write(&ctx.db).await?;
        let mut row = subscriptions::find_by_user(&txn, user_id)
            .await?
            .ok_or(ServiceError::NotFound("Subscription"))?;
        if let Some(plan) = plan {
            row.plan = plan.as_str().to_owned();
            row.expires_at = None;
        }
        let queued = announce_payment_failure(&txn, &row, decline_code, ctx.now()).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok::<usize, ServiceError>(queued)
    };
    match announced.await {
        Ok(queued) if queued > 0 => ctx.webhook_signal.notify_one(),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "payment.failed could not be queued"),
    }
}

/// Announces every paid plan that ran out by `now` and not yet announced, once each (several
/// instances may run this at once: the claim is one conditional update). Returns the lapses
/// announced.
pub(crate) async fn announce_lapses(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let txn = persistence::begin_write(db).await?;
    let lapsed = subscriptions::claim_lapsed(&txn, now, RENEWAL_GRACE).await?;
    let mut events = Vec::new();
    for row in &lapsed {
        let Ok(previous) = Plan::parse(&row.plan) else {
            continue;
        };
        // The row as stored, read now: its plan reads as free with status `expired`.
        match Subscription::at(row.clone(), now) {
            Ok(view) if view.plan != previous => events.push(event(previous, &view, now)),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "a lapsed subscription could not be read"),
        }
    }
    publish(&txn, &events).await?;
    txn.commit().await?;
    Ok(u64::try_from(lapsed.len()).unwrap_or(u64::MAX))
}
