//! The database settings: `DATABASE_URL`, the pool (`DATABASE_MAX_CONNECTIONS`,
//! `DATABASE_ACQUIRE_TIMEOUT`), `AUTO_MIGRATE` and how often expired rows are deleted
//! (`MAINTENANCE_INTERVAL`).

use std::time::Duration;

use super::{SettingsError, Vars};

/// The default embedded database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://doztra.db?mode=rwc";

/// Where the data lives and how the pool reaches it.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `sqlite:...`, `postgres://...` or `postgresql://...`.
    pub url: String,
    /// Default 8 on SQLite, 16 on PostgreSQL.
    pub max_connections: u32,
    /// How long a request waits for a pooled connection (or a new one) before it answers 503.
    pub acquire_timeout: Duration,
    /// Apply pending migrations at start-up (default on SQLite only).
    pub auto_migrate: bool,
    /// How often expired rows (sign-in attempts, refresh and email tokens, Stripe events) are
    /// deleted.
    pub maintenance_interval: Duration,
}

impl DatabaseSettings {
    pub(super) fn read(vars: &Vars) -> Result<Self, SettingsError> {
        let url = vars.string_or("DATABASE_URL", DEFAULT_DATABASE_URL);
        let is_sqlite = url.starts_with("sqlite:");
        if !is_sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(SettingsError::new(
                "DATABASE_URL",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        Ok(Self {
            url,
            max_connections: vars.number(
                "DATABASE_MAX_CONNECTIONS",
                if is_sqlite { 8 } else { 16 },
                1,
            )?,
            acquire_timeout: vars.duration("DATABASE_ACQUIRE_TIMEOUT", Duration::from_secs(5))?,
            auto_migrate: vars.boolean("AUTO_MIGRATE", is_sqlite)?,
            maintenance_interval: vars
                .duration("MAINTENANCE_INTERVAL", Duration::from_secs(3600))?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<DatabaseSettings, SettingsError> {
        DatabaseSettings::read(&Vars::from_pairs(pairs))
    }

    #[test]
    fn the_default_is_embedded_sqlite_that_migrates_itself() {
        let s = read(&[]).unwrap();
        assert_eq!(s.url, DEFAULT_DATABASE_URL);
        assert!(s.auto_migrate);
        assert_eq!(s.max_connections, 8);
        assert_eq!(s.acquire_timeout, Duration::from_secs(5));
    }

    #[test]
    fn postgres_does_not_migrate_by_default() {
        let s = read(&[("DATABASE_URL", "postgres://u@h/db")]).unwrap();
        assert!(!s.auto_migrate);
        assert_eq!(s.max_connections, 16);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("DATABASE_URL", "mysql://x"),
            ("AUTO_MIGRATE", "maybe"),
            ("DATABASE_MAX_CONNECTIONS", "0"),
            ("DATABASE_ACQUIRE_TIMEOUT", "0"),
            ("MAINTENANCE_INTERVAL", "hourly"),
        ] {
            let err = read(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name, "{name}={value}");
        }
    }
}
