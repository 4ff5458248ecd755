//! Plans and their limits: the [`Plan`] table, the ordered [`ModelTier`]s, the admin
//! [`Overrides`] stored on a subscription, and [`effective_limits`], the one function every
//! caller uses to learn what a subscription may do.

use std::fmt;
use std::str::FromStr;

use crate::error::DomainError;
use crate::usage::UsageUnit;

/// A model tier. Tiers are ordered: `gpt-3.5-turbo` < `gpt-4` < `gpt-4-turbo`; a plan may use
/// every model whose tier is at or below its max tier.
///
/// ```
/// use doztra_domain::ModelTier;
///
/// assert!(ModelTier::Gpt35Turbo < ModelTier::Gpt4);
/// assert_eq!(ModelTier::parse("gpt-4-turbo")?, ModelTier::Gpt4Turbo);
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ModelTier {
    /// `gpt-3.5-turbo`, the lowest tier.
    #[cfg_attr(feature = "serde", serde(rename = "gpt-3.5-turbo"))]
    Gpt35Turbo,
    /// `gpt-4`.
    #[cfg_attr(feature = "serde", serde(rename = "gpt-4"))]
    Gpt4,
    /// `gpt-4-turbo`, the highest tier.
    #[cfg_attr(feature = "serde", serde(rename = "gpt-4-turbo"))]
    Gpt4Turbo,
}

impl ModelTier {
    /// Every tier, lowest first.
    pub const ALL: [ModelTier; 3] = [ModelTier::Gpt35Turbo, ModelTier::Gpt4, ModelTier::Gpt4Turbo];

    /// Whether a model of this tier may be used where `max` is the highest tier allowed. The one
    /// place tiers are compared: limits, the catalog, preferences and the quota decision all
    /// ask it.
    ///
    /// ```
    /// use doztra_domain::ModelTier;
    ///
    /// assert!(ModelTier::Gpt4.within(ModelTier::Gpt4Turbo));
    /// assert!(!ModelTier::Gpt4Turbo.within(ModelTier::Gpt4));
    /// ```
    pub fn within(self, max: ModelTier) -> bool {
        self <= max
    }

    /// Parses a wire string (`gpt-3.5-turbo`, `gpt-4` or `gpt-4-turbo`), exactly.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|tier| tier.as_str() == raw)
            .ok_or_else(|| DomainError::UnknownModelTier(raw.to_owned()))
    }

    /// The wire string, which is also the tier's canonical model name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Gpt35Turbo => "gpt-3.5-turbo",
            Self::Gpt4 => "gpt-4",
            Self::Gpt4Turbo => "gpt-4-turbo",
        }
    }
}

impl fmt::Display for ModelTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelTier {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A subscription plan.
///
/// | plan | tokens / month | chat messages | plagiarism checks | prompts generated | max model tier |
/// |---|---|---|---|---|---|
/// | free | 100,000 | 150 | 5 | 5 | gpt-3.5-turbo |
/// | basic | 500,000 | 1,500 | 50 | 50 | gpt-4 |
/// | professional | unlimited | unlimited | unlimited | unlimited | gpt-4-turbo |
///
/// ```
/// use doztra_domain::{ModelTier, Plan};
///
/// let plan = Plan::parse("basic")?;
/// assert_eq!(plan.limits().monthly_tokens, Some(500_000));
/// assert_eq!(plan.max_model_tier(), ModelTier::Gpt4);
/// assert!(plan.is_paid());
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Plan {
    /// The free plan (the default for new accounts).
    #[default]
    #[cfg_attr(feature = "serde", serde(rename = "free"))]
    Free,
    /// The basic paid plan.
    #[cfg_attr(feature = "serde", serde(rename = "basic"))]
    Basic,
    /// The professional paid plan: no usage limits.
    #[cfg_attr(feature = "serde", serde(rename = "professional"))]
    Professional,
}

impl Plan {
    /// Every plan, cheapest first.
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Basic, Plan::Professional];

    /// Parses a wire string (`free`, `basic` or `professional`), exactly.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|plan| plan.as_str() == raw)
            .ok_or_else(|| DomainError::UnknownPlan(raw.to_owned()))
    }

    /// The wire string.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Basic => "basic",
            Self::Professional => "professional",
        }
    }

    /// The plan's own limits, before any admin [`Overrides`]; see [`effective_limits`].
    pub fn limits(&self) -> PlanLimits {
        match self {
            Self::Free => PlanLimits {
                monthly_tokens: Some(100_000),
                chat_messages: Some(150),
                plagiarism_checks: Some(5),
                prompts_generated: Some(5),
                max_model_tier: ModelTier::Gpt35Turbo,
            },
            Self::Basic => PlanLimits {
                monthly_tokens: Some(500_000),
                chat_messages: Some(1_500),
                plagiarism_checks: Some(50),
                prompts_generated: Some(50),
                max_model_tier: ModelTier::Gpt4,
            },
            Self::Professional => PlanLimits {
                monthly_tokens: None,
                chat_messages: None,
                plagiarism_checks: None,
                prompts_generated: None,
                max_model_tier: ModelTier::Gpt4Turbo,
            },
        }
    }

    /// The highest model tier the plan allows.
    pub fn max_model_tier(&self) -> ModelTier {
        self.limits().max_model_tier
    }

    /// Whether the plan costs money (needs billing and a payment method).
    pub fn is_paid(&self) -> bool {
        !matches!(self, Self::Free)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Plan {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// What a plan allows per billing period. `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PlanLimits {
    /// Tokens per month.
    pub monthly_tokens: Option<u64>,
    /// Chat messages per month.
    pub chat_messages: Option<u64>,
    /// Plagiarism checks per month.
    pub plagiarism_checks: Option<u64>,
    /// Generated prompts per month.
    pub prompts_generated: Option<u64>,
    /// The highest model tier allowed.
    pub max_model_tier: ModelTier,
}

impl PlanLimits {
    /// The limit of one unit counter (`None` = unlimited).
    ///
    /// ```
    /// use doztra_domain::{Plan, UsageUnit};
    ///
    /// assert_eq!(Plan::Free.limits().unit_limit(UsageUnit::ChatMessages), Some(150));
    /// assert_eq!(Plan::Professional.limits().unit_limit(UsageUnit::ChatMessages), None);
    /// ```
    pub fn unit_limit(&self, unit: UsageUnit) -> Option<u64> {
        match unit {
            UsageUnit::ChatMessages => self.chat_messages,
            UsageUnit::PlagiarismChecks => self.plagiarism_checks,
            UsageUnit::PromptsGenerated => self.prompts_generated,
        }
    }

    /// Whether a model of tier `tier` may be used under these limits.
    pub fn allows_tier(&self, tier: ModelTier) -> bool {
        tier.within(self.max_model_tier)
    }
}

/// Admin overrides stored on a subscription. `None` keeps the plan's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Overrides {
    /// Replaces the plan's monthly token limit when set.
    pub token_limit: Option<u64>,
    /// Replaces the plan's max model tier when set.
    pub max_model_tier: Option<ModelTier>,
}

impl Overrides {
    /// Parses a token limit override: any whole number of tokens from 0 (no tokens at all).
    ///
    /// ```
    /// use doztra_domain::Overrides;
    ///
    /// assert_eq!(Overrides::parse_token_limit(0)?, 0);
    /// assert_eq!(Overrides::parse_token_limit(-1).unwrap_err().field(), Some("token_limit"));
    /// # Ok::<(), doztra_domain::DomainError>(())
    /// ```
    pub fn parse_token_limit(raw: i64) -> Result<u64, DomainError> {
        u64::try_from(raw).map_err(|_| DomainError::NegativeTokenLimit)
    }
}

/// The limits that actually apply to a subscription: its plan's with [`Overrides`] applied.
/// Produce one with [`effective_limits`].
pub type EffectiveLimits = PlanLimits;

/// The plan's limits with the admin overrides applied: the one function every caller uses.
///
/// `token_limit` replaces `monthly_tokens` when set (also on an otherwise unlimited plan);
/// `max_model_tier` replaces the plan's tier when set (it may lower it as well as raise it).
/// The unit limits always come from the plan.
///
/// ```
/// use doztra_domain::{effective_limits, ModelTier, Overrides, Plan};
///
/// let limits = effective_limits(
///     Plan::Free,
///     Overrides { token_limit: Some(250_000), max_model_tier: Some(ModelTier::Gpt4) },
/// );
/// assert_eq!(limits.monthly_tokens, Some(250_000));
/// assert_eq!(limits.max_model_tier, ModelTier::Gpt4);
/// assert_eq!(limits.chat_messages, Some(150));
/// ```
pub fn effective_limits(plan: Plan, overrides: Overrides) -> EffectiveLimits {
    let mut limits = plan.limits();
    if let Some(tokens) = overrides.token_limit {
        limits.monthly_tokens = Some(tokens);
    }
    if let Some(tier) = overrides.max_model_tier {
        limits.max_model_tier = tier;
    }
    limits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_table_matches_the_contract() {
        let free = Plan::Free.limits();
        assert_eq!(
            (
                free.monthly_tokens,
                free.chat_messages,
                free.plagiarism_checks,
                free.prompts_generated
            ),
            (Some(100_000), Some(150), Some(5), Some(5))
        );
        assert_eq!(free.max_model_tier, ModelTier::Gpt35Turbo);
        let basic = Plan::Basic.limits();
        assert_eq!(
            (
                basic.monthly_tokens,
                basic.chat_messages,
                basic.plagiarism_checks,
                basic.prompts_generated
            ),
            (Some(500_000), Some(1_500), Some(50), Some(50))
        );
        assert_eq!(basic.max_model_tier, ModelTier::Gpt4);
        let pro = Plan::Professional.limits();
        assert_eq!(
            (
                pro.monthly_tokens,
                pro.chat_messages,
                pro.plagiarism_checks,
                pro.prompts_generated
            ),
            (None, None, None, None)
        );
        assert_eq!(pro.max_model_tier, ModelTier::Gpt4Turbo);
        assert_eq!(Plan::Professional.max_model_tier(), ModelTier::Gpt4Turbo);
    }

    #[test]
    fn only_free_is_unpaid() {
        assert!(!Plan::Free.is_paid());
        assert!(Plan::Basic.is_paid());
        assert!(Plan::Professional.is_paid());
        assert_eq!(Plan::default(), Plan::Free);
    }

    #[test]
    fn plans_and_tiers_round_trip_their_wire_strings() {
        for plan in Plan::ALL {
            assert_eq!(Plan::parse(plan.as_str()), Ok(plan));
            assert_eq!(plan.to_string().parse::<Plan>(), Ok(plan));
        }
        for tier in ModelTier::ALL {
            assert_eq!(ModelTier::parse(tier.as_str()), Ok(tier));
            assert_eq!(tier.to_string().parse::<ModelTier>(), Ok(tier));
        }
    }

    #[test]
    fn unknown_plans_and_tiers_are_rejected() {
        for raw in ["", "Free", "enterprise", " basic"] {
            assert_eq!(Plan::parse(raw), Err(DomainError::UnknownPlan(raw.into())));
        }
        for raw in ["", "gpt-5", "GPT-4", "gpt4"] {
            assert_eq!(
                ModelTier::parse(raw),
                Err(DomainError::UnknownModelTier(raw.into()))
            );
        }
    }

    #[test]
    fn tiers_are_ordered_lowest_first() {
        assert!(ModelTier::Gpt35Turbo < ModelTier::Gpt4);
        assert!(ModelTier::Gpt4 < ModelTier::Gpt4Turbo);
        let mut sorted = ModelTier::ALL;
        sorted.sort();
        assert_eq!(sorted, ModelTier::ALL);
    }

    #[test]
    fn unit_limit_picks_the_matching_counter() {
        let basic = Plan::Basic.limits();
        assert_eq!(basic.unit_limit(UsageUnit::ChatMessages), Some(1_500));
        assert_eq!(basic.unit_limit(UsageUnit::PlagiarismChecks), Some(50));
        assert_eq!(basic.unit_limit(UsageUnit::PromptsGenerated), Some(50));
        assert!(basic.allows_tier(ModelTier::Gpt4));
        assert!(!basic.allows_tier(ModelTier::Gpt4Turbo));
    }

    #[test]
    fn no_overrides_means_the_plan_limits() {
        for plan in Plan::ALL {
            assert_eq!(effective_limits(plan, Overrides::default()), plan.limits());
        }
    }

    #[test]
    fn token_limit_override_replaces_the_monthly_tokens_even_when_unlimited() {
        let overrides = Overrides {
            token_limit: Some(42),
            max_model_tier: None,
        };
        let free = effective_limits(Plan::Free, overrides);
        assert_eq!(free.monthly_tokens, Some(42));
        assert_eq!(free.max_model_tier, ModelTier::Gpt35Turbo);
        let pro = effective_limits(Plan::Professional, overrides);
        assert_eq!(pro.monthly_tokens, Some(42));
        assert_eq!(pro.chat_messages, None);
    }

    #[test]
    fn a_token_limit_override_is_zero_or_more() {
        assert_eq!(Overrides::parse_token_limit(i64::MAX), Ok(i64::MAX as u64));
        assert_eq!(
            Overrides::parse_token_limit(i64::MIN),
            Err(DomainError::NegativeTokenLimit)
        );
        assert_eq!(
            DomainError::NegativeTokenLimit.to_string(),
            "token_limit must be 0 or more, or null."
        );
    }

    #[test]
    fn tier_override_can_raise_or_lower_the_tier() {
        let raise = Overrides {
            token_limit: None,
            max_model_tier: Some(ModelTier::Gpt4Turbo),
        };
        let free = effective_limits(Plan::Free, raise);
        assert_eq!(free.max_model_tier, ModelTier::Gpt4Turbo);
        assert_eq!(free.monthly_tokens, Some(100_000));
        let lower = Overrides {
            token_limit: None,
            max_model_tier: Some(ModelTier::Gpt35Turbo),
        };
        let pro = effective_limits(Plan::Professional, lower);
        assert_eq!(pro.max_model_tier, ModelTier::Gpt35Turbo);
        assert_eq!(pro.monthly_tokens, None);
    }
}
