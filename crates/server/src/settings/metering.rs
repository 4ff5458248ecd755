//! The metering settings: the model catalog (`MODEL_CATALOG`), group commit of tracks
//! (`TRACK_BATCH_WINDOW`, `TRACK_BATCH_MAX`), reservations (`RESERVATION_TTL`), the largest
//! request (`MAX_TOKENS_PER_REQUEST`), how long raw events are kept (`USAGE_EVENT_RETENTION`)
//! and the usage alerts (`USAGE_ALERT_THRESHOLDS`).

use std::time::Duration;

use domain::{AlertThresholds, MaxTokensPerRequest, ModelCatalog, TokenCounts};
use service::TrackBatching;

use super::{SettingsError, Vars};

/// The largest `TRACK_BATCH_MAX` honoured (statements of a batch stay far below the databases'
/// bind-parameter limits).
const MAX_TRACK_BATCH: usize = 1000;

/// How usage is counted, limited, kept and announced.
#[derive(Debug, Clone)]
pub struct MeteringSettings {
    pub model_catalog: ModelCatalog,
    /// Group commit of tracks (`TRACK_BATCH_WINDOW`, `TRACK_BATCH_MAX`).
    pub track_batching: TrackBatching,
    /// How long an unsettled token reservation counts (`RESERVATION_TTL`).
    pub reservation_ttl: Duration,
    /// The most tokens one track, check estimate or reservation may carry
    /// (`MAX_TOKENS_PER_REQUEST`).
    pub max_tokens_per_request: MaxTokensPerRequest,
    /// Raw usage events older than this are deleted (`USAGE_EVENT_RETENTION`; unset: never).
    pub usage_event_retention: Option<Duration>,
    /// `USAGE_ALERT_THRESHOLDS`.
    pub alert_thresholds: AlertThresholds,
}

impl MeteringSettings {
    pub(super) fn read(vars: &Vars) -> Result<Self, SettingsError> {
        const RETENTION: &str = "USAGE_EVENT_RETENTION";
        let usage_event_retention = match vars.string(RETENTION) {
            Some(_) => Some(vars.duration(RETENTION, Duration::ZERO)?),
            None => None,
        };
        Ok(Self {
            model_catalog: ModelCatalog::with_extensions(&vars.string_or("MODEL_CATALOG", ""))
                .map_err(|e| SettingsError::new("MODEL_CATALOG", e.to_string()))?,
            track_batching: read_track_batching(vars)?,
            reservation_ttl: vars.duration("RESERVATION_TTL", Duration::from_secs(600))?,
            max_tokens_per_request: read_max_tokens_per_request(vars)?,
            usage_event_retention,
            alert_thresholds: vars
                .parse("USAGE_ALERT_THRESHOLDS", AlertThresholds::parse)?
                .unwrap_or_default(),
        })
    }
}

fn read_track_batching(vars: &Vars) -> Result<TrackBatching, SettingsError> {
    let defaults = TrackBatching::default();
    let window = vars
        .parse("TRACK_BATCH_WINDOW", |raw| {
            short_duration(raw, Duration::from_secs(1))
        })?
        .unwrap_or(defaults.window);
    let max = vars.number("TRACK_BATCH_MAX", defaults.max, 1)?;
    if max > MAX_TRACK_BATCH {
        // Refused, not clamped: a setting that is silently not what it says misleads.
        return Err(SettingsError::new(
            "TRACK_BATCH_MAX",
            format!("must be at most {MAX_TRACK_BATCH}"),
        ));
    }
    Ok(TrackBatching { window, max })
}

/// `MAX_TOKENS_PER_REQUEST`: 1 to 10,000,000 (no request field carries more).
fn read_max_tokens_per_request(vars: &Vars) -> Result<MaxTokensPerRequest, SettingsError> {
    const VARIABLE: &str = "MAX_TOKENS_PER_REQUEST";
    let max = vars.number(VARIABLE, MaxTokensPerRequest::DEFAULT, 1)?;
    MaxTokensPerRequest::new(max).ok_or_else(|| {
        SettingsError::new(
            VARIABLE,
            format!("must be at most {}", TokenCounts::MAX_TOKENS),
        )
    })
}

/// A short duration: milliseconds (`5ms`) or seconds (`2s`, or a bare number of
/// milliseconds); zero allowed, at most `max`.
fn short_duration(raw: &str, max: Duration) -> Result<Duration, String> {
    let (digits, to_duration): (&str, fn(u64) -> Duration) =
        if let Some(ms) = raw.strip_suffix("ms") {
            (ms, Duration::from_millis)
        } else if let Some(secs) = raw.strip_suffix('s') {
            (secs, Duration::from_secs)
        } else {
            (raw, Duration::from_millis)
        };
    let value = digits
        .trim()
        .parse::<u64>()
        .map(to_duration)
        .map_err(|_| format!("'{raw}' is not a duration like 0, 1ms or 2s"))?;
    if value > max {
        return Err(format!("'{raw}' is longer than {max:?}"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<MeteringSettings, SettingsError> {
        MeteringSettings::read(&Vars::from_pairs(pairs))
    }

    #[test]
    fn the_request_maximum_defaults_to_two_million_tokens() {
        let s = read(&[]).unwrap();
        assert_eq!(s.max_tokens_per_request.get(), 2_000_000);
        for (raw, max) in [("1", 1), ("10000000", 10_000_000), ("50000", 50_000)] {
            let s = read(&[("MAX_TOKENS_PER_REQUEST", raw)]).unwrap();
            assert_eq!(s.max_tokens_per_request.get(), max);
        }
    }

    #[test]
    fn alerts_default_to_80_95_and_100_percent_and_events_are_kept() {
        let s = read(&[]).unwrap();
        assert_eq!(s.alert_thresholds.as_slice(), &[80, 95, 100]);
        assert_eq!(s.usage_event_retention, None);
        assert_eq!(s.reservation_ttl, Duration::from_secs(600));
        let s = read(&[("USAGE_EVENT_RETENTION", "90d")]).unwrap();
        assert_eq!(
            s.usage_event_retention,
            Some(Duration::from_secs(90 * 86_400))
        );
    }

    #[test]
    fn the_batch_window_takes_milliseconds_and_the_batch_size_is_capped() {
        let defaults = TrackBatching::default();
        let s = read(&[]).unwrap();
        assert_eq!(s.track_batching.window, defaults.window);
        for (raw, window) in [
            ("0", Duration::ZERO),
            ("5", Duration::from_millis(5)),
            ("5ms", Duration::from_millis(5)),
            ("1s", Duration::from_secs(1)),
        ] {
            let s = read(&[("TRACK_BATCH_WINDOW", raw)]).unwrap();
            assert_eq!(s.track_batching.window, window, "{raw}");
        }
        let s = read(&[("TRACK_BATCH_MAX", "1000")]).unwrap();
        assert_eq!(s.track_batching.max, MAX_TRACK_BATCH);
        let err = read(&[("TRACK_BATCH_MAX", "5000")]).unwrap_err();
        assert_eq!(err.variable, "TRACK_BATCH_MAX");
        assert!(err.to_string().contains("at most 1000"), "{err}");
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("MODEL_CATALOG", "gpt-4o"),
            ("MAX_TOKENS_PER_REQUEST", "0"),
            ("MAX_TOKENS_PER_REQUEST", "10000001"),
            ("MAX_TOKENS_PER_REQUEST", "2m"),
            ("USAGE_ALERT_THRESHOLDS", "95,80"),
            ("USAGE_ALERT_THRESHOLDS", "0,50"),
            ("USAGE_ALERT_THRESHOLDS", "80,80"),
            ("USAGE_ALERT_THRESHOLDS", "120"),
            ("USAGE_ALERT_THRESHOLDS", "eighty"),
            ("USAGE_EVENT_RETENTION", "0"),
            ("TRACK_BATCH_WINDOW", "2s"),
            ("TRACK_BATCH_WINDOW", "soon"),
            ("TRACK_BATCH_MAX", "0"),
            ("RESERVATION_TTL", "0"),
        ] {
            let err = read(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name, "{name}={value}");
        }
    }
}
