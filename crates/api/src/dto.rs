//! Wire types: what clients send and receive. Field names follow the contract (docs/API.md)
//! exactly. These are never database models; conversions from the service's
//! views live here.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use service::{Account, Preferences, Profile, SessionTokens, SignedIn, Subscription};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// RFC 3339 UTC with milliseconds and `Z`, as the contract (docs/API.md) prescribes.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Deserializes a field that distinguishes "absent" (`None`) from `null` (`Some(None)`).
pub fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// A whole JSON number as `i64`: `5` and `5.0` alike (JSON Schema's `integer`), anything
/// else (`5.5`, a string) refused.
pub fn whole_number<'de, D>(de: D) -> Result<Option<i64>, D::Error>
where
    D: Deserializer<'de>,
{
    let Some(number) = Option::<serde_json::Number>::deserialize(de)? else {
        return Ok(None);
    };
    if let Some(value) = number.as_i64() {
        return Ok(Some(value));
    }
    match number.as_f64() {
        // i64::MAX as f64 rounds up to 2^63, so the upper bound is exclusive.
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => {
            Ok(Some(f as i64))
        }
        _ => Err(serde::de::Error::custom(format!(
            "expected a whole number within the 64-bit range, got {number}"
        ))),
    }
}

/// [`double_option`] of a [`whole_number`].
pub fn double_option_whole<'de, D>(de: D) -> Result<Option<Option<i64>>, D::Error>
where
    D: Deserializer<'de>,
{
    whole_number(de).map(Some)
}

// ---------- accounts ----------

/// The plan chosen at registration.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SubscriptionChoice {
    #[schema(example = "professional")]
    pub plan: String,
    #[schema(example = "pm_1234567890")]
    pub payment_method_id: Option<String>,
    /// `monthly` (default) or `yearly`.
    #[schema(example = "monthly")]
    pub billing_period: Option<String>,
}

/// `POST /api/auth/register`. Missing strings count as empty and are reported per field.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// 1 to 100 characters after trimming, no control characters.
    #[serde(default)]
    #[schema(example = "John Doe")]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    #[serde(default)]
    #[schema(example = "user@example.com")]
    #[schema(required = true, format = Email, max_length = 254)]
    pub email: String,
    /// 8 to 128 characters, not a common password.
    #[serde(default)]
    #[schema(example = "Password123!")]
    #[schema(required = true, min_length = 8, max_length = 128)]
    pub password: String,
    /// `user`; `admin` is refused with 403 `forbidden_role`.
    #[schema(example = "user")]
    pub role: Option<String>,
    pub subscription: Option<SubscriptionChoice>,
}

/// JSON form of `POST /api/auth/login` (`username` is accepted as well as `email`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LoginJson {
    #[serde(default, alias = "username")]
    #[schema(example = "user@example.com")]
    pub email: String,
    #[serde(default)]
    pub password: String,
}

/// Form (OAuth2 password grant) body of `POST /api/auth/login`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LoginForm {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
}

/// A successful sign-in or registration.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LoginResponse {
    pub success: bool,
    pub access_token: String,
    pub refresh_token: String,
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: u64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub user: UserResponse,
    /// Registration with a paid plan whose first payment needs the customer (3-D Secure):
    /// finish it with Stripe.js `confirmPayment`; the plan applies once Stripe reports it paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl From<SignedIn> for LoginResponse {
    fn from(signed: SignedIn) -> Self {
        let user = UserResponse::from(signed.profile);
        Self {
            success: true,
            access_token: signed.tokens.access_token,
            refresh_token: signed.tokens.refresh_token,
            token_type: "bearer",
            expires_in: signed.tokens.expires_in,
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role.clone(),
            user,
            client_secret: None,
        }
    }
}

impl From<service::Registered> for LoginResponse {
    fn from(registered: service::Registered) -> Self {
        Self {
            client_secret: registered.client_secret,
            ..registered.signed_in.into()
        }
    }
}

/// `POST /api/auth/refresh` and `POST /api/auth/logout`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// A rotated token pair.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefreshResponse {
    pub success: bool,
    pub access_token: String,
    pub refresh_token: String,
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    pub expires_in: u64,
}

impl From<SessionTokens> for RefreshResponse {
    fn from(tokens: SessionTokens) -> Self {
        Self {
            success: true,
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            token_type: "bearer",
            expires_in: tokens.expires_in,
        }
    }
}

/// `{"success": true, "message": ...}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageResponse {
    pub success: bool,
    pub message: String,
}

impl MessageResponse {
    pub fn ok(message: &str) -> Self {
        Self {
            success: true,
            message: message.to_owned(),
        }
    }
}

/// `POST /api/auth/password-reset`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PasswordResetRequest {
    #[serde(default)]
    #[schema(example = "user@example.com")]
    pub email: String,
}

/// `POST /api/auth/reset-password`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    #[serde(default)]
    #[schema(required = true)]
    pub token: String,
    /// 8 to 128 characters, not a common password.
    #[serde(default)]
    #[schema(required = true, min_length = 8, max_length = 128)]
    pub new_password: String,
}

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

// ---------- admin ----------

/// `GET /api/admin/users` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListParams {
    /// 1-based page (default 1).
    #[param(minimum = 1, maximum = 1_000_000_000)]
    pub page: Option<u64>,
    /// Page size, 1..=100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
    /// Case-insensitive substring of email or name.
    pub q: Option<String>,
    pub role: Option<String>,
    pub plan: Option<String>,
    pub is_active: Option<bool>,
    /// `created_at` (default), `email` or `name`.
    pub sort: Option<String>,
    /// `asc` or `desc` (default `desc` for created_at, else `asc`).
    pub order: Option<String>,
}

/// An account in the admin listing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminUserSummary {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub is_active: bool,
    pub is_verified: bool,
    pub created_at: String,
    pub updated_at: String,
    pub last_login: Option<String>,
    pub subscription: Option<SubscriptionResponse>,
}

impl From<(Account, Option<Subscription>)> for AdminUserSummary {
    fn from((a, s): (Account, Option<Subscription>)) -> Self {
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
            subscription: s.map(Into::into),
        }
    }
}

/// A page of accounts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserListResponse {
    pub total_records: u64,
    pub total_pages: u64,
    pub current_page: u64,
    pub records_per_page: u64,
    pub users: Vec<AdminUserSummary>,
}

/// `POST /api/admin/users`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AdminCreateUserRequest {
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    #[serde(default)]
    #[schema(required = true, format = Email, max_length = 254)]
    pub email: String,
    #[serde(default)]
    #[schema(required = true, min_length = 8, max_length = 128)]
    pub password: String,
    /// `user` (default) or `admin`.
    pub role: Option<String>,
    /// `free` (default), `basic` or `professional`; granted without payment.
    pub plan: Option<String>,
}

/// `PATCH /api/admin/users/{id}`: an admin override. `null` on `token_limit` or
/// `max_model_tier` restores the plan's value.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AdminPatchRequest {
    pub is_active: Option<bool>,
    pub is_verified: Option<bool>,
    pub role: Option<String>,
    pub plan: Option<String>,
    /// A whole number of tokens, 0 or more (`28407.0` counts as `28407`).
    #[serde(default, deserialize_with = "double_option_whole")]
    #[schema(value_type = Option<i64>, minimum = 0)]
    pub token_limit: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub max_model_tier: Option<Option<String>>,
}

// ---------- operations ----------

/// `GET /health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
    pub version: &'static str,
}

// ---------- preferences and catalogs ----------

/// `PUT /api/preferences/me`: a partial update.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PreferencesUpdateRequest {
    /// `light`, `dark` or `system`.
    pub theme: Option<String>,
    pub notifications: Option<bool>,
    /// A model of the catalog that the plan allows.
    pub default_model: Option<String>,
}

/// Monthly limits of a plan; `null` = unlimited.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanLimitsResponse {
    pub tokens: Option<u64>,
    pub chat_messages: Option<u64>,
    pub plagiarism_checks: Option<u64>,
    pub prompts_generated: Option<u64>,
}

impl From<domain::PlanLimits> for PlanLimitsResponse {
    fn from(l: domain::PlanLimits) -> Self {
        Self {
            tokens: l.monthly_tokens,
            chat_messages: l.chat_messages,
            plagiarism_checks: l.plagiarism_checks,
            prompts_generated: l.prompts_generated,
        }
    }
}

/// A plan on offer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanResponse {
    #[schema(example = "basic")]
    pub plan: String,
    /// Monthly price in minor units (cents).
    #[schema(example = 1900)]
    pub price_cents: u64,
    /// Monthly price in major units, for display.
    #[schema(example = 19.0)]
    pub price: f64,
    #[schema(example = "usd")]
    pub currency: String,
    #[schema(example = "month")]
    pub interval: &'static str,
    pub limits: PlanLimitsResponse,
    #[schema(example = "gpt-4")]
    pub max_model_tier: String,
    pub allowed_models: Vec<String>,
}

impl From<service::PlanOffer> for PlanResponse {
    fn from(o: service::PlanOffer) -> Self {
        Self {
            plan: o.plan.as_str().to_owned(),
            price_cents: o.price_cents,
            price: o.price_cents as f64 / 100.0,
            currency: o.currency,
            interval: "month",
            max_model_tier: o.limits.max_model_tier.as_str().to_owned(),
            limits: o.limits.into(),
            allowed_models: o.allowed_models,
        }
    }
}

/// `GET /api/plans`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlansResponse {
    pub plans: Vec<PlanResponse>,
}

/// A model of the catalog.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelResponse {
    #[schema(example = "gpt-4o")]
    pub name: String,
    #[schema(example = "gpt-4")]
    pub tier: String,
    /// Whether the caller's plan may use it.
    pub allowed: bool,
}

/// `GET /api/models`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelsResponse {
    /// The caller's effective max tier.
    pub max_model_tier: String,
    pub models: Vec<ModelResponse>,
}

impl From<service::ModelList> for ModelsResponse {
    fn from(list: service::ModelList) -> Self {
        Self {
            max_model_tier: list.max_model_tier.as_str().to_owned(),
            models: list
                .models
                .into_iter()
                .map(|m| ModelResponse {
                    name: m.name,
                    tier: m.tier.as_str().to_owned(),
                    allowed: m.allowed,
                })
                .collect(),
        }
    }
}
