//! Validated settings of the use cases (the HTTP layer reads them from the environment).

use std::fmt;
use std::time::Duration;

use jsonwebtoken::{DecodingKey, EncodingKey};

use crate::ServiceError;

/// The HS256 signing secret. Never printed.
#[derive(Clone)]
pub struct JwtSecret(Vec<u8>);

impl JwtSecret {
    /// The shortest secret accepted, in bytes.
    pub const MIN_BYTES: usize = 32;

    /// Accepts a secret of at least [`Self::MIN_BYTES`] bytes.
    pub fn new(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.len() < Self::MIN_BYTES {
            return Err(format!("must be at least {} bytes long", Self::MIN_BYTES));
        }
        Ok(Self(bytes))
    }

    /// A fresh random secret (development only: tokens die with the process).
    pub fn random() -> Result<Self, String> {
        let mut bytes = vec![0u8; 64];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness available: {e}"))?;
        Ok(Self(bytes))
    }

    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(***)")
    }
}

/// Token settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The HS256 key of access tokens when no `signing_key` is set; always the key refresh
    /// token successors are derived with.
    pub secret: JwtSecret,
    /// When set, access tokens are signed EdDSA with it (and only EdDSA tokens of its current
    /// or previous keys are accepted).
    pub signing_key: Option<crate::Ed25519Keys>,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    /// Absolute lifetime of a sign-in (its refresh token family).
    pub refresh_ttl: Duration,
    /// A refresh token unused for this long expires.
    pub refresh_idle_ttl: Duration,
    /// How long after its rotation a refresh token presented again yields its successor
    /// instead of revoking the sign-in (two tabs refreshing at once); zero is the strict rule.
    pub refresh_reuse_interval: Duration,
}

impl AuthConfig {
    /// The HS256 keys (used when no Ed25519 signing key is configured).
    pub(crate) fn hs256_keys(&self) -> Result<(EncodingKey, DecodingKey), ServiceError> {
        let enc = EncodingKey::from_secret(self.secret.expose())
            .map_err(|e| ServiceError::internal("jwt encoding key", e))?;
        let dec = DecodingKey::from_secret(self.secret.expose())
            .map_err(|e| ServiceError::internal("jwt decoding key", e))?;
        Ok((enc, dec))
    }
}

/// Throttling settings: the sign-in lock-out and the budgets of the other abusable operations
/// (each counted within `budget_window`; a budget is at least 1, never "off").
#[derive(Debug, Clone, Copy)]
pub struct ThrottleConfig {
    /// Failures per email within the window before sign-in is refused.
    pub max_failures_per_email: u64,
    /// Failures per client address within the window before sign-in is refused.
    pub max_failures_per_ip: u64,
    pub window: Duration,
    /// The window of the budgets below (`THROTTLE_WINDOW`).
    pub budget_window: Duration,
    /// Registrations per client address (`REGISTER_MAX_PER_IP`).
    pub register_per_ip: u64,
    /// Password-reset requests per client address (`PASSWORD_RESET_MAX_PER_IP`).
    pub reset_requests_per_ip: u64,
    /// Reset-token redemptions per client address (`RESET_PASSWORD_MAX_PER_IP`).
    pub reset_redemptions_per_ip: u64,
    /// Email changes per user (`EMAIL_CHANGE_MAX_PER_USER`).
    pub email_changes_per_user: u64,
    /// Wrong current passwords per user before password and email changes are refused
    /// (`PASSWORD_CHANGE_MAX_FAILURES`).
    pub password_change_failures: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            max_failures_per_email: 5,
            max_failures_per_ip: 50,
            window: Duration::from_secs(15 * 60),
            budget_window: Duration::from_secs(15 * 60),
            register_per_ip: 20,
            reset_requests_per_ip: 20,
            reset_redemptions_per_ip: 20,
            email_changes_per_user: 5,
            password_change_failures: 5,
        }
    }
}
