//! `/api/auth`: registration, sign-in, refresh, sign-out, email links.

use domain::{BillingInterval, Email, Password, PaymentMethodId, Plan, Role, UserName};
use serde::{Deserialize, Serialize};
use service::{FieldErrors, Registration, ServiceError, SessionTokens, SignedIn};
use utoipa::ToSchema;

use super::users::UserResponse;

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

impl TryFrom<RegisterRequest> for Registration {
    type Error = ServiceError;

    /// Every field parsed at once: one 422 names each invalid field. `billing_period` and
    /// `payment_method_id` are read for a paid plan only (a free plan ignores them).
    fn try_from(b: RegisterRequest) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        let name = errors.take(UserName::parse(&b.name));
        let email = errors.take(Email::parse(&b.email));
        let password = errors.take(Password::parse(&b.password));
        let role = errors.take(b.role.as_deref().map_or(Ok(Role::User), Role::parse));
        let choice = b.subscription;
        let plan = errors.take(
            choice
                .as_ref()
                .map_or(Ok(Plan::Free), |c| Plan::parse(&c.plan)),
        );
        // A free plan does not read the billing fields.
        let paid = choice.filter(|_| plan.is_some_and(|p| p.is_paid()));
        let (period, card) = paid.map_or((None, None), |c| (c.billing_period, c.payment_method_id));
        let billing_interval = errors.take(
            period
                .as_deref()
                .map_or(Ok(BillingInterval::default()), BillingInterval::parse),
        );
        let payment_method_id = errors.take_as(
            "subscription.payment_method_id",
            card.as_deref().map(PaymentMethodId::parse).transpose(),
        );
        let (
            Some(name),
            Some(email),
            Some(password),
            Some(role),
            Some(plan),
            Some(billing_interval),
            Some(payment_method_id),
        ) = (
            name,
            email,
            password,
            role,
            plan,
            billing_interval,
            payment_method_id,
        )
        else {
            return Err(errors.into());
        };
        Ok(Registration {
            name,
            email,
            password,
            role,
            plan,
            billing_interval,
            payment_method_id,
        })
    }
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
