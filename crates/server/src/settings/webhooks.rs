//! The settings of usage alerts and outgoing webhooks: `USAGE_ALERT_THRESHOLDS`,
//! `WEBHOOK_ALLOW_PRIVATE_TARGETS`, `WEBHOOK_RETRY_SCHEDULE`, `WEBHOOK_DISABLE_AFTER`,
//! `WEBHOOK_TIMEOUT` and `WEBHOOK_POLL_INTERVAL`, each checked with a message naming it.

use std::time::Duration;

use domain::AlertThresholds;
use service::WebhookConfig;

use crate::settings::{AppEnv, SettingsError, bad, boolean, duration, number};

/// The most retries a schedule may list.
const MAX_RETRIES: usize = 20;
/// The longest wait a schedule may list.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(7 * 86_400);

/// Reads the alert thresholds and the webhook configuration.
pub(crate) fn read<'a>(
    get: &dyn Fn(&str) -> Option<&'a str>,
    app_env: AppEnv,
) -> Result<(AlertThresholds, WebhookConfig), SettingsError> {
    let thresholds = match get("USAGE_ALERT_THRESHOLDS") {
        Some(raw) => {
            AlertThresholds::parse(raw).map_err(|e| bad("USAGE_ALERT_THRESHOLDS", e.to_string()))?
        }
        None => AlertThresholds::default(),
    };
    let defaults = WebhookConfig::default();
    let config = WebhookConfig {
        allow_private: boolean(
            get("WEBHOOK_ALLOW_PRIVATE_TARGETS"),
            "WEBHOOK_ALLOW_PRIVATE_TARGETS",
            app_env != AppEnv::Production,
        )?,
        retry_schedule: match get("WEBHOOK_RETRY_SCHEDULE") {
            Some(raw) => retry_schedule(raw)?,
            None => defaults.retry_schedule,
        },
        disable_after: number(
            get("WEBHOOK_DISABLE_AFTER"),
            "WEBHOOK_DISABLE_AFTER",
            defaults.disable_after,
            1,
        )?,
        timeout: duration(get("WEBHOOK_TIMEOUT"), "WEBHOOK_TIMEOUT", defaults.timeout)?,
        poll_interval: duration(
            get("WEBHOOK_POLL_INTERVAL"),
            "WEBHOOK_POLL_INTERVAL",
            defaults.poll_interval,
        )?,
    };
    Ok((thresholds, config))
}

/// `5s,5m,30m,2h`: waits with a unit (`ms`, `s`, `m`, `h`, `d`; a bare number is seconds), each
/// above zero and at most 7 days, at most 20 of them.
fn retry_schedule(raw: &str) -> Result<Vec<Duration>, SettingsError> {
    const VARIABLE: &str = "WEBHOOK_RETRY_SCHEDULE";
    let waits = raw
        .split(',')
        .map(str::trim)
        .map(|item| {
            let invalid = || {
                bad(
                    VARIABLE,
                    format!("'{item}' is not a wait like 500ms, 5s, 30m, 2h or 1d"),
                )
            };
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
                return Err(bad(
                    VARIABLE,
                    format!("'{item}' must be above zero and at most 7 days"),
                ));
            }
            Ok(wait)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if waits.len() > MAX_RETRIES {
        return Err(bad(
            VARIABLE,
            format!("at most {MAX_RETRIES} retries may be listed"),
        ));
    }
    Ok(waits)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use super::*;

    fn read_with(
        pairs: &[(&str, &str)],
        app_env: AppEnv,
    ) -> Result<(AlertThresholds, WebhookConfig), SettingsError> {
        let vars: HashMap<&str, &str> = pairs.iter().copied().collect();
        read(&|name| vars.get(name).copied(), app_env)
    }

    #[test]
    fn defaults_follow_svix_and_allow_private_targets_outside_production() {
        let (thresholds, config) = read_with(&[], AppEnv::Development).unwrap();
        assert_eq!(thresholds.as_slice(), &[80, 95, 100]);
        assert!(config.allow_private);
        assert_eq!(
            config.retry_schedule,
            WebhookConfig::default_retry_schedule()
        );
        assert_eq!(config.retry_schedule.len(), 7);
        assert_eq!(config.disable_after, 5);
        assert_eq!(config.timeout, Duration::from_secs(10));
        let (_, production) = read_with(&[], AppEnv::Production).unwrap();
        assert!(!production.allow_private);
        let (_, forced) = read_with(
            &[("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")],
            AppEnv::Production,
        )
        .unwrap();
        assert!(forced.allow_private);
    }

    #[test]
    fn a_retry_schedule_takes_units() {
        let (_, config) = read_with(
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
            ("USAGE_ALERT_THRESHOLDS", "95,80"),
            ("USAGE_ALERT_THRESHOLDS", "0,50"),
            ("USAGE_ALERT_THRESHOLDS", "80,80"),
            ("USAGE_ALERT_THRESHOLDS", "120"),
            ("USAGE_ALERT_THRESHOLDS", "eighty"),
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
