//! What a tracked request consumes: its [`RequestType`] and the [`UsageUnit`] it counts, the
//! validated [`TokenCounts`] it reports, and the per-period [`Counters`] they add up to.

use std::fmt;
use std::str::FromStr;

use crate::error::DomainError;

/// The kind of AI request being tracked. Each request also counts one [`UsageUnit`].
///
/// Wire strings are `chat`, `plagiarism` and `prompt`; `prompt_generation` is accepted as an
/// alias for `prompt` on input.
///
/// ```
/// use doztra_domain::{RequestType, UsageUnit};
///
/// assert_eq!(RequestType::parse("prompt_generation")?, RequestType::Prompt);
/// assert_eq!(RequestType::Chat.unit(), UsageUnit::ChatMessages);
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RequestType {
    /// A chat completion; counts a chat message.
    #[cfg_attr(feature = "serde", serde(rename = "chat"))]
    Chat,
    /// A plagiarism check; counts a plagiarism check.
    #[cfg_attr(feature = "serde", serde(rename = "plagiarism"))]
    Plagiarism,
    /// A prompt generation; counts a generated prompt.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "prompt", alias = "prompt_generation")
    )]
    Prompt,
}

impl RequestType {
    /// Every request type.
    pub const ALL: [RequestType; 3] = [
        RequestType::Chat,
        RequestType::Plagiarism,
        RequestType::Prompt,
    ];

    /// Parses a wire string, exactly; `prompt_generation` means [`RequestType::Prompt`].
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "chat" => Ok(Self::Chat),
            "plagiarism" => Ok(Self::Plagiarism),
            "prompt" | "prompt_generation" => Ok(Self::Prompt),
            _ => Err(DomainError::UnknownRequestType(raw.to_owned())),
        }
    }

    /// The wire string.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Plagiarism => "plagiarism",
            Self::Prompt => "prompt",
        }
    }

    /// The unit counter this request type increments by one.
    pub fn unit(&self) -> UsageUnit {
        match self {
            Self::Chat => UsageUnit::ChatMessages,
            Self::Plagiarism => UsageUnit::PlagiarismChecks,
            Self::Prompt => UsageUnit::PromptsGenerated,
        }
    }
}

impl fmt::Display for RequestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RequestType {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A per-period unit counter with its own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum UsageUnit {
    /// `chat_messages`, counted by [`RequestType::Chat`].
    #[cfg_attr(feature = "serde", serde(rename = "chat_messages"))]
    ChatMessages,
    /// `plagiarism_checks`, counted by [`RequestType::Plagiarism`].
    #[cfg_attr(feature = "serde", serde(rename = "plagiarism_checks"))]
    PlagiarismChecks,
    /// `prompts_generated`, counted by [`RequestType::Prompt`].
    #[cfg_attr(feature = "serde", serde(rename = "prompts_generated"))]
    PromptsGenerated,
}

impl UsageUnit {
    /// Every unit.
    pub const ALL: [UsageUnit; 3] = [
        UsageUnit::ChatMessages,
        UsageUnit::PlagiarismChecks,
        UsageUnit::PromptsGenerated,
    ];

    /// The snake_case name, as used in response bodies and column names.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ChatMessages => "chat_messages",
            Self::PlagiarismChecks => "plagiarism_checks",
            Self::PromptsGenerated => "prompts_generated",
        }
    }
}

impl fmt::Display for UsageUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Validated token counts of one request: every value within `0..=MAX_TOKENS`, and the total
/// consistent with its parts.
///
/// ```
/// use doztra_domain::TokenCounts;
///
/// let counts = TokenCounts::parse(Some(50), Some(100), None)?;
/// assert_eq!(counts.total(), 150);
/// assert!(TokenCounts::parse(Some(50), Some(100), Some(999)).is_err());
/// assert!(TokenCounts::parse(Some(-1), None, None).is_err());
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TokenCounts {
    prompt: u64,
    completion: u64,
    total: u64,
}

impl TokenCounts {
    /// The largest count accepted for any one field (prompt, completion or total).
    pub const MAX_TOKENS: u64 = 10_000_000;

    /// Builds counts from wire values (`i64` because clients can send negatives).
    ///
    /// - Each given value must be within `0..=MAX_TOKENS`, else
    ///   [`InvalidTokenCount`](DomainError::InvalidTokenCount) on that field
    ///   (`prompt_tokens`, `completion_tokens` or `total_tokens`).
    /// - Missing prompt or completion counts are 0; a missing total is prompt + completion.
    /// - A given total must equal prompt + completion when either part is non-zero (error on
    ///   `total_tokens`); with the parts missing or zero, a given total stands alone.
    /// - The total must be at most `MAX_TOKENS` also when it is computed.
    pub fn parse(
        prompt: Option<i64>,
        completion: Option<i64>,
        total: Option<i64>,
    ) -> Result<Self, DomainError> {
        let prompt = checked_count("prompt_tokens", prompt)?.unwrap_or(0);
        let completion = checked_count("completion_tokens", completion)?.unwrap_or(0);
        let given_total = checked_count("total_tokens", total)?;
        // Both parts are at most MAX_TOKENS, so the sum cannot overflow.
        let sum = prompt + completion;
        let total = match given_total {
            Some(total) if prompt == 0 && completion == 0 => total,
            Some(total) if total != sum => {
                return Err(DomainError::InvalidTokenCount {
                    field: "total_tokens",
                    reason: format!(
                        "must equal prompt_tokens + completion_tokens ({prompt} + {completion} = {sum}), got {total}"
                    ),
                });
            }
            _ => sum,
        };
        if total > Self::MAX_TOKENS {
            return Err(too_large("total_tokens"));
        }
        Ok(Self {
            prompt,
            completion,
            total,
        })
    }

    /// Tokens of the prompt (0 if not reported).
    pub fn prompt(&self) -> u64 {
        self.prompt
    }

    /// Tokens of the completion (0 if not reported).
    pub fn completion(&self) -> u64 {
        self.completion
    }

    /// Total tokens: what counts against the monthly limit.
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// The most tokens one request may carry (`MAX_TOKENS_PER_REQUEST`): the total of a track, the
/// estimate of a check or of a reservation. A track is recorded in full even when it crosses the
/// plan's limit (the call happened), so this bounds how far one request can overshoot a plan.
///
/// ```
/// use doztra_domain::MaxTokensPerRequest;
///
/// let max = MaxTokensPerRequest::new(1000).expect("1 to 10,000,000");
/// assert_eq!(max.admit("total_tokens", 1000)?, 1000);
/// let err = max.admit("estimated_tokens", 1001).unwrap_err();
/// assert_eq!(err.field(), Some("estimated_tokens"));
/// assert!(MaxTokensPerRequest::new(0).is_none());
/// assert_eq!(MaxTokensPerRequest::default().get(), 2_000_000);
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaxTokensPerRequest(u64);

impl MaxTokensPerRequest {
    /// The default maximum.
    pub const DEFAULT: u64 = 2_000_000;

    /// A maximum of 1 to [`TokenCounts::MAX_TOKENS`] (no request field can carry more).
    pub fn new(max: u64) -> Option<Self> {
        (1..=TokenCounts::MAX_TOKENS)
            .contains(&max)
            .then_some(Self(max))
    }

    /// The maximum.
    pub fn get(self) -> u64 {
        self.0
    }

    /// `tokens` when they are within the maximum, else an
    /// [`InvalidTokenCount`](DomainError::InvalidTokenCount) on `field`.
    pub fn admit(self, field: &'static str, tokens: u64) -> Result<u64, DomainError> {
        if tokens > self.0 {
            return Err(DomainError::InvalidTokenCount {
                field,
                reason: format!("must be at most {} for one request", self.0),
            });
        }
        Ok(tokens)
    }
}

impl Default for MaxTokensPerRequest {
    fn default() -> Self {
        Self(Self::DEFAULT)
    }
}

/// Validates one optional token count from the wire against `0..=MAX_TOKENS`.
///
/// `field` names the request field in the error (`prompt_tokens`, `completion_tokens`,
/// `total_tokens` or `estimated_tokens`), so callers can use it for an estimate too.
///
/// ```
/// use doztra_domain::checked_token_count;
///
/// assert_eq!(checked_token_count("estimated_tokens", Some(500))?, Some(500));
/// assert_eq!(checked_token_count("estimated_tokens", None)?, None);
/// let err = checked_token_count("estimated_tokens", Some(-5)).unwrap_err();
/// assert_eq!(err.field(), Some("estimated_tokens"));
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
pub fn checked_token_count(
    field: &'static str,
    value: Option<i64>,
) -> Result<Option<u64>, DomainError> {
    checked_count(field, value)
}

fn checked_count(field: &'static str, value: Option<i64>) -> Result<Option<u64>, DomainError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let Ok(value) = u64::try_from(value) else {
        return Err(DomainError::InvalidTokenCount {
            field,
            reason: "must not be negative".to_owned(),
        });
    };
    if value > TokenCounts::MAX_TOKENS {
        return Err(too_large(field));
    }
    Ok(Some(value))
}

fn too_large(field: &'static str) -> DomainError {
    DomainError::InvalidTokenCount {
        field,
        reason: format!("must be at most {}", TokenCounts::MAX_TOKENS),
    }
}

/// One user's usage in one billing period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Counters {
    /// Total tokens used.
    pub tokens_used: u64,
    /// Chat messages sent.
    pub chat_messages: u64,
    /// Plagiarism checks run.
    pub plagiarism_checks: u64,
    /// Prompts generated.
    pub prompts_generated: u64,
}

impl Counters {
    /// The value of one unit counter.
    pub fn unit(&self, unit: UsageUnit) -> u64 {
        match unit {
            UsageUnit::ChatMessages => self.chat_messages,
            UsageUnit::PlagiarismChecks => self.plagiarism_checks,
            UsageUnit::PromptsGenerated => self.prompts_generated,
        }
    }

    /// Adds one tracked request: its total tokens and one unit of its request type's counter.
    /// Saturates at `u64::MAX` rather than overflowing.
    ///
    /// ```
    /// use doztra_domain::{Counters, RequestType, TokenCounts};
    ///
    /// let mut counters = Counters::default();
    /// counters.record(RequestType::Chat, TokenCounts::parse(Some(50), Some(100), None)?);
    /// assert_eq!((counters.tokens_used, counters.chat_messages), (150, 1));
    /// # Ok::<(), doztra_domain::DomainError>(())
    /// ```
    pub fn record(&mut self, request_type: RequestType, tokens: TokenCounts) {
        self.tokens_used = self.tokens_used.saturating_add(tokens.total());
        let unit = match request_type.unit() {
            UsageUnit::ChatMessages => &mut self.chat_messages,
            UsageUnit::PlagiarismChecks => &mut self.plagiarism_checks,
            UsageUnit::PromptsGenerated => &mut self.prompts_generated,
        };
        *unit = unit.saturating_add(1);
    }
}

#[cfg(test)]
#[path = "usage_tests.rs"]
mod tests;
