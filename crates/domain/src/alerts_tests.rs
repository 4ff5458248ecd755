use proptest::prelude::*;

use super::*;
use crate::plan::{Overrides, Plan, effective_limits};

fn tokens(used: u64) -> Counters {
    Counters {
        tokens_used: used,
        ..Counters::default()
    }
}

fn thresholds_of(crossings: &[Crossing]) -> Vec<(MeteredUnit, u8)> {
    crossings.iter().map(|c| (c.unit, c.threshold)).collect()
}

fn with_token_limit(limit: u64) -> EffectiveLimits {
    effective_limits(
        Plan::Free,
        Overrides {
            token_limit: Some(limit),
            max_model_tier: None,
        },
    )
}

#[test]
fn thresholds_parse_and_refuse_what_is_not_a_list_of_percentages() {
    assert_eq!(
        AlertThresholds::parse("50").map(|t| t.as_slice().to_vec()),
        Ok(vec![50])
    );
    assert_eq!(
        AlertThresholds::parse(" 1 ,100").map(|t| t.as_slice().to_vec()),
        Ok(vec![1, 100])
    );
    for bad in [
        "", "0", "101", "80,80", "95,80", "80,,95", "eighty", "-5", "80;95", "256",
    ] {
        let Err(err) = AlertThresholds::parse(bad) else {
            panic!("{bad:?} is refused");
        };
        assert_eq!(err.code(), "validation_error", "{bad}");
        assert_eq!(err.field(), None, "{bad}");
    }
    assert!(AlertThresholds::new(Vec::new()).is_err());
}

#[test]
fn units_round_trip_their_wire_names() {
    for unit in MeteredUnit::ALL {
        assert_eq!(MeteredUnit::parse(unit.as_str()), Some(unit));
        assert_eq!(unit.to_string(), unit.as_str());
    }
    assert_eq!(MeteredUnit::parse("Tokens"), None);
    assert_eq!(MeteredUnit::parse("chat"), None);
}

#[test]
fn a_counter_below_every_threshold_fires_nothing() {
    let mut levels = AlertLevels::default();
    let fired = levels.record_crossings(
        &AlertThresholds::default(),
        &Plan::Free.limits(),
        &tokens(79_999),
    );
    assert!(fired.is_empty());
    assert_eq!(levels, AlertLevels::default());
}

#[test]
fn exactly_the_percentage_fires() {
    let mut levels = AlertLevels::default();
    let fired = levels.record_crossings(
        &AlertThresholds::default(),
        &Plan::Free.limits(),
        &tokens(80_000),
    );
    assert_eq!(thresholds_of(&fired), [(MeteredUnit::Tokens, 80)]);
    assert_eq!(
        (fired[0].used, fired[0].limit, fired[0].reaches_limit()),
        (80_000, 100_000, false)
    );
    assert_eq!(levels.tokens, 80);
}

#[test]
fn one_jump_over_several_thresholds_fires_each_once() {
    let mut levels = AlertLevels::default();
    let fired = levels.record_crossings(
        &AlertThresholds::default(),
        &Plan::Free.limits(),
        &tokens(150_000),
    );
    assert_eq!(
        thresholds_of(&fired),
        [
            (MeteredUnit::Tokens, 80),
            (MeteredUnit::Tokens, 95),
            (MeteredUnit::Tokens, 100)
        ]
    );
    assert!(fired[2].reaches_limit());
    assert_eq!(levels.tokens, 100);
    assert!(
        levels
            .record_crossings(
                &AlertThresholds::default(),
                &Plan::Free.limits(),
                &tokens(200_000)
            )
            .is_empty()
    );
}

#[test]
fn every_unit_is_watched_on_its_own() {
    let mut levels = AlertLevels::default();
    let counters = Counters {
        tokens_used: 10,
        chat_messages: 120, // 80 % of 150
        plagiarism_checks: 5,
        prompts_generated: 4, // 80 % of 5
    };
    let fired =
        levels.record_crossings(&AlertThresholds::default(), &Plan::Free.limits(), &counters);
    assert_eq!(
        thresholds_of(&fired),
        [
            (MeteredUnit::ChatMessages, 80),
            (MeteredUnit::PlagiarismChecks, 80),
            (MeteredUnit::PlagiarismChecks, 95),
            (MeteredUnit::PlagiarismChecks, 100),
            (MeteredUnit::PromptsGenerated, 80),
        ]
    );
    assert_eq!(
        levels,
        AlertLevels {
            tokens: 0,
            chat_messages: 80,
            plagiarism_checks: 100,
            prompts_generated: 80
        }
    );
}

#[test]
fn unlimited_units_and_a_zero_limit_never_fire() {
    let mut levels = AlertLevels::default();
    let huge = Counters {
        tokens_used: u64::MAX,
        chat_messages: u64::MAX,
        plagiarism_checks: u64::MAX,
        prompts_generated: u64::MAX,
    };
    let pro = Plan::Professional.limits();
    assert!(
        levels
            .record_crossings(&AlertThresholds::default(), &pro, &huge)
            .is_empty()
    );
    let shut_off = with_token_limit(0);
    let fired = levels.record_crossings(&AlertThresholds::default(), &shut_off, &tokens(0));
    assert!(fired.is_empty());
}

#[test]
fn a_fired_threshold_never_fires_again_whatever_the_limit_becomes() {
    let thresholds = AlertThresholds::default();
    let mut levels = AlertLevels::default();
    assert_eq!(
        levels
            .record_crossings(&thresholds, &with_token_limit(1_000), &tokens(850))
            .len(),
        1
    );
    // An upgrade doubles the limit, then usage climbs past 80 % of the new one: nothing.
    assert!(
        levels
            .record_crossings(&thresholds, &with_token_limit(2_000), &tokens(1_700))
            .is_empty()
    );
    // 95 % of the new limit has not fired yet: it fires.
    let fired = levels.record_crossings(&thresholds, &with_token_limit(2_000), &tokens(1_900));
    assert_eq!(thresholds_of(&fired), [(MeteredUnit::Tokens, 95)]);
}

#[test]
fn a_lowered_limit_fires_what_it_makes_reached() {
    let thresholds = AlertThresholds::default();
    let mut levels = AlertLevels::default();
    levels.record_crossings(&thresholds, &with_token_limit(1_000), &tokens(850));
    let fired = levels.record_crossings(&thresholds, &with_token_limit(800), &tokens(850));
    assert_eq!(
        thresholds_of(&fired),
        [(MeteredUnit::Tokens, 95), (MeteredUnit::Tokens, 100)]
    );
}

#[test]
fn a_threshold_added_below_the_level_counts_as_fired() {
    let mut levels = AlertLevels {
        tokens: 95,
        ..AlertLevels::default()
    };
    let Ok(more) = AlertThresholds::parse("50,90,99") else {
        panic!("valid thresholds");
    };
    let fired = levels.record_crossings(&more, &with_token_limit(100), &tokens(99));
    assert_eq!(thresholds_of(&fired), [(MeteredUnit::Tokens, 99)]);
}

proptest! {
    /// Whatever sequence of counters and limits a period sees, each threshold of each unit
    /// fires at most once, and a threshold fires only when its percentage is reached.
    #[test]
    fn each_threshold_fires_at_most_once_per_period(
        steps in proptest::collection::vec((0u64..3_000, 1u64..3_000), 1..40)
    ) {
        let thresholds = AlertThresholds::default();
        let mut levels = AlertLevels::default();
        let mut seen = std::collections::HashSet::new();
        for (used, limit) in steps {
            for crossing in levels.record_crossings(&thresholds, &with_token_limit(limit), &tokens(used)) {
                prop_assert!(u128::from(used) * 100 >= u128::from(crossing.threshold) * u128::from(limit));
                prop_assert!(seen.insert((crossing.unit, crossing.threshold)));
            }
        }
    }
}
