//! The quota decision: each refusal, the order of checks, and properties.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;
use crate::plan::{Overrides, Plan, PlanLimits, effective_limits};
use crate::usage::TokenCounts;

fn chat(tier: ModelTier) -> QuotaRequest {
    QuotaRequest {
        request_type: RequestType::Chat,
        model_tier: tier,
        estimated_tokens: None,
    }
}

fn free() -> EffectiveLimits {
    effective_limits(Plan::Free, Overrides::default())
}

#[test]
fn a_fresh_free_account_may_chat_with_gpt_3_5() {
    assert_eq!(
        decide(&free(), &Counters::default(), &chat(ModelTier::Gpt35Turbo)),
        QuotaDecision::Allowed {
            tokens_remaining: Some(100_000),
            units_remaining: Some(150),
        }
    );
}

#[test]
fn a_model_above_the_tier_is_refused_first() {
    let exhausted = Counters {
        tokens_used: 1_000_000,
        chat_messages: 1_000,
        ..Counters::default()
    };
    let refusal = decide(&free(), &exhausted, &chat(ModelTier::Gpt4))
        .refusal()
        .unwrap();
    assert_eq!(
        refusal,
        Refusal::ModelNotAllowed {
            requested: ModelTier::Gpt4,
            max: ModelTier::Gpt35Turbo,
        }
    );
    assert_eq!(refusal.code(), "model_not_allowed");
    assert_eq!((refusal.limit(), refusal.used()), (None, None));
    assert!(refusal.message().contains("gpt-4"));
}

#[test]
fn tokens_at_the_limit_are_refused_before_the_unit_counter() {
    let counters = Counters {
        tokens_used: 100_000,
        chat_messages: 150,
        ..Counters::default()
    };
    let refusal = decide(&free(), &counters, &chat(ModelTier::Gpt35Turbo))
        .refusal()
        .unwrap();
    assert_eq!(
        refusal,
        Refusal::TokenLimitExceeded {
            limit: 100_000,
            used: 100_000,
        }
    );
    assert_eq!(refusal.code(), "token_limit_exceeded");
    assert_eq!(
        (refusal.limit(), refusal.used()),
        (Some(100_000), Some(100_000))
    );
}

#[test]
fn one_token_under_the_limit_is_still_allowed_whatever_the_request_costs() {
    let counters = Counters {
        tokens_used: 99_999,
        ..Counters::default()
    };
    let decision = decide(&free(), &counters, &chat(ModelTier::Gpt35Turbo));
    assert_eq!(
        decision,
        QuotaDecision::Allowed {
            tokens_remaining: Some(1),
            units_remaining: Some(150),
        }
    );
    assert!(decision.is_allowed());
}

#[test]
fn each_unit_counter_refuses_with_its_own_code() {
    let cases = [
        (
            RequestType::Chat,
            UsageUnit::ChatMessages,
            150,
            "chat_message_limit_exceeded",
        ),
        (
            RequestType::Plagiarism,
            UsageUnit::PlagiarismChecks,
            5,
            "plagiarism_check_limit_exceeded",
        ),
        (
            RequestType::Prompt,
            UsageUnit::PromptsGenerated,
            5,
            "prompt_limit_exceeded",
        ),
    ];
    for (request_type, unit, limit, code) in cases {
        let mut counters = Counters::default();
        let request = QuotaRequest {
            request_type,
            ..chat(ModelTier::Gpt35Turbo)
        };
        for _ in 0..limit {
            assert!(decide(&free(), &counters, &request).is_allowed());
            counters.record(request_type, TokenCounts::default());
        }
        let refusal = decide(&free(), &counters, &request).refusal().unwrap();
        assert_eq!(
            refusal,
            Refusal::UnitLimitExceeded {
                unit,
                limit,
                used: limit
            }
        );
        assert_eq!(refusal.code(), code);
        assert!(refusal.message().ends_with('.'));
    }
}

#[test]
fn other_units_do_not_block_a_request() {
    let counters = Counters {
        plagiarism_checks: 5,
        prompts_generated: 5,
        ..Counters::default()
    };
    assert!(decide(&free(), &counters, &chat(ModelTier::Gpt35Turbo)).is_allowed());
}

#[test]
fn an_estimate_must_fit_in_the_tokens_remaining() {
    let counters = Counters {
        tokens_used: 99_000,
        ..Counters::default()
    };
    let fits = QuotaRequest {
        estimated_tokens: Some(1_000),
        ..chat(ModelTier::Gpt35Turbo)
    };
    assert!(decide(&free(), &counters, &fits).is_allowed());
    let too_big = QuotaRequest {
        estimated_tokens: Some(1_001),
        ..fits
    };
    let refusal = decide(&free(), &counters, &too_big).refusal().unwrap();
    assert_eq!(
        refusal,
        Refusal::EstimateExceedsRemaining {
            limit: 100_000,
            used: 99_000,
            estimated: 1_001,
        }
    );
    assert_eq!(refusal.code(), "token_limit_exceeded");
    assert!(refusal.message().contains("1000 tokens remaining"));
}

#[test]
fn the_unit_counter_is_checked_before_the_estimate() {
    let counters = Counters {
        tokens_used: 99_000,
        chat_messages: 150,
        ..Counters::default()
    };
    let request = QuotaRequest {
        estimated_tokens: Some(5_000),
        ..chat(ModelTier::Gpt35Turbo)
    };
    assert_eq!(
        decide(&free(), &counters, &request)
            .refusal()
            .unwrap()
            .code(),
        "chat_message_limit_exceeded"
    );
}

#[test]
fn unlimited_plans_allow_anything_in_their_tier() {
    let pro = effective_limits(Plan::Professional, Overrides::default());
    let counters = Counters {
        tokens_used: u64::MAX,
        chat_messages: u64::MAX,
        plagiarism_checks: u64::MAX,
        prompts_generated: u64::MAX,
    };
    let request = QuotaRequest {
        estimated_tokens: Some(u64::MAX),
        ..chat(ModelTier::Gpt4Turbo)
    };
    assert_eq!(
        decide(&pro, &counters, &request),
        QuotaDecision::Allowed {
            tokens_remaining: None,
            units_remaining: None,
        }
    );
}

#[test]
fn overrides_feed_the_decision() {
    let limits = effective_limits(
        Plan::Free,
        Overrides {
            token_limit: Some(10),
            max_model_tier: Some(ModelTier::Gpt4),
        },
    );
    let counters = Counters {
        tokens_used: 10,
        ..Counters::default()
    };
    assert_eq!(
        decide(&limits, &Counters::default(), &chat(ModelTier::Gpt4)),
        QuotaDecision::Allowed {
            tokens_remaining: Some(10),
            units_remaining: Some(150),
        }
    );
    assert_eq!(
        decide(&limits, &counters, &chat(ModelTier::Gpt4)).refusal(),
        Some(Refusal::TokenLimitExceeded {
            limit: 10,
            used: 10
        })
    );
}

fn limit() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![Just(None), (0..1_000u64).prop_map(Some)]
}

fn tier() -> impl Strategy<Value = ModelTier> {
    prop::sample::select(ModelTier::ALL.to_vec())
}

fn limits() -> impl Strategy<Value = EffectiveLimits> {
    (limit(), limit(), limit(), limit(), tier()).prop_map(|(tokens, chat, plag, prompts, max)| {
        PlanLimits {
            monthly_tokens: tokens,
            chat_messages: chat,
            plagiarism_checks: plag,
            prompts_generated: prompts,
            max_model_tier: max,
        }
    })
}

fn counters() -> impl Strategy<Value = Counters> {
    (0..1_200u64, 0..1_200u64, 0..1_200u64, 0..1_200u64).prop_map(|(t, c, p, g)| Counters {
        tokens_used: t,
        chat_messages: c,
        plagiarism_checks: p,
        prompts_generated: g,
    })
}

fn request() -> impl Strategy<Value = QuotaRequest> {
    (
        prop::sample::select(RequestType::ALL.to_vec()),
        tier(),
        prop_oneof![Just(None), (0..1_200u64).prop_map(Some)],
    )
        .prop_map(
            |(request_type, model_tier, estimated_tokens)| QuotaRequest {
                request_type,
                model_tier,
                estimated_tokens,
            },
        )
}

proptest! {
    #[test]
    fn refused_exactly_when_a_limit_is_reached_or_the_tier_is_too_high(
        limits in limits(), counters in counters(), request in request(),
    ) {
        let unit = request.request_type.unit();
        let over_tokens = limits.monthly_tokens.is_some_and(|l| counters.tokens_used >= l);
        let over_unit = limits.unit_limit(unit).is_some_and(|l| counters.unit(unit) >= l);
        let tier_too_high = request.model_tier > limits.max_model_tier;
        let estimate_too_big = match (limits.monthly_tokens, request.estimated_tokens) {
            (Some(l), Some(e)) => e > l.saturating_sub(counters.tokens_used),
            _ => false,
        };
        let decision = decide(&limits, &counters, &request);
        prop_assert_eq!(
            !decision.is_allowed(),
            tier_too_high || over_tokens || over_unit || estimate_too_big
        );
        let without_estimate = QuotaRequest { estimated_tokens: None, ..request };
        prop_assert_eq!(
            !decide(&limits, &counters, &without_estimate).is_allowed(),
            tier_too_high || over_tokens || over_unit
        );
    }

    #[test]
    fn an_allowed_request_never_starts_at_or_over_a_limit(
        limits in limits(), counters in counters(), request in request(),
    ) {
        if let QuotaDecision::Allowed { tokens_remaining, units_remaining } =
            decide(&limits, &counters, &request)
        {
            let unit = request.request_type.unit();
            if let Some(limit) = limits.monthly_tokens {
                prop_assert!(counters.tokens_used < limit);
                prop_assert_eq!(tokens_remaining, Some(limit - counters.tokens_used));
                prop_assert!(tokens_remaining.unwrap() > 0);
            } else {
                prop_assert_eq!(tokens_remaining, None);
            }
            if let Some(limit) = limits.unit_limit(unit) {
                prop_assert!(counters.unit(unit) < limit);
                prop_assert_eq!(units_remaining, Some(limit - counters.unit(unit)));
            } else {
                prop_assert_eq!(units_remaining, None);
            }
            prop_assert!(request.model_tier <= limits.max_model_tier);
        }
    }

    #[test]
    fn the_refusal_reports_the_limit_and_usage_it_saw(
        limits in limits(), counters in counters(), request in request(),
    ) {
        match decide(&limits, &counters, &request) {
            QuotaDecision::Refused(Refusal::TokenLimitExceeded { limit, used })
            | QuotaDecision::Refused(Refusal::EstimateExceedsRemaining { limit, used, .. }) => {
                prop_assert_eq!(Some(limit), limits.monthly_tokens);
                prop_assert_eq!(used, counters.tokens_used);
            }
            QuotaDecision::Refused(Refusal::UnitLimitExceeded { unit, limit, used }) => {
                prop_assert_eq!(unit, request.request_type.unit());
                prop_assert_eq!(Some(limit), limits.unit_limit(unit));
                prop_assert_eq!(used, counters.unit(unit));
            }
            QuotaDecision::Refused(Refusal::ModelNotAllowed { requested, max }) => {
                prop_assert_eq!(requested, request.model_tier);
                prop_assert_eq!(max, limits.max_model_tier);
            }
            QuotaDecision::Allowed { .. } => {}
        }
    }

    /// Tracking request after request, usage never exceeds the limit by a full request and
    /// unit counters never exceed theirs at all.
    #[test]
    fn metering_overshoots_by_less_than_one_request(
        limits in limits(),
        requests in prop::collection::vec(
            (prop::sample::select(RequestType::ALL.to_vec()), 0..300i64), 0..200,
        ),
    ) {
        let mut counters = Counters::default();
        let mut largest = 0;
        for (request_type, tokens) in requests {
            let request = QuotaRequest {
                request_type,
                model_tier: ModelTier::Gpt35Turbo,
                estimated_tokens: None,
            };
            if decide(&limits, &counters, &request).is_allowed() {
                let counts = TokenCounts::parse(None, None, Some(tokens)).unwrap();
                largest = largest.max(counts.total());
                counters.record(request_type, counts);
            }
        }
        if let Some(limit) = limits.monthly_tokens {
            prop_assert!(counters.tokens_used <= limit || counters.tokens_used < limit + largest);
        }
        for unit in UsageUnit::ALL {
            if let Some(limit) = limits.unit_limit(unit) {
                prop_assert!(counters.unit(unit) <= limit);
            }
        }
    }
}
