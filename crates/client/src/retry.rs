//! When a call is sent again, and after how long. Only what cannot count twice is retried: a
//! track (its `request_id` makes a repeat a duplicate), a check and the reads (they change
//! nothing), a reservation with its `request_id`, a release. Sign-in and refresh are retried
//! only when the connection failed (the request never reached the server).

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How many times, and how far apart, a safe call is sent.
///
/// The wait before retry `n` (1-based) is `base_delay * 2^(n-1)`, at most `max_delay`, with
/// the upper half jittered; a `Retry-After` from the server replaces it when longer. A
/// `Retry-After` over `max_retry_after` ends the retries at once (the error carries it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, 250 ms doubling up to 4 s; a `Retry-After` of up to 30 s is honoured.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The backoff before retry `retry` (1 = the first retry), jittered by `random` (any
    /// number; its low bits pick a point in the upper half of the wait).
    pub(crate) fn backoff(&self, retry: u32, random: u64) -> Duration {
        let doubled = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        let wait = doubled.min(self.max_delay);
        let half = wait / 2;
        let half_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX).max(1);
        half + Duration::from_millis(random % half_ms)
    }

    /// The wait before retry `retry`, or `None` when the server asked for longer than this
    /// policy waits.
    pub(crate) fn wait(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
        random: u64,
    ) -> Option<Duration> {
        let backoff = self.backoff(retry, random);
        match retry_after {
            Some(asked) if asked > self.max_retry_after => None,
            Some(asked) => Some(asked.max(backoff)),
            None => Some(backoff),
        }
    }
}

/// What may be retried for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Safety {
    /// Sending it twice changes nothing more than once: retry timeouts, connection errors and
    /// 5xx answers.
    Idempotent,
    /// Retry only when the connection could not be made (nothing reached the server).
    ConnectOnly,
}

/// Whether an answer with this status is worth sending again.
pub(crate) fn retryable_status(status: StatusCode) -> bool {
    status.is_server_error()
}

/// `Retry-After` in seconds (the form this server sends; an HTTP date is ignored).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// A little randomness for the jitter without another dependency: v4 UUIDs are random.
pub(crate) fn random() -> u64 {
    let bits = uuid::Uuid::new_v4().as_u128();
    (bits as u64) ^ ((bits >> 64) as u64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_the_cap_and_stays_in_the_upper_half() {
        let policy = RetryPolicy::default();
        for (retry, full_ms) in [
            (1, 250),
            (2, 500),
            (3, 1000),
            (4, 2000),
            (5, 4000),
            (9, 4000),
        ] {
            for random in [0, 1, 77, u64::MAX] {
                let wait = policy.backoff(retry, random);
                assert!(
                    wait >= Duration::from_millis(full_ms / 2)
                        && wait < Duration::from_millis(full_ms),
                    "retry {retry}: {wait:?}"
                );
            }
        }
    }

    #[test]
    fn retry_after_is_honoured_when_longer_and_refused_when_too_long() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.wait(1, Some(Duration::from_secs(3)), 0),
            Some(Duration::from_secs(3))
        );
        assert_eq!(policy.wait(1, Some(Duration::from_secs(31)), 0), None);
        let short = policy.wait(3, Some(Duration::ZERO), 0).unwrap();
        assert!(short >= Duration::from_millis(500), "{short:?}");
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
