//! Subscription rules: words, the plan in force, ordering of provider states (with properties).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

use super::*;

const PROVIDER_WORDS: [&str; 9] = [
    "active",
    "trialing",
    "incomplete",
    "incomplete_expired",
    "past_due",
    "unpaid",
    "canceled",
    "paused",
    "something_new",
];

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

fn provider_status() -> impl Strategy<Value = ProviderStatus> {
    proptest::sample::select(PROVIDER_WORDS.to_vec()).prop_map(ProviderStatus::parse)
}

fn plan() -> impl Strategy<Value = Plan> {
    proptest::sample::select(vec![Plan::Free, Plan::Basic, Plan::Professional])
}

#[test]
fn words_round_trip() {
    for word in PROVIDER_WORDS {
        assert_eq!(ProviderStatus::parse(word).as_str(), word);
    }
    for word in ["active", "pending", "past_due", "canceled", "expired"] {
        assert_eq!(SubscriptionStatus::parse(word).unwrap().as_str(), word);
    }
    assert_eq!(
        SubscriptionStatus::parse("cancelled").unwrap_err().code(),
        "validation_error"
    );
    for interval in [BillingInterval::Monthly, BillingInterval::Yearly] {
        assert_eq!(BillingInterval::parse(interval.as_str()), Ok(interval));
    }
    let err = BillingInterval::parse("weekly").unwrap_err();
    assert_eq!(err.field(), Some("billing_period"));
    assert_eq!(err.to_string(), "billing_period must be monthly or yearly.");
}

#[test]
fn a_renewing_subscription_keeps_its_plan_through_the_grace_period() {
    let end = at(1_700_000_000);
    let record = PlanRecord {
        plan: Plan::Professional,
        status: SubscriptionStatus::Active,
        is_active: true,
        expires_at: Some(end),
        renews_at_provider: true,
    };
    let just_before = end + RENEWAL_GRACE - TimeDelta::seconds(1);
    assert_eq!(record.in_force_at(just_before).plan, Plan::Professional);
    assert_eq!(
        record.in_force_at(end + RENEWAL_GRACE).status,
        SubscriptionStatus::Expired
    );
}

#[test]
fn a_payment_failure_turns_only_an_active_subscription_past_due() {
    let status = ProviderStatus::Active;
    let stored = StoredProviderState {
        subscription_id: Some("sub_1"),
        status: Some(&status),
        synced_at: Some(100),
    };
    let decide = |ours, id, when| decide_payment_failure(&stored, ours, id, when);
    assert_eq!(
        decide(SubscriptionStatus::Active, "sub_1", 200),
        StateDecision::Apply
    );
    assert_eq!(
        decide(SubscriptionStatus::PastDue, "sub_1", 200),
        StateDecision::Ignore(WebhookOutcome::Ignored)
    );
    assert_eq!(
        decide(SubscriptionStatus::Active, "sub_2", 200),
        StateDecision::Ignore(WebhookOutcome::OtherSubscription)
    );
    assert_eq!(
        decide(SubscriptionStatus::Active, "sub_1", 101),
        StateDecision::Refetch
    );
    assert_eq!(
        decide(SubscriptionStatus::Active, "sub_1", 50),
        StateDecision::Ignore(WebhookOutcome::Stale)
    );
}

#[test]
fn a_new_subscription_is_adopted_only_when_the_stored_one_is_not_live() {
    let canceled = ProviderStatus::Canceled;
    let over = StoredProviderState {
        subscription_id: Some("sub_old"),
        status: Some(&canceled),
        synced_at: Some(100),
    };
    let active = ProviderStatus::Active;
    assert_eq!(
        decide_state(&over, "sub_new", &active, 200, false),
        StateDecision::Apply
    );
    assert_eq!(
        decide_state(&over, "sub_new", &ProviderStatus::Canceled, 200, false),
        StateDecision::Ignore(WebhookOutcome::OtherSubscription)
    );
    let live = StoredProviderState {
        status: Some(&active),
        ..over
    };
    assert_eq!(
        decide_state(&live, "sub_new", &active, 200, false),
        StateDecision::Ignore(WebhookOutcome::OtherSubscription)
    );
}

proptest! {
    #[test]
    fn ordering_is_antisymmetric_and_matches_the_window(stored in -1_000_000i64..1_000_000, at in -1_000_000i64..1_000_000) {
        let order = order_state(Some(stored), at);
        let expected = if at > stored + TIE_WINDOW_SECS {
            StateOrder::Newer
        } else if at < stored - TIE_WINDOW_SECS {
            StateOrder::Older
        } else {
            StateOrder::Tie
        };
        prop_assert_eq!(order, expected);
        let reverse = order_state(Some(at), stored);
        match order {
            StateOrder::Newer => prop_assert_eq!(reverse, StateOrder::Older),
            StateOrder::Older => prop_assert_eq!(reverse, StateOrder::Newer),
            StateOrder::Tie => prop_assert_eq!(reverse, StateOrder::Tie),
        }
    }

    #[test]
    fn a_lapsed_plan_never_comes_back_later(
        plan in plan(),
        expires in proptest::option::of(0i64..2_000_000_000),
        renews in any::<bool>(),
        t1 in 0i64..2_100_000_000,
        dt in 0i64..100_000_000,
    ) {
        let record = PlanRecord {
            plan,
            status: SubscriptionStatus::Active,
            is_active: true,
            expires_at: expires.map(at),
            renews_at_provider: renews,
        };
        let earlier = record.in_force_at(at(t1));
        let later = record.in_force_at(at(t1 + dt));
        if earlier.status == SubscriptionStatus::Expired {
            prop_assert_eq!(later.status, SubscriptionStatus::Expired);
        }
        // Only a paid plan lapses, and only to free; a free plan is free at every instant.
        if !plan.is_paid() {
            prop_assert_eq!(earlier, PlanInForce { plan, status: SubscriptionStatus::Active, is_active: true });
        }
        prop_assert!(later.plan == plan || later.plan == Plan::Free);
    }

    #[test]
    fn stored_state_wins_over_older_or_final_and_settled_never_refetches(
        stored_status in provider_status(),
        incoming in provider_status(),
        same in any::<bool>(),
        synced in proptest::option::of(0i64..1_000),
        at in 0i64..1_000,
        settled in any::<bool>(),
    ) {
        let stored = StoredProviderState {
            subscription_id: Some("sub_1"),
            status: Some(&stored_status),
            synced_at: synced,
        };
        let id = if same { "sub_1" } else { "sub_2" };
        let decision = decide_state(&stored, id, &incoming, at, settled);
        if settled {
            prop_assert_ne!(decision, StateDecision::Refetch);
        }
        if same && (stored_status.is_final() || order_state(synced, at) == StateOrder::Older) {
            prop_assert_eq!(decision, StateDecision::Ignore(WebhookOutcome::Stale));
        }
        if !same && (stored_status.is_live() || incoming.is_ended()) {
            prop_assert_eq!(decision, StateDecision::Ignore(WebhookOutcome::OtherSubscription));
        }
        if decision == StateDecision::Refetch {
            prop_assert!(same && order_state(synced, at) == StateOrder::Tie);
        }
    }
}
