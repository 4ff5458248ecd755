//! Stripe's webhooks: each delivery verified (bounded work, off the async workers), applied
//! exactly once per event id in the same transaction as its record, and ordered against the
//! stored state by the domain's rules (`domain::decide_state`, `decide_payment_failure`), so
//! late and out-of-order events never move a subscription backwards.

use billing::SubscriptionState;
use billing::webhook::{EventData, InvoiceEvent, SubscriptionChange, WebhookEvent};
use chrono::{DateTime, Utc};
use domain::{
    ProviderStatus, StateDecision, StoredProviderState, SubscriptionStatus, WebhookOutcome,
    decide_payment_failure, decide_state,
};
use persistence::StoreError;
use persistence::stripe_events::{self, NewStripeEvent};
use persistence::subscriptions::{self, SubscriptionChanges, SubscriptionRow};
use uuid::Uuid;

use super::{Billing, WebhookReceipt, stripe_sync};
use crate::ServiceError;
use crate::subscription_events;

/// The `type` label of Stripe deliveries whose signature or body did not verify.
const UNVERIFIED: &str = "unverified";

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
    Done(WebhookOutcome, Option<Box<SubscriptionChanges>>),
    /// Fetch the subscription from Stripe first.
    Refetch,
}

impl Billing {
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
            .verify_and_parse(verifier, payload, header, self.ctx.now().timestamp())
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
        metrics.stripe_event(&event.type_, outcome.as_str());
        tracing::info!(event_id = %event.id, event_type = %event.type_, %outcome, "webhook");
        Ok(WebhookReceipt {
            event_id: event.id,
            outcome,
        })
    }

    async fn apply_event(&self, event: &WebhookEvent) -> Result<WebhookOutcome, ServiceError> {
        if stripe_events::exists(&self.ctx.db, &event.id).await? {
            return Ok(WebhookOutcome::Duplicate);
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
                    return self.record_only(event, None, WebhookOutcome::Ignored).await;
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
                    return self.record_only(event, None, WebhookOutcome::Ignored).await;
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
                    return self.record_only(event, None, WebhookOutcome::Ignored).await;
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
            EventData::Other => self.record_only(event, None, WebhookOutcome::Ignored).await,
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
    ) -> Result<Option<WebhookOutcome>, ServiceError> {
        let incoming = stripe_sync::provider_status(&state.status);
        self.apply_locked(event, target, |row| {
            let status = stripe_sync::stored_status(row);
            match decide_state(
                &stored(row, status.as_ref()),
                &state.stripe_subscription_id,
                &incoming,
                event.created,
                settled,
            ) {
                StateDecision::Refetch => Step::Refetch,
                StateDecision::Ignore(outcome) => Step::Done(outcome, None),
                StateDecision::Apply => Step::Done(
                    WebhookOutcome::Applied,
                    Some(Box::new(stripe_sync::changes_for(
                        row,
                        state,
                        event.created,
                        self.ctx.now(),
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
    ) -> Result<WebhookOutcome, ServiceError> {
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
    ) -> Result<Option<WebhookOutcome>, ServiceError> {
        let target = invoice_target(invoice, subscription_id);
        self.apply_locked(event, &target, |row| {
            let status = stripe_sync::stored_status(row);
            let ours = SubscriptionStatus::parse(&row.status).ok();
            match decide_payment_failure(
                &stored(row, status.as_ref()),
                ours.unwrap_or(SubscriptionStatus::Pending),
                subscription_id,
                event.created,
            ) {
                StateDecision::Refetch => Step::Refetch,
                StateDecision::Ignore(outcome) => Step::Done(outcome, None),
                StateDecision::Apply => {
                    let changes = SubscriptionChanges {
                        status: Some(SubscriptionStatus::PastDue.as_str().to_owned()),
                        stripe_status: Some(Some(ProviderStatus::PastDue.as_str().to_owned())),
                        stripe_synced_at: Some(Some(event.created)),
                        ..Default::default()
                    };
                    Step::Done(WebhookOutcome::Applied, Some(Box::new(changes)))
                }
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
    ) -> Result<Option<WebhookOutcome>, ServiceError> {
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
            return Ok(Some(WebhookOutcome::Duplicate));
        }
        let (outcome, changes) = match step(&row) {
            Step::Refetch => return Ok(None),
            Step::Done(outcome, changes) => (outcome, changes),
        };
        let now = self.ctx.now();
        let mut queued = 0;
        if let Some(changes) = changes
            && let Some(updated) = subscriptions::update(&txn, row.user_id, *changes, now).await?
        {
            queued += subscription_events::announce_change(&txn, &row, &updated, now).await?;
        }
        // A declined renewal of this account's subscription, whatever it changed (not one
        // older than the stored state: a later payment may have gone through since).
        if matches!(event.data, EventData::InvoicePaymentFailed(_))
            && matches!(outcome, WebhookOutcome::Applied | WebhookOutcome::Ignored)
        {
            queued += subscription_events::announce_payment_failure(&txn, &row, None, now).await?;
        }
        if !record(&txn, event, Some(row.user_id), outcome, now).await? {
            return Ok(Some(WebhookOutcome::Duplicate));
        }
        txn.commit().await.map_err(StoreError::from)?;
        if queued > 0 {
            self.ctx.webhook_signal.notify_one();
        }
        Ok(Some(outcome))
    }

    async fn unknown(&self, event: &WebhookEvent) -> Result<WebhookOutcome, ServiceError> {
        tracing::warn!(
            event_id = %event.id,
            event_type = %event.type_,
            "webhook for a customer or subscription this service does not know"
        );
        self.record_only(event, None, WebhookOutcome::UnknownCustomer)
            .await
    }

    async fn record_only(
        &self,
        event: &WebhookEvent,
        user_id: Option<Uuid>,
        outcome: WebhookOutcome,
    ) -> Result<WebhookOutcome, ServiceError> {
        let txn = persistence::begin_write(&self.ctx.db).await?;
        if !record(&txn, event, user_id, outcome, self.ctx.now()).await? {
            return Ok(WebhookOutcome::Duplicate);
        }
        txn.commit().await.map_err(StoreError::from)?;
        Ok(outcome)
    }

    async fn find(&self, target: &Target<'_>) -> Result<Option<SubscriptionRow>, ServiceError> {
        find_on(&self.ctx.db, target).await
    }
}

/// The provider side of a stored row, as the domain's ordering rules read it.
fn stored<'a>(
    row: &'a SubscriptionRow,
    status: Option<&'a ProviderStatus>,
) -> StoredProviderState<'a> {
    StoredProviderState {
        subscription_id: row.stripe_subscription_id.as_deref(),
        status,
        synced_at: row.stripe_synced_at,
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
    outcome: WebhookOutcome,
    processed_at: DateTime<Utc>,
) -> Result<bool, ServiceError> {
    Ok(stripe_events::record(
        conn,
        NewStripeEvent {
            id: &event.id,
            event_type: &event.type_,
            created: event.created,
            user_id,
            outcome: outcome.as_str(),
            processed_at,
        },
    )
    .await?)
}
