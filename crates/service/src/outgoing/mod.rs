//! Outgoing webhooks (Standard Webhooks): the events ([`events`]), queuing them in the
//! transaction of their change ([`publish`]), the worker that sends them ([`worker`]), and the
//! admin's endpoints and deliveries ([`endpoints`]).

pub(crate) mod endpoints;
pub(crate) mod events;
pub(crate) mod publish;
pub(crate) mod worker;

use std::time::Duration;

/// How outgoing webhooks are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Reach loopback, private, link-local and other non-public addresses, and allow `http`.
    pub allow_private: bool,
    /// The wait before each retry; a delivery gets `1 + retry_schedule.len()` attempts.
    pub retry_schedule: Vec<Duration>,
    /// An endpoint whose last this-many deliveries all failed is disabled.
    pub disable_after: u32,
    /// One attempt's time limit.
    pub timeout: Duration,
    /// How often the worker looks for due deliveries besides being woken.
    pub poll_interval: Duration,
}

impl WebhookConfig {
    /// Svix's schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    pub fn default_retry_schedule() -> Vec<Duration> {
        [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]
            .map(Duration::from_secs)
            .to_vec()
    }
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            allow_private: false,
            retry_schedule: Self::default_retry_schedule(),
            disable_after: 5,
            timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(5),
        }
    }
}
