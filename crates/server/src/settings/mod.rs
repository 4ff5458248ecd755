//! Typed configuration read from the environment (and `.env` outside production). Every value
//! is checked at start-up; a bad one stops the server with a message naming the variable.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use api::client_address::TrustedProxies;
use api::metrics::MetricsToken;
use domain::ModelCatalog;
use mail::{SmtpSecurity, SmtpSettings};
use service::{
    AuthConfig, Ed25519Keys, EmailConfig, JwtSecret, PasswordHasher, PlanPrices, ThrottleConfig,
};

/// Where the process runs; production is strict about secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Test,
    Production,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// All settings of the server.
#[derive(Debug, Clone)]
pub struct Settings {
    pub app_env: AppEnv,
    pub database_url: String,
    pub database_max_connections: u32,
    /// How long a request waits for a pooled connection (or a new one) before it answers 503.
    pub database_acquire_timeout: Duration,
    pub host: String,
    pub port: u16,
    pub auth: AuthConfig,
    /// Set when no `JWT_SECRET` was configured and a random one is used.
    pub jwt_secret_is_random: bool,
    pub throttle: ThrottleConfig,
    pub cors_origins: Vec<String>,
    pub log_format: LogFormat,
    pub auto_migrate: bool,
    pub body_limit: usize,
    /// Proxies whose `X-Forwarded-For`/`Forwarded` headers name the client (`TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
    pub model_catalog: ModelCatalog,
    pub prices: PlanPrices,
    pub email: EmailConfig,
    /// `Name <address>` of outgoing mail.
    pub email_from: String,
    /// Where messages go without SMTP (one `.eml` file each).
    pub email_outbox_dir: std::path::PathBuf,
    /// SMTP delivery, when `SMTP_HOST` is set.
    pub smtp: Option<SmtpSettings>,
    pub email_poll_interval: Duration,
    /// How often expired rows (sign-in attempts, refresh and email tokens, Stripe events) are
    /// deleted.
    pub maintenance_interval: Duration,
    pub shutdown_timeout: Duration,
    /// How many argon2 computations may run at once (default: cores − 1, at least 1).
    pub password_hash_concurrency: usize,
    /// How many may wait for a hashing thread before sign-ins are refused with 503
    /// `service_busy` (`PASSWORD_HASH_QUEUE`, default eight per thread).
    pub password_hash_queue: usize,
    /// Stripe, when `STRIPE_SECRET_KEY` is set (else paid plans answer 503).
    pub stripe: Option<billing::StripeSettings>,
    /// Group commit of tracks (`TRACK_BATCH_WINDOW`, `TRACK_BATCH_MAX`).
    pub track_batching: service::TrackBatching,
    /// How long an unsettled token reservation counts (`RESERVATION_TTL`).
    pub reservation_ttl: Duration,
    /// The most tokens one track, check estimate or reservation may carry
    /// (`MAX_TOKENS_PER_REQUEST`).
    pub max_tokens_per_request: domain::MaxTokensPerRequest,
    /// Raw usage events older than this are deleted (`USAGE_EVENT_RETENTION`; unset: never).
    pub usage_event_retention: Option<Duration>,
    /// `Strict-Transport-Security: max-age=` this many seconds on every response; 0 sends none.
    pub hsts_max_age: u64,
    /// When set, `/metrics` requires `Authorization: Bearer <METRICS_TOKEN>`.
    pub metrics_token: Option<MetricsToken>,
    /// `USAGE_ALERT_THRESHOLDS`.
    pub alert_thresholds: domain::AlertThresholds,
    /// Outgoing webhooks (`WEBHOOK_*`).
    pub webhooks: service::WebhookConfig,
}

/// A setting that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    pub variable: &'static str,
    pub problem: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid setting {}: {}", self.variable, self.problem)
    }
}

impl std::error::Error for SettingsError {}

pub(crate) fn bad(variable: &'static str, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        variable,
        problem: problem.into(),
    }
}

/// Where email links point when `APP_BASE_URL` is not set (start-up warns about it: this
/// service serves neither `/verify-email` nor `/reset-password`).
pub const DEFAULT_APP_BASE_URL: &str = "http://localhost:8000";

/// The default embedded database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://doztra.db?mode=rwc";

impl Settings {
    /// Reads the process environment, after loading `.env` unless `APP_ENV=production`.
    pub fn from_env() -> Result<Self, SettingsError> {
        if std::env::var("APP_ENV")
            .map(|v| v != "production")
            .unwrap_or(true)
        {
            // A missing .env is normal; a malformed one is worth a warning but not fatal.
            if let Err(e) = dotenvy::dotenv()
                && !e.not_found()
            {
                eprintln!("warning: .env could not be read: {e}");
            }
        }
        Self::from_vars(&std::env::vars().collect())
    }

    /// Builds settings from a map of variables (testable without touching the environment).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, SettingsError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());

        let app_env = match get("APP_ENV").unwrap_or("development") {
            "development" | "dev" => AppEnv::Development,
            "test" => AppEnv::Test,
            "production" | "prod" => AppEnv::Production,
            other => {
                return Err(bad(
                    "APP_ENV",
                    format!("'{other}' is not development, test or production"),
                ));
            }
        };
        let database_url = get("DATABASE_URL")
            .unwrap_or(DEFAULT_DATABASE_URL)
            .to_owned();
        let is_sqlite = database_url.starts_with("sqlite:");
        if !is_sqlite
            && !database_url.starts_with("postgres://")
            && !database_url.starts_with("postgresql://")
        {
            return Err(bad(
                "DATABASE_URL",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        let (secret, signing_key, jwt_secret_is_random) = signing_keys(&get, app_env)?;
        let auth = AuthConfig {
            secret,
            signing_key,
            issuer: get("JWT_ISSUER").unwrap_or("doztra-auth").to_owned(),
            audience: get("JWT_AUDIENCE").unwrap_or("doztra").to_owned(),
            access_ttl: duration(
                get("ACCESS_TOKEN_TTL"),
                "ACCESS_TOKEN_TTL",
                Duration::from_secs(900),
            )?,
            refresh_ttl: duration(
                get("REFRESH_TOKEN_TTL"),
                "REFRESH_TOKEN_TTL",
                Duration::from_secs(30 * 86_400),
            )?,
            refresh_idle_ttl: duration(
                get("REFRESH_TOKEN_IDLE_TTL"),
                "REFRESH_TOKEN_IDLE_TTL",
                Duration::from_secs(7 * 86_400),
            )?,
            refresh_reuse_interval: duration_or_zero(
                get("REFRESH_TOKEN_REUSE_INTERVAL"),
                "REFRESH_TOKEN_REUSE_INTERVAL",
                Duration::from_secs(10),
            )?,
        };
        let throttle = read_throttle(&get)?;
        if get("TRUST_PROXY_HEADERS").is_some() {
            // The flag believed the client-written left-most entry. Ignoring it silently would
            // count every client behind the proxy as the proxy: refuse, and say what replaces it.
            return Err(bad(
                "TRUST_PROXY_HEADERS",
                "was replaced by TRUSTED_PROXIES: remove it and list your proxies' networks \
                 instead, e.g. TRUSTED_PROXIES=10.0.0.0/8 (empty: forwarded headers are ignored)",
            ));
        }
        let log_format = match get("LOG_FORMAT") {
            None if app_env == AppEnv::Production => LogFormat::Json,
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(bad(
                    "LOG_FORMAT",
                    format!("'{other}' is not pretty or json"),
                ));
            }
        };
        let base_url = get("APP_BASE_URL")
            .unwrap_or(DEFAULT_APP_BASE_URL)
            .trim_end_matches('/')
            .to_owned();
        if !base_url.starts_with("http://") && !base_url.starts_with("https://") {
            return Err(bad("APP_BASE_URL", "must start with http:// or https://"));
        }
        // The Customer Portal returns to the web app unless STRIPE_PORTAL_RETURN_URL says where.
        let mut stripe =
            billing::StripeSettings::from_vars(|name| get(name).map(str::to_owned), &base_url)
                .map_err(|e| SettingsError {
                    variable: e.variable,
                    problem: e.problem,
                })?;
        if let Some(stripe) = stripe.as_mut() {
            // A request that calls Stripe waits at most about timeout x (retries + 1) per call.
            stripe.request_timeout = duration(
                get("STRIPE_TIMEOUT"),
                "STRIPE_TIMEOUT",
                Duration::from_secs(10),
            )?;
            stripe.max_network_retries =
                number(get("STRIPE_MAX_RETRIES"), "STRIPE_MAX_RETRIES", 2u32, 0)?;
        }
        let (alert_thresholds, webhooks) =
            crate::settings_webhooks::read(&|name| get(name), app_env)?;
        let model_catalog = ModelCatalog::with_extensions(get("MODEL_CATALOG").unwrap_or(""))
            .map_err(|e| bad("MODEL_CATALOG", e.to_string()))?;
        let currency = get("PLAN_CURRENCY").unwrap_or("usd").to_ascii_lowercase();
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(bad(
                "PLAN_CURRENCY",
                format!("'{currency}' is not a three-letter ISO 4217 code"),
            ));
        }
        let prices = PlanPrices {
            basic_cents: price(get("PLAN_PRICE_BASIC"), "PLAN_PRICE_BASIC", 1900)?,
            professional_cents: price(
                get("PLAN_PRICE_PROFESSIONAL"),
                "PLAN_PRICE_PROFESSIONAL",
                4900,
            )?,
            currency,
        };
        let email_from = get("EMAIL_FROM")
            .unwrap_or("Doztra <no-reply@localhost>")
            .to_owned();
        mail::parse_mailbox(&email_from).map_err(|e| bad("EMAIL_FROM", e.to_string()))?;
        let email = EmailConfig {
            base_url,
            verification_ttl: duration(
                get("EMAIL_VERIFICATION_TTL"),
                "EMAIL_VERIFICATION_TTL",
                Duration::from_secs(48 * 3600),
            )?,
            reset_ttl: duration(
                get("PASSWORD_RESET_TTL"),
                "PASSWORD_RESET_TTL",
                Duration::from_secs(3600),
            )?,
            ..EmailConfig::default()
        };
        let smtp = match get("SMTP_HOST") {
            None => None,
            Some(host) => {
                let security = match get("SMTP_SECURITY").unwrap_or("starttls") {
                    "starttls" => SmtpSecurity::StartTls,
                    "tls" => SmtpSecurity::Tls,
                    "none" => SmtpSecurity::None,
                    other => {
                        return Err(bad(
                            "SMTP_SECURITY",
                            format!("'{other}' is not starttls, tls or none"),
                        ));
                    }
                };
                let default_port = if security == SmtpSecurity::Tls {
                    465
                } else {
                    587
                };
                Some(SmtpSettings {
                    host: host.to_owned(),
                    port: number(get("SMTP_PORT"), "SMTP_PORT", default_port, 1)?,
                    security,
                    username: get("SMTP_USERNAME").map(str::to_owned),
                    password: get("SMTP_PASSWORD").map(str::to_owned),
                    timeout: duration(
                        get("SMTP_TIMEOUT"),
                        "SMTP_TIMEOUT",
                        Duration::from_secs(10),
                    )?,
                })
            }
        };
        let password_hash_concurrency = number(
            get("PASSWORD_HASH_CONCURRENCY"),
            "PASSWORD_HASH_CONCURRENCY",
            PasswordHasher::default_concurrency(),
            1,
        )?;
        Ok(Self {
            email,
            email_from,
            email_outbox_dir: get("EMAIL_OUTBOX_DIR").unwrap_or("outbox").into(),
            smtp,
            email_poll_interval: duration(
                get("EMAIL_POLL_INTERVAL"),
                "EMAIL_POLL_INTERVAL",
                Duration::from_secs(5),
            )?,
            maintenance_interval: duration(
                get("MAINTENANCE_INTERVAL"),
                "MAINTENANCE_INTERVAL",
                Duration::from_secs(3600),
            )?,
            prices,
            app_env,
            database_max_connections: number(
                get("DATABASE_MAX_CONNECTIONS"),
                "DATABASE_MAX_CONNECTIONS",
                if is_sqlite { 8 } else { 16 },
                1,
            )?,
            database_acquire_timeout: duration(
                get("DATABASE_ACQUIRE_TIMEOUT"),
                "DATABASE_ACQUIRE_TIMEOUT",
                Duration::from_secs(5),
            )?,
            database_url,
            host: get("HOST").unwrap_or("127.0.0.1").to_owned(),
            port: number(get("PORT"), "PORT", 8000u16, 0)?,
            auth,
            jwt_secret_is_random,
            throttle,
            cors_origins: get("CORS_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            log_format,
            auto_migrate: boolean(get("AUTO_MIGRATE"), "AUTO_MIGRATE", is_sqlite)?,
            body_limit: number(get("BODY_LIMIT"), "BODY_LIMIT", 65_536usize, 1024)?,
            trusted_proxies: TrustedProxies::parse(get("TRUSTED_PROXIES").unwrap_or(""))
                .map_err(|p| bad("TRUSTED_PROXIES", p))?,
            model_catalog,
            shutdown_timeout: duration(
                get("SHUTDOWN_TIMEOUT"),
                "SHUTDOWN_TIMEOUT",
                Duration::from_secs(30),
            )?,
            stripe,
            password_hash_concurrency,
            password_hash_queue: number(
                get("PASSWORD_HASH_QUEUE"),
                "PASSWORD_HASH_QUEUE",
                PasswordHasher::default_queue(password_hash_concurrency),
                1,
            )?,
            track_batching: service::TrackBatching {
                window: short_duration(
                    get("TRACK_BATCH_WINDOW"),
                    "TRACK_BATCH_WINDOW",
                    service::TrackBatching::default().window,
                    Duration::from_secs(1),
                )?,
                max: number(
                    get("TRACK_BATCH_MAX"),
                    "TRACK_BATCH_MAX",
                    service::TrackBatching::default().max,
                    1,
                )?
                .min(MAX_TRACK_BATCH),
            },
            reservation_ttl: duration(
                get("RESERVATION_TTL"),
                "RESERVATION_TTL",
                Duration::from_secs(600),
            )?,
            max_tokens_per_request: max_tokens_per_request(get("MAX_TOKENS_PER_REQUEST"))?,
            usage_event_retention: get("USAGE_EVENT_RETENTION")
                .map(|raw| duration(Some(raw), "USAGE_EVENT_RETENTION", Duration::ZERO))
                .transpose()?,
            hsts_max_age: number(get("HSTS_MAX_AGE"), "HSTS_MAX_AGE", 0u64, 0)?,
            metrics_token: get("METRICS_TOKEN")
                .map(MetricsToken::new)
                .transpose()
                .map_err(|p| bad("METRICS_TOKEN", p))?,
            alert_thresholds,
            webhooks,
        })
    }

    /// The address to bind.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

pub(crate) fn number<T>(
    raw: Option<&str>,
    variable: &'static str,
    default: T,
    min: T,
) -> Result<T, SettingsError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(raw) = raw else { return Ok(default) };
    let value: T = raw
        .parse()
        .map_err(|_| bad(variable, format!("'{raw}' is not a whole number")))?;
    if value < min {
        return Err(bad(variable, format!("must be at least {min}")));
    }
    Ok(value)
}

pub(crate) fn boolean(
    raw: Option<&str>,
    variable: &'static str,
    default: bool,
) -> Result<bool, SettingsError> {
    match raw.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => Err(bad(variable, format!("'{other}' is not true or false"))),
    }
}

/// A price in major units with at most two decimals (`19`, `19.9`, `19.00`), as cents.
fn price(
    raw: Option<&str>,
    variable: &'static str,
    default_cents: u64,
) -> Result<u64, SettingsError> {
    let Some(raw) = raw else {
        return Ok(default_cents);
    };
    let invalid = || bad(variable, format!("'{raw}' is not a price like 19 or 19.00"));
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if whole.is_empty() || fraction.len() > 2 || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid());
    }
    let whole: u64 = whole.parse().map_err(|_| invalid())?;
    let cents: u64 = format!("{fraction:0<2}").parse().map_err(|_| invalid())?;
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(cents))
        .ok_or_else(invalid)
}

/// The sign-in lock-out and the budgets of the other abusable operations. A budget is at
/// least 1: `0` never means "off" (a large number relaxes one).
fn read_throttle<'a>(
    get: &dyn Fn(&str) -> Option<&'a str>,
) -> Result<ThrottleConfig, SettingsError> {
    let budget = |name: &'static str, default: u64| number(get(name), name, default, 1u64);
    let defaults = ThrottleConfig::default();
    Ok(ThrottleConfig {
        max_failures_per_email: budget("LOGIN_MAX_FAILURES", defaults.max_failures_per_email)?,
        max_failures_per_ip: budget("LOGIN_MAX_FAILURES_PER_IP", defaults.max_failures_per_ip)?,
        window: duration(
            get("LOGIN_LOCKOUT_WINDOW"),
            "LOGIN_LOCKOUT_WINDOW",
            defaults.window,
        )?,
        budget_window: duration(
            get("THROTTLE_WINDOW"),
            "THROTTLE_WINDOW",
            defaults.budget_window,
        )?,
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

/// `MAX_TOKENS_PER_REQUEST`: 1 to 10,000,000 (no request field carries more).
fn max_tokens_per_request(raw: Option<&str>) -> Result<domain::MaxTokensPerRequest, SettingsError> {
    const VARIABLE: &str = "MAX_TOKENS_PER_REQUEST";
    let max = number(raw, VARIABLE, domain::MaxTokensPerRequest::DEFAULT, 1)?;
    domain::MaxTokensPerRequest::new(max).ok_or_else(|| {
        bad(
            VARIABLE,
            format!("must be at most {}", domain::TokenCounts::MAX_TOKENS),
        )
    })
}

/// The largest `TRACK_BATCH_MAX` honoured (statements of a batch stay far below the databases'
/// bind-parameter limits).
const MAX_TRACK_BATCH: usize = 1000;

/// A short duration: milliseconds (`5ms`) or seconds (`2s`, or a bare number of
/// milliseconds); zero allowed, at most `max`.
fn short_duration(
    raw: Option<&str>,
    variable: &'static str,
    default: Duration,
    max: Duration,
) -> Result<Duration, SettingsError> {
    let Some(raw) = raw else { return Ok(default) };
    let text = raw.trim();
    let (digits, to_duration): (&str, fn(u64) -> Duration) =
        if let Some(ms) = text.strip_suffix("ms") {
            (ms, Duration::from_millis)
        } else if let Some(secs) = text.strip_suffix('s') {
            (secs, Duration::from_secs)
        } else {
            (text, Duration::from_millis)
        };
    let value = digits.trim().parse::<u64>().map(to_duration).map_err(|_| {
        bad(
            variable,
            format!("'{raw}' is not a duration like 0, 1ms or 2s"),
        )
    })?;
    if value > max {
        return Err(bad(variable, format!("'{raw}' is longer than {max:?}")));
    }
    Ok(value)
}

/// Seconds, or a number with a unit: `900`, `90s`, `15m`, `12h`, `30d`. Zero is refused.
/// The access-token keys: an Ed25519 signing key from `JWT_SIGNING_KEY_FILE` (with the
/// previous keys of `JWT_PREVIOUS_VERIFY_KEY_FILES`), else HS256 with `JWT_SECRET`, else (outside
/// production) a fresh Ed25519 key. Also the secret refresh-token successors are derived with:
/// `JWT_SECRET` when set, else one derived from the signing key. The flag says the key is
/// random (tokens will not survive a restart).
fn signing_keys<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
    app_env: AppEnv,
) -> Result<(JwtSecret, Option<Ed25519Keys>, bool), SettingsError> {
    let secret = get("JWT_SECRET")
        .map(|raw| JwtSecret::new(raw.as_bytes().to_vec()).map_err(|p| bad("JWT_SECRET", p)))
        .transpose()?;
    let previous: Vec<&str> = get("JWT_PREVIOUS_VERIFY_KEY_FILES")
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let read = |variable: &'static str, path: &str| {
        std::fs::read_to_string(path).map_err(|e| bad(variable, format!("cannot read {path}: {e}")))
    };
    let (mut keys, random) = match (get("JWT_SIGNING_KEY_FILE"), &secret) {
        (Some(path), _) => {
            let pem = read("JWT_SIGNING_KEY_FILE", path)?;
            let keys = Ed25519Keys::from_pem(&pem)
                .map_err(|p| bad("JWT_SIGNING_KEY_FILE", format!("{path} {p}")))?;
            (keys, false)
        }
        (None, Some(secret)) => {
            if !previous.is_empty() {
                return Err(bad(
                    "JWT_PREVIOUS_VERIFY_KEY_FILES",
                    "needs JWT_SIGNING_KEY_FILE (previous keys are Ed25519 keys)",
                ));
            }
            return Ok((secret.clone(), None, false));
        }
        (None, None) if app_env == AppEnv::Production => {
            return Err(bad(
                "JWT_SECRET",
                "is required in production (at least 32 bytes), unless JWT_SIGNING_KEY_FILE \
                 names an Ed25519 key",
            ));
        }
        (None, None) => (
            Ed25519Keys::generate().map_err(|p| bad("JWT_SIGNING_KEY_FILE", p))?,
            true,
        ),
    };
    for path in previous {
        let pem = read("JWT_PREVIOUS_VERIFY_KEY_FILES", path)?;
        keys.also_accept_pem(&pem)
            .map_err(|p| bad("JWT_PREVIOUS_VERIFY_KEY_FILES", format!("{path} {p}")))?;
    }
    let secret = match secret {
        Some(secret) => secret,
        None => keys
            .derived_secret()
            .map_err(|p| bad("JWT_SIGNING_KEY_FILE", p))?,
    };
    Ok((secret, Some(keys), random))
}

pub(crate) fn duration(
    raw: Option<&str>,
    variable: &'static str,
    default: Duration,
) -> Result<Duration, SettingsError> {
    let value = duration_or_zero(raw, variable, default)?;
    if value.is_zero() {
        return Err(bad(variable, "must be greater than zero"));
    }
    Ok(value)
}

/// Like [`duration`], for settings where zero means "off" (`0`, `0s`).
fn duration_or_zero(
    raw: Option<&str>,
    variable: &'static str,
    default: Duration,
) -> Result<Duration, SettingsError> {
    let Some(raw) = raw else { return Ok(default) };
    let (digits, unit) = match raw.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => raw.split_at(i),
        None => (raw, "s"),
    };
    let value: u64 = digits.parse().map_err(|_| {
        bad(
            variable,
            format!("'{raw}' is not a duration like 900, 15m or 30d"),
        )
    })?;
    let factor = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(bad(
                variable,
                format!("'{raw}' has an unknown unit (use s, m, h or d)"),
            ));
        }
    };
    let secs = value
        .checked_mul(factor)
        .ok_or_else(|| bad(variable, "is too large"))?;
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_run_on_embedded_sqlite_with_a_random_secret() {
        let s = Settings::from_vars(&vars(&[])).unwrap();
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert!(s.auto_migrate);
        assert!(s.jwt_secret_is_random);
        assert_eq!(s.auth.access_ttl, Duration::from_secs(900));
        assert_eq!(s.port, 8000);
    }

    #[test]
    fn production_refuses_a_missing_or_short_secret() {
        let err = Settings::from_vars(&vars(&[("APP_ENV", "production")])).unwrap_err();
        assert_eq!(err.variable, "JWT_SECRET");
        let err = Settings::from_vars(&vars(&[("APP_ENV", "production"), ("JWT_SECRET", "short")]))
            .unwrap_err();
        assert_eq!(err.variable, "JWT_SECRET");
        let ok = Settings::from_vars(&vars(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", &"x".repeat(32)),
        ]))
        .unwrap();
        assert_eq!(ok.log_format, LogFormat::Json);
    }

    /// A PKCS#8 PEM file of a fixed Ed25519 key, and the file's path.
    fn key_file(seed: u8) -> std::path::PathBuf {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let path = std::env::temp_dir().join(format!(
            "doztra-settings-key-{seed}-{}.pem",
            std::process::id()
        ));
        std::fs::write(
            &path,
            key.to_pkcs8_pem(Default::default()).unwrap().as_bytes(),
        )
        .unwrap();
        path
    }

    #[test]
    fn an_ed25519_key_file_signs_and_previous_keys_are_published() {
        let current = key_file(3);
        let previous = key_file(4);
        let s = Settings::from_vars(&vars(&[
            ("APP_ENV", "production"),
            ("JWT_SIGNING_KEY_FILE", current.to_str().unwrap()),
            (
                "JWT_PREVIOUS_VERIFY_KEY_FILES",
                &format!(" {} ,", previous.display()),
            ),
        ]))
        .unwrap();
        assert!(!s.jwt_secret_is_random);
        let keys = s.auth.signing_key.as_ref().unwrap();
        assert_eq!(keys.public_jwks().len(), 2);
        // Without JWT_SECRET the successor secret comes from the key: stable across restarts.
        let again = Settings::from_vars(&vars(&[(
            "JWT_SIGNING_KEY_FILE",
            current.to_str().unwrap(),
        )]))
        .unwrap();
        assert_eq!(
            format!("{:?}", again.auth.signing_key.as_ref().unwrap().kid()),
            format!("{:?}", keys.kid())
        );
    }

    #[test]
    fn development_without_keys_generates_an_ed25519_key() {
        let s = Settings::from_vars(&vars(&[])).unwrap();
        assert!(s.jwt_secret_is_random);
        assert!(s.auth.signing_key.is_some());
        let hs = Settings::from_vars(&vars(&[("JWT_SECRET", &"x".repeat(32))])).unwrap();
        assert!(hs.auth.signing_key.is_none());
        assert!(!hs.jwt_secret_is_random);
    }

    #[test]
    fn bad_key_files_name_their_variable() {
        let current = key_file(5);
        for (pairs, variable) in [
            (
                vec![("JWT_SIGNING_KEY_FILE", "/nonexistent/key.pem")],
                "JWT_SIGNING_KEY_FILE",
            ),
            (
                vec![("JWT_SIGNING_KEY_FILE", "Cargo.toml")],
                "JWT_SIGNING_KEY_FILE",
            ),
            (
                vec![
                    ("JWT_SIGNING_KEY_FILE", current.to_str().unwrap()),
                    ("JWT_PREVIOUS_VERIFY_KEY_FILES", "Cargo.toml"),
                ],
                "JWT_PREVIOUS_VERIFY_KEY_FILES",
            ),
            (
                vec![
                    ("JWT_SECRET", "y".repeat(32).leak()),
                    ("JWT_PREVIOUS_VERIFY_KEY_FILES", current.to_str().unwrap()),
                ],
                "JWT_PREVIOUS_VERIFY_KEY_FILES",
            ),
        ] {
            let err = Settings::from_vars(&vars(&pairs)).unwrap_err();
            assert_eq!(err.variable, variable, "{pairs:?}: {err}");
        }
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("PORT", "eighty"),
            ("ACCESS_TOKEN_TTL", "15 parsecs"),
            ("ACCESS_TOKEN_TTL", "0"),
            ("LOG_FORMAT", "xml"),
            ("AUTO_MIGRATE", "maybe"),
            ("DATABASE_URL", "mysql://x"),
            ("APP_ENV", "staging"),
            ("MODEL_CATALOG", "gpt-4o"),
            ("LOGIN_MAX_FAILURES", "0"),
            // A budget of 0 is never "off": every one refuses it.
            ("REGISTER_MAX_PER_IP", "0"),
            ("PASSWORD_RESET_MAX_PER_IP", "0"),
            ("RESET_PASSWORD_MAX_PER_IP", "0"),
            ("EMAIL_CHANGE_MAX_PER_USER", "0"),
            ("PASSWORD_CHANGE_MAX_FAILURES", "0"),
            ("PASSWORD_HASH_QUEUE", "0"),
            ("THROTTLE_WINDOW", "0"),
            ("PLAN_PRICE_BASIC", "19.999"),
            ("PLAN_PRICE_BASIC", "-1"),
            ("PLAN_CURRENCY", "dollars"),
            ("EMAIL_FROM", "not an address"),
            ("APP_BASE_URL", "ftp://x"),
            ("HSTS_MAX_AGE", "a year"),
            ("METRICS_TOKEN", "short"),
            ("TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal"),
            ("MAX_TOKENS_PER_REQUEST", "0"),
            ("MAX_TOKENS_PER_REQUEST", "10000001"),
            ("MAX_TOKENS_PER_REQUEST", "2m"),
        ] {
            let err = Settings::from_vars(&vars(&[(name, value)])).unwrap_err();
            assert_eq!(err.variable, name, "{name}={value}");
        }
    }

    #[test]
    fn the_old_proxy_flag_refuses_to_start_and_names_its_replacement() {
        for value in ["true", "false"] {
            let err = Settings::from_vars(&vars(&[("TRUST_PROXY_HEADERS", value)])).unwrap_err();
            assert_eq!(err.variable, "TRUST_PROXY_HEADERS");
            assert!(err.to_string().contains("TRUSTED_PROXIES"), "{err}");
        }
        let s = Settings::from_vars(&vars(&[(
            "TRUSTED_PROXIES",
            "127.0.0.1/32, 10.0.0.0/8,::1",
        )]))
        .unwrap();
        assert!(!s.trusted_proxies.is_empty());
        assert!(
            Settings::from_vars(&vars(&[]))
                .unwrap()
                .trusted_proxies
                .is_empty()
        );
    }

    #[test]
    fn the_refresh_reuse_interval_defaults_to_ten_seconds_and_may_be_zero() {
        let s = Settings::from_vars(&vars(&[])).unwrap();
        assert_eq!(s.auth.refresh_reuse_interval, Duration::from_secs(10));
        for zero in ["0", "0s"] {
            let s = Settings::from_vars(&vars(&[("REFRESH_TOKEN_REUSE_INTERVAL", zero)])).unwrap();
            assert!(s.auth.refresh_reuse_interval.is_zero());
        }
        let err =
            Settings::from_vars(&vars(&[("REFRESH_TOKEN_REUSE_INTERVAL", "soon")])).unwrap_err();
        assert_eq!(err.variable, "REFRESH_TOKEN_REUSE_INTERVAL");
    }

    #[test]
    fn the_request_maximum_defaults_to_two_million_tokens() {
        let s = Settings::from_vars(&vars(&[])).unwrap();
        assert_eq!(s.max_tokens_per_request.get(), 2_000_000);
        for (raw, max) in [("1", 1), ("10000000", 10_000_000), ("50000", 50_000)] {
            let s = Settings::from_vars(&vars(&[("MAX_TOKENS_PER_REQUEST", raw)])).unwrap();
            assert_eq!(s.max_tokens_per_request.get(), max);
        }
    }

    #[test]
    fn durations_take_units() {
        let s = Settings::from_vars(&vars(&[
            ("ACCESS_TOKEN_TTL", "15m"),
            ("REFRESH_TOKEN_TTL", "2d"),
        ]))
        .unwrap();
        assert_eq!(s.auth.access_ttl, Duration::from_secs(900));
        assert_eq!(s.auth.refresh_ttl, Duration::from_secs(172_800));
    }

    #[test]
    fn prices_are_read_as_cents() {
        let s = Settings::from_vars(&vars(&[
            ("PLAN_PRICE_BASIC", "9.5"),
            ("PLAN_PRICE_PROFESSIONAL", "120"),
        ]))
        .unwrap();
        assert_eq!(s.prices.basic_cents, 950);
        assert_eq!(s.prices.professional_cents, 12_000);
        assert_eq!(
            Settings::from_vars(&vars(&[])).unwrap().prices.basic_cents,
            1900
        );
    }

    #[test]
    fn smtp_is_configured_by_its_host() {
        let s = Settings::from_vars(&vars(&[])).unwrap();
        assert!(s.smtp.is_none());
        let s = Settings::from_vars(&vars(&[
            ("SMTP_HOST", "mail.example.com"),
            ("SMTP_PASSWORD", "hunter2"),
        ]))
        .unwrap();
        let smtp = s.smtp.unwrap();
        assert_eq!((smtp.port, smtp.security), (587, SmtpSecurity::StartTls));
        assert!(
            !format!("{smtp:?}").contains("hunter2"),
            "the password never prints"
        );
        let err = Settings::from_vars(&vars(&[("SMTP_HOST", "h"), ("SMTP_SECURITY", "ssl3")]))
            .unwrap_err();
        assert_eq!(err.variable, "SMTP_SECURITY");
        let err =
            Settings::from_vars(&vars(&[("SMTP_HOST", "h"), ("SMTP_PORT", "0")])).unwrap_err();
        assert_eq!(err.variable, "SMTP_PORT");
    }

    #[test]
    fn postgres_does_not_migrate_by_default() {
        let s = Settings::from_vars(&vars(&[("DATABASE_URL", "postgres://u@h/db")])).unwrap();
        assert!(!s.auto_migrate);
    }
}
