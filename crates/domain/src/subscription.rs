//! Subscriptions as rules, with no clock and no provider of their own: how a paid plan is billed
//! ([`BillingInterval`]), our status words ([`SubscriptionStatus`]) and the payment provider's
//! ([`ProviderStatus`]), the plan in force at a given instant ([`PlanRecord::in_force_at`]: a
//! paid plan past its paid time reads as free), and how a provider's state that arrives late or
//! out of order is ordered against the stored one ([`order_state`], [`decide_state`],
//! [`decide_payment_failure`]) with the closed set of [`WebhookOutcome`]s.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::DomainError;
use crate::plan::Plan;

/// How often a paid plan is billed. The wire name of the field is `billing_period` (kept for
/// the contract); a [`BillingPeriod`](crate::BillingPeriod) is something else, the calendar
/// month usage is counted in.
///
/// ```
/// use doztra_domain::BillingInterval;
///
/// assert_eq!(BillingInterval::parse("yearly")?, BillingInterval::Yearly);
/// assert_eq!(BillingInterval::default(), BillingInterval::Monthly);
/// assert!(BillingInterval::parse("weekly").is_err());
/// assert!(BillingInterval::parse("Yearly").is_err(), "exactly: no case folding");
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BillingInterval {
    /// Billed every month (the default).
    #[default]
    Monthly,
    /// Billed every year.
    Yearly,
}

impl BillingInterval {
    /// Parses `monthly` or `yearly`, exactly.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "monthly" => Ok(Self::Monthly),
            "yearly" => Ok(Self::Yearly),
            _ => Err(DomainError::UnknownBillingInterval(raw.to_owned())),
        }
    }

    /// The wire string.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Monthly => "monthly",
            Self::Yearly => "yearly",
        }
    }
}

impl fmt::Display for BillingInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Our status of a subscription, as `GET /api/users/me/subscription` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionStatus {
    /// The plan is in force.
    Active,
    /// A first payment waits for the customer (3-D Secure) or was declined; the plan is free.
    Pending,
    /// A renewal payment failed; the plan stays in force while the provider retries.
    PastDue,
    /// The paid subscription ended; the plan is free.
    Canceled,
    /// The paid time ran out without renewal; the plan reads as free (computed, never stored).
    Expired,
}

impl SubscriptionStatus {
    /// Parses a stored word.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "active" => Ok(Self::Active),
            "pending" => Ok(Self::Pending),
            "past_due" => Ok(Self::PastDue),
            "canceled" => Ok(Self::Canceled),
            "expired" => Ok(Self::Expired),
            _ => Err(DomainError::UnknownSubscriptionStatus(raw.to_owned())),
        }
    }

    /// The wire and stored word.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pending => "pending",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
        }
    }
}

impl fmt::Display for SubscriptionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The payment provider's status of a subscription (Stripe's words). A word the provider adds
/// later is kept as [`Other`](Self::Other) rather than refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProviderStatus {
    /// Paid and running.
    Active,
    /// In a free trial.
    Trialing,
    /// The first payment has not gone through yet.
    Incomplete,
    /// The first payment never went through; over for good.
    IncompleteExpired,
    /// A renewal payment failed; the provider retries.
    PastDue,
    /// Retries exhausted; nothing is billed any more.
    Unpaid,
    /// Ended; over for good.
    Canceled,
    /// Paused; nothing is billed.
    Paused,
    /// A word this version does not know.
    Other(String),
}

impl ProviderStatus {
    /// Parses a provider word; never fails.
    pub fn parse(raw: &str) -> Self {
        match raw {
            "active" => Self::Active,
            "trialing" => Self::Trialing,
            "incomplete" => Self::Incomplete,
            "incomplete_expired" => Self::IncompleteExpired,
            "past_due" => Self::PastDue,
            "unpaid" => Self::Unpaid,
            "canceled" => Self::Canceled,
            "paused" => Self::Paused,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The provider's word.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Active => "active",
            Self::Trialing => "trialing",
            Self::Incomplete => "incomplete",
            Self::IncompleteExpired => "incomplete_expired",
            Self::PastDue => "past_due",
            Self::Unpaid => "unpaid",
            Self::Canceled => "canceled",
            Self::Paused => "paused",
            Self::Other(word) => word,
        }
    }

    /// Over for good: no later state revives it.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Canceled | Self::IncompleteExpired)
    }

    /// Running: it bills the customer and carries the plan.
    pub fn is_live(&self) -> bool {
        matches!(self, Self::Active | Self::Trialing | Self::PastDue)
    }

    /// Ended: nothing is billed any more (final, or unpaid after the retries).
    pub fn is_ended(&self) -> bool {
        matches!(
            self,
            Self::Canceled | Self::Unpaid | Self::IncompleteExpired
        )
    }

    /// Waiting for its first payment.
    pub fn awaits_first_payment(&self) -> bool {
        matches!(self, Self::Incomplete)
    }
}

impl fmt::Display for ProviderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long a subscription that renews at the provider keeps its plan past `expires_at` while
/// the renewal's webhook is on its way (Stripe retries deliveries for days).
pub const RENEWAL_GRACE: TimeDelta = TimeDelta::days(3);

/// A subscription's plan as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanRecord {
    /// The stored plan.
    pub plan: Plan,
    /// The stored status.
    pub status: SubscriptionStatus,
    /// The stored active flag.
    pub is_active: bool,
    /// When the paid time ends, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the provider renews it (auto-renew on, with a provider subscription).
    pub renews_at_provider: bool,
}

/// The plan in force at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanInForce {
    /// The plan whose limits apply.
    pub plan: Plan,
    /// The status to show.
    pub status: SubscriptionStatus,
    /// Whether the subscription is active.
    pub is_active: bool,
}

impl PlanRecord {
    /// The plan in force at `at`: a paid plan whose paid time ran out reads as
    /// [`Plan::Free`] with status [`Expired`](SubscriptionStatus::Expired), decided on every
    /// read so no job has to downgrade anyone; a subscription the provider renews keeps its plan
    /// for [`RENEWAL_GRACE`] past `expires_at`.
    ///
    /// ```
    /// use chrono::{TimeDelta, Utc};
    /// use doztra_domain::{Plan, PlanRecord, SubscriptionStatus};
    ///
    /// let now = Utc::now();
    /// let record = PlanRecord {
    ///     plan: Plan::Basic,
    ///     status: SubscriptionStatus::Active,
    ///     is_active: true,
    ///     expires_at: Some(now),
    ///     renews_at_provider: false,
    /// };
    /// assert_eq!(record.in_force_at(now - TimeDelta::seconds(1)).plan, Plan::Basic);
    /// let lapsed = record.in_force_at(now);
    /// assert_eq!((lapsed.plan, lapsed.status), (Plan::Free, SubscriptionStatus::Expired));
    /// ```
    pub fn in_force_at(&self, at: DateTime<Utc>) -> PlanInForce {
        let grace = if self.renews_at_provider {
            RENEWAL_GRACE
        } else {
            TimeDelta::zero()
        };
        let lapsed = self.plan.is_paid()
            && self
                .expires_at
                .is_some_and(|end| end.checked_add_signed(grace).unwrap_or(end) <= at);
        if lapsed {
            PlanInForce {
                plan: Plan::Free,
                status: SubscriptionStatus::Expired,
                is_active: false,
            }
        } else {
            PlanInForce {
                plan: self.plan,
                status: self.status,
                is_active: self.is_active,
            }
        }
    }
}

/// Seconds within which two provider states cannot be ordered by their times: the provider's
/// clock and ours (which stamps synchronous answers) may differ by a little, and two events of
/// one second carry the same time.
pub const TIE_WINDOW_SECS: i64 = 2;

/// How a provider state of some time relates to the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateOrder {
    /// Newer than the stored state (or nothing stored): apply it.
    Newer,
    /// Within [`TIE_WINDOW_SECS`] of the stored state: cannot tell which is newer.
    Tie,
    /// Older than the stored state: ignore it.
    Older,
}

/// Orders a state of time `at` (unix seconds) against the stored state's time.
///
/// ```
/// use doztra_domain::{StateOrder, order_state};
///
/// assert_eq!(order_state(None, 1), StateOrder::Newer);
/// assert_eq!(order_state(Some(100), 103), StateOrder::Newer);
/// assert_eq!(order_state(Some(100), 98), StateOrder::Tie);
/// assert_eq!(order_state(Some(100), 97), StateOrder::Older);
/// ```
pub fn order_state(stored_at: Option<i64>, at: i64) -> StateOrder {
    match stored_at {
        None => StateOrder::Newer,
        Some(stored) if at > stored.saturating_add(TIE_WINDOW_SECS) => StateOrder::Newer,
        Some(stored) if at >= stored.saturating_sub(TIE_WINDOW_SECS) => StateOrder::Tie,
        Some(_) => StateOrder::Older,
    }
}

/// What a webhook event did, recorded with its id (`stripe_events.outcome`) and answered to the
/// provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookOutcome {
    /// Its state was written.
    Applied,
    /// The event id was already processed.
    Duplicate,
    /// Older than what is stored, or about a subscription that is over for good.
    Stale,
    /// A type or shape this service does not act on.
    Ignored,
    /// About a customer or subscription this service does not know.
    UnknownCustomer,
    /// About another subscription than the one the account runs.
    OtherSubscription,
}

impl WebhookOutcome {
    /// The stored and answered word.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::Stale => "stale",
            Self::Ignored => "ignored",
            Self::UnknownCustomer => "unknown_customer",
            Self::OtherSubscription => "other_subscription",
        }
    }
}

impl fmt::Display for WebhookOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The provider side of a stored subscription, as the ordering rules need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredProviderState<'a> {
    /// The provider's subscription id the account runs, if any.
    pub subscription_id: Option<&'a str>,
    /// Its stored provider status.
    pub status: Option<&'a ProviderStatus>,
    /// The time (unix seconds) of the newest provider state applied.
    pub synced_at: Option<i64>,
}

impl StoredProviderState<'_> {
    fn is_live(&self) -> bool {
        self.subscription_id.is_some() && self.status.is_some_and(ProviderStatus::is_live)
    }

    fn is_final(&self) -> bool {
        self.status.is_some_and(ProviderStatus::is_final)
    }
}

/// What to do with an incoming provider state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateDecision {
    /// Write it.
    Apply,
    /// It ties with the stored state: fetch the subscription as it is now and apply that.
    Refetch,
    /// Leave the row as it is, with this outcome.
    Ignore(WebhookOutcome),
}

/// Decides about a provider state of subscription `subscription_id` with `status`, of time `at`,
/// against what is stored. `settled` says the state is authoritative as of now (fetched from
/// the provider, or a deletion, which is final), so a tie applies instead of asking for a fetch.
///
/// - Another subscription than the stored one is adopted only when the stored one is not live
///   and the incoming one has not ended (e.g. bought through Checkout after a cancellation);
///   an old one ending changes nothing.
/// - A stored subscription that is over for good is never revived.
/// - Otherwise newer applies, older is stale, and a tie is fetched (or applied if settled).
pub fn decide_state(
    stored: &StoredProviderState<'_>,
    subscription_id: &str,
    status: &ProviderStatus,
    at: i64,
    settled: bool,
) -> StateDecision {
    let order = order_state(stored.synced_at, at);
    if stored.subscription_id != Some(subscription_id) {
        return if stored.is_live() || status.is_ended() {
            StateDecision::Ignore(WebhookOutcome::OtherSubscription)
        } else if order == StateOrder::Older {
            StateDecision::Ignore(WebhookOutcome::Stale)
        } else {
            StateDecision::Apply
        };
    }
    if stored.is_final() {
        return StateDecision::Ignore(WebhookOutcome::Stale);
    }
    match order {
        StateOrder::Newer => StateDecision::Apply,
        StateOrder::Tie if settled => StateDecision::Apply,
        StateOrder::Tie => StateDecision::Refetch,
        StateOrder::Older => StateDecision::Ignore(WebhookOutcome::Stale),
    }
}

/// Decides about a failed payment of subscription `subscription_id` at `at`: a renewal that
/// failed turns an active subscription past due ([`Apply`](StateDecision::Apply)); a failed
/// first payment, or one on a subscription already past due, changes nothing.
pub fn decide_payment_failure(
    stored: &StoredProviderState<'_>,
    our_status: SubscriptionStatus,
    subscription_id: &str,
    at: i64,
) -> StateDecision {
    if stored.subscription_id != Some(subscription_id) {
        return StateDecision::Ignore(WebhookOutcome::OtherSubscription);
    }
    let order = order_state(stored.synced_at, at);
    if stored.is_final() || order == StateOrder::Older {
        StateDecision::Ignore(WebhookOutcome::Stale)
    } else if order == StateOrder::Tie {
        StateDecision::Refetch
    } else if our_status == SubscriptionStatus::Active {
        StateDecision::Apply
    } else {
        StateDecision::Ignore(WebhookOutcome::Ignored)
    }
}

#[cfg(test)]
#[path = "subscription_tests.rs"]
mod tests;
