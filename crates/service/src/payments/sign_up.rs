//! The paid part of a registration: checked before any work is done, subscribed at Stripe
//! before the account exists, written with the account; and a deleted account's subscription
//! ended at Stripe.

use billing::{BillingCustomer, BillingInterval, PaidPlan, SubscriptionState};
use domain::{PaymentMethodId, Plan};
use persistence::subscriptions::{self, SubscriptionRow};
use uuid::Uuid;

use super::{is_gone, stripe_id, stripe_sync};
use crate::{Context, ServiceError};

/// The billing part of a registration, checked before any work is done.
pub(crate) struct PaidSignUp {
    plan: PaidPlan,
    interval: BillingInterval,
    payment_method: PaymentMethodId,
}

/// Refuses what a paid registration cannot be, before the password is hashed or Stripe is
/// called: billing must be configured and a payment method given.
pub(crate) fn check_paid_registration(
    ctx: &Context,
    plan: Plan,
    interval: BillingInterval,
    payment_method: Option<PaymentMethodId>,
) -> Result<PaidSignUp, ServiceError> {
    let plan = PaidPlan::from_plan(plan)
        .ok_or_else(|| ServiceError::internal("registration", "a free plan has no price"))?;
    if ctx.webhooks.is_none() {
        return Err(ServiceError::BillingUnavailable);
    }
    let payment_method = payment_method.ok_or_else(|| {
        ServiceError::invalid_field(
            "subscription.payment_method_id",
            "A paid plan needs a payment method.",
        )
    })?;
    Ok(PaidSignUp {
        plan,
        interval,
        payment_method,
    })
}

/// Starts the paid subscription of an account being registered, before the account exists.
/// The idempotency prefix names the intent (email, plan, period; the payment method is part
/// of every step's key), so a retried or double-clicked registration reuses Stripe's first
/// answer instead of paying twice.
pub(crate) async fn subscribe_new_account(
    ctx: &Context,
    email: &str,
    name: &str,
    sign_up: &PaidSignUp,
) -> Result<SubscriptionState, ServiceError> {
    let customer = BillingCustomer {
        user_id: String::new(),
        email: email.to_owned(),
        name: Some(name.to_owned()),
        stripe_customer_id: None,
    };
    let prefix = format!("register:{email}:{}:{}", sign_up.plan, sign_up.interval);
    Ok(ctx
        .gateway
        .subscribe(
            &customer,
            sign_up.plan,
            sign_up.interval,
            sign_up.payment_method.as_str(),
            &prefix,
        )
        .await?)
}

/// Writes the first Stripe answer of a new account to its subscription row (inside the
/// registration's transaction).
pub(crate) async fn record_sign_up(
    conn: &impl persistence::ConnectionTrait,
    user_id: Uuid,
    state: &SubscriptionState,
    sign_up: &PaidSignUp,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ServiceError> {
    let row = subscriptions::find_by_user(conn, user_id)
        .await?
        .ok_or(ServiceError::NotFound("Subscription"))?;
    let mut changes = stripe_sync::changes_for(&row, state, now.timestamp(), now);
    changes.payment_method_id = Some(Some(sign_up.payment_method.as_str().to_owned()));
    // A new account's first state, not a change: no `subscription.updated`.
    subscriptions::update(conn, user_id, changes, now).await?;
    Ok(())
}

/// Ends a deleted account's Stripe subscription at once, so nobody is billed for an account
/// that no longer exists. Nothing to do without a live subscription.
pub(crate) async fn cancel_for_deletion(
    ctx: &Context,
    row: &SubscriptionRow,
) -> Result<(), ServiceError> {
    if !(stripe_sync::is_live(row) || stripe_sync::is_open_first_payment(row)) {
        return Ok(());
    }
    let id = stripe_id(row)?;
    if ctx.webhooks.is_none() {
        // Billing was switched off: nothing here can reach Stripe. Deleting must still work;
        // say loudly what is left to cancel by hand.
        tracing::error!(
            stripe_subscription = %id,
            stripe_customer = ?row.stripe_customer_id,
            "account deleted while billing is not configured: cancel its Stripe subscription by hand"
        );
        return Ok(());
    }
    match ctx
        .gateway
        .cancel_now(id, &format!("delete:{}", row.user_id))
        .await
    {
        Ok(_) => Ok(()),
        // Already gone at Stripe (an event we missed): nothing left to bill.
        Err(e) if is_gone(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
