//! Stripe's view of a subscription, mapped onto our subscription row, and the rules that keep
//! that mapping monotonic when answers and webhook events arrive late or out of order.
//!
//! Every Stripe state applied to a row carries a time (`stripe_synced_at`, unix seconds): the
//! event's `created` for webhooks, the moment of the answer for synchronous calls. Whether a
//! state applies is the domain's rule (`domain::decide_state`: older never applies, a tie is
//! settled by fetching the subscription from Stripe as it is now); this module maps a Stripe
//! state onto the row's columns.

use billing::{GatewayStatus, SubscriptionState};
use chrono::{DateTime, Utc};
use domain::{Plan, ProviderStatus, SubscriptionStatus};
use persistence::subscriptions::{SubscriptionChanges, SubscriptionRow};

/// Our status words, as stored.
pub(crate) const ACTIVE: &str = SubscriptionStatus::Active.as_str();
pub(crate) const PENDING: &str = SubscriptionStatus::Pending.as_str();
pub(crate) const PAST_DUE: &str = SubscriptionStatus::PastDue.as_str();
pub(crate) const CANCELED: &str = SubscriptionStatus::Canceled.as_str();

/// Stripe's status of a gateway answer, as the domain names it (a payment waiting for the
/// customer is Stripe's `incomplete`).
pub(crate) fn provider_status(status: &GatewayStatus) -> ProviderStatus {
    ProviderStatus::parse(&stripe_status_word(status))
}

/// The stored Stripe status of a row, if it has one.
pub(crate) fn stored_status(row: &SubscriptionRow) -> Option<ProviderStatus> {
    row.stripe_status.as_deref().map(ProviderStatus::parse)
}

/// Stripe's status word as stored in `stripe_status`.
pub(crate) fn stripe_status_word(status: &GatewayStatus) -> String {
    match status {
        GatewayStatus::Active => "active".into(),
        GatewayStatus::Trialing => "trialing".into(),
        GatewayStatus::Pending { .. } | GatewayStatus::Incomplete => "incomplete".into(),
        GatewayStatus::IncompleteExpired => "incomplete_expired".into(),
        GatewayStatus::PastDue => "past_due".into(),
        GatewayStatus::Unpaid => "unpaid".into(),
        GatewayStatus::Canceled => "canceled".into(),
        GatewayStatus::Paused => "paused".into(),
        GatewayStatus::Other(word) => word.clone(),
    }
}

/// Whether the stored Stripe subscription is running: it bills the customer and carries the
/// plan (plan changes and cancellation act on it).
pub(crate) fn is_live(row: &SubscriptionRow) -> bool {
    row.stripe_subscription_id.is_some() && stored_status(row).is_some_and(|s| s.is_live())
}

/// Whether the stored Stripe subscription is waiting for its first payment (the customer has
/// not finished 3-D Secure, or the card failed). Stripe expires it after 23 hours uncharged;
/// starting over cancels it first.
pub(crate) fn is_open_first_payment(row: &SubscriptionRow) -> bool {
    row.stripe_subscription_id.is_some()
        && stored_status(row).is_some_and(|s| s.awaits_first_payment())
}

fn timestamp(unix: Option<i64>) -> Option<DateTime<Utc>> {
    unix.and_then(|secs| DateTime::from_timestamp(secs, 0))
}

/// The row changes that make our subscription follow `state`, seen at `at` (unix seconds) and
/// applied at `now` (a plan that changes without a period start starts then).
///
/// - active/trialing: the state's plan, `active`; past_due: the plan is kept, `past_due`;
/// - a first payment still open (incomplete, or pending from our own call): `free` with status
///   `pending`, unless the row is already paid by this subscription (a plan change waiting for
///   its payment leaves the old plan in force);
/// - canceled/unpaid/incomplete_expired (and paused, which bills nothing): `free`, `canceled`;
/// - the paid period ends at `expires_at` (Stripe's `current_period_end`); renewal is
///   `auto_renew = !cancel_at_period_end`.
pub(crate) fn changes_for(
    row: &SubscriptionRow,
    state: &SubscriptionState,
    at: i64,
    now: DateTime<Utc>,
) -> SubscriptionChanges {
    let current_plan = Plan::parse(&row.plan).unwrap_or(Plan::Free);
    let same_subscription =
        row.stripe_subscription_id.as_deref() == Some(state.stripe_subscription_id.as_str());
    let state_plan = state.plan.map(Plan::from);
    if state.plan.is_none() {
        tracing::warn!(
            subscription = %state.stripe_subscription_id,
            price = ?state.price_id,
            "Stripe subscription on a price not in the price table; plan left as it is"
        );
    }
    let paid_plan = state_plan.unwrap_or(current_plan);
    let renews = !state.cancel_at_period_end && state.cancel_at.is_none();
    let (plan, status, is_active, auto_renew, expires_at) = match &state.status {
        GatewayStatus::Active | GatewayStatus::Trialing => (
            paid_plan,
            ACTIVE,
            true,
            renews,
            timestamp(state.current_period_end),
        ),
        GatewayStatus::PastDue => (
            paid_plan,
            PAST_DUE,
            true,
            renews,
            timestamp(state.current_period_end),
        ),
        GatewayStatus::Pending { .. } | GatewayStatus::Incomplete
            if same_subscription && current_plan.is_paid() =>
        {
            // A plan change waits for its payment: the old plan stays in force.
            (
                current_plan,
                row.status.as_str(),
                row.is_active,
                renews,
                row.expires_at,
            )
        }
        GatewayStatus::Pending { .. } | GatewayStatus::Incomplete => {
            (Plan::Free, PENDING, false, renews, None)
        }
        GatewayStatus::Canceled
        | GatewayStatus::Unpaid
        | GatewayStatus::IncompleteExpired
        | GatewayStatus::Paused => (Plan::Free, CANCELED, false, false, None),
        GatewayStatus::Other(word) => {
            tracing::warn!(status = %word, "unknown Stripe subscription status; plan unchanged");
            (
                current_plan,
                row.status.as_str(),
                row.is_active,
                row.auto_renew,
                row.expires_at,
            )
        }
    };
    let plan_changed = plan != current_plan;
    // A plan change waiting for its payment leaves Stripe's subscription as it was (active,
    // with a pending update): keep the stored word rather than calling it incomplete.
    let waiting_change = same_subscription
        && current_plan.is_paid()
        && matches!(
            state.status,
            GatewayStatus::Pending { .. } | GatewayStatus::Incomplete
        );
    let stripe_status = if waiting_change {
        row.stripe_status.clone()
    } else {
        Some(stripe_status_word(&state.status))
    };
    SubscriptionChanges {
        plan: Some(plan.as_str().to_owned()),
        status: Some(status.to_owned()),
        is_active: Some(is_active),
        auto_renew: Some(auto_renew),
        start_date: if plan_changed {
            timestamp(state.current_period_start).or(Some(now))
        } else {
            None
        },
        expires_at: Some(expires_at),
        stripe_customer_id: Some(Some(state.stripe_customer_id.clone())),
        stripe_subscription_id: Some(Some(state.stripe_subscription_id.clone())),
        stripe_price_id: state.price_id.clone().map(Some),
        billing_interval: state.interval.map(|i| Some(i.as_str().to_owned())),
        stripe_status: Some(stripe_status),
        stripe_synced_at: Some(Some(at.max(row.stripe_synced_at.unwrap_or(at)))),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use billing::{BillingInterval, PaidPlan};
    use uuid::Uuid;

    fn applied() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_100, 0).unwrap_or_default()
    }

    fn row(plan: &str, status: &str, sub: Option<&str>, synced: Option<i64>) -> SubscriptionRow {
        let now = applied();
        SubscriptionRow {
            id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            plan: plan.into(),
            status: status.into(),
            start_date: now,
            expires_at: None,
            is_active: true,
            auto_renew: false,
            stripe_customer_id: Some("cus_1".into()),
            stripe_subscription_id: sub.map(Into::into),
            payment_method_id: None,
            token_limit: None,
            max_model_tier: None,
            stripe_price_id: None,
            billing_interval: None,
            stripe_status: sub.map(|_| "active".into()),
            stripe_synced_at: synced,
            lapse_announced_for: None,
            change_lease_until: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn state(status: GatewayStatus, plan: Option<PaidPlan>) -> SubscriptionState {
        SubscriptionState {
            stripe_customer_id: "cus_1".into(),
            stripe_subscription_id: "sub_1".into(),
            status,
            plan,
            interval: Some(BillingInterval::Monthly),
            price_id: Some("price_pro".into()),
            current_period_start: Some(1_700_000_000),
            current_period_end: Some(1_702_592_000),
            cancel_at_period_end: false,
            cancel_at: None,
            has_pending_update: false,
            created: Some(1_700_000_000),
        }
    }

    #[test]
    fn ordering_by_stored_time() {
        // The rule is the domain's; here it is read off a stored row.
        use domain::{StateOrder, order_state};
        let order = |r: &SubscriptionRow, at| order_state(r.stripe_synced_at, at);
        let r = row("free", "active", None, Some(100));
        assert_eq!(order(&r, 103), StateOrder::Newer);
        for tie in 98..=102 {
            assert_eq!(order(&r, tie), StateOrder::Tie, "{tie}");
        }
        assert_eq!(order(&r, 97), StateOrder::Older);
        assert_eq!(
            order(&row("free", "active", None, None), 1),
            StateOrder::Newer
        );
    }

    #[test]
    fn active_state_grants_the_plan_until_the_period_end() {
        let r = row("free", "active", None, None);
        let c = changes_for(
            &r,
            &state(GatewayStatus::Active, Some(PaidPlan::Professional)),
            5,
            applied(),
        );
        assert_eq!(c.plan.as_deref(), Some("professional"));
        assert_eq!(c.status.as_deref(), Some(ACTIVE));
        assert_eq!(c.auto_renew, Some(true));
        assert_eq!(
            c.expires_at,
            Some(DateTime::from_timestamp(1_702_592_000, 0))
        );
        assert_eq!(c.stripe_synced_at, Some(Some(5)));
        assert_eq!(c.stripe_status, Some(Some("active".into())));
        assert_eq!(c.billing_interval, Some(Some("monthly".into())));
    }

    #[test]
    fn past_due_keeps_the_plan_and_ended_states_fall_to_free() {
        let r = row("professional", "active", Some("sub_1"), Some(1));
        let c = changes_for(
            &r,
            &state(GatewayStatus::PastDue, Some(PaidPlan::Professional)),
            2,
            applied(),
        );
        assert_eq!(c.plan.as_deref(), Some("professional"));
        assert_eq!(c.status.as_deref(), Some(PAST_DUE));
        for ended in [
            GatewayStatus::Canceled,
            GatewayStatus::Unpaid,
            GatewayStatus::IncompleteExpired,
        ] {
            let c = changes_for(
                &r,
                &state(ended, Some(PaidPlan::Professional)),
                2,
                applied(),
            );
            assert_eq!(c.plan.as_deref(), Some("free"));
            assert_eq!(c.status.as_deref(), Some(CANCELED));
            assert_eq!(c.auto_renew, Some(false));
        }
    }

    #[test]
    fn an_open_first_payment_is_pending_on_free_but_a_pending_change_keeps_the_old_plan() {
        let pending = GatewayStatus::Pending {
            client_secret: Some("pi_secret".into()),
        };
        let fresh = row("free", "active", None, None);
        let c = changes_for(
            &fresh,
            &state(pending.clone(), Some(PaidPlan::Basic)),
            1,
            applied(),
        );
        assert_eq!(c.plan.as_deref(), Some("free"));
        assert_eq!(c.status.as_deref(), Some(PENDING));
        let paying = row("basic", "active", Some("sub_1"), Some(1));
        let c = changes_for(
            &paying,
            &state(pending, Some(PaidPlan::Basic)),
            2,
            applied(),
        );
        assert_eq!(c.plan.as_deref(), Some("basic"));
        assert_eq!(c.status.as_deref(), Some(ACTIVE));
        assert_eq!(c.stripe_status, Some(Some("active".into())));
    }

    #[test]
    fn cancel_at_period_end_turns_renewal_off() {
        let mut s = state(GatewayStatus::Active, Some(PaidPlan::Basic));
        s.cancel_at_period_end = true;
        let c = changes_for(
            &row("basic", "active", Some("sub_1"), None),
            &s,
            1,
            applied(),
        );
        assert_eq!(c.auto_renew, Some(false));
        assert_eq!(c.plan.as_deref(), Some("basic"));
    }

    #[test]
    fn the_stored_time_never_goes_back() {
        let r = row("basic", "active", Some("sub_1"), Some(50));
        let c = changes_for(
            &r,
            &state(GatewayStatus::Active, Some(PaidPlan::Basic)),
            40,
            applied(),
        );
        assert_eq!(c.stripe_synced_at, Some(Some(50)));
    }

    #[test]
    fn final_and_live_states() {
        let is_final = |word: Option<&str>| {
            word.map(ProviderStatus::parse)
                .is_some_and(|s| s.is_final())
        };
        assert!(is_final(Some("canceled")));
        assert!(is_final(Some("incomplete_expired")));
        assert!(!is_final(Some("past_due")));
        assert!(!is_final(None));
        assert!(is_live(&row("basic", "active", Some("sub_1"), None)));
        assert!(!is_live(&row("free", "active", None, None)));
        let mut open = row("free", "pending", Some("sub_1"), None);
        open.stripe_status = Some("incomplete".into());
        assert!(!is_live(&open));
        assert!(is_open_first_payment(&open));
        open.stripe_status = Some("unpaid".into());
        assert!(!is_live(&open));
    }
}
