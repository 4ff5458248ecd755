//! The pure quota decision: given the effective limits, this period's counters and what a
//! request wants, may it go ahead? Both tracking and the check endpoint call [`decide`].

use std::fmt;

use crate::plan::{EffectiveLimits, ModelTier};
use crate::usage::{Counters, RequestType, UsageUnit};

/// What a request wants to consume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuotaRequest {
    /// The kind of request; decides which unit counter it uses.
    pub request_type: RequestType,
    /// The tier of the model it wants (see [`ModelCatalog::resolve`](crate::ModelCatalog::resolve)).
    pub model_tier: ModelTier,
    /// How many tokens the caller expects to spend, if it said (check endpoint only).
    pub estimated_tokens: Option<u64>,
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaDecision {
    /// The request may go ahead.
    Allowed {
        /// Tokens left this period before the request (`limit - used`, saturating), `None` if
        /// unlimited.
        tokens_remaining: Option<u64>,
        /// Units of the request type's counter left before the request, `None` if unlimited.
        units_remaining: Option<u64>,
    },
    /// The request is refused, and why.
    Refused(Refusal),
}

impl QuotaDecision {
    /// Whether the request may go ahead.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }

    /// The refusal, if the request was refused.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            Self::Allowed { .. } => None,
            Self::Refused(refusal) => Some(*refusal),
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The model's tier is above what the limits allow.
    ModelNotAllowed {
        /// The tier of the requested model.
        requested: ModelTier,
        /// The highest tier allowed.
        max: ModelTier,
    },
    /// The period's tokens were already at or over the limit before the request.
    TokenLimitExceeded {
        /// The monthly token limit.
        limit: u64,
        /// Tokens used this period.
        used: u64,
    },
    /// The caller's estimate does not fit in the tokens remaining.
    EstimateExceedsRemaining {
        /// The monthly token limit.
        limit: u64,
        /// Tokens used this period.
        used: u64,
        /// The caller's estimate for this request.
        estimated: u64,
    },
    /// The request type's unit counter was already at its limit.
    UnitLimitExceeded {
        /// Which counter.
        unit: UsageUnit,
        /// Its limit this period.
        limit: u64,
        /// Its value this period.
        used: u64,
    },
}

impl Refusal {
    /// The stable snake_case error code: `model_not_allowed`, `token_limit_exceeded` (for both
    /// token refusals), `chat_message_limit_exceeded`, `plagiarism_check_limit_exceeded` or
    /// `prompt_limit_exceeded`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ModelNotAllowed { .. } => "model_not_allowed",
            Self::TokenLimitExceeded { .. } | Self::EstimateExceedsRemaining { .. } => {
                "token_limit_exceeded"
            }
            Self::UnitLimitExceeded { unit, .. } => match unit {
                UsageUnit::ChatMessages => "chat_message_limit_exceeded",
                UsageUnit::PlagiarismChecks => "plagiarism_check_limit_exceeded",
                UsageUnit::PromptsGenerated => "prompt_limit_exceeded",
            },
        }
    }

    /// One human sentence explaining the refusal.
    pub fn message(&self) -> String {
        match self {
            Self::ModelNotAllowed { requested, max } => format!(
                "Your plan does not include {requested} models; the highest tier it allows is {max}."
            ),
            Self::TokenLimitExceeded { limit, used } => {
                format!("Monthly token limit reached: {used} of {limit} tokens used this period.")
            }
            Self::EstimateExceedsRemaining {
                limit,
                used,
                estimated,
            } => format!(
                "The estimated {estimated} tokens exceed the {} tokens remaining this period.",
                limit.saturating_sub(*used)
            ),
            Self::UnitLimitExceeded { unit, limit, used } => {
                let what = match unit {
                    UsageUnit::ChatMessages => "Chat message",
                    UsageUnit::PlagiarismChecks => "Plagiarism check",
                    UsageUnit::PromptsGenerated => "Prompt generation",
                };
                format!("{what} limit reached: {used} of {limit} used this period.")
            }
        }
    }

    /// The limit that was hit, for the 402 body (`None` for a model refusal).
    pub fn limit(&self) -> Option<u64> {
        match self {
            Self::ModelNotAllowed { .. } => None,
            Self::TokenLimitExceeded { limit, .. }
            | Self::EstimateExceedsRemaining { limit, .. }
            | Self::UnitLimitExceeded { limit, .. } => Some(*limit),
        }
    }

    /// The usage counted against that limit, for the 402 body (`None` for a model refusal).
    pub fn used(&self) -> Option<u64> {
        match self {
            Self::ModelNotAllowed { .. } => None,
            Self::TokenLimitExceeded { used, .. }
            | Self::EstimateExceedsRemaining { used, .. }
            | Self::UnitLimitExceeded { used, .. } => Some(*used),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// Decides whether a request may go ahead.
///
/// Checks, in order: the model tier against the max tier; the tokens (refused when
/// `used >= limit` before the request); the request type's unit counter (refused when it is at
/// or over its limit); then the estimate, if any (refused when it exceeds `limit - used`).
/// Usage is never dropped: a request that starts under the limit is allowed even if it will
/// cross it, so the overshoot is always less than one request.
///
/// ```
/// use doztra_domain::{
///     decide, effective_limits, Counters, ModelTier, Overrides, Plan, QuotaDecision,
///     QuotaRequest, RequestType,
/// };
///
/// let limits = effective_limits(Plan::Free, Overrides::default());
/// let counters = Counters { tokens_used: 99_000, chat_messages: 10, ..Counters::default() };
/// let request = QuotaRequest {
///     request_type: RequestType::Chat,
///     model_tier: ModelTier::Gpt35Turbo,
///     estimated_tokens: None,
/// };
/// assert_eq!(
///     decide(&limits, &counters, &request),
///     QuotaDecision::Allowed { tokens_remaining: Some(1_000), units_remaining: Some(140) }
/// );
///
/// let gpt4 = QuotaRequest { model_tier: ModelTier::Gpt4, ..request };
/// let refusal = decide(&limits, &counters, &gpt4).refusal().ok_or("expected a refusal")?;
/// assert_eq!(refusal.code(), "model_not_allowed");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn decide(
    limits: &EffectiveLimits,
    counters: &Counters,
    request: &QuotaRequest,
) -> QuotaDecision {
    if !limits.allows_tier(request.model_tier) {
        return QuotaDecision::Refused(Refusal::ModelNotAllowed {
            requested: request.model_tier,
            max: limits.max_model_tier,
        });
    }
    let used = counters.tokens_used;
    if let Some(limit) = limits.monthly_tokens
        && used >= limit
    {
        return QuotaDecision::Refused(Refusal::TokenLimitExceeded { limit, used });
    }
    let unit = request.request_type.unit();
    let unit_used = counters.unit(unit);
    let unit_limit = limits.unit_limit(unit);
    if let Some(limit) = unit_limit
        && unit_used >= limit
    {
        return QuotaDecision::Refused(Refusal::UnitLimitExceeded {
            unit,
            limit,
            used: unit_used,
        });
    }
    if let (Some(limit), Some(estimated)) = (limits.monthly_tokens, request.estimated_tokens)
        && estimated > limit.saturating_sub(used)
    {
        return QuotaDecision::Refused(Refusal::EstimateExceedsRemaining {
            limit,
            used,
            estimated,
        });
    }
    QuotaDecision::Allowed {
        tokens_remaining: limits
            .monthly_tokens
            .map(|limit| limit.saturating_sub(used)),
        units_remaining: unit_limit.map(|limit| limit.saturating_sub(unit_used)),
    }
}

#[cfg(test)]
#[path = "quota_tests.rs"]
mod tests;
