//! `StripeGateway`: the `PaymentGateway` on async-stripe 1.0, one function per flow.

mod client;
pub(crate) mod objects;
mod payment;
mod portal;
mod requests;

use std::collections::HashMap;

use async_trait::async_trait;
use stripe_billing::subscription::{
    CancelSubscription, CreateSubscription, CreateSubscriptionItems,
    CreateSubscriptionPaymentBehavior, RetrieveSubscription, UpdateSubscription,
    UpdateSubscriptionItems, UpdateSubscriptionPaymentBehavior,
    UpdateSubscriptionProrationBehavior,
};
use stripe_checkout::CheckoutSessionMode;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_core::customer::{CreateCustomer, UpdateCustomer, UpdateCustomerInvoiceSettings};
use stripe_payment::payment_method::AttachPaymentMethod;

use self::client::StripeClient;
use self::objects::{IdOnly, Subscription};
use crate::customer_portal::{InvoiceList, InvoicePage, PortalSession};
use crate::error::BillingError;
use crate::gateway::{BillingCustomer, CheckoutSession, PaymentGateway, SubscriptionState};
use crate::idempotency::idempotency_key;
use crate::plan::{BillingInterval, PaidPlan};
use crate::settings::{PriceTable, StripeSettings, normalize_api_base};

/// What a subscription answer must carry to tell an accepted payment from one that needs the
/// customer or was declined: the latest invoice's payments (the PaymentIntent's id, and whether
/// the invoice is paid) and its confirmation secret (the PaymentIntent's client secret). Since
/// API version 2025-03-31 an invoice has no `payment_intent`; the PaymentIntent hangs off
/// `invoice.payments.data[].payment`, which would be five levels to expand, one more than
/// Stripe allows (it counts every segment, `data` included). So the PaymentIntent is read in a
/// second request, and only when the invoice is not paid (see `payment.rs`).
const PAYMENT_EXPANSIONS: [&str; 2] = [
    "latest_invoice.confirmation_secret",
    "latest_invoice.payments",
];

/// Every `expand[]` path any request of the gateway sends (each at most four segments; a unit
/// test and the test Stripe hold it to that).
#[cfg(any(test, feature = "test-support"))]
pub(crate) const EXPAND_PATHS: &[&str] = &PAYMENT_EXPANSIONS;

/// The Stripe implementation of [`PaymentGateway`].
pub struct StripeGateway {
    client: StripeClient,
    prices: PriceTable,
    success_url: String,
    cancel_url: String,
    portal_return_url: String,
}

impl std::fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeGateway")
            .field("prices", &self.prices)
            .finish_non_exhaustive()
    }
}

impl StripeGateway {
    /// A gateway for `settings`; fails only on a key or base URL that cannot be an HTTP header
    /// or URI.
    pub fn new(settings: &StripeSettings) -> Result<Self, BillingError> {
        let client = stripe::ClientBuilder::new(settings.secret_key.expose())
            .url(normalize_api_base(&settings.api_base))
            .timeout(settings.request_timeout)
            .build()
            .map_err(|e| BillingError::Gateway(format!("Stripe client: {e}")))?;
        Ok(Self {
            client: StripeClient::new(client, settings.max_network_retries, settings.retry_backoff),
            prices: settings.prices.clone(),
            success_url: settings.success_url.clone(),
            cancel_url: settings.cancel_url.clone(),
            portal_return_url: settings.portal_return_url.clone(),
        })
    }

    fn price(&self, plan: PaidPlan, interval: BillingInterval) -> Result<&str, BillingError> {
        self.prices
            .price_for(plan, interval)
            .ok_or(BillingError::PriceUnavailable { plan, interval })
    }

    async fn retrieve(&self, subscription_id: &str) -> Result<Subscription, BillingError> {
        self.client
            .send(&RetrieveSubscription::new(subscription_id), None)
            .await
    }

    async fn create_customer(
        &self,
        customer: &BillingCustomer,
        prefix: &str,
    ) -> Result<String, BillingError> {
        let mut request = CreateCustomer::new().email(customer.email.as_str());
        if let Some(name) = &customer.name {
            request = request.name(name.as_str());
        }
        let name = customer.name.as_deref().unwrap_or_default();
        let key = idempotency_key(prefix, "customer", &[&customer.email, name]);
        let created: IdOnly = self.client.send(&request, Some(&key)).await?;
        tracing::info!(stripe_customer_id = %created.id, "created Stripe customer");
        Ok(created.id)
    }

    async fn attach_as_default(
        &self,
        customer_id: &str,
        payment_method_id: &str,
        prefix: &str,
    ) -> Result<(), BillingError> {
        let parts = [customer_id, payment_method_id];
        let attach = AttachPaymentMethod::new(payment_method_id).customer(customer_id);
        let _: IdOnly = self
            .client
            .send(&attach, Some(&idempotency_key(prefix, "attach", &parts)))
            .await?;
        let mut invoice_settings = UpdateCustomerInvoiceSettings::new();
        invoice_settings.default_payment_method = Some(payment_method_id.to_owned());
        let update = UpdateCustomer::new(customer_id).invoice_settings(invoice_settings);
        let _: IdOnly = self
            .client
            .send(
                &update,
                Some(&idempotency_key(prefix, "default-payment-method", &parts)),
            )
            .await?;
        Ok(())
    }
}

#[async_trait]
impl PaymentGateway for StripeGateway {
    #[tracing::instrument(skip_all, fields(plan = %plan, interval = %interval))]
    async fn subscribe(
        &self,
        customer: &BillingCustomer,
        plan: PaidPlan,
        interval: BillingInterval,
        payment_method_id: &str,
        idempotency_prefix: &str,
    ) -> Result<SubscriptionState, BillingError> {
        let price = self.price(plan, interval)?;
        let customer_id = match &customer.stripe_customer_id {
            Some(id) => id.clone(),
            None => self.create_customer(customer, idempotency_prefix).await?,
        };
        self.attach_as_default(&customer_id, payment_method_id, idempotency_prefix)
            .await?;

        let mut item = CreateSubscriptionItems::new();
        item.price = Some(price.to_owned());
        item.quantity = Some(1);
        // allow_incomplete: Stripe charges now; a payment that needs 3-D Secure leaves the
        // subscription `incomplete` with a client secret instead of failing the request
        // (error_if_incomplete would 402 it, and the customer could never authenticate).
        let request = CreateSubscription::new()
            .customer(customer_id.as_str())
            .items(vec![item])
            .payment_behavior(CreateSubscriptionPaymentBehavior::AllowIncomplete)
            .expand(PAYMENT_EXPANSIONS.map(str::to_owned).to_vec());
        let key = idempotency_key(
            idempotency_prefix,
            "subscription",
            &[&customer_id, price, payment_method_id],
        );
        let subscription: Subscription = self.client.send(&request, Some(&key)).await?;
        tracing::info!(stripe_subscription_id = %subscription.id, status = %subscription.status, "created Stripe subscription");
        let payment_expected = subscription.status == "incomplete";
        self.settle_payment(&subscription, payment_expected).await
    }

    #[tracing::instrument(skip_all, fields(subscription_id = %subscription_id, new_plan = %new_plan))]
    async fn change_plan(
        &self,
        subscription_id: &str,
        new_plan: PaidPlan,
        idempotency_prefix: &str,
    ) -> Result<SubscriptionState, BillingError> {
        let current = self.retrieve(subscription_id).await?;
        let state = current.to_state(&self.prices);
        let item = current.items.data.first().ok_or_else(|| {
            BillingError::Gateway(format!("subscription {subscription_id} has no item"))
        })?;
        let interval = state.interval.unwrap_or_default();
        let price = self.price(new_plan, interval)?;
        if state.price_id.as_deref() == Some(price) {
            return Ok(state);
        }

        let mut change = UpdateSubscriptionItems::new();
        change.id = Some(item.id.clone());
        change.price = Some(price.to_owned());
        // always_invoice bills the prorated difference now; pending_if_incomplete applies the
        // new price only once that invoice is paid, so a declined upgrade changes nothing.
        let request = UpdateSubscription::new(subscription_id)
            .items(vec![change])
            .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
            .payment_behavior(UpdateSubscriptionPaymentBehavior::PendingIfIncomplete)
            .expand(PAYMENT_EXPANSIONS.map(str::to_owned).to_vec());
        let key = idempotency_key(
            idempotency_prefix,
            "change-plan",
            &[subscription_id, &item.id, price],
        );
        let updated: Subscription = self.client.send(&request, Some(&key)).await?;
        let has_pending_update = updated
            .pending_update
            .as_ref()
            .is_some_and(|v| !v.is_null());
        self.settle_payment(&updated, has_pending_update).await
    }

    #[tracing::instrument(skip_all, fields(subscription_id = %subscription_id, cancel = cancel))]
    async fn set_cancel_at_period_end(
        &self,
        subscription_id: &str,
        cancel: bool,
        idempotency_prefix: &str,
    ) -> Result<SubscriptionState, BillingError> {
        let request = UpdateSubscription::new(subscription_id).cancel_at_period_end(cancel);
        let flag = if cancel { "true" } else { "false" };
        let key = idempotency_key(
            idempotency_prefix,
            "cancel-at-period-end",
            &[subscription_id, flag],
        );
        let updated: Subscription = self.client.send(&request, Some(&key)).await?;
        Ok(updated.to_state(&self.prices))
    }

    #[tracing::instrument(skip_all, fields(customer_id = %customer_id))]
    async fn set_default_payment_method(
        &self,
        customer_id: &str,
        payment_method_id: &str,
        idempotency_prefix: &str,
    ) -> Result<(), BillingError> {
        self.attach_as_default(customer_id, payment_method_id, idempotency_prefix)
            .await
    }

    #[tracing::instrument(skip_all, fields(subscription_id = %subscription_id))]
    async fn cancel_now(
        &self,
        subscription_id: &str,
        idempotency_prefix: &str,
    ) -> Result<SubscriptionState, BillingError> {
        let key = idempotency_key(idempotency_prefix, "cancel-now", &[subscription_id]);
        let canceled: Subscription = self
            .client
            .send(&CancelSubscription::new(subscription_id), Some(&key))
            .await?;
        Ok(canceled.to_state(&self.prices))
    }

    #[tracing::instrument(skip_all, fields(plan = %plan, interval = %interval))]
    async fn create_checkout_session(
        &self,
        customer: &BillingCustomer,
        plan: PaidPlan,
        interval: BillingInterval,
        idempotency_prefix: &str,
    ) -> Result<CheckoutSession, BillingError> {
        let price = self.price(plan, interval)?;
        let mut line = CreateCheckoutSessionLineItems::new();
        line.price = Some(price.to_owned());
        line.quantity = Some(1);
        let metadata = HashMap::from([
            ("user_id".to_owned(), customer.user_id.clone()),
            ("plan".to_owned(), plan.as_str().to_owned()),
            ("billing_period".to_owned(), interval.as_str().to_owned()),
        ]);
        // The subscription Checkout creates carries the user id too, so its own webhooks can be
        // tied to the user before checkout.session.completed is processed.
        let mut subscription_data = CreateCheckoutSessionSubscriptionData::new();
        subscription_data.metadata = Some(metadata.clone());
        let mut request = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Subscription)
            .line_items(vec![line])
            .success_url(self.success_url.as_str())
            .cancel_url(self.cancel_url.as_str())
            .client_reference_id(customer.user_id.as_str())
            .metadata(metadata)
            .subscription_data(subscription_data);
        // An existing customer pays with what Stripe already has; otherwise Checkout creates
        // the customer from the prefilled email.
        let payer = match &customer.stripe_customer_id {
            Some(id) => {
                request = request.customer(id.as_str());
                id.as_str()
            }
            None => {
                request = request.customer_email(customer.email.as_str());
                customer.email.as_str()
            }
        };
        let key = idempotency_key(
            idempotency_prefix,
            "checkout",
            &[
                &customer.user_id,
                payer,
                price,
                &self.success_url,
                &self.cancel_url,
            ],
        );
        let session: objects::CheckoutSession = self.client.send(&request, Some(&key)).await?;
        let url = session.url.ok_or_else(|| {
            BillingError::Gateway(format!("checkout session {} has no url", session.id))
        })?;
        Ok(CheckoutSession {
            id: session.id,
            url,
        })
    }

    #[tracing::instrument(skip_all, fields(subscription_id = %subscription_id))]
    async fn fetch_subscription(
        &self,
        subscription_id: &str,
    ) -> Result<SubscriptionState, BillingError> {
        Ok(self.retrieve(subscription_id).await?.to_state(&self.prices))
    }

    #[tracing::instrument(skip_all, fields(customer_id = %customer_id))]
    async fn create_portal_session(
        &self,
        customer_id: &str,
        idempotency_prefix: &str,
    ) -> Result<PortalSession, BillingError> {
        self.portal_session(customer_id, idempotency_prefix).await
    }

    #[tracing::instrument(skip_all, fields(customer_id = %customer_id, limit = page.limit))]
    async fn list_invoices(
        &self,
        customer_id: &str,
        page: &InvoicePage,
    ) -> Result<InvoiceList, BillingError> {
        self.invoices(customer_id, page).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stripe refuses an `expand[]` path of more than four segments, `data` included
    /// ("You cannot expand more than 4 levels of a property").
    #[test]
    fn every_expand_path_is_within_stripes_four_levels() {
        assert!(!EXPAND_PATHS.is_empty());
        for path in EXPAND_PATHS {
            let depth = path.split('.').count();
            assert!(depth <= 4, "{path} expands {depth} levels");
        }
        assert!(EXPAND_PATHS.iter().all(|p| PAYMENT_EXPANSIONS.contains(p)));
    }
}
