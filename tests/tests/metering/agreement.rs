//! One home for the quota rule: random sequences of tracks, sent one by one, get exactly the
//! answers `domain::decide` gives on a model of the counters, and the stored counters end equal
//! to the model's.

use domain::{
    Counters, ModelTier, Overrides, Plan, QuotaDecision, QuotaRequest, RequestType, TokenCounts,
    decide, effective_limits,
};

use super::support::*;

/// A small deterministic generator (xorshift64*), so a failure names its seed.
struct Sequence(u64);

impl Sequence {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }
}

async fn random_sequences_of_tracks_get_the_domains_answers(app: TestApp) {
    let admin = app.admin("admin@example.com").await;
    for seed in [3u64, 17, 4242] {
        let mut random = Sequence(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let user = app.user(&format!("seed{seed}@example.com")).await;
        let token_limit = 200 + random.below(3_000);
        set_subscription(&app, &admin, &user, json!({"token_limit": token_limit})).await;
        let limits = effective_limits(
            Plan::Free,
            Overrides {
                token_limit: Some(token_limit),
                max_model_tier: None,
            },
        );
        let mut model = Counters::default();
        for step in 0..30 {
            let request_type = RequestType::ALL[random.below(3) as usize];
            let (name, tier) = if random.below(8) == 0 {
                ("gpt-4", ModelTier::Gpt4)
            } else {
                ("gpt-3.5-turbo", ModelTier::Gpt35Turbo)
            };
            let tokens = random.below(400);
            let quota = QuotaRequest {
                request_type,
                model_tier: tier,
                estimated_tokens: None,
            };
            let expected = decide(&limits, &model, &quota);
            let res = track(
                &app,
                &user,
                total_only(request_type.as_str(), name, tokens as i64),
            )
            .await;
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            let context =
                format!("seed {seed}, step {step}: {quota:?}, {tokens} tokens, model {model:?}");
            match expected {
                QuotaDecision::Allowed { .. } => {
                    assert_eq!(status, 200, "{context}: {body}");
                    let counts = TokenCounts::parse(None, None, Some(tokens as i64)).unwrap();
                    model.record(request_type, counts);
                    assert_eq!(body["tokens_used"], model.tokens_used, "{context}");
                }
                QuotaDecision::Refused(refusal) => {
                    let expected_status = if refusal.code() == "model_not_allowed" {
                        403
                    } else {
                        402
                    };
                    assert_eq!(status, expected_status, "{context}: {body}");
                    assert_eq!(body["code"], refusal.code(), "{context}");
                }
            }
        }
        let stored = usage(&app, &user).await;
        assert_eq!(stored["tokens"]["used"], model.tokens_used, "seed {seed}");
        assert_eq!(
            stored["chat_messages"]["used"], model.chat_messages,
            "seed {seed}"
        );
        assert_eq!(
            stored["plagiarism_checks"]["used"], model.plagiarism_checks,
            "seed {seed}"
        );
        assert_eq!(
            stored["prompts_generated"]["used"], model.prompts_generated,
            "seed {seed}"
        );
    }
    assert_counters_match_events(&app).await;
}

db_tests!(random_sequences_of_tracks_get_the_domains_answers);
