//! The `PaymentGateway` trait and the plain types it speaks: the service layer sees these and
//! never a Stripe type.

use async_trait::async_trait;

use crate::customer_portal::{InvoiceList, InvoicePage, PortalSession};
use crate::error::BillingError;
use crate::plan::{BillingInterval, PaidPlan};

/// Who pays: enough to create (or reuse) the Stripe customer and to tie Checkout to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingCustomer {
    /// Our user id; Checkout carries it back as `client_reference_id` and `metadata.user_id`.
    /// `subscribe` never sends it (see [`PaymentGateway::subscribe`]).
    pub user_id: String,
    pub email: String,
    pub name: Option<String>,
    /// The Stripe customer made for this user earlier, to be reused.
    pub stripe_customer_id: Option<String>,
}

/// A subscription's state at Stripe, in our terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    pub stripe_customer_id: String,
    pub stripe_subscription_id: String,
    pub status: GatewayStatus,
    /// The plan whose price the subscription is on now; `None` for a price that is not in our
    /// price table. During a pending plan change this is still the old plan.
    pub plan: Option<PaidPlan>,
    pub interval: Option<BillingInterval>,
    pub price_id: Option<String>,
    /// Unix seconds. Read from the subscription item (Stripe moved the period there in API
    /// version 2025-03-31), or from the subscription itself in older payloads.
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
    /// Renewal is off: the subscription ends at `current_period_end` (`auto_renew = false`).
    pub cancel_at_period_end: bool,
    /// When the subscription is scheduled to end, if it is (unix seconds).
    pub cancel_at: Option<i64>,
    /// A plan change is waiting for its payment (Stripe's `pending_update`).
    pub has_pending_update: bool,
    /// When the subscription was created (unix seconds).
    pub created: Option<i64>,
}

impl SubscriptionState {
    /// The client secret to finish a payment that needs the customer (3-D Secure), if any.
    pub fn client_secret(&self) -> Option<&str> {
        match &self.status {
            GatewayStatus::Pending { client_secret } => client_secret.as_deref(),
            _ => None,
        }
    }
}

/// A subscription status, mapped from Stripe's `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayStatus {
    Active,
    Trialing,
    /// Only from `subscribe` and `change_plan`: the payment needs the customer (3-D Secure) or
    /// is still processing. Finish it in the browser with `client_secret` (Stripe.js
    /// `confirmPayment`); a webhook reports the outcome. For `change_plan` the subscription
    /// itself stays on the old plan until then.
    Pending {
        client_secret: Option<String>,
    },
    /// Stripe's `incomplete` as seen in a webhook or a fetch: the first payment has not
    /// succeeded yet (at most 23 hours, then `IncompleteExpired`).
    Incomplete,
    IncompleteExpired,
    /// A renewal payment failed; Stripe is retrying. The plan is kept meanwhile.
    PastDue,
    /// Retries are exhausted and the subscription is left unpaid.
    Unpaid,
    Canceled,
    Paused,
    /// A status this crate does not know yet, as Stripe spelled it.
    Other(String),
}

impl GatewayStatus {
    /// Maps Stripe's subscription `status` string.
    pub fn from_stripe(status: &str) -> Self {
        match status {
            "active" => Self::Active,
            "trialing" => Self::Trialing,
            "incomplete" => Self::Incomplete,
            "incomplete_expired" => Self::IncompleteExpired,
            "past_due" => Self::PastDue,
            "unpaid" => Self::Unpaid,
            "canceled" => Self::Canceled,
            "paused" => Self::Paused,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Whether the customer keeps the paid plan's limits: active, trialing, and past_due
    /// (during Stripe's retry window).
    pub fn keeps_paid_plan(&self) -> bool {
        matches!(self, Self::Active | Self::Trialing | Self::PastDue)
    }

    /// Whether the subscription is over for good and the account falls back to free:
    /// canceled, unpaid and incomplete_expired.
    pub fn is_ended(&self) -> bool {
        matches!(
            self,
            Self::Canceled | Self::Unpaid | Self::IncompleteExpired
        )
    }
}

/// A hosted Checkout page to send the customer to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
}

/// Payments as the service layer needs them. Implemented by [`crate::StripeGateway`] and, when
/// billing is not configured, by [`DisabledGateway`]; tests of the service can bring their own.
///
/// Every mutating call takes an `idempotency_prefix` naming the *intent* (who, what, which
/// version of the state it starts from). The gateway derives one Stripe `Idempotency-Key` per
/// step from it and from the step's parameters (see [`crate::idempotency_key`]), so a retried
/// request or a double click replays Stripe's first answer instead of creating a second
/// customer or subscription, while a different card or plan gets fresh keys. A new intent
/// needs a new prefix: Stripe replays an answer for 24 hours, so toggling `auto_renew` off, on
/// and off again under one prefix would replay the first "off" without doing anything.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Starts a paid subscription: creates the customer (unless `customer.stripe_customer_id`
    /// is set), attaches the payment method and makes it the customer's default, then creates
    /// the subscription and attempts the first payment.
    ///
    /// `Ok` with `Active`, or `Pending { client_secret }` when the payment needs the customer;
    /// `Err(Declined)` when the card is declined (nothing to undo: the incomplete Stripe
    /// subscription expires by itself after 23 hours and is never charged).
    ///
    /// Our user id is deliberately not sent: at registration it is new on every attempt, and a
    /// parameter that changes between retries would defeat the idempotency keys.
    async fn subscribe(
        &self,
        customer: &BillingCustomer,
        plan: PaidPlan,
        interval: BillingInterval,
        payment_method_id: &str,
        idempotency_prefix: &str,
    ) -> Result<SubscriptionState, BillingError>;

    /// Moves the subscription to `new_plan` at its current interval, prorated and invoiced at
    /// once. The change applies only when that invoice is paid; otherwise the result is
    /// `Pending` (the customer must act) or `Err(Declined)`, and the old plan stays.
    /// Changing to the plan it is already on sends nothing.
    async fn change_plan(
        &self,
        subscription_id: &str,
        new_plan: PaidPlan,
        idempotency_prefix: &str,
    ) -> Result<SubscriptionState, BillingError>;

    /// Turns renewal off (`true`: the subscription ends at the period end; this is how a
    /// downgrade to free works) or back on (`false`).
    async fn set_cancel_at_period_end(
        &self,
        subscription_id: &str,
        cancel: bool,
        idempotency_prefix: &str,
    ) -> Result<SubscriptionState, BillingError>;

    /// Attaches a payment method to an existing customer and makes it the default for all of
    /// the customer's invoices (`PUT` with a new `payment_method_id`).
    async fn set_default_payment_method(
        &self,
        customer_id: &str,
        payment_method_id: &str,
        idempotency_prefix: &str,
    ) -> Result<(), BillingError>;

    /// Ends the subscription now, without a refund (account deletion).
    async fn cancel_now(
        &self,
        subscription_id: &str,
        idempotency_prefix: &str,
    ) -> Result<SubscriptionState, BillingError>;

    /// A hosted Checkout Session (mode `subscription`) for the configured price of `plan` and
    /// `interval`, tied to the user by `client_reference_id` and `metadata.user_id` (also on
    /// the subscription it creates).
    async fn create_checkout_session(
        &self,
        customer: &BillingCustomer,
        plan: PaidPlan,
        interval: BillingInterval,
        idempotency_prefix: &str,
    ) -> Result<CheckoutSession, BillingError>;

    /// The subscription as Stripe has it now (to settle out-of-order webhooks).
    async fn fetch_subscription(
        &self,
        subscription_id: &str,
    ) -> Result<SubscriptionState, BillingError>;

    /// A Stripe Customer Portal session for the customer, returning to the configured URL.
    /// What the customer changes there reaches us through the usual webhooks.
    async fn create_portal_session(
        &self,
        customer_id: &str,
        idempotency_prefix: &str,
    ) -> Result<PortalSession, BillingError>;

    /// A page of the customer's invoices, newest first.
    async fn list_invoices(
        &self,
        customer_id: &str,
        page: &InvoicePage,
    ) -> Result<InvoiceList, BillingError>;
}

/// The gateway when billing is not configured: every operation answers `NotConfigured`, so the
/// service can always hold an `Arc<dyn PaymentGateway>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DisabledGateway;

#[async_trait]
impl PaymentGateway for DisabledGateway {
    async fn subscribe(
        &self,
        _: &BillingCustomer,
        _: PaidPlan,
        _: BillingInterval,
        _: &str,
        _: &str,
    ) -> Result<SubscriptionState, BillingError> {
        Err(BillingError::NotConfigured)
    }

    async fn change_plan(
        &self,
        _: &str,
        _: PaidPlan,
        _: &str,
    ) -> Result<SubscriptionState, BillingError> {
        Err(BillingError::NotConfigured)
    }

    async fn set_cancel_at_period_end(
        &self,
        _: &str,
        _: bool,
        _: &str,
    ) -> Result<SubscriptionState, BillingError> {
        Err(BillingError::NotConfigured)
    }

    async fn set_default_payment_method(
        &self,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<(), BillingError> {
        Err(BillingError::NotConfigured)
    }

    async fn cancel_now(&self, _: &str, _: &str) -> Result<SubscriptionState, BillingError> {
        Err(BillingError::NotConfigured)
    }

    async fn create_checkout_session(
        &self,
        _: &BillingCustomer,
        _: PaidPlan,
        _: BillingInterval,
        _: &str,
    ) -> Result<CheckoutSession, BillingError> {
        Err(BillingError::NotConfigured)
    }

    async fn fetch_subscription(&self, _: &str) -> Result<SubscriptionState, BillingError> {
        Err(BillingError::NotConfigured)
    }

    async fn create_portal_session(&self, _: &str, _: &str) -> Result<PortalSession, BillingError> {
        Err(BillingError::NotConfigured)
    }

    async fn list_invoices(&self, _: &str, _: &InvoicePage) -> Result<InvoiceList, BillingError> {
        Err(BillingError::NotConfigured)
    }
}
