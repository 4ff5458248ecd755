//! Usage alerts: the percentages of a limit at which a user is warned ([`AlertThresholds`]),
//! the four counters they watch ([`MeteredUnit`]), what already fired in a billing period
//! ([`AlertLevels`]), and the one rule that says which thresholds a counter crosses now
//! ([`AlertLevels::record_crossings`]).
//!
//! A threshold fires at most once per unit and period: [`AlertLevels`] keeps the highest
//! threshold recorded, and every threshold at or below it counts as fired. That is exact,
//! because a crossing fires every threshold the counter has reached, so the thresholds that
//! fired are always all those up to the highest one; whatever the limit becomes later (an
//! upgrade, an admin override), a fired threshold never fires again in the period, and one not
//! yet fired fires as soon as the counter reaches its percentage of the limit in force.

use std::fmt;

use crate::error::DomainError;
use crate::plan::EffectiveLimits;
use crate::usage::{Counters, UsageUnit};

/// A counter with a monthly limit: tokens and the three unit counters.
///
/// ```
/// use doztra_domain::{Counters, MeteredUnit, Plan};
///
/// let counters = Counters { tokens_used: 1_200, chat_messages: 3, ..Counters::default() };
/// assert_eq!(MeteredUnit::Tokens.used(&counters), 1_200);
/// assert_eq!(MeteredUnit::ChatMessages.limit(&Plan::Free.limits()), Some(150));
/// assert_eq!(MeteredUnit::parse("prompts_generated"), Some(MeteredUnit::PromptsGenerated));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MeteredUnit {
    /// Total tokens (`tokens`).
    Tokens,
    /// Chat messages (`chat_messages`).
    ChatMessages,
    /// Plagiarism checks (`plagiarism_checks`).
    PlagiarismChecks,
    /// Generated prompts (`prompts_generated`).
    PromptsGenerated,
}

impl MeteredUnit {
    /// Every metered unit.
    pub const ALL: [MeteredUnit; 4] = [
        MeteredUnit::Tokens,
        MeteredUnit::ChatMessages,
        MeteredUnit::PlagiarismChecks,
        MeteredUnit::PromptsGenerated,
    ];

    /// The snake_case wire name (the keys of `GET /api/usage/me`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Tokens => "tokens",
            Self::ChatMessages => UsageUnit::ChatMessages.as_str(),
            Self::PlagiarismChecks => UsageUnit::PlagiarismChecks.as_str(),
            Self::PromptsGenerated => UsageUnit::PromptsGenerated.as_str(),
        }
    }

    /// Parses a wire name, exactly.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|unit| unit.as_str() == raw)
    }

    /// Words for people: `tokens`, `chat messages`, `plagiarism checks`, `generated prompts`.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::Tokens => "tokens",
            Self::ChatMessages => "chat messages",
            Self::PlagiarismChecks => "plagiarism checks",
            Self::PromptsGenerated => "generated prompts",
        }
    }

    /// The unit's limit under `limits` (`None` = unlimited).
    pub fn limit(&self, limits: &EffectiveLimits) -> Option<u64> {
        match self {
            Self::Tokens => limits.monthly_tokens,
            Self::ChatMessages => limits.chat_messages,
            Self::PlagiarismChecks => limits.plagiarism_checks,
            Self::PromptsGenerated => limits.prompts_generated,
        }
    }

    /// The unit's counter.
    pub fn used(&self, counters: &Counters) -> u64 {
        match self {
            Self::Tokens => counters.tokens_used,
            Self::ChatMessages => counters.chat_messages,
            Self::PlagiarismChecks => counters.plagiarism_checks,
            Self::PromptsGenerated => counters.prompts_generated,
        }
    }
}

impl fmt::Display for MeteredUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The percentages of a limit that raise an alert: each within `1..=100`, strictly ascending,
/// at least one. 100 is the limit itself (it also means "limit reached").
///
/// ```
/// use doztra_domain::AlertThresholds;
///
/// assert_eq!(AlertThresholds::parse("80, 95,100")?.as_slice(), &[80, 95, 100]);
/// assert_eq!(AlertThresholds::default().as_slice(), &[80, 95, 100]);
/// assert!(AlertThresholds::parse("95,80").is_err());
/// assert!(AlertThresholds::parse("0,50").is_err());
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AlertThresholds(Vec<u8>);

impl AlertThresholds {
    /// The percentage that means "the limit is reached".
    pub const LIMIT: u8 = 100;

    /// Parses a comma-separated list such as `80,95,100`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let invalid = |reason: String| DomainError::InvalidAlertThresholds { reason };
        let values = raw
            .split(',')
            .map(str::trim)
            .map(|part| {
                part.parse::<u8>().map_err(|_| {
                    invalid(format!("'{part}' is not a whole percentage from 1 to 100"))
                })
            })
            .collect::<Result<Vec<u8>, _>>()?;
        Self::new(values)
    }

    /// Checks a list of percentages.
    pub fn new(values: Vec<u8>) -> Result<Self, DomainError> {
        let invalid = |reason: String| DomainError::InvalidAlertThresholds { reason };
        if values.is_empty() {
            return Err(invalid("at least one threshold is needed".to_owned()));
        }
        if let Some(bad) = values.iter().find(|v| !(1..=Self::LIMIT).contains(*v)) {
            return Err(invalid(format!("{bad} is not between 1 and 100")));
        }
        if values.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(invalid(
                "the thresholds must be distinct and in ascending order".to_owned(),
            ));
        }
        Ok(Self(values))
    }

    /// The percentages, ascending.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl Default for AlertThresholds {
    fn default() -> Self {
        Self(vec![80, 95, 100])
    }
}

/// Whether `used` is at least `threshold` percent of `limit`. A limit of 0 (an account an
/// admin shut off) reaches nothing: there is nothing to warn about before a first request.
fn reached(used: u64, limit: u64, threshold: u8) -> bool {
    limit > 0 && u128::from(used) * 100 >= u128::from(threshold) * u128::from(limit)
}

/// One threshold crossed by one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Crossing {
    /// The counter.
    pub unit: MeteredUnit,
    /// The percentage crossed.
    pub threshold: u8,
    /// The counter's value when it crossed.
    pub used: u64,
    /// The limit in force then.
    pub limit: u64,
}

impl Crossing {
    /// Whether this crossing is the limit itself (100 %).
    pub fn reaches_limit(&self) -> bool {
        self.threshold >= AlertThresholds::LIMIT
    }
}

/// The highest threshold recorded in a billing period for each unit (0: none yet). Every
/// threshold at or below a unit's level counts as fired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AlertLevels {
    /// Tokens.
    pub tokens: u8,
    /// Chat messages.
    pub chat_messages: u8,
    /// Plagiarism checks.
    pub plagiarism_checks: u8,
    /// Generated prompts.
    pub prompts_generated: u8,
}

impl AlertLevels {
    /// The level of one unit.
    pub fn get(&self, unit: MeteredUnit) -> u8 {
        match unit {
            MeteredUnit::Tokens => self.tokens,
            MeteredUnit::ChatMessages => self.chat_messages,
            MeteredUnit::PlagiarismChecks => self.plagiarism_checks,
            MeteredUnit::PromptsGenerated => self.prompts_generated,
        }
    }

    fn slot(&mut self, unit: MeteredUnit) -> &mut u8 {
        match unit {
            MeteredUnit::Tokens => &mut self.tokens,
            MeteredUnit::ChatMessages => &mut self.chat_messages,
            MeteredUnit::PlagiarismChecks => &mut self.plagiarism_checks,
            MeteredUnit::PromptsGenerated => &mut self.prompts_generated,
        }
    }

    /// Every threshold that `counters` reach under `limits` and that has not fired yet, one
    /// crossing each (units in [`MeteredUnit::ALL`] order, thresholds ascending); raises the
    /// levels so none of them fires again. Unlimited units never fire.
    ///
    /// ```
    /// use doztra_domain::{AlertLevels, AlertThresholds, Counters, Plan};
    ///
    /// let thresholds = AlertThresholds::default();
    /// let limits = Plan::Free.limits(); // 100,000 tokens
    /// let mut levels = AlertLevels::default();
    /// let counters = Counters { tokens_used: 96_000, ..Counters::default() };
    /// let fired = levels.record_crossings(&thresholds, &limits, &counters);
    /// assert_eq!(fired.iter().map(|c| c.threshold).collect::<Vec<_>>(), [80, 95]);
    /// assert!(levels.record_crossings(&thresholds, &limits, &counters).is_empty());
    /// ```
    pub fn record_crossings(
        &mut self,
        thresholds: &AlertThresholds,
        limits: &EffectiveLimits,
        counters: &Counters,
    ) -> Vec<Crossing> {
        let mut crossings = Vec::new();
        for unit in MeteredUnit::ALL {
            let Some(limit) = unit.limit(limits) else {
                continue;
            };
            let used = unit.used(counters);
            let level = self.slot(unit);
            for &threshold in thresholds.as_slice() {
                if threshold > *level && reached(used, limit, threshold) {
                    crossings.push(Crossing {
                        unit,
                        threshold,
                        used,
                        limit,
                    });
                }
            }
            if let Some(last) = crossings.last().filter(|c| c.unit == unit) {
                *level = last.threshold;
            }
        }
        crossings
    }
}

#[cfg(test)]
#[path = "alerts_tests.rs"]
mod tests;
