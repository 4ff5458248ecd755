//! An AI backend deciding in process, with Doztra's own rules, whether a user may call a model:
//! the plan's limits with the admin overrides, the model catalog with this deployment's extra
//! models, the billing period, and the quota decision. The counters would come from
//! `GET /api/usage/me` (or the auth database); here they are written out.
//!
//! `cargo run` in this folder prints the decisions and fails if one is not as shown.

use doztra_domain::{
    BillingPeriod, Counters, ModelCatalog, Overrides, Plan, QuotaDecision, QuotaRequest,
    RequestType, decide, effective_limits,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The same MODEL_CATALOG text the auth service is configured with.
    let catalog = ModelCatalog::with_extensions("gpt-4o=gpt-4, gpt-4o-mini=gpt-3.5-turbo")?;

    // A basic user with 120,000 tokens and 300 chat messages used this month.
    let limits = effective_limits(Plan::Basic, Overrides::default());
    let counters = Counters {
        tokens_used: 120_000,
        chat_messages: 300,
        ..Counters::default()
    };
    let ask = |model: &str,
               estimated_tokens: Option<u64>|
     -> Result<QuotaDecision, Box<dyn std::error::Error>> {
        let request = QuotaRequest {
            request_type: RequestType::parse("chat")?,
            model_tier: catalog.resolve(model)?,
            estimated_tokens,
        };
        Ok(decide(&limits, &counters, &request))
    };

    // gpt-4o is in the gpt-4 tier, which basic allows.
    let decision = ask("gpt-4o", Some(2_000))?;
    println!("basic user, gpt-4o, ~2,000 tokens: {decision:?}");
    assert_eq!(
        decision,
        QuotaDecision::Allowed {
            tokens_remaining: Some(380_000),
            units_remaining: Some(1_200),
        }
    );

    // gpt-4-turbo is above basic's tier: the same code the API answers with a 403.
    let refusal = ask("gpt-4-turbo", None)?
        .refusal()
        .ok_or("gpt-4-turbo should be refused")?;
    println!(
        "basic user, gpt-4-turbo: {} ({})",
        refusal.message(),
        refusal.code()
    );
    assert_eq!(refusal.code(), "model_not_allowed");

    // A model the catalog does not know is an error with the API's code, unknown_model.
    let unknown = catalog
        .resolve("gpt-5")
        .err()
        .ok_or("gpt-5 should be unknown")?;
    println!("gpt-5: {unknown} ({})", unknown.code());
    assert_eq!(unknown.code(), "unknown_model");

    // The fallback: the best model the plan allows.
    let best = catalog
        .best_allowed(limits.max_model_tier)
        .ok_or("a model for the tier")?;
    println!("best model for basic: {best}");
    assert_eq!(best, "gpt-4");

    // Counters belong to the UTC month; reset_date is when they start again from zero.
    let period = BillingPeriod::containing(chrono::Utc::now());
    println!(
        "this period ends {}, resets {}",
        period.end(),
        period.reset_date()
    );
    assert_eq!(period.next().start(), period.reset_date());
    println!("OK");
    Ok(())
}
