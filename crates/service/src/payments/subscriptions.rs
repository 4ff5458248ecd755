//! Changing a subscription: plan, payment method and renewal (`PUT /api/users/me/subscription`),
//! and hosted Checkout. Stripe is called first; the row changes only with what Stripe accepted.

use billing::{BillingInterval, CheckoutSession, PaidPlan, SubscriptionState};
use chrono::TimeDelta;
use domain::{PaymentMethodId, Plan, SubscriptionStatus};
use persistence::subscriptions::{self as rows, SubscriptionChanges, SubscriptionRow};

use super::{Billing, is_gone, stripe_id, stripe_sync};
use crate::ServiceError;
use crate::auth_tokens::CurrentUser;
use crate::subscription_events;
use crate::views::Subscription;

/// How long a subscription change may hold the row before another may start. Longer than a
/// change can take: a first subscription makes up to five Stripe requests, each up to about
/// 31.5 s with its retries (`STRIPE_TIMEOUT` 10 s, three attempts); a change cut short (the
/// process died or stopped mid-change) holds the row no longer than this.
const CHANGE_LEASE: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// `PUT /api/users/me/subscription`, parsed: every field optional.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionUpdate {
    pub plan: Option<Plan>,
    /// When starting a paid subscription (monthly unless given); a running one cannot change it.
    pub billing_interval: Option<BillingInterval>,
    pub payment_method_id: Option<PaymentMethodId>,
    pub auto_renew: Option<bool>,
}

/// `POST /api/billing/checkout-session`, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckoutOrder {
    /// A paid plan.
    pub plan: Plan,
    pub billing_interval: BillingInterval,
}

/// The 422 of a Checkout for the free plan.
pub const CHECKOUT_IS_FOR_A_PAID_PLAN: &str = "Checkout is for a paid plan.";

/// A subscription after a change, with the secret to finish a payment that needs the
/// customer (3-D Secure) when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionOutcome {
    pub subscription: Subscription,
    pub client_secret: Option<String>,
}

impl Billing {
    /// Changes the caller's plan, payment method or renewal (see docs/API.md,
    /// `PUT /api/users/me/subscription`). Stripe is called first; the row changes only with what Stripe accepted.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn update_subscription(
        &self,
        user: &CurrentUser,
        update: SubscriptionUpdate,
    ) -> Result<SubscriptionOutcome, ServiceError> {
        let wanted = update.plan;
        let result = self.change_holding_the_lease(user, update).await;
        if let Err(ServiceError::PaymentFailed { decline_code, .. }) = &result {
            subscription_events::announce_decline(
                &self.ctx,
                user.id,
                wanted,
                decline_code.as_deref(),
            )
            .await;
        }
        result
    }

    /// [`change_subscription`](Self::change_subscription) while holding the row's change lease:
    /// a second change started meanwhile is refused (409) before it reaches Stripe, where two
    /// first subscriptions would both be created and billed (a double click, two tabs). The
    /// lease is given back when the change ends (only this change's: one that outlived its lease
    /// does not free another's), and lapses by itself after [`CHANGE_LEASE`] if the process dies
    /// or stops mid-change; the retry then reuses the Stripe idempotency keys of the change it
    /// repeats (they follow the row, which did not change).
    async fn change_holding_the_lease(
        &self,
        user: &CurrentUser,
        update: SubscriptionUpdate,
    ) -> Result<SubscriptionOutcome, ServiceError> {
        let now = self.ctx.now();
        let until = now + TimeDelta::from_std(CHANGE_LEASE).unwrap_or(TimeDelta::minutes(5));
        if !rows::take_change_lease(&self.ctx.db, user.id, now, until).await? {
            // A change takes a Stripe round trip or two: worth asking again soon.
            return Err(ServiceError::ChangeInProgress {
                retry_after_secs: 2,
            });
        }
        let result = self.change_subscription(user, update).await;
        if let Err(e) = rows::end_change_lease(&self.ctx.db, user.id, until).await {
            // It lapses by itself; the change's own answer stands.
            tracing::warn!(error = %e, "the subscription's change lease was not given back");
        }
        result
    }

    async fn change_subscription(
        &self,
        user: &CurrentUser,
        update: SubscriptionUpdate,
    ) -> Result<SubscriptionOutcome, ServiceError> {
        let SubscriptionUpdate {
            plan,
            billing_interval,
            payment_method_id,
            auto_renew,
        } = update;
        let payment_method = payment_method_id.map(|id| id.as_str().to_owned());
        let row = self.row(user.id).await?;
        let view = Subscription::at(row.clone(), self.ctx.now())?;
        let prefix = format!(
            "subscription:{}:{}",
            user.id,
            row.updated_at.timestamp_millis()
        );
        let live = stripe_sync::is_live(&row);
        let mut extra = SubscriptionChanges::default();
        let state = match plan {
            Some(target) if target.is_paid() => {
                let paid = PaidPlan::from_plan(target)
                    .ok_or_else(|| ServiceError::internal("plan", "a paid plan without a price"))?;
                self.require_configured()?;
                if live {
                    Some(
                        self.change_paid_plan(
                            &row,
                            paid,
                            billing_interval,
                            payment_method,
                            auto_renew,
                            &prefix,
                        )
                        .await?,
                    )
                } else {
                    let payment_method = payment_method
                        .or_else(|| {
                            row.stripe_customer_id
                                .as_ref()
                                .and(row.payment_method_id.clone())
                        })
                        .ok_or_else(|| {
                            ServiceError::invalid_field(
                                "payment_method_id",
                                "A paid plan needs a payment method.",
                            )
                        })?;
                    self.cancel_open_first_payment(&row, &prefix).await?;
                    let customer = self.customer(user.id, &row).await?;
                    let mut state = self
                        .ctx
                        .gateway
                        .subscribe(
                            &customer,
                            paid,
                            billing_interval.unwrap_or_default(),
                            &payment_method,
                            &prefix,
                        )
                        .await?;
                    if auto_renew == Some(false) && state.status.keeps_paid_plan() {
                        state = self
                            .ctx
                            .gateway
                            .set_cancel_at_period_end(&state.stripe_subscription_id, true, &prefix)
                            .await?;
                    }
                    extra.payment_method_id = Some(Some(payment_method));
                    Some(state)
                }
            }
            Some(_free) if stripe_sync::is_open_first_payment(&row) => {
                self.require_configured()?;
                self.cancel_open_first_payment(&row, &prefix).await?
            }
            Some(_free) => {
                if live {
                    self.require_configured()?;
                    let id = stripe_id(&row)?;
                    Some(
                        self.ctx
                            .gateway
                            .set_cancel_at_period_end(id, true, &prefix)
                            .await?,
                    )
                } else {
                    if view.plan.is_paid() {
                        // Granted by an admin, not billed: a dated grant runs out by itself,
                        // an open-ended one ends now.
                        if row.expires_at.is_some() {
                            extra.auto_renew = Some(false);
                        } else {
                            extra.plan = Some(Plan::Free.as_str().to_owned());
                            extra.status = Some(SubscriptionStatus::Active.as_str().to_owned());
                            extra.is_active = Some(true);
                            extra.start_date = Some(self.ctx.now());
                        }
                    } else if let Some(renew) = auto_renew {
                        extra.auto_renew = Some(renew);
                    }
                    None
                }
            }
            None => {
                let mut state = None;
                if let Some(pm) = payment_method {
                    let customer_id = row.stripe_customer_id.as_deref().ok_or_else(|| {
                        ServiceError::invalid_field(
                            "payment_method_id",
                            "Send a payment method together with a paid plan.",
                        )
                    })?;
                    self.require_configured()?;
                    self.ctx
                        .gateway
                        .set_default_payment_method(customer_id, &pm, &prefix)
                        .await?;
                    extra.payment_method_id = Some(Some(pm));
                }
                if let Some(renew) = auto_renew {
                    if live {
                        self.require_configured()?;
                        let id = stripe_id(&row)?;
                        state = Some(
                            self.ctx
                                .gateway
                                .set_cancel_at_period_end(id, !renew, &prefix)
                                .await?,
                        );
                    } else {
                        extra.auto_renew = Some(renew);
                    }
                }
                state
            }
        };
        let client_secret = state
            .as_ref()
            .and_then(|s| s.client_secret().map(str::to_owned));
        let subscription = self.write_answer(user.id, state.as_ref(), extra).await?;
        Ok(SubscriptionOutcome {
            subscription,
            client_secret,
        })
    }

    /// A hosted Checkout page for a paid plan; the price comes from configuration.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn checkout_session(
        &self,
        user: &CurrentUser,
        order: impl TryInto<CheckoutOrder, Error = ServiceError>,
    ) -> Result<CheckoutSession, ServiceError> {
        let CheckoutOrder {
            plan,
            billing_interval: interval,
        } = order.try_into()?;
        let paid = PaidPlan::from_plan(plan)
            .ok_or_else(|| ServiceError::invalid_field("plan", CHECKOUT_IS_FOR_A_PAID_PLAN))?;
        self.require_configured()?;
        let row = self.row(user.id).await?;
        if stripe_sync::is_live(&row) {
            return Err(ServiceError::SubscriptionExists);
        }
        let customer = self.customer(user.id, &row).await?;
        let prefix = format!("checkout:{}:{}", user.id, row.updated_at.timestamp_millis());
        Ok(self
            .ctx
            .gateway
            .create_checkout_session(&customer, paid, interval, &prefix)
            .await?)
    }

    /// A live subscription moves to another paid plan (prorated), with an optional new
    /// payment method and renewal switch.
    async fn change_paid_plan(
        &self,
        row: &SubscriptionRow,
        plan: PaidPlan,
        interval: Option<BillingInterval>,
        payment_method: Option<String>,
        auto_renew: Option<bool>,
        prefix: &str,
    ) -> Result<SubscriptionState, ServiceError> {
        let id = stripe_id(row)?;
        if let Some(wanted) = interval
            && row.billing_interval.as_deref() != Some(wanted.as_str())
        {
            return Err(ServiceError::invalid_field(
                "billing_period",
                "The billing period of a running subscription cannot change; downgrade to free \
                 and subscribe again when it ends.",
            ));
        }
        let gateway = &self.ctx.gateway;
        if let Some(pm) = payment_method.as_deref()
            && let Some(customer) = row.stripe_customer_id.as_deref()
        {
            gateway
                .set_default_payment_method(customer, pm, prefix)
                .await?;
        }
        let plan_changes = row.plan != plan.as_str();
        let mut state = if plan_changes {
            gateway.change_plan(id, plan, prefix).await?
        } else {
            self.fetch(id).await?
        };
        // Choosing a paid plan means keeping it: renewal comes back on unless asked otherwise.
        let renew = auto_renew.unwrap_or(plan_changes || row.auto_renew);
        // A change still waiting for the customer's payment is answered as it is: renewal
        // follows once it is settled.
        if renew == state.cancel_at_period_end && state.client_secret().is_none() {
            state = gateway.set_cancel_at_period_end(id, !renew, prefix).await?;
        }
        Ok(state)
    }

    /// Cancels a subscription still waiting for its first payment (the customer starts over
    /// or gives up), so it cannot be paid later beside a new one. Its canceled state is the
    /// answer; `None` when there is none.
    async fn cancel_open_first_payment(
        &self,
        row: &SubscriptionRow,
        prefix: &str,
    ) -> Result<Option<SubscriptionState>, ServiceError> {
        if !stripe_sync::is_open_first_payment(row) {
            return Ok(None);
        }
        let id = stripe_id(row)?;
        match self.ctx.gateway.cancel_now(id, prefix).await {
            Ok(state) => Ok(Some(state)),
            Err(e) if is_gone(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
