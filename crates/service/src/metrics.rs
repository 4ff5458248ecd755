//! Business metrics, transport-neutral: the use cases report what happened through
//! [`ServiceMetrics`] and the HTTP layer turns it into Prometheus series. Every label value is
//! from a closed set (plans, request types, units, the configured model catalog, the codes
//! below), never a user id or free text.

use domain::{MeteredUnit, Plan, RequestType};

/// How a track was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrackAnswer {
    /// Recorded.
    Accepted,
    /// A repeat of a recorded `request_id`: answered with its record, nothing changed.
    Duplicate,
    /// Refused by the quota or the tier; the error code (`token_limit_exceeded`, ...).
    Refused(&'static str),
    /// A `request_id` reused with another payload (409).
    Conflict,
    /// Not answered with a decision: invalid input, the database away, a bug.
    Failed,
}

impl TrackAnswer {
    /// The `outcome` label: `accepted`, `duplicate`, `refused`, `conflict`, `failed`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Refused(_) => "refused",
            Self::Conflict => "conflict",
            Self::Failed => "failed",
        }
    }

    /// The `reason` label: the refusal's code, else `none`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Refused(code) => code,
            _ => "none",
        }
    }
}

/// How one webhook attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptOutcome {
    /// A 2xx answer.
    Succeeded,
    /// Any other HTTP answer (redirects included).
    HttpError,
    Timeout,
    ConnectionError,
    /// The target may not be reached (SSRF guard); nothing was sent.
    Refused,
}

impl AttemptOutcome {
    /// The `outcome` label.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::HttpError => "http_error",
            Self::Timeout => "timeout",
            Self::ConnectionError => "connection_error",
            Self::Refused => "refused",
        }
    }
}

/// Where the use cases report business events. Every method has an empty default, so an
/// embedding program that wants no metrics passes [`NoMetrics`].
pub trait ServiceMetrics: Send + Sync {
    /// A track was answered (after its transaction, for a recorded one).
    fn track_answered(&self, _plan: Plan, _answer: TrackAnswer) {}
    /// Tokens recorded by an accepted track; `model` is a name of the configured catalog.
    fn tokens_tracked(&self, _plan: Plan, _request_type: RequestType, _model: &str, _tokens: u64) {}
    /// One track transaction committed with `size` tracks in it.
    fn track_batch(&self, _size: usize) {}
    /// A usage alert was recorded (once per user, period, unit and threshold).
    fn alert_recorded(&self, _unit: MeteredUnit, _threshold: u8) {}
    /// A usage alert reached its user by email.
    fn alert_email_sent(&self) {}
    /// One webhook attempt ended.
    fn webhook_attempt(&self, _outcome: AttemptOutcome) {}
    /// A webhook delivery of `event_type` (`usage.threshold_crossed`, ...) ended: it reached
    /// its endpoint, or every attempt failed and it was given up.
    fn webhook_delivery_finished(&self, _event_type: &'static str, _succeeded: bool) {}
    /// A Stripe webhook event was handled; `event_type` is Stripe's type as received (the
    /// metrics layer maps types it does not know to `other`), `outcome` one of `applied`,
    /// `duplicate`, `stale`, `other_subscription`, `unknown_customer`, `ignored`,
    /// `invalid_signature`, `error`.
    fn stripe_event(&self, _event_type: &str, _outcome: &'static str) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl ServiceMetrics for NoMetrics {}
