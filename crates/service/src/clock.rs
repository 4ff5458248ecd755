//! Time as a dependency: the services read the current time from a [`Clock`] held in their
//! context, so every rule that depends on time (token lifetimes, reservations, billing periods,
//! retries) can be tested by moving a [`ManualClock`] instead of sleeping. Whatever clock is
//! used, [`read`] truncates its reading to milliseconds, so what is stored compares and
//! serialises exactly as the API shows it.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// Where the services get the current time (UTC).
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock: the system's time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until it is set or advanced; clones share one time, so a test
/// keeps a clone and moves the clock of the services it started.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use doztra_service::{Clock, ManualClock};
///
/// let clock = ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 31, 23, 0, 0).unwrap());
/// let held_by_the_services = clock.clone();
/// clock.advance(TimeDelta::hours(2));
/// assert_eq!(held_by_the_services.now(), Utc.with_ymd_and_hms(2030, 2, 1, 1, 0, 0).unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    /// A clock standing at the system's time when it was made.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }

    /// Moves the clock to `at` (backwards too).
    pub fn set(&self, at: DateTime<Utc>) {
        *self.time() = at;
    }

    /// Moves the clock by `by` (a negative delta moves it back).
    pub fn advance(&self, by: TimeDelta) {
        let mut time = self.time();
        *time += by;
    }

    // A panic while the lock was held cannot leave a half-written time behind.
    fn time(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.time()
    }
}

/// The current time as the services use it: `clock`'s reading truncated to milliseconds. The
/// one place time is read ([`crate::Context::now`] and the workers call it).
pub(crate) fn read(clock: &dyn Clock) -> DateTime<Utc> {
    let now = clock.now();
    now.duration_trunc(TimeDelta::milliseconds(1))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn every_clock_is_read_to_the_millisecond() {
        let at = Utc.timestamp_opt(1_900_000_000, 123_456_789).unwrap();
        let clock = ManualClock::new(at);
        assert_eq!(
            read(&clock),
            Utc.timestamp_opt(1_900_000_000, 123_000_000).unwrap()
        );
        assert_eq!(read(&SystemClock).timestamp_subsec_nanos() % 1_000_000, 0);
    }

    #[test]
    fn clones_of_a_manual_clock_share_its_time() {
        let start = Utc.with_ymd_and_hms(2030, 5, 31, 12, 0, 0).unwrap();
        let clock = ManualClock::new(start);
        let copy = clock.clone();
        clock.advance(TimeDelta::days(1));
        assert_eq!(copy.now(), start + TimeDelta::days(1));
        copy.set(start);
        assert_eq!(clock.now(), start);
    }
}
