//! The authentication settings: access and refresh tokens (the keys, read by
//! [`super::signing_keys`], `JWT_ISSUER`, `JWT_AUDIENCE` and the lifetimes), the sign-in
//! lock-out and budgets of abusable operations, and password hashing's concurrency.

use std::time::Duration;

use service::{AuthConfig, PasswordHasher, ThrottleConfig};

use super::{AppEnv, SettingsError, Vars, signing_keys};

/// Tokens, throttling and password hashing.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Keys, issuer, audience and lifetimes of access and refresh tokens.
    pub tokens: AuthConfig,
    /// Set when neither `JWT_SIGNING_KEY_FILE` nor `JWT_SECRET` was configured and a random key
    /// is used.
    pub jwt_secret_is_random: bool,
    pub throttle: ThrottleConfig,
    /// How many argon2 computations may run at once (default: cores − 1, at least 1).
    pub password_hash_concurrency: usize,
    /// How many may wait for a hashing thread before sign-ins are refused with 503
    /// `service_busy` (`PASSWORD_HASH_QUEUE`, default eight per thread).
    pub password_hash_queue: usize,
}

impl AuthSettings {
    pub(super) fn read(vars: &Vars, app_env: AppEnv) -> Result<Self, SettingsError> {
        let keys = signing_keys::read(vars, app_env)?;
        let tokens = AuthConfig {
            secret: keys.secret,
            signing_key: keys.signing_key,
            issuer: vars.string_or("JWT_ISSUER", "doztra-auth"),
            audience: vars.string_or("JWT_AUDIENCE", "doztra"),
            access_ttl: vars.duration("ACCESS_TOKEN_TTL", Duration::from_secs(900))?,
            refresh_ttl: vars.duration("REFRESH_TOKEN_TTL", Duration::from_secs(30 * 86_400))?,
            refresh_idle_ttl: vars
                .duration("REFRESH_TOKEN_IDLE_TTL", Duration::from_secs(7 * 86_400))?,
            refresh_reuse_interval: vars
                .duration_or_zero("REFRESH_TOKEN_REUSE_INTERVAL", Duration::from_secs(10))?,
        };
        let password_hash_concurrency = vars.number(
            "PASSWORD_HASH_CONCURRENCY",
            PasswordHasher::default_concurrency(),
            1,
        )?;
        Ok(Self {
            tokens,
            jwt_secret_is_random: keys.random,
            throttle: read_throttle(vars)?,
            password_hash_concurrency,
            password_hash_queue: vars.number(
                "PASSWORD_HASH_QUEUE",
                PasswordHasher::default_queue(password_hash_concurrency),
                1,
            )?,
        })
    }
}

/// The sign-in lock-out and the budgets of the other abusable operations. A budget is at
/// least 1: `0` never means "off" (a large number relaxes one).
fn read_throttle(vars: &Vars) -> Result<ThrottleConfig, SettingsError> {
    let budget = |name: &'static str, default: u64| vars.number(name, default, 1u64);
    let defaults = ThrottleConfig::default();
    Ok(ThrottleConfig {
        max_failures_per_email: budget("LOGIN_MAX_FAILURES", defaults.max_failures_per_email)?,
        max_failures_per_ip: budget("LOGIN_MAX_FAILURES_PER_IP", defaults.max_failures_per_ip)?,
        window: vars.duration("LOGIN_LOCKOUT_WINDOW", defaults.window)?,
        budget_window: vars.duration("THROTTLE_WINDOW", defaults.budget_window)?,
        register_per_ip: budget("REGISTER_MAX_PER_IP", defaults.register_per_ip)?,
        reset_requests_per_ip: budget("PASSWORD_RESET_MAX_PER_IP", defaults.reset_requests_per_ip)?,
        reset_redemptions_per_ip: budget(
            "RESET_PASSWORD_MAX_PER_IP",
            defaults.reset_redemptions_per_ip,
        )?,
        email_changes_per_user: budget(
            "EMAIL_CHANGE_MAX_PER_USER",
            defaults.email_changes_per_user,
        )?,
        password_change_failures: budget(
            "PASSWORD_CHANGE_MAX_FAILURES",
            defaults.password_change_failures,
        )?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<AuthSettings, SettingsError> {
        AuthSettings::read(&Vars::from_pairs(pairs), AppEnv::Test)
    }

    #[test]
    fn durations_take_units() {
        let s = read(&[("ACCESS_TOKEN_TTL", "15m"), ("REFRESH_TOKEN_TTL", "2d")]).unwrap();
        assert_eq!(s.tokens.access_ttl, Duration::from_secs(900));
        assert_eq!(s.tokens.refresh_ttl, Duration::from_secs(172_800));
        let defaults = read(&[]).unwrap();
        assert_eq!(defaults.tokens.access_ttl, Duration::from_secs(900));
        assert_eq!(defaults.tokens.issuer, "doztra-auth");
        assert_eq!(defaults.tokens.audience, "doztra");
    }

    #[test]
    fn the_refresh_reuse_interval_defaults_to_ten_seconds_and_may_be_zero() {
        let s = read(&[]).unwrap();
        assert_eq!(s.tokens.refresh_reuse_interval, Duration::from_secs(10));
        for zero in ["0", "0s"] {
            let s = read(&[("REFRESH_TOKEN_REUSE_INTERVAL", zero)]).unwrap();
            assert!(s.tokens.refresh_reuse_interval.is_zero());
        }
        let err = read(&[("REFRESH_TOKEN_REUSE_INTERVAL", "soon")]).unwrap_err();
        assert_eq!(err.variable, "REFRESH_TOKEN_REUSE_INTERVAL");
    }

    #[test]
    fn the_hashing_queue_defaults_to_eight_per_thread() {
        let s = read(&[("PASSWORD_HASH_CONCURRENCY", "3")]).unwrap();
        assert_eq!(
            (s.password_hash_concurrency, s.password_hash_queue),
            (3, 24)
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("ACCESS_TOKEN_TTL", "15 parsecs"),
            ("ACCESS_TOKEN_TTL", "0"),
            ("LOGIN_MAX_FAILURES", "0"),
            // A budget of 0 is never "off": every one refuses it.
            ("REGISTER_MAX_PER_IP", "0"),
            ("PASSWORD_RESET_MAX_PER_IP", "0"),
            ("RESET_PASSWORD_MAX_PER_IP", "0"),
            ("EMAIL_CHANGE_MAX_PER_USER", "0"),
            ("PASSWORD_CHANGE_MAX_FAILURES", "0"),
            ("PASSWORD_HASH_QUEUE", "0"),
            ("PASSWORD_HASH_CONCURRENCY", "0"),
            ("THROTTLE_WINDOW", "0"),
        ] {
            let err = read(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name, "{name}={value}");
        }
    }
}
