//! An AI backend embedding the domain crate to ask, before it spends money: "may this user
//! call gpt-4, and is there quota left?"
//!
//! In a real backend the plan, overrides and counters come from the auth service (or its
//! database); here they are written out so the example runs on its own:
//!
//! ```text
//! cargo run -p doztra-domain --example embed
//! ```

use doztra_domain::{
    BillingPeriod, Counters, DomainError, ModelCatalog, ModelTier, Overrides, Plan, QuotaDecision,
    QuotaRequest, RequestType, checked_token_count, decide, effective_limits,
};

/// What the backend knows about the caller.
struct Caller {
    name: &'static str,
    plan: Plan,
    overrides: Overrides,
    counters: Counters,
}

/// The answer the backend acts on.
fn may_call(
    catalog: &ModelCatalog,
    caller: &Caller,
    model: &str,
    estimated_tokens: Option<i64>,
) -> Result<QuotaDecision, DomainError> {
    let request = QuotaRequest {
        request_type: RequestType::Chat,
        model_tier: catalog.resolve(model)?,
        estimated_tokens: checked_token_count("estimated_tokens", estimated_tokens)?,
    };
    let limits = effective_limits(caller.plan, caller.overrides);
    Ok(decide(&limits, &caller.counters, &request))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Operators add their own model names; each maps to a tier.
    let catalog = ModelCatalog::with_extensions("gpt-4o=gpt-4, gpt-4o-mini=gpt-3.5-turbo")?;
    let period = BillingPeriod::containing(chrono::Utc::now());
    println!(
        "billing period {period}: {} .. {} (resets {})",
        period.start().to_rfc3339(),
        period.end().to_rfc3339(),
        period.reset_date().to_rfc3339()
    );

    let callers = [
        Caller {
            name: "free user",
            plan: Plan::Free,
            overrides: Overrides::default(),
            counters: Counters::default(),
        },
        Caller {
            name: "basic user, plenty left",
            plan: Plan::Basic,
            overrides: Overrides::default(),
            counters: Counters {
                tokens_used: 120_000,
                chat_messages: 300,
                ..Counters::default()
            },
        },
        Caller {
            name: "basic user, almost out",
            plan: Plan::Basic,
            overrides: Overrides::default(),
            counters: Counters {
                tokens_used: 499_500,
                chat_messages: 900,
                ..Counters::default()
            },
        },
        Caller {
            name: "free user upgraded to gpt-4 by an admin",
            plan: Plan::Free,
            overrides: Overrides {
                token_limit: Some(250_000),
                max_model_tier: Some(ModelTier::Gpt4),
            },
            counters: Counters::default(),
        },
    ];

    for caller in &callers {
        let answer = match may_call(&catalog, caller, "gpt-4", Some(2_000))? {
            QuotaDecision::Allowed {
                tokens_remaining, ..
            } => match tokens_remaining {
                Some(left) => format!("yes, {left} tokens left this month"),
                None => "yes, unlimited".to_owned(),
            },
            QuotaDecision::Refused(refusal) => {
                format!("no ({}): {}", refusal.code(), refusal.message())
            }
        };
        println!("{:<40} may call gpt-4? {answer}", caller.name);
    }

    // Each caller's fallback: the best model their plan allows.
    for caller in &callers {
        let max = effective_limits(caller.plan, caller.overrides).max_model_tier;
        println!(
            "{:<40} best allowed model: {}",
            caller.name,
            catalog.best_allowed(max).unwrap_or("none")
        );
    }

    // An unknown model is an error the backend can show as-is.
    if let Err(err) = may_call(&catalog, &callers[0], "gpt-5", None) {
        println!("gpt-5: {} ({})", err, err.code());
    }
    Ok(())
}
