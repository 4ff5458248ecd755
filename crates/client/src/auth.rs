//! Accounts and sessions: register, sign in, refresh with rotation, sign out, the caller's
//! account. Tokens never appear in `Debug` output.

use chrono::{DateTime, Utc};
use domain::{ModelTier, Plan, Role};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::client::{Call, Client};
use crate::error::Error;
use crate::retry::Safety;

/// The answer to a registration or a sign-in: a new session (a refresh-token family).
#[derive(Clone, Deserialize)]
pub struct SignIn {
    /// Send as `Authorization: Bearer ...`; lasts `expires_in` seconds.
    pub access_token: String,
    /// Keep it where other code cannot read it; each refresh spends it.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub user: User,
    /// Registration with a paid plan whose first payment needs the customer (3-D Secure).
    #[serde(default)]
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl SignIn {
    /// The session's tokens.
    pub fn tokens(&self) -> TokenPair {
        TokenPair {
            access_token: self.access_token.clone(),
            refresh_token: self.refresh_token.clone(),
            expires_in: self.expires_in,
        }
    }
}

/// A rotated pair: the refresh token presented is spent, store this one at once.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The user object (the fields a client needs; the rest of the wire object is ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub is_active: bool,
    pub is_verified: bool,
    pub subscription: Subscription,
}

/// The subscription in force (a lapsed paid plan reads as free).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Subscription {
    pub plan: Plan,
    /// `active`, `pending`, `past_due`, `canceled` or `expired`.
    pub status: String,
    pub is_active: bool,
    pub expires_at: Option<DateTime<Utc>>,
    /// The admin override of the monthly tokens (`None`: the plan's).
    pub token_limit: Option<u64>,
    /// The effective max tier.
    pub max_model_tier: ModelTier,
}

#[derive(Serialize)]
struct Credentials<'a> {
    email: &'a str,
    password: &'a str,
}

#[derive(Serialize)]
struct Registration<'a> {
    name: &'a str,
    email: &'a str,
    password: &'a str,
}

#[derive(Serialize)]
struct RefreshToken<'a> {
    refresh_token: &'a str,
}

impl Client {
    /// `POST /api/auth/register`: a free account, signed in. 409 `email_taken`, 422 per field
    /// (`weak_password`). Retried only when the connection failed.
    pub async fn register(&self, name: &str, email: &str, password: &str) -> Result<SignIn, Error> {
        let call = Call::new(Method::POST, "/api/auth/register", Safety::ConnectOnly).json(
            &Registration {
                name,
                email,
                password,
            },
        )?;
        self.send(call).await?.json()
    }

    /// `POST /api/auth/login`: a new session. 401 `invalid_credentials`, 403
    /// `account_disabled`, 429 `too_many_attempts` with [`Error::retry_after`]. Retried only
    /// when the connection failed.
    pub async fn login(&self, email: &str, password: &str) -> Result<SignIn, Error> {
        let call = Call::new(Method::POST, "/api/auth/login", Safety::ConnectOnly)
            .json(&Credentials { email, password })?;
        self.send(call).await?.json()
    }

    /// `POST /api/auth/refresh`: spends `refresh_token` and returns the next pair of its
    /// session. 401 `refresh_token_reused` (the session is revoked: sign in again) or
    /// `invalid_token`. Refresh one at a time per session; retried only when the connection
    /// failed.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, Error> {
        let call = Call::new(Method::POST, "/api/auth/refresh", Safety::ConnectOnly)
            .json(&RefreshToken { refresh_token })?;
        self.send(call).await?.json()
    }

    /// `POST /api/auth/logout`: ends the session of `refresh_token` (idempotent).
    pub async fn logout(&self, access_token: &str, refresh_token: &str) -> Result<(), Error> {
        let call = Call::new(Method::POST, "/api/auth/logout", Safety::Idempotent)
            .bearer(access_token)
            .json(&RefreshToken { refresh_token })?;
        self.send(call).await.map(drop)
    }

    /// `GET /api/users/me`: the caller's account.
    pub async fn me(&self, access_token: &str) -> Result<User, Error> {
        let call = Call::new(Method::GET, "/api/users/me", Safety::Idempotent).bearer(access_token);
        self.send(call).await?.json()
    }
}
