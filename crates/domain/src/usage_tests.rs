//! Request types, units, token-count parsing edges and counters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const MAX: i64 = 10_000_000;

fn field_of(err: DomainError) -> &'static str {
    match err {
        DomainError::InvalidTokenCount { field, .. } => field,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn request_types_round_trip_and_accept_the_prompt_generation_alias() {
    for request_type in RequestType::ALL {
        assert_eq!(RequestType::parse(request_type.as_str()), Ok(request_type));
        assert_eq!(request_type.to_string().parse(), Ok(request_type));
    }
    assert_eq!(
        RequestType::parse("prompt_generation"),
        Ok(RequestType::Prompt)
    );
    for raw in ["", "Chat", "completion", "prompts"] {
        assert_eq!(
            RequestType::parse(raw),
            Err(DomainError::UnknownRequestType(raw.into()))
        );
    }
}

#[test]
fn each_request_type_counts_its_own_unit() {
    assert_eq!(RequestType::Chat.unit(), UsageUnit::ChatMessages);
    assert_eq!(RequestType::Plagiarism.unit(), UsageUnit::PlagiarismChecks);
    assert_eq!(RequestType::Prompt.unit(), UsageUnit::PromptsGenerated);
    let names: Vec<_> = UsageUnit::ALL.iter().map(UsageUnit::as_str).collect();
    assert_eq!(
        names,
        ["chat_messages", "plagiarism_checks", "prompts_generated"]
    );
}

#[test]
fn total_defaults_to_the_sum_of_the_parts() {
    let counts = TokenCounts::parse(Some(50), Some(100), None).unwrap();
    assert_eq!(
        (counts.prompt(), counts.completion(), counts.total()),
        (50, 100, 150)
    );
    let counts = TokenCounts::parse(Some(7), None, None).unwrap();
    assert_eq!(
        (counts.prompt(), counts.completion(), counts.total()),
        (7, 0, 7)
    );
    let counts = TokenCounts::parse(None, None, None).unwrap();
    assert_eq!(counts, TokenCounts::default());
}

#[test]
fn a_given_total_must_match_non_zero_parts() {
    assert_eq!(
        TokenCounts::parse(Some(50), Some(100), Some(150))
            .unwrap()
            .total(),
        150
    );
    let err = TokenCounts::parse(Some(50), Some(100), Some(151)).unwrap_err();
    assert_eq!(err.field(), Some("total_tokens"));
    assert_eq!(err.code(), "validation_error");
    assert_eq!(
        field_of(TokenCounts::parse(Some(50), None, Some(49)).unwrap_err()),
        "total_tokens"
    );
    assert_eq!(
        field_of(TokenCounts::parse(None, Some(1), Some(0)).unwrap_err()),
        "total_tokens"
    );
}

#[test]
fn a_total_alone_stands_alone() {
    for (prompt, completion) in [
        (None, None),
        (Some(0), None),
        (None, Some(0)),
        (Some(0), Some(0)),
    ] {
        let counts = TokenCounts::parse(prompt, completion, Some(1_234)).unwrap();
        assert_eq!(
            (counts.prompt(), counts.completion(), counts.total()),
            (0, 0, 1_234)
        );
    }
}

#[test]
fn negative_counts_are_rejected_on_their_field() {
    assert_eq!(
        field_of(TokenCounts::parse(Some(-1), None, None).unwrap_err()),
        "prompt_tokens"
    );
    assert_eq!(
        field_of(TokenCounts::parse(None, Some(-1), None).unwrap_err()),
        "completion_tokens"
    );
    assert_eq!(
        field_of(TokenCounts::parse(None, None, Some(-1)).unwrap_err()),
        "total_tokens"
    );
    assert_eq!(
        field_of(TokenCounts::parse(Some(i64::MIN), Some(1), None).unwrap_err()),
        "prompt_tokens"
    );
    let err = TokenCounts::parse(Some(-5), None, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid prompt_tokens: must not be negative."
    );
}

#[test]
fn counts_up_to_ten_million_are_accepted_and_above_rejected() {
    assert_eq!(
        TokenCounts::parse(Some(MAX), None, None).unwrap().total(),
        10_000_000
    );
    assert_eq!(
        TokenCounts::parse(None, None, Some(MAX)).unwrap().total(),
        10_000_000
    );
    assert_eq!(
        TokenCounts::parse(Some(0), Some(0), Some(0))
            .unwrap()
            .total(),
        0
    );
    assert_eq!(
        field_of(TokenCounts::parse(Some(MAX + 1), None, None).unwrap_err()),
        "prompt_tokens"
    );
    assert_eq!(
        field_of(TokenCounts::parse(None, Some(MAX + 1), None).unwrap_err()),
        "completion_tokens"
    );
    assert_eq!(
        field_of(TokenCounts::parse(None, None, Some(MAX + 1)).unwrap_err()),
        "total_tokens"
    );
    assert_eq!(
        field_of(TokenCounts::parse(Some(i64::MAX), None, None).unwrap_err()),
        "prompt_tokens"
    );
}

#[test]
fn a_computed_total_over_the_maximum_is_rejected() {
    let err = TokenCounts::parse(Some(MAX), Some(1), None).unwrap_err();
    assert_eq!(field_of(err), "total_tokens");
    let err = TokenCounts::parse(Some(MAX), Some(MAX), Some(2 * MAX)).unwrap_err();
    assert_eq!(field_of(err), "total_tokens");
    assert_eq!(
        TokenCounts::parse(Some(MAX - 1), Some(1), None)
            .unwrap()
            .total(),
        10_000_000
    );
}

#[test]
fn checked_token_count_validates_an_estimate() {
    assert_eq!(
        checked_token_count("estimated_tokens", Some(0)),
        Ok(Some(0))
    );
    assert_eq!(
        checked_token_count("estimated_tokens", Some(MAX)),
        Ok(Some(10_000_000))
    );
    assert_eq!(
        field_of(checked_token_count("estimated_tokens", Some(MAX + 1)).unwrap_err()),
        "estimated_tokens"
    );
    assert_eq!(
        field_of(checked_token_count("estimated_tokens", Some(-1)).unwrap_err()),
        "estimated_tokens"
    );
}

#[test]
fn the_request_maximum_is_one_to_ten_million_and_inclusive() {
    assert!(MaxTokensPerRequest::new(0).is_none());
    assert!(MaxTokensPerRequest::new(10_000_001).is_none());
    assert_eq!(MaxTokensPerRequest::new(1).unwrap().get(), 1);
    assert_eq!(
        MaxTokensPerRequest::new(10_000_000).unwrap().get(),
        10_000_000
    );
    assert_eq!(
        MaxTokensPerRequest::default().get(),
        MaxTokensPerRequest::DEFAULT
    );

    let max = MaxTokensPerRequest::new(2_000).unwrap();
    assert_eq!(max.admit("total_tokens", 0), Ok(0));
    assert_eq!(max.admit("total_tokens", 2_000), Ok(2_000));
    let err = max.admit("total_tokens", 2_001).unwrap_err();
    assert_eq!(err.code(), "validation_error");
    assert_eq!(
        err.to_string(),
        "Invalid total_tokens: must be at most 2000 for one request."
    );
    assert_eq!(field_of(err), "total_tokens");
    assert_eq!(
        field_of(max.admit("estimated_tokens", u64::MAX).unwrap_err()),
        "estimated_tokens"
    );
}

#[test]
fn counters_expose_and_record_each_unit() {
    let mut counters = Counters {
        tokens_used: 10,
        chat_messages: 1,
        plagiarism_checks: 2,
        prompts_generated: 3,
    };
    assert_eq!(counters.unit(UsageUnit::ChatMessages), 1);
    assert_eq!(counters.unit(UsageUnit::PlagiarismChecks), 2);
    assert_eq!(counters.unit(UsageUnit::PromptsGenerated), 3);
    let tokens = TokenCounts::parse(None, None, Some(5)).unwrap();
    counters.record(RequestType::Plagiarism, tokens);
    counters.record(RequestType::Prompt, tokens);
    assert_eq!(
        counters,
        Counters {
            tokens_used: 20,
            chat_messages: 1,
            plagiarism_checks: 3,
            prompts_generated: 4,
        }
    );
    let mut full = Counters {
        tokens_used: u64::MAX,
        chat_messages: u64::MAX,
        ..Counters::default()
    };
    full.record(RequestType::Chat, tokens);
    assert_eq!((full.tokens_used, full.chat_messages), (u64::MAX, u64::MAX));
}
