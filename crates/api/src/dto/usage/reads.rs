//! The caller's usage: this period's statistics and counters (`GET /api/tokens/me`,
//! `GET /api/usage/me`) and the history of raw events (`GET /api/tokens/me/history`).

use std::collections::BTreeMap;

use domain::{DateBound, ModelName, PageRequest, Reporter, RequestType};
use serde::{Deserialize, Serialize};
use service::{
    DEFAULT_HISTORY_PAGE, FieldErrors, HistoryPage, HistoryQuery, HistoryStart, MAX_HISTORY_PAGE,
    ServiceError, TokenStatistics, UsageSummary,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::dto::timestamp;

/// The current billing period's token use.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CurrentPeriod {
    pub start_date: String,
    pub end_date: String,
    pub tokens_used: u64,
    pub tokens_limit: Option<u64>,
    /// Two decimals; `null` when unlimited.
    pub percentage_used: Option<f64>,
}

/// Prompt, completion and total tokens.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatBreakdown {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// Total tokens.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TotalOnly {
    pub total_tokens: u64,
}

/// Tokens per request type.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TypeBreakdown {
    pub chat: ChatBreakdown,
    pub plagiarism: TotalOnly,
    pub prompt_generation: TotalOnly,
}

/// One day of the period with usage.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DailyUsage {
    #[schema(example = "2025-10-01")]
    pub date: String,
    pub total_tokens: u64,
}

/// `GET /api/tokens/me`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenStatsResponse {
    pub current_period: CurrentPeriod,
    pub breakdown: TypeBreakdown,
    /// Total tokens per model this period.
    pub models: BTreeMap<String, u64>,
    pub daily_usage: Vec<DailyUsage>,
}

impl From<TokenStatistics> for TokenStatsResponse {
    fn from(s: TokenStatistics) -> Self {
        let of = |t: RequestType| s.by_request_type.get(&t).copied().unwrap_or_default();
        let chat = of(RequestType::Chat);
        Self {
            current_period: CurrentPeriod {
                start_date: timestamp(s.period.start()),
                end_date: timestamp(s.period.end()),
                tokens_used: s.tokens_used,
                tokens_limit: s.tokens_limit,
                percentage_used: s.percentage_used(),
            },
            breakdown: TypeBreakdown {
                chat: ChatBreakdown {
                    prompt_tokens: chat.prompt_tokens,
                    completion_tokens: chat.completion_tokens,
                    total_tokens: chat.total_tokens,
                },
                plagiarism: TotalOnly {
                    total_tokens: of(RequestType::Plagiarism).total_tokens,
                },
                prompt_generation: TotalOnly {
                    total_tokens: of(RequestType::Prompt).total_tokens,
                },
            },
            models: s.by_model.clone(),
            daily_usage: s
                .daily
                .iter()
                .map(|(date, total)| DailyUsage {
                    date: date.format("%Y-%m-%d").to_string(),
                    total_tokens: *total,
                })
                .collect(),
        }
    }
}

/// One counter of the period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageCounter {
    pub used: u64,
    /// `null` = unlimited.
    pub limit: Option<u64>,
    pub reset_date: String,
}

/// `GET /api/usage/me` and `GET /api/users/me/usage`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsageResponse {
    pub chat_messages: UsageCounter,
    pub plagiarism_checks: UsageCounter,
    pub prompts_generated: UsageCounter,
    pub tokens: UsageCounter,
}

impl From<UsageSummary> for UsageResponse {
    fn from(u: UsageSummary) -> Self {
        let reset = timestamp(u.period.reset_date());
        let counter = |used: u64, limit: Option<u64>| UsageCounter {
            used,
            limit,
            reset_date: reset.clone(),
        };
        Self {
            chat_messages: counter(u.counters.chat_messages, u.limits.chat_messages),
            plagiarism_checks: counter(u.counters.plagiarism_checks, u.limits.plagiarism_checks),
            prompts_generated: counter(u.counters.prompts_generated, u.limits.prompts_generated),
            tokens: counter(u.counters.tokens_used, u.limits.monthly_tokens),
        }
    }
}

/// `GET /api/tokens/me/history` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// 1-based page (default 1).
    #[param(minimum = 1, maximum = 1_000_000_000)]
    pub page: Option<u64>,
    /// Page size 1..=100 (default 20); `per_page` and `page_size` are accepted too.
    #[serde(alias = "per_page", alias = "page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
    /// Only one request type (`chat`, ...).
    pub request_type: Option<String>,
    /// Only one model.
    pub model: Option<String>,
    /// Only the events of one reporter: `user` (tracked through `/me/track`) or an API key id.
    pub reporter: Option<String>,
    /// Inclusive: an ISO date (whole day) or an RFC 3339 date-time.
    pub start_date: Option<String>,
    /// Inclusive: an ISO date (whole day) or an RFC 3339 date-time.
    pub end_date: Option<String>,
    /// The `next_cursor` of the previous page: continues after it with the same filters and
    /// page size (keyset pagination, as fast at any depth). Not with `page`.
    pub cursor: Option<String>,
}

impl TryFrom<HistoryParams> for HistoryQuery {
    type Error = ServiceError;

    /// Every parameter parsed at once: one 422 names each invalid one.
    fn try_from(p: HistoryParams) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        let page = errors.take_all(PageRequest::parse(
            p.page,
            p.limit,
            DEFAULT_HISTORY_PAGE,
            MAX_HISTORY_PAGE,
        ));
        let request_type = errors.take(
            p.request_type
                .as_deref()
                .map(RequestType::parse)
                .transpose(),
        );
        let model = errors.take(p.model.map(ModelName::parse).transpose());
        let reporter = errors.take(p.reporter.as_deref().map(Reporter::parse).transpose());
        let from = errors.take(
            p.start_date
                .map(|raw| DateBound::start("start_date", &raw))
                .transpose(),
        );
        let until = errors.take(
            p.end_date
                .map(|raw| DateBound::end("end_date", &raw))
                .transpose(),
        );
        if let (Some(Some(from)), Some(Some(until))) = (from, until)
            && from.at() >= until.at()
        {
            errors.reject("end_date", "end_date must not be before start_date.");
        }
        if p.cursor.is_some() && p.page.is_some() {
            errors.reject("cursor", "Give either cursor or page, not both.");
        }
        let (Some(page), Some(request_type), Some(model), Some(reporter), Some(from), Some(until)) =
            (page, request_type, model, reporter, from, until)
        else {
            return Err(errors.into());
        };
        errors.finish()?;
        Ok(Self {
            start: p
                .cursor
                .map_or(HistoryStart::Page(page.page()), HistoryStart::Cursor),
            per_page: page.per_page(),
            request_type,
            model,
            reporter,
            from,
            until,
        })
    }
}

/// One recorded request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryItem {
    pub id: Uuid,
    pub timestamp: String,
    pub request_type: String,
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub request_id: Option<String>,
    pub conversation_id: Option<String>,
    /// Who tracked it: `user` (through `/me/track`) or the id of the API key that did.
    pub reporter: String,
}

/// A page of history, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryResponse {
    pub total_records: u64,
    pub total_pages: u64,
    pub current_page: u64,
    pub records_per_page: u64,
    pub history: Vec<HistoryItem>,
    /// Opens the next page (pass it as `cursor`); `null` on the last page.
    pub next_cursor: Option<String>,
    /// Raw events older than this are deleted (`USAGE_EVENT_RETENTION`): history reaches back
    /// to here; statistics and analytics still cover older periods. `null` when kept forever.
    pub retained_since: Option<String>,
}

impl From<HistoryPage> for HistoryResponse {
    fn from(p: HistoryPage) -> Self {
        Self {
            total_records: p.total_records,
            total_pages: p.total_pages,
            current_page: p.current_page,
            records_per_page: p.records_per_page,
            history: p
                .events
                .into_iter()
                .map(|e| HistoryItem {
                    id: e.id,
                    timestamp: timestamp(e.timestamp),
                    request_type: e.request_type,
                    model: e.model,
                    prompt_tokens: e.prompt_tokens,
                    completion_tokens: e.completion_tokens,
                    total_tokens: e.total_tokens,
                    request_id: e.request_id,
                    conversation_id: e.conversation_id,
                    reporter: e.reporter,
                })
                .collect(),
            next_cursor: p.next_cursor,
            retained_since: p.retained_since.map(timestamp),
        }
    }
}
