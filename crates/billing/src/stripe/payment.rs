//! The outcome of a request that may have charged the customer: paid, waiting for the customer
//! (3-D Secure), or declined. The subscription answer carries the latest invoice with its
//! payments (PaymentIntent ids) and confirmation secret; the PaymentIntent itself, whose status
//! tells a decline from an authentication, is fetched only when the invoice is not paid.

use super::StripeGateway;
use super::objects::{Expandable, Invoice, PaymentIntent, Subscription};
use super::requests::RetrievePaymentIntent;
use crate::error::BillingError;
use crate::gateway::{GatewayStatus, SubscriptionState};

impl StripeGateway {
    /// The state after `subscription` was created or changed. With `payment_expected` (an
    /// `incomplete` subscription, or a plan change waiting for its invoice) the result is
    /// `Pending` with the client secret to finish the payment, or `Err(Declined)`.
    pub(super) async fn settle_payment(
        &self,
        subscription: &Subscription,
        payment_expected: bool,
    ) -> Result<SubscriptionState, BillingError> {
        let mut state = subscription.to_state(&self.prices);
        if !payment_expected {
            return Ok(state);
        }
        let invoice = subscription
            .latest_invoice
            .as_ref()
            .and_then(Expandable::object);
        let intent = match invoice {
            Some(invoice) if !invoice.is_paid() => self.payment_intent_of(invoice).await?,
            _ => None,
        };
        if let Some(intent) = &intent
            && intent.is_declined()
        {
            let error = intent.last_payment_error.as_ref();
            return Err(BillingError::Declined {
                message: error
                    .and_then(|e| e.message.clone())
                    .unwrap_or_else(|| "Your card was declined.".to_owned()),
                code: error.and_then(|e| e.decline_code.clone().or_else(|| e.code.clone())),
            });
        }
        // requires_action / requires_confirmation (3-D Secure) or processing; or no
        // PaymentIntent at all, then the confirmation secret is all there is.
        state.status = GatewayStatus::Pending {
            client_secret: intent
                .and_then(|intent| intent.client_secret)
                .or_else(|| invoice.and_then(Invoice::confirmation_client_secret)),
        };
        Ok(state)
    }

    /// The PaymentIntent paying `invoice`: read from Stripe by the id its payments give (unless
    /// an older API version already embedded it); `None` when the invoice names none.
    async fn payment_intent_of(
        &self,
        invoice: &Invoice,
    ) -> Result<Option<PaymentIntent>, BillingError> {
        match invoice.payment_intent() {
            None => Ok(None),
            Some(Expandable::Object(intent)) => Ok(Some((**intent).clone())),
            Some(Expandable::Id(id)) => {
                let intent: PaymentIntent =
                    self.client.send(&RetrievePaymentIntent(id), None).await?;
                tracing::info!(payment_intent = %intent.id, status = %intent.status, "read the first payment's PaymentIntent");
                Ok(Some(intent))
            }
        }
    }
}
