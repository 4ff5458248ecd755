//! The one place the services read the clock: UTC, truncated to milliseconds so that what is
//! stored compares and serialises exactly as the API shows it.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

pub(crate) fn now() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(TimeDelta::milliseconds(1))
        .unwrap_or(now)
}
