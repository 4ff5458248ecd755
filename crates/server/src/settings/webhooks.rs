//! The settings of outgoing webhooks: `WEBHOOK_ALLOW_PRIVATE_TARGETS`,
//! `WEBHOOK_RETRY_SCHEDULE`, `WEBHOOK_DISABLE_AFTER`, `WEBHOOK_TIMEOUT` and
//! `WEBHOOK_POLL_INTERVAL`, each checked with a message naming it.

use std::time::Duration;

use service::WebhookConfig;

use super::{AppEnv, SettingsError, Vars};

/// The most retries a schedule may list.
const MAX_RETRIES: usize = 20;
/// The longest wait a schedule may list.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(7 * 86_400);

/// Reads the webhook configuration; private targets are allowed by default outside production.
pub(super) fn read(vars: &Vars, app_env: AppEnv) -> Result<WebhookConfig, SettingsError> {
    let defaults = WebhookConfig::default();
    Ok(WebhookConfig {
        allow_private: vars.boolean(
            "WEBHOOK_ALLOW_PRIVATE_TARGETS",
            app_env != AppEnv::Production,
        )?,
        retry_schedule: vars
            .parse("WEBHOOK_RETRY_SCHEDULE", retry_schedule)?
            .unwrap_or(defaults.retry_schedule),
        disable_after: vars.number("WEBHOOK_DISABLE_AFTER", defaults.disable_after, 1)?,
        timeout: vars.duration("WEBHOOK_TIMEOUT", defaults.timeout)?,
        poll_interval: vars.duration("WEBHOOK_POLL_INTERVAL", defaults.poll_interval)?,
    })
}

/// `5s,5m,30m,2h`: waits with a unit (`ms`, `s`, `m`, `h`, `d`; a bare number is seconds), each
/// above zero and at most 7 days, at most 20 of them.
fn retry_schedule(raw: &str) -> Result<Vec<Duration>, String> {
    let waits = raw
        .split(',')
        .map(|item| retry_wait(item.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    if waits.len() > MAX_RETRIES {
        return Err(format!("at most {MAX_RETRIES} retries may be listed"));
    }
    Ok(waits)
}

/// One wait of a schedule: `500ms`, `5s`, `30m`, `2h`, `1d` or a bare number of seconds.
fn retry_wait(item: &str) -> Result<Duration, String> {
    let invalid = || format!("'{item}' is not a wait like 500ms, 5s, 30m, 2h or 1d");
    let split = item
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(item.len());
    let (digits, unit) = item.split_at(split);
    let value: u64 = digits.parse().map_err(|_| invalid())?;
    let wait = match unit.trim() {
        "ms" => Duration::from_millis(value),
        "" | "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        "h" => Duration::from_secs(value.saturating_mul(3600)),
        "d" => Duration::from_secs(value.saturating_mul(86_400)),
        _ => return Err(invalid()),
    };
    if wait.is_zero() || wait > MAX_RETRY_WAIT {
        return Err(format!("'{item}' must be above zero and at most 7 days"));
    }
    Ok(wait)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read_with(pairs: &[(&str, &str)], app_env: AppEnv) -> Result<WebhookConfig, SettingsError> {
        read(&Vars::from_pairs(pairs), app_env)
    }

    #[test]
    fn defaults_follow_svix_and_allow_private_targets_outside_production() {
        let config = read_with(&[], AppEnv::Development).unwrap();
        assert!(config.allow_private);
        assert_eq!(
            config.retry_schedule,
            WebhookConfig::default_retry_schedule()
        );
        assert_eq!(config.retry_schedule.len(), 7);
        assert_eq!(config.disable_after, 5);
        assert_eq!(config.timeout, Duration::from_secs(10));
        let production = read_with(&[], AppEnv::Production).unwrap();
        assert!(!production.allow_private);
        let forced = read_with(
            &[("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")],
            AppEnv::Production,
        )
        .unwrap();
        assert!(forced.allow_private);
    }

    #[test]
    fn a_retry_schedule_takes_units() {
        let config = read_with(
            &[("WEBHOOK_RETRY_SCHEDULE", "100ms, 2s,3m,1h,1d,7")],
            AppEnv::Test,
        )
        .unwrap();
        assert_eq!(
            config.retry_schedule,
            [
                Duration::from_millis(100),
                Duration::from_secs(2),
                Duration::from_secs(180),
                Duration::from_secs(3600),
                Duration::from_secs(86_400),
                Duration::from_secs(7),
            ]
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "perhaps"),
            ("WEBHOOK_RETRY_SCHEDULE", "5s,,5m"),
            ("WEBHOOK_RETRY_SCHEDULE", "0s"),
            ("WEBHOOK_RETRY_SCHEDULE", "5 weeks"),
            ("WEBHOOK_RETRY_SCHEDULE", "8d"),
            ("WEBHOOK_RETRY_SCHEDULE", &["1s"; 21].join(",")),
            ("WEBHOOK_DISABLE_AFTER", "0"),
            ("WEBHOOK_DISABLE_AFTER", "five"),
            ("WEBHOOK_TIMEOUT", "0"),
            ("WEBHOOK_POLL_INTERVAL", "soon"),
        ] {
            let err = read_with(&[(name, value)], AppEnv::Test).unwrap_err();
            assert_eq!(err.variable, name, "{name}={value}");
        }
    }
}
