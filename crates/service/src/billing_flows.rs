//! Subscriptions and payments: paid sign-up, plan changes, hosted Checkout, and Stripe's
//! webhooks. Stripe is reached only through `billing::PaymentGateway`; every Stripe answer is
//! written to the subscription row through `stripe_sync`, which keeps it monotonic.

use billing::webhook::{EventData, InvoiceEvent, SubscriptionChange, WebhookEvent};
use billing::{BillingCustomer, CheckoutSession, PaidPlan, PriceInterval, SubscriptionState};
use domain::Plan;
use persistence::StoreError;
use persistence::stripe_events::{self, NewStripeEvent};
use persistence::subscriptions::{self, SubscriptionChanges, SubscriptionRow};
use persistence::users;
use uuid::Uuid;

use crate::error::Collector;
use crate::stripe_sync::{self, Order};
use crate::subscription_events;
use crate::tokens::CurrentUser;
use crate::views::Subscription;
use crate::{Context, ServiceError, clock};

/// The `type` label of Stripe deliveries whose signature or body did not verify.
const UNVERIFIED: &str = "unverified";

/// `PUT /api/users/me/subscription`: every field optional.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionUpdate {
    pub plan: Option<String>,
    /// `monthly` (default) or `yearly`; only when starting a paid subscription.
    pub billing_period: Option<String>,
    pub payment_method_id: Option<String>,
    pub auto_renew: Option<bool>,
}

/// A subscription after a change, with the secret to finish a payment that needs the
/// customer (3-D Secure) when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionOutcome {
    pub subscription: Subscription,
    pub client_secret: Option<String>,
}

/// What a webhook delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReceipt {
    pub event_id: String,
    /// `applied`, `duplicate`, `stale`, `other_subscription`, `unknown_customer`, `ignored`.
    pub outcome: &'static str,
}

/// Billing use cases.
#[derive(Clone)]
pub struct Billing {
    pub(crate) ctx: Context,
}

/// Where a webhook's subscription belongs.
enum Target<'a> {
    Stripe {
        subscription_id: &'a str,
        customer_id: Option<&'a str>,
    },
    User(Uuid),
}

/// What a webhook event does to a locked row.
enum Step {
    /// Its outcome, and the changes to write (if any).
    Done(&'static str, Option<Box<SubscriptionChanges>>),
    /// Fetch the subscription from Stripe first.
    Refetch,
}

/// What to do with a state a webhook brought.
enum Decision {
    Apply,
    Ignore(&'static str),
    /// Same second as the stored state: fetch the subscription and apply that.
    Refetch,
}

impl Billing {
    pub(crate) fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// Whether Stripe is configured (paid plans can be bought).
    pub fn is_configured(&self) -> bool {
        self.ctx.webhooks.is_some()
    }

    /// Changes the caller's plan, payment method or renewal (see docs/API.md,
    /// `PUT /api/users/me/subscription`). Stripe is called first; the row changes only with what Stripe accepted.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn update_subscription(
        &self,
        user: &CurrentUser,
        update: SubscriptionUpdate,
    ) -> Result<SubscriptionOutcome, ServiceError> {
        let wanted = update.plan.as_deref().and_then(|raw| Plan::parse(raw).ok());
        let result = self.change_subscription(user, update).await;
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

    async fn change_subscription(
        &self,
        user: &CurrentUser,
        update: SubscriptionUpdate,
    ) -> Result<SubscriptionOutcome, ServiceError> {
        let mut errors = Collector::default();
        let plan = update
            .plan
            .as_deref()
            .and_then(|raw| errors.take(Plan::parse(raw)));
        errors.finish()?;
        let interval = parse_interval(update.billing_period.as_deref())?;
        let payment_method = update
            .payment_method_id
            .as_deref()
            .map(|raw| parse_payment_method("payment_method_id", raw))
            .transpose()?;
        let row = self.row(user.id).await?;
        let view = Subscription::at(row.clone(), clock::now())?;
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
                            update.billing_period.as_ref().map(|_| interval),
                            payment_method,
                            update.auto_renew,
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
                        .subscribe(&customer, paid, interval, &payment_method, &prefix)
                        .await?;
                    if update.auto_renew == Some(false) && state.status.keeps_paid_plan() {
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
                            extra.status = Some(stripe_sync::ACTIVE.to_owned());
                            extra.is_active = Some(true);
                            extra.start_date = Some(clock::now());
                        }
                    } else if let Some(renew) = update.auto_renew {
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
                if let Some(renew) = update.auto_renew {
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
        plan: &str,
        billing_period: Option<&str>,
    ) -> Result<CheckoutSession, ServiceError> {
        let plan = Plan::parse(plan)?;
        let interval = parse_interval(billing_period)?;
        let paid = PaidPlan::from_plan(plan)
            .ok_or_else(|| ServiceError::invalid_field("plan", "Checkout is for a paid plan."))?;
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

    /// Verifies and applies one Stripe webhook delivery, exactly once per event id.
    #[tracing::instrument(skip_all)]
    pub async fn webhook(
        &self,
        payload: &[u8],
        signature: Option<&str>,
    ) -> Result<WebhookReceipt, ServiceError> {
        // An unsigned delivery, or one whose header is empty or oversized, is malformed
        // whether or not billing is configured.
        let metrics = &self.ctx.metrics;
        let Some(header) = signature else {
            metrics.stripe_event(UNVERIFIED, "invalid_signature");
            return Err(ServiceError::InvalidSignature);
        };
        billing::webhook::screen_header(header).map_err(|e| {
            tracing::warn!(error = %e, "webhook refused");
            metrics.stripe_event(UNVERIFIED, "invalid_signature");
            ServiceError::InvalidSignature
        })?;
        let verifier = self
            .ctx
            .webhooks
            .as_ref()
            .ok_or(ServiceError::BillingUnavailable)?;
        let event = self
            .ctx
            .webhook_gate
            .verify_and_parse(verifier, payload, header, clock::now().timestamp())
            .await?
            .map_err(|e| {
                if e.is_signature_error() {
                    tracing::warn!(error = %e, "webhook refused");
                    metrics.stripe_event(UNVERIFIED, "invalid_signature");
                    ServiceError::InvalidSignature
                } else {
                    metrics.stripe_event(UNVERIFIED, "error");
                    ServiceError::invalid_field("body", e.to_string())
                }
            })?;
        let outcome = match self.apply_event(&event).await {
            Ok(outcome) => outcome,
            Err(e) => {
                metrics.stripe_event(&event.type_, "error");
                return Err(e);
            }
        };
        metrics.stripe_event(&event.type_, outcome);
        tracing::info!(event_id = %event.id, event_type = %event.type_, outcome, "webhook");
        Ok(WebhookReceipt {
            event_id: event.id,
            outcome,
        })
    }

    async fn apply_event(&self, event: &WebhookEvent) -> Result<&'static str, ServiceError> {
        if stripe_events::exists(&self.ctx.db, &event.id).await? {
            return Ok("duplicate");
        }
        match &event.data {
            EventData::SubscriptionChanged {
                change,
                subscription,
            } => {
                let target = Target::Stripe {
                    subscription_id: &subscription.stripe_subscription_id,
                    customer_id: Some(&subscription.stripe_customer_id),
                };
                // A deletion is final: it applies even when it ties with the stored state.
                let deleted = *change == SubscriptionChange::Deleted;
                match self.settle(event, &target, subscription, deleted).await? {
                    Some(outcome) => Ok(outcome),
                    None => {
                        let fetched = self.fetch(&subscription.stripe_subscription_id).await?;
                        self.settle_fetched(event, &target, &fetched).await
                    }
                }
            }
            EventData::CheckoutCompleted(checkout) => {
                let user = checkout
                    .client_reference_id
                    .as_deref()
                    .or(checkout.metadata.get("user_id").map(String::as_str))
                    .and_then(|raw| Uuid::parse_str(raw).ok());
                let (Some(user_id), Some(subscription_id)) =
                    (user, checkout.subscription_id.as_deref())
                else {
                    return self.record_only(event, None, "ignored").await;
                };
                if subscriptions::find_by_user(&self.ctx.db, user_id)
                    .await?
                    .is_none()
                {
                    return self.unknown(event).await;
                }
                let fetched = self.fetch(subscription_id).await?;
                self.settle_fetched(event, &Target::User(user_id), &fetched)
                    .await
            }
            EventData::InvoicePaid(invoice) => {
                let Some(subscription_id) = invoice.subscription_id.as_deref() else {
                    return self.record_only(event, None, "ignored").await;
                };
                let target = invoice_target(invoice, subscription_id);
                if self.find(&target).await?.is_none() {
                    return self.unknown(event).await;
                }
                let fetched = self.fetch(subscription_id).await?;
                self.settle_fetched(event, &target, &fetched).await
            }
            EventData::InvoicePaymentFailed(invoice) => {
                let Some(subscription_id) = invoice.subscription_id.as_deref() else {
                    return self.record_only(event, None, "ignored").await;
                };
                match self.payment_failed(event, invoice, subscription_id).await? {
                    Some(outcome) => Ok(outcome),
                    None => {
                        let fetched = self.fetch(subscription_id).await?;
                        let target = invoice_target(invoice, subscription_id);
                        self.settle_fetched(event, &target, &fetched).await
                    }
                }
            }
            EventData::Other => self.record_only(event, None, "ignored").await,
        }
    }

    /// Applies `state` to the target's row and records the event, in one transaction. `None`
    /// when the state ties with the stored one and was not fetched (the caller fetches).
    async fn settle(
        &self,
        event: &WebhookEvent,
        target: &Target<'_>,
        state: &SubscriptionState,
        settled: bool,
    ) -> Result<Option<&'static str>, ServiceError> {
        self.apply_locked(event, target, |row| {
            match decide(row, state, event.created, settled) {
                Decision::Refetch => Step::Refetch,
                Decision::Ignore(reason) => Step::Done(reason, None),
                Decision::Apply => Step::Done(
                    "applied",
                    Some(Box::new(stripe_sync::changes_for(
                        row,
                        state,
                        event.created,
                    ))),
                ),
            }
        })
        .await
    }

    async fn settle_fetched(
        &self,
        event: &WebhookEvent,
        target: &Target<'_>,
        state: &SubscriptionState,
    ) -> Result<&'static str, ServiceError> {
        self.settle(event, target, state, true)
            .await?
            .ok_or_else(|| ServiceError::internal("webhook", "a fetched state tied"))
    }

    /// `invoice.payment_failed`: a renewal that failed turns an active subscription
    /// `past_due` (the plan stays during Stripe's retries); a failed first payment leaves it
    /// `pending`. `None` when the event ties with the stored state (the caller fetches).
    async fn payment_failed(
        &self,
        event: &WebhookEvent,
        invoice: &InvoiceEvent,
        subscription_id: &str,
    ) -> Result<Option<&'static str>, ServiceError> {
        let target = invoice_target(invoice, subscription_id);
        self.apply_locked(event, &target, |row| {
            let same = row.stripe_subscription_id.as_deref() == Some(subscription_id);
            let order = stripe_sync::order(row, event.created);
            if !same {
                Step::Done("other_subscription", None)
            } else if stripe_sync::is_final(row.stripe_status.as_deref()) || order == Order::Older {
                Step::Done("stale", None)
            } else if order == Order::Tie {
                Step::Refetch
            } else if row.status == stripe_sync::ACTIVE {
                let changes = SubscriptionChanges {
                    status: Some(stripe_sync::PAST_DUE.to_owned()),
                    stripe_status: Some(Some("past_due".to_owned())),
                    stripe_synced_at: Some(Some(event.created)),
                    ..Default::default()
                };
                Step::Done("applied", Some(Box::new(changes)))
            } else {
                Step::Done("ignored", None)
            }
        })
        .await
    }

    /// The one transaction of a webhook event about a subscription: find the row (unknown ->
    /// recorded as such), lock it, skip an event a concurrent delivery applied meanwhile, let
    /// `step` decide, write its changes and record the event with the outcome. `None` when
    /// `step` asks for the subscription to be fetched first (nothing is written).
    async fn apply_locked(
        &self,
        event: &WebhookEvent,
        target: &Target<'_>,
        step: impl FnOnce(&SubscriptionRow) -> Step,
    ) -> Result<Option<&'static str>, ServiceError> {
        let txn = persistence::begin_write(&self.ctx.db).await?;
        let Some(found) = find_on(&txn, target).await? else {
            drop(txn);
            return self.unknown(event).await.map(Some);
        };
        let row = subscriptions::lock_by_user(&txn, found.user_id)
            .await?
            .ok_or(ServiceError::NotFound("Subscription"))?;
        // A concurrent delivery of this event may have applied it while we waited for the
        // row: the lock orders them, and its record is visible now.
        if stripe_events::exists(&txn, &event.id).await? {
            return Ok(Some("duplicate"));
        }
        let (outcome, changes) = match step(&row) {
            Step::Refetch => return Ok(None),
            Step::Done(outcome, changes) => (outcome, changes),
        };
        let mut queued = 0;
        if let Some(changes) = changes
            && let Some(updated) =
                subscriptions::update(&txn, row.user_id, *changes, clock::now()).await?
        {
            queued += subscription_events::announce_change(&txn, &row, &updated).await?;
        }
        // A declined renewal of this account's subscription, whatever it changed (not one
        // older than the stored state: a later payment may have gone through since).
        if matches!(event.data, EventData::InvoicePaymentFailed(_))
            && matches!(outcome, "applied" | "ignored")
        {
            queued += subscription_events::announce_payment_failure(&txn, &row, None).await?;
        }
        if !record(&txn, event, Some(row.user_id), outcome).await? {
            return Ok(Some("duplicate"));
        }
        txn.commit().await.map_err(StoreError::from)?;
        if queued > 0 {
            self.ctx.webhook_signal.notify_one();
        }
        Ok(Some(outcome))
    }

    async fn unknown(&self, event: &WebhookEvent) -> Result<&'static str, ServiceError> {
        tracing::warn!(
            event_id = %event.id,
            event_type = %event.type_,
            "webhook for a customer or subscription this service does not know"
        );
        self.record_only(event, None, "unknown_customer").await
    }

    async fn record_only(
        &self,
        event: &WebhookEvent,
        user_id: Option<Uuid>,
        outcome: &'static str,
    ) -> Result<&'static str, ServiceError> {
        let txn = persistence::begin_write(&self.ctx.db).await?;
        if !record(&txn, event, user_id, outcome).await? {
            return Ok("duplicate");
        }
        txn.commit().await.map_err(StoreError::from)?;
        Ok(outcome)
    }

    async fn find(&self, target: &Target<'_>) -> Result<Option<SubscriptionRow>, ServiceError> {
        find_on(&self.ctx.db, target).await
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
        let now = clock::now();
        let txn = persistence::begin_write(&self.ctx.db).await?;
        let row = subscriptions::lock_by_user(&txn, user_id)
            .await?
            .ok_or(ServiceError::NotFound("Subscription"))?;
        let mut changes = match state {
            Some(state) => stripe_sync::changes_for(&row, state, now.timestamp()),
            None => SubscriptionChanges::default(),
        };
        merge(&mut changes, extra);
        let updated = subscriptions::update(&txn, user_id, changes, now)
            .await?
            .ok_or(ServiceError::NotFound("Subscription"))?;
        let queued = subscription_events::announce_change(&txn, &row, &updated).await?;
        txn.commit().await.map_err(StoreError::from)?;
        if queued > 0 {
            self.ctx.webhook_signal.notify_one();
        }
        Subscription::at(updated, now)
    }

    /// A live subscription moves to another paid plan (prorated), with an optional new
    /// payment method and renewal switch.
    async fn change_paid_plan(
        &self,
        row: &SubscriptionRow,
        plan: PaidPlan,
        interval: Option<PriceInterval>,
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

    pub(crate) fn require_configured(&self) -> Result<(), ServiceError> {
        if self.is_configured() {
            Ok(())
        } else {
            Err(ServiceError::BillingUnavailable)
        }
    }

    async fn row(&self, user_id: Uuid) -> Result<SubscriptionRow, ServiceError> {
        subscriptions::find_by_user(&self.ctx.db, user_id)
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
}

/// The billing part of a registration, checked before any work is done.
pub(crate) struct PaidSignUp {
    plan: PaidPlan,
    interval: PriceInterval,
    payment_method: String,
}

/// Refuses what a paid registration cannot be, before the password is hashed or Stripe is
/// called: billing must be configured and a payment method given.
pub(crate) fn check_paid_registration(
    ctx: &Context,
    plan: Plan,
    billing_period: Option<&str>,
    payment_method: Option<&str>,
) -> Result<PaidSignUp, ServiceError> {
    let plan = PaidPlan::from_plan(plan)
        .ok_or_else(|| ServiceError::internal("registration", "a free plan has no price"))?;
    if ctx.webhooks.is_none() {
        return Err(ServiceError::BillingUnavailable);
    }
    let interval = parse_interval(billing_period)?;
    let payment_method = match payment_method {
        Some(raw) => parse_payment_method("subscription.payment_method_id", raw)?,
        None => {
            return Err(ServiceError::invalid_field(
                "subscription.payment_method_id",
                "A paid plan needs a payment method.",
            ));
        }
    };
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
            &sign_up.payment_method,
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
    let mut changes = stripe_sync::changes_for(&row, state, now.timestamp());
    changes.payment_method_id = Some(Some(sign_up.payment_method.clone()));
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

/// Stripe no longer has the object (`resource_missing`).
fn is_gone(err: &billing::BillingError) -> bool {
    matches!(err, billing::BillingError::InvalidRequest { code: Some(code), .. } if code == "resource_missing")
}

fn decide(row: &SubscriptionRow, state: &SubscriptionState, at: i64, settled: bool) -> Decision {
    let same = row.stripe_subscription_id.as_deref() == Some(state.stripe_subscription_id.as_str());
    if !same {
        // Another subscription: adopt it only when ours is over and it is a live one (e.g.
        // bought through Checkout after a cancellation); an old one ending changes nothing.
        return if stripe_sync::is_live(row) || state.status.is_ended() {
            Decision::Ignore("other_subscription")
        } else if stripe_sync::order(row, at) == Order::Older {
            Decision::Ignore("stale")
        } else {
            Decision::Apply
        };
    }
    if stripe_sync::is_final(row.stripe_status.as_deref()) {
        return Decision::Ignore("stale");
    }
    match stripe_sync::order(row, at) {
        Order::Newer => Decision::Apply,
        Order::Tie if settled => Decision::Apply,
        Order::Tie => Decision::Refetch,
        Order::Older => Decision::Ignore("stale"),
    }
}

fn invoice_target<'a>(invoice: &'a InvoiceEvent, subscription_id: &'a str) -> Target<'a> {
    Target::Stripe {
        subscription_id,
        customer_id: invoice.customer_id.as_deref(),
    }
}

async fn find_on(
    conn: &impl persistence::ConnectionTrait,
    target: &Target<'_>,
) -> Result<Option<SubscriptionRow>, ServiceError> {
    Ok(match target {
        Target::Stripe {
            subscription_id,
            customer_id,
        } => subscriptions::find_by_stripe_ids(conn, Some(subscription_id), *customer_id).await?,
        Target::User(id) => subscriptions::find_by_user(conn, *id).await?,
    })
}

async fn record(
    conn: &impl persistence::ConnectionTrait,
    event: &WebhookEvent,
    user_id: Option<Uuid>,
    outcome: &str,
) -> Result<bool, ServiceError> {
    Ok(stripe_events::record(
        conn,
        NewStripeEvent {
            id: &event.id,
            event_type: &event.type_,
            created: event.created,
            user_id,
            outcome,
            processed_at: clock::now(),
        },
    )
    .await?)
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

fn parse_interval(raw: Option<&str>) -> Result<PriceInterval, ServiceError> {
    match raw {
        None => Ok(PriceInterval::Monthly),
        Some(raw) => PriceInterval::parse(raw).ok_or_else(|| {
            ServiceError::invalid_field(
                "billing_period",
                "billing_period must be monthly or yearly.",
            )
        }),
    }
}

/// A Stripe payment method id as Stripe.js returns it (`pm_...`): short, ASCII letters,
/// digits and underscores.
fn parse_payment_method(field: &str, raw: &str) -> Result<String, ServiceError> {
    let id = raw.trim();
    let valid =
        (3..=255).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(id.to_owned())
    } else {
        Err(ServiceError::invalid_field(
            field,
            "payment_method_id must be a Stripe payment method id such as pm_1234567890.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_method_ids_are_checked() {
        assert_eq!(
            parse_payment_method("f", " pm_1234567890 ").ok().as_deref(),
            Some("pm_1234567890")
        );
        for bad in ["", "pm", "pm 123", "pm_\u{0}", "pm_é12", &"x".repeat(256)] {
            assert!(parse_payment_method("f", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn billing_periods_parse_exactly() {
        assert_eq!(parse_interval(None).ok(), Some(PriceInterval::Monthly));
        assert_eq!(
            parse_interval(Some("yearly")).ok(),
            Some(PriceInterval::Yearly)
        );
        assert!(parse_interval(Some("Yearly")).is_err());
        assert!(parse_interval(Some("weekly")).is_err());
    }
}
