//! Paid plans through Stripe: subscriptions (paid sign-up, plan changes, renewal, Checkout;
//! [`subscriptions`], [`sign_up`]), Stripe's webhooks ([`webhooks`]), the Customer Portal and
//! invoices ([`portal`]). Stripe is reached only through `billing::PaymentGateway`; every Stripe
//! answer is written to the subscription row through [`stripe_sync`], which keeps it monotonic
//! with the domain's ordering rules (`domain::subscription`).

mod portal;
mod sign_up;
pub(crate) mod stripe_sync;
mod subscriptions;
mod webhooks;

use billing::{BillingCustomer, SubscriptionState};
use domain::WebhookOutcome;
use persistence::StoreError;
use persistence::subscriptions::{self as rows, SubscriptionChanges, SubscriptionRow};
use persistence::users;
use uuid::Uuid;

pub use self::portal::{InvoicePageView, InvoiceQuery, InvoiceView, PortalSession};
pub(crate) use self::sign_up::{
    PaidSignUp, cancel_for_deletion, check_paid_registration, record_sign_up, subscribe_new_account,
};
pub use self::subscriptions::{
    CHECKOUT_IS_FOR_A_PAID_PLAN, CheckoutOrder, SubscriptionOutcome, SubscriptionUpdate,
};
use crate::subscription_events;
use crate::views::Subscription;
use crate::{Context, ServiceError};

/// What a webhook delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReceipt {
    pub event_id: String,
    pub outcome: WebhookOutcome,
}

/// Billing use cases.
#[derive(Clone)]
pub struct Billing {
    pub(crate) ctx: Context,
}

impl Billing {
    pub(crate) fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Whether Stripe is configured (paid plans can be bought).
    pub fn is_configured(&self) -> bool {
        self.ctx.webhooks.is_some()
    }

    pub(crate) fn require_configured(&self) -> Result<(), ServiceError> {
        if self.is_configured() {
            Ok(())
        } else {
            Err(ServiceError::BillingUnavailable)
        }
    }

    async fn row(&self, user_id: Uuid) -> Result<SubscriptionRow, ServiceError> {
        rows::find_by_user(&self.ctx.db, user_id)
            .await?
            .ok_or(ServiceError::NotFound("Subscription"))
    }

    async fn customer(
        &self,
        user_id: Uuid,
        row: &SubscriptionRow,
    ) -> Result<BillingCustomer, ServiceError> {
        let user = users::find_by_id(&self.ctx.db, user_id)
            .await?
            .ok_or(ServiceError::NotFound("User"))?;
        Ok(BillingCustomer {
            user_id: user_id.to_string(),
            email: user.email,
            name: Some(user.name),
            stripe_customer_id: row.stripe_customer_id.clone(),
        })
    }

    async fn fetch(&self, subscription_id: &str) -> Result<SubscriptionState, ServiceError> {
        Ok(self.ctx.gateway.fetch_subscription(subscription_id).await?)
    }

    /// Writes a synchronous Stripe answer (and other changes) to the caller's row.
    async fn write_answer(
        &self,
        user_id: Uuid,
        state: Option<&SubscriptionState>,
        extra: SubscriptionChanges,
    ) -> Result<Subscription, ServiceError> {
        let now = self.ctx.now();
        let txn = persistence::begin_write(&self.ctx.db).await?;
        let row = rows::lock_by_user(&txn, user_id)
            .await?
            .ok_or(ServiceError::NotFound("Subscription"))?;
        let mut changes = match state {
            Some(state) => stripe_sync::changes_for(&row, state, now.timestamp(), now),
            None => SubscriptionChanges::default(),
        };
        merge(&mut changes, extra);
        let updated = rows::update(&txn, user_id, changes, now)
            .await?
            .ok_or(ServiceError::NotFound("Subscription"))?;
        let queued = subscription_events::announce_change(&txn, &row, &updated, now).await?;
        txn.commit().await.map_err(StoreError::from)?;
        if queued > 0 {
            self.ctx.webhook_signal.notify_one();
        }
        Subscription::at(updated, now)
    }
}

/// Stripe no longer has the object (`resource_missing`).
fn is_gone(err: &billing::BillingError) -> bool {
    matches!(err, billing::BillingError::InvalidRequest { code: Some(code), .. } if code == "resource_missing")
}

fn stripe_id(row: &SubscriptionRow) -> Result<&str, ServiceError> {
    row.stripe_subscription_id
        .as_deref()
        .ok_or_else(|| ServiceError::internal("subscription", "a live row without a Stripe id"))
}

/// Copies every field `extra` sets over `changes`.
fn merge(changes: &mut SubscriptionChanges, extra: SubscriptionChanges) {
    macro_rules! take {
        ($($field:ident),*) => {$(if extra.$field.is_some() { changes.$field = extra.$field; })*};
    }
    take!(
        plan,
        status,
        is_active,
        auto_renew,
        start_date,
        expires_at,
        token_limit,
        max_model_tier,
        stripe_customer_id,
        stripe_subscription_id,
        payment_method_id,
        stripe_price_id,
        billing_interval,
        stripe_status,
        stripe_synced_at
    );
}
