//! `/api/users/me`: the profile, password and subscription of the caller (and the views
//! they answer with).

use domain::{BillingInterval, Email, PaymentMethodId, Plan, UserName};
use serde::{Deserialize, Serialize};
use service::{
    CHECKOUT_IS_FOR_A_PAID_PLAN, CheckoutOrder, FieldErrors, Preferences, Profile, ProfileChanges,
    ServiceError, Subscription, SubscriptionUpdate,
};
use utoipa::ToSchema;
use uuid::Uuid;

use super::timestamp;

/// `PUT /api/users/me`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateMeRequest {
    /// 1 to 100 characters after trimming, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    /// Required to change the email (re-authentication): a stolen access token alone cannot
    /// move the account to another address.
    pub current_password: Option<String>,
}

impl TryFrom<UpdateMeRequest> for ProfileChanges {
    type Error = ServiceError;

    /// Both fields parsed at once: one 422 names each invalid one.
    fn try_from(b: UpdateMeRequest) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        let name = errors.take(b.name.as_deref().map(UserName::parse).transpose());
        let email = errors.take(b.email.as_deref().map(Email::parse).transpose());
        let (Some(name), Some(email)) = (name, email) else {
            return Err(errors.into());
        };
        Ok(ProfileChanges {
            name,
            email,
            current_password: b.current_password,
        })
    }
}

/// `POST /api/users/me/password`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    #[serde(default)]
    #[schema(required = true)]
    pub current_password: String,
    /// 8 to 128 characters, not a common password.
    #[serde(default)]
    #[schema(required = true, min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// `PUT /api/users/me/subscription`: every field optional.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateSubscriptionRequest {
    /// `free` (cancel at period end), `basic` or `professional`.
    #[schema(example = "professional")]
    pub plan: Option<String>,
    /// For a new paid subscription: `monthly` (default) or `yearly`.
    #[schema(example = "monthly")]
    pub billing_period: Option<String>,
    /// A Stripe payment method (from Stripe.js); becomes the default for every invoice.
    #[schema(example = "pm_1234567890")]
    pub payment_method_id: Option<String>,
    /// `false` ends the paid plan at `expires_at`; `true` renews it.
    pub auto_renew: Option<bool>,
}

impl TryFrom<UpdateSubscriptionRequest> for SubscriptionUpdate {
    type Error = ServiceError;

    /// Every field parsed at once: one 422 names each invalid one.
    fn try_from(b: UpdateSubscriptionRequest) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        let plan = errors.take(b.plan.as_deref().map(Plan::parse).transpose());
        let billing_interval = errors.take(
            b.billing_period
                .as_deref()
                .map(BillingInterval::parse)
                .transpose(),
        );
        let payment_method_id = errors.take(
            b.payment_method_id
                .as_deref()
                .map(PaymentMethodId::parse)
                .transpose(),
        );
        let (Some(plan), Some(billing_interval), Some(payment_method_id)) =
            (plan, billing_interval, payment_method_id)
        else {
            return Err(errors.into());
        };
        Ok(SubscriptionUpdate {
            plan,
            billing_interval,
            payment_method_id,
            auto_renew: b.auto_renew,
        })
    }
}

/// The subscription after a change; `client_secret` when a payment needs the customer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriptionChangeResponse {
    #[serde(flatten)]
    pub subscription: SubscriptionResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl From<service::SubscriptionOutcome> for SubscriptionChangeResponse {
    fn from(outcome: service::SubscriptionOutcome) -> Self {
        Self {
            subscription: outcome.subscription.into(),
            client_secret: outcome.client_secret,
        }
    }
}

/// `POST /api/billing/checkout-session`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CheckoutRequest {
    #[schema(example = "professional")]
    pub plan: String,
    /// `monthly` (default) or `yearly`.
    #[schema(example = "monthly")]
    pub billing_period: Option<String>,
}

impl TryFrom<CheckoutRequest> for CheckoutOrder {
    type Error = ServiceError;

    /// Both fields parsed at once: one 422 names each invalid one.
    fn try_from(b: CheckoutRequest) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        let plan = errors.take(Plan::parse(&b.plan));
        if plan.is_some_and(|plan| !plan.is_paid()) {
            errors.reject("plan", CHECKOUT_IS_FOR_A_PAID_PLAN);
        }
        let billing_interval = errors.take(
            b.billing_period
                .as_deref()
                .map_or(Ok(BillingInterval::default()), BillingInterval::parse),
        );
        let (Some(plan), Some(billing_interval)) = (plan, billing_interval) else {
            return Err(errors.into());
        };
        errors.finish()?;
        Ok(Self {
            plan,
            billing_interval,
        })
    }
}

/// A hosted Checkout page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckoutResponse {
    #[schema(example = "cs_test_a1b2c3")]
    pub id: String,
    #[schema(example = "https://checkout.stripe.com/c/pay/cs_test_a1b2c3")]
    pub url: String,
}

/// A webhook delivery, acknowledged.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookResponse {
    pub received: bool,
    #[schema(example = "evt_1")]
    pub event_id: String,
    /// `applied`, `duplicate`, `stale`, `other_subscription`, `unknown_customer` or `ignored`.
    #[schema(example = "applied")]
    pub outcome: String,
}

/// The subscription object (docs/API.md).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriptionResponse {
    pub id: Uuid,
    pub user_id: Uuid,
    #[schema(example = "professional")]
    pub plan: String,
    #[schema(example = "active")]
    pub status: String,
    pub start_date: String,
    pub expires_at: Option<String>,
    pub is_active: bool,
    pub auto_renew: bool,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub payment_method_id: Option<String>,
    /// Admin override of the monthly tokens; `null` = the plan's.
    pub token_limit: Option<u64>,
    #[schema(example = "gpt-4-turbo")]
    pub max_model_tier: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Subscription> for SubscriptionResponse {
    fn from(s: Subscription) -> Self {
        Self {
            id: s.id,
            user_id: s.user_id,
            plan: s.plan.as_str().to_owned(),
            status: s.status.as_str().to_owned(),
            start_date: timestamp(s.start_date),
            expires_at: s.expires_at.map(timestamp),
            is_active: s.is_active,
            auto_renew: s.auto_renew,
            stripe_customer_id: s.stripe_customer_id,
            stripe_subscription_id: s.stripe_subscription_id,
            payment_method_id: s.payment_method_id,
            token_limit: s.token_limit,
            max_model_tier: s.max_model_tier.as_str().to_owned(),
            created_at: timestamp(s.created_at),
            updated_at: timestamp(s.updated_at),
        }
    }
}

/// The preferences object (docs/API.md).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreferencesResponse {
    pub id: Uuid,
    pub user_id: Uuid,
    #[schema(example = "dark")]
    pub theme: String,
    pub notifications: bool,
    #[schema(example = "gpt-4")]
    pub default_model: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Preferences> for PreferencesResponse {
    fn from(p: Preferences) -> Self {
        Self {
            id: p.id,
            user_id: p.user_id,
            theme: p.theme.as_str().to_owned(),
            notifications: p.notifications,
            default_model: p.default_model,
            created_at: timestamp(p.created_at),
            updated_at: timestamp(p.updated_at),
        }
    }
}

/// `GET /api/users/me`: the account with subscription and preferences.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    #[schema(example = "user")]
    pub role: String,
    pub is_active: bool,
    pub is_verified: bool,
    pub created_at: String,
    pub updated_at: String,
    pub last_login: Option<String>,
    pub subscription: SubscriptionResponse,
    pub preferences: PreferencesResponse,
}

impl From<Profile> for UserResponse {
    fn from(p: Profile) -> Self {
        let a = p.account;
        Self {
            id: a.id,
            email: a.email,
            name: a.name,
            role: a.role.as_str().to_owned(),
            is_active: a.is_active,
            is_verified: a.is_verified,
            created_at: timestamp(a.created_at),
            updated_at: timestamp(a.updated_at),
            last_login: a.last_login.map(timestamp),
            subscription: p.subscription.into(),
            preferences: p.preferences.into(),
        }
    }
}
