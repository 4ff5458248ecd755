//! Wire types: what clients send and receive, one module per group of routes (mirroring
//! `routes/`). Field names follow the contract (docs/API.md) exactly. These are never database
//! models; conversions from the service's views, and into its commands (`TryFrom`, collecting
//! every field error into one 422), live here.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer};

pub mod admin;
pub mod api_keys;
pub mod auth;
pub mod billing;
pub mod catalog;
pub mod ops;
pub mod reservations;
pub mod usage;
pub mod users;
pub mod webhooks;
pub mod well_known;

pub use admin::*;
pub use auth::*;
pub use catalog::*;
pub use ops::*;
pub use users::*;

/// RFC 3339 UTC with milliseconds and `Z`, as the contract (docs/API.md) prescribes.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Deserializes a field that distinguishes "absent" (`None`) from `null` (`Some(None)`).
pub fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// A whole JSON number as `i64`: `5` and `5.0` alike (JSON Schema's `integer`), anything
/// else (`5.5`, a string) refused.
pub fn whole_number<'de, D>(de: D) -> Result<Option<i64>, D::Error>
where
    D: Deserializer<'de>,
{
    let Some(number) = Option::<serde_json::Number>::deserialize(de)? else {
        return Ok(None);
    };
    if let Some(value) = number.as_i64() {
        return Ok(Some(value));
    }
    match number.as_f64() {
        // i64::MAX as f64 rounds up to 2^63, so the upper bound is exclusive.
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => {
            Ok(Some(f as i64))
        }
        _ => Err(serde::de::Error::custom(format!(
            "expected a whole number within the 64-bit range, got {number}"
        ))),
    }
}

/// [`double_option`] of a [`whole_number`].
pub fn double_option_whole<'de, D>(de: D) -> Result<Option<Option<i64>>, D::Error>
where
    D: Deserializer<'de>,
{
    whole_number(de).map(Some)
}
