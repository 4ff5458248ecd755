//! Typed configuration read from the environment (and `.env` outside production), grouped by
//! concern: each submodule owns its variables, their defaults, their checks and their tests, and
//! reads them through the shared [`Vars`]. Every value is checked at start-up; a bad one stops
//! the server with a message naming the variable.

mod auth;
mod billing;
mod database;
mod email;
mod http;
mod metering;
mod signing_keys;
mod webhooks;

use std::collections::HashMap;

pub use ::settings::{SettingsError, Vars};

pub use self::auth::AuthSettings;
pub use self::billing::BillingSettings;
pub use self::database::{DEFAULT_DATABASE_URL, DatabaseSettings};
pub use self::email::{DEFAULT_APP_BASE_URL, EmailSettings};
pub use self::http::HttpSettings;
pub use self::metering::MeteringSettings;

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

/// All settings of the server, one group per concern.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `APP_ENV`.
    pub app_env: AppEnv,
    /// `LOG_FORMAT` (JSON in production unless told otherwise).
    pub log_format: LogFormat,
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub auth: AuthSettings,
    pub email: EmailSettings,
    pub billing: BillingSettings,
    pub metering: MeteringSettings,
    /// Outgoing webhooks (`WEBHOOK_*`).
    pub webhooks: service::WebhookConfig,
}

impl Settings {
    /// Reads the process environment, after loading `.env` unless `APP_ENV=production`.
    pub fn from_env() -> Result<Self, SettingsError> {
        // Read as the settings read it (`prod`, any case of blanks around it): production never
        // takes a leftover development `.env`.
        let production = matches!(
            read_app_env(&Vars::from_env()),
            Ok(AppEnv::Production) | Err(_)
        );
        if !production {
            // A missing .env is normal; a malformed one is worth a warning but not fatal.
            if let Err(e) = dotenvy::dotenv()
                && !e.not_found()
            {
                eprintln!("warning: .env could not be read: {e}");
            }
        }
        Self::read(&Vars::from_env())
    }

    /// Builds settings from a map of variables (testable without touching the environment).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, SettingsError> {
        Self::read(&Vars::from_map(vars))
    }

    /// Reads every group.
    pub fn read(vars: &Vars) -> Result<Self, SettingsError> {
        let app_env = read_app_env(vars)?;
        let email = EmailSettings::read(vars)?;
        Ok(Self {
            app_env,
            log_format: read_log_format(vars, app_env)?,
            database: DatabaseSettings::read(vars)?,
            http: HttpSettings::read(vars)?,
            auth: AuthSettings::read(vars, app_env)?,
            // The Customer Portal returns to the web app unless STRIPE_PORTAL_RETURN_URL says where.
            billing: BillingSettings::read(vars, &email.flows.base_url)?,
            metering: MeteringSettings::read(vars)?,
            webhooks: self::webhooks::read(vars, app_env)?,
            email,
        })
    }
}

fn read_app_env(vars: &Vars) -> Result<AppEnv, SettingsError> {
    let environments = [
        ("development", AppEnv::Development),
        ("dev", AppEnv::Development),
        ("test", AppEnv::Test),
        ("production", AppEnv::Production),
        ("prod", AppEnv::Production),
    ];
    Ok(vars
        .choice("APP_ENV", &environments, "development, test or production")?
        .unwrap_or(AppEnv::Development))
}

fn read_log_format(vars: &Vars, app_env: AppEnv) -> Result<LogFormat, SettingsError> {
    let formats = [("pretty", LogFormat::Pretty), ("json", LogFormat::Json)];
    Ok(
        match vars.choice("LOG_FORMAT", &formats, "pretty or json")? {
            Some(format) => format,
            None if app_env == AppEnv::Production => LogFormat::Json,
            None => LogFormat::Pretty,
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::time::Duration;

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
        assert_eq!(s.database.url, DEFAULT_DATABASE_URL);
        assert!(s.database.auto_migrate);
        assert!(s.auth.jwt_secret_is_random);
        assert_eq!(s.auth.tokens.access_ttl, Duration::from_secs(900));
        assert_eq!(s.http.port, 8000);
        assert_eq!(s.app_env, AppEnv::Development);
        assert_eq!(s.log_format, LogFormat::Pretty);
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

    #[test]
    fn environments_and_log_formats_have_aliases_and_defaults() {
        for (raw, env) in [
            ("dev", AppEnv::Development),
            ("test", AppEnv::Test),
            ("prod", AppEnv::Production),
        ] {
            let s =
                Settings::from_vars(&vars(&[("APP_ENV", raw), ("JWT_SECRET", &"x".repeat(32))]))
                    .unwrap();
            assert_eq!(s.app_env, env);
        }
        let s = Settings::from_vars(&vars(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", &"x".repeat(32)),
            ("LOG_FORMAT", "pretty"),
        ]))
        .unwrap();
        assert_eq!(s.log_format, LogFormat::Pretty);
    }

    /// Each group's own tests cover its variables; these show every group's error reaches the
    /// caller of `from_vars` unchanged.
    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("APP_ENV", "staging"),
            ("LOG_FORMAT", "xml"),
            ("DATABASE_URL", "mysql://x"),
            ("PORT", "eighty"),
            ("ACCESS_TOKEN_TTL", "15 parsecs"),
            ("EMAIL_FROM", "not an address"),
            ("PLAN_CURRENCY", "dollars"),
            ("MODEL_CATALOG", "gpt-4o"),
            ("WEBHOOK_TIMEOUT", "0"),
        ] {
            let err = Settings::from_vars(&vars(&[(name, value)])).unwrap_err();
            assert_eq!(err.variable, name, "{name}={value}");
        }
        let err = Settings::from_vars(&vars(&[("APP_ENV", "staging")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid setting APP_ENV: 'staging' is not development, test or production"
        );
    }
}
