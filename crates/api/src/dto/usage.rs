//! Wire types of token metering and usage statistics (docs/API.md, "Token metering").

use std::collections::BTreeMap;

use domain::{
    ConversationId, DateBound, ModelName, Reporter, RequestId, RequestType, TokenCounts,
    UsageGrouping, checked_token_count, parse_uuid,
};
use serde::{Deserialize, Serialize};
use service::{
    AdminUsageQuery, AdminUsageReport, Breakdown, CheckCommand, CheckOutcome, FieldErrors,
    GroupTotals, HistoryPage, ServiceError, TokenStatistics, TrackCommand, TrackOutcome,
    UsageSummary,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::dto::timestamp;

/// `POST /api/tokens/me/track`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct TrackRequestBody {
    /// `chat`, `plagiarism` or `prompt` (`prompt_generation` accepted).
    #[serde(default)]
    #[schema(example = "chat", required = true)]
    pub request_type: String,
    /// A model of the catalog.
    #[serde(default)]
    #[schema(example = "gpt-4", required = true)]
    pub model: String,
    #[schema(example = 50)]
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub prompt_tokens: Option<i64>,
    #[schema(example = 100)]
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub completion_tokens: Option<i64>,
    /// Optional; prompt + completion when omitted, and must equal their sum when both are given.
    /// The total must be at most `MAX_TOKENS_PER_REQUEST` (default 2,000,000).
    #[schema(example = 150)]
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub total_tokens: Option<i64>,
    /// Idempotency key, unique per user: a repeat is answered with the first record.
    #[schema(example = "req_abc")]
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub request_id: Option<String>,
    #[schema(example = "conv_1")]
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub conversation_id: Option<String>,
    /// The reservation this call was made under: the actual counts replace it (recorded in
    /// full). Unknown -> 404; settled by another request -> 409; expired -> an ordinary track.
    #[schema(format = "uuid")]
    pub reservation_id: Option<String>,
}

impl TryFrom<TrackRequestBody> for TrackCommand {
    type Error = ServiceError;

    /// Every field parsed at once: one 422 names each invalid field.
    fn try_from(b: TrackRequestBody) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        let request_type = errors.take(RequestType::parse(&b.request_type));
        let model = errors.take(ModelName::parse(b.model));
        let counts = errors.take(TokenCounts::parse(
            b.prompt_tokens,
            b.completion_tokens,
            b.total_tokens,
        ));
        let request_id = errors.take(b.request_id.map(RequestId::parse).transpose());
        let conversation_id = errors.take(b.conversation_id.map(ConversationId::parse).transpose());
        let reservation_id = errors.take(
            b.reservation_id
                .map(|raw| parse_uuid("reservation_id", &raw))
                .transpose(),
        );
        let (
            Some(request_type),
            Some(model),
            Some(counts),
            Some(request_id),
            Some(conversation_id),
            Some(reservation_id),
        ) = (
            request_type,
            model,
            counts,
            request_id,
            conversation_id,
            reservation_id,
        )
        else {
            return Err(errors.into());
        };
        Ok(TrackCommand {
            request_type,
            model,
            counts,
            request_id,
            conversation_id,
            reservation_id,
        })
    }
}

/// The result of a track.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrackResponse {
    pub success: bool,
    pub message: &'static str,
    pub id: Uuid,
    /// True when this `request_id` was already recorded (nothing changed).
    pub duplicate: bool,
    pub tokens_used: u64,
    /// `null` when unlimited.
    pub tokens_limit: Option<u64>,
    pub tokens_remaining: Option<u64>,
    pub reset_date: String,
}

impl From<TrackOutcome> for TrackResponse {
    fn from(o: TrackOutcome) -> Self {
        Self {
            success: true,
            message: "Token usage tracked successfully",
            id: o.id,
            duplicate: o.duplicate,
            tokens_used: o.tokens_used,
            tokens_limit: o.tokens_limit,
            tokens_remaining: o.tokens_remaining,
            reset_date: timestamp(o.reset_date),
        }
    }
}

/// `POST /api/tokens/me/check`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CheckRequestBody {
    #[serde(default)]
    #[schema(required = true)]
    pub request_type: String,
    /// A model of the catalog.
    #[serde(default)]
    #[schema(required = true)]
    pub model: String,
    /// With it, the request is refused when the estimate does not fit in what remains; at most
    /// `MAX_TOKENS_PER_REQUEST` (default 2,000,000).
    #[serde(default, deserialize_with = "crate::dto::whole_number")]
    #[schema(minimum = 0, maximum = 10_000_000)]
    pub estimated_tokens: Option<i64>,
}

impl TryFrom<CheckRequestBody> for CheckCommand {
    type Error = ServiceError;

    fn try_from(b: CheckRequestBody) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        let request_type = errors.take(RequestType::parse(&b.request_type));
        let model = errors.take(ModelName::parse(b.model));
        let estimated_tokens =
            errors.take(checked_token_count("estimated_tokens", b.estimated_tokens));
        let (Some(request_type), Some(model), Some(estimated_tokens)) =
            (request_type, model, estimated_tokens)
        else {
            return Err(errors.into());
        };
        Ok(CheckCommand {
            request_type,
            model,
            estimated_tokens,
        })
    }
}

/// A positive check.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckResponse {
    pub allowed: bool,
    pub tokens_remaining: Option<u64>,
    /// Remaining units of the request type's counter (`null` = unlimited).
    pub units_remaining: Option<u64>,
    pub reset_date: String,
}

impl From<CheckOutcome> for CheckResponse {
    fn from(o: CheckOutcome) -> Self {
        Self {
            allowed: true,
            tokens_remaining: o.tokens_remaining,
            units_remaining: o.units_remaining,
            reset_date: timestamp(o.reset_date),
        }
    }
}

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
    pub request_type: Option<String>,
    pub model: Option<String>,
    /// Inclusive: an ISO date (whole day) or an RFC 3339 date-time.
    pub start_date: Option<String>,
    /// Inclusive: an ISO date (whole day) or an RFC 3339 date-time.
    pub end_date: Option<String>,
    /// The `next_cursor` of the previous page: continues after it with the same filters and
    /// page size (keyset pagination, as fast at any depth). Not with `page`.
    pub cursor: Option<String>,
}

impl From<HistoryParams> for service::HistoryQuery {
    fn from(p: HistoryParams) -> Self {
        Self {
            page: p.page,
            limit: p.limit,
            request_type: p.request_type,
            model: p.model,
            start_date: p.start_date,
            end_date: p.end_date,
            cursor: p.cursor,
        }
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
                })
                .collect(),
            next_cursor: p.next_cursor,
            retained_since: p.retained_since.map(timestamp),
        }
    }
}

/// `GET /api/tokens/admin/usage` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminUsageParams {
    /// Inclusive first day (default: 29 days before `end_date`).
    pub start_date: Option<String>,
    /// Inclusive last day (default: today, UTC).
    pub end_date: Option<String>,
    /// `day` (default), `user`, `model`, `request_type` or `reporter`.
    pub group_by: Option<String>,
    /// Only the events of one reporter: `user` (tracked through `/me/track`) or an API key id.
    pub reporter: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// How the admin usage report is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportFormat {
    /// `json`, the default.
    #[default]
    Json,
    /// `csv`: the breakdown rows with a header row ([`AdminUsageResponse::to_csv`]).
    Csv,
}

/// `GET /api/tokens/admin/usage`, parsed: the report's query and the format to send it in.
#[derive(Debug, Clone)]
pub struct AdminUsageRequest {
    pub query: AdminUsageQuery,
    pub format: ReportFormat,
}

impl TryFrom<AdminUsageParams> for AdminUsageRequest {
    type Error = ServiceError;

    /// Every parameter parsed at once: one 422 names each invalid one. Whether the days are
    /// in order is the report's to say, once the defaults (which depend on today) are known.
    fn try_from(p: AdminUsageParams) -> Result<Self, ServiceError> {
        let mut errors = FieldErrors::default();
        let start_date = errors.take(
            p.start_date
                .map(|raw| DateBound::start("start_date", &raw))
                .transpose(),
        );
        let end_date = errors.take(
            p.end_date
                .map(|raw| DateBound::end("end_date", &raw))
                .transpose(),
        );
        let group_by = errors.take(
            p.group_by
                .as_deref()
                .map_or(Ok(UsageGrouping::Day), UsageGrouping::parse),
        );
        let reporter = errors.take(p.reporter.as_deref().map(Reporter::parse).transpose());
        let format = match p.format.as_deref() {
            None | Some("json") => Some(ReportFormat::Json),
            Some("csv") => Some(ReportFormat::Csv),
            Some(_) => {
                errors.reject("format", "format must be json or csv.");
                None
            }
        };
        let (Some(start_date), Some(end_date), Some(group_by), Some(reporter), Some(format)) =
            (start_date, end_date, group_by, reporter, format)
        else {
            return Err(errors.into());
        };
        let query = AdminUsageQuery {
            start_date: start_date.map(|bound| bound.calendar_day()),
            end_date: end_date.map(|bound| bound.calendar_day()),
            group_by,
            reporter,
        };
        Ok(Self { query, format })
    }
}

/// Tokens and requests of one day.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DayRow {
    pub date: String,
    pub total_tokens: u64,
    pub request_count: u64,
}

/// Tokens and requests of one user.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserRow {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub total_tokens: u64,
    pub request_count: u64,
}

/// Tokens and requests of one model.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelRow {
    pub model: String,
    pub total_tokens: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub request_count: u64,
}

/// Tokens and requests of one request type.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestTypeRow {
    pub request_type: String,
    pub total_tokens: u64,
    pub request_count: u64,
}

/// Tokens and requests of one reporter.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReporterRow {
    /// `user` or an API key id.
    pub reporter: String,
    /// The API key's name (`null` for `user`, or a key deleted since).
    pub name: Option<String>,
    pub total_tokens: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub request_count: u64,
}

/// Usage across all users.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminUsageResponse {
    pub start_date: String,
    pub end_date: String,
    pub total_tokens: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub request_count: u64,
    pub active_users: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown_by_day: Option<Vec<DayRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown_by_user: Option<Vec<UserRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown_by_model: Option<Vec<ModelRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown_by_request_type: Option<Vec<RequestTypeRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown_by_reporter: Option<Vec<ReporterRow>>,
}

impl From<AdminUsageReport> for AdminUsageResponse {
    fn from(r: AdminUsageReport) -> Self {
        let GroupTotals {
            total_tokens,
            prompt_tokens,
            completion_tokens,
            request_count,
        } = r.totals;
        let mut out = Self {
            start_date: r.start_date.format("%Y-%m-%d").to_string(),
            end_date: r.end_date.format("%Y-%m-%d").to_string(),
            total_tokens,
            prompt_tokens,
            completion_tokens,
            request_count,
            active_users: r.active_users,
            breakdown_by_day: None,
            breakdown_by_user: None,
            breakdown_by_model: None,
            breakdown_by_request_type: None,
            breakdown_by_reporter: None,
        };
        match r.breakdown {
            Breakdown::Day(rows) => {
                out.breakdown_by_day = Some(
                    rows.into_iter()
                        .map(|(d, t)| DayRow {
                            date: d.format("%Y-%m-%d").to_string(),
                            total_tokens: t.total_tokens,
                            request_count: t.request_count,
                        })
                        .collect(),
                );
            }
            Breakdown::User(rows) => {
                out.breakdown_by_user = Some(
                    rows.into_iter()
                        .map(|(user_id, email, name, t)| UserRow {
                            user_id,
                            email,
                            name,
                            total_tokens: t.total_tokens,
                            request_count: t.request_count,
                        })
                        .collect(),
                );
            }
            Breakdown::Model(rows) => {
                out.breakdown_by_model = Some(
                    rows.into_iter()
                        .map(|(model, t)| ModelRow {
                            model,
                            total_tokens: t.total_tokens,
                            prompt_tokens: t.prompt_tokens,
                            completion_tokens: t.completion_tokens,
                            request_count: t.request_count,
                        })
                        .collect(),
                );
            }
            Breakdown::RequestType(rows) => {
                out.breakdown_by_request_type = Some(
                    rows.into_iter()
                        .map(|(request_type, t)| RequestTypeRow {
                            request_type,
                            total_tokens: t.total_tokens,
                            request_count: t.request_count,
                        })
                        .collect(),
                );
            }
            Breakdown::Reporter(rows) => {
                out.breakdown_by_reporter = Some(
                    rows.into_iter()
                        .map(|(reporter, name, t)| ReporterRow {
                            reporter,
                            name,
                            total_tokens: t.total_tokens,
                            prompt_tokens: t.prompt_tokens,
                            completion_tokens: t.completion_tokens,
                            request_count: t.request_count,
                        })
                        .collect(),
                );
            }
        }
        out
    }
}

/// One CSV cell: quoted when needed, and a leading `= + - @` neutralised so spreadsheets do
/// not run it as a formula.
fn cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

impl AdminUsageResponse {
    /// The breakdown rows as CSV with a header row.
    pub fn to_csv(&self) -> String {
        let mut lines: Vec<String> = Vec::new();
        if let Some(rows) = &self.breakdown_by_day {
            lines.push("date,total_tokens,request_count".to_owned());
            lines.extend(
                rows.iter()
                    .map(|r| format!("{},{},{}", r.date, r.total_tokens, r.request_count)),
            );
        }
        if let Some(rows) = &self.breakdown_by_user {
            lines.push("user_id,email,name,total_tokens,request_count".to_owned());
            lines.extend(rows.iter().map(|r| {
                format!(
                    "{},{},{},{},{}",
                    r.user_id,
                    cell(&r.email),
                    cell(&r.name),
                    r.total_tokens,
                    r.request_count
                )
            }));
        }
        if let Some(rows) = &self.breakdown_by_model {
            lines.push(
                "model,total_tokens,prompt_tokens,completion_tokens,request_count".to_owned(),
            );
            lines.extend(rows.iter().map(|r| {
                format!(
                    "{},{},{},{},{}",
                    cell(&r.model),
                    r.total_tokens,
                    r.prompt_tokens,
                    r.completion_tokens,
                    r.request_count
                )
            }));
        }
        if let Some(rows) = &self.breakdown_by_request_type {
            lines.push("request_type,total_tokens,request_count".to_owned());
            lines.extend(rows.iter().map(|r| {
                format!(
                    "{},{},{}",
                    cell(&r.request_type),
                    r.total_tokens,
                    r.request_count
                )
            }));
        }
        if let Some(rows) = &self.breakdown_by_reporter {
            lines.push(
                "reporter,name,total_tokens,prompt_tokens,completion_tokens,request_count"
                    .to_owned(),
            );
            lines.extend(rows.iter().map(|r| {
                format!(
                    "{},{},{},{},{},{}",
                    cell(&r.reporter),
                    cell(r.name.as_deref().unwrap_or_default()),
                    r.total_tokens,
                    r.prompt_tokens,
                    r.completion_tokens,
                    r.request_count
                )
            }));
        }
        let mut out = lines.join("\r\n");
        out.push_str("\r\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin_usage(query: &str) -> Result<AdminUsageRequest, ServiceError> {
        let params: AdminUsageParams = match serde_urlencoded::from_str(query) {
            Ok(params) => params,
            Err(e) => panic!("{query}: {e}"),
        };
        params.try_into()
    }

    #[test]
    fn an_admin_usage_query_parses_days_grouping_reporter_and_format() {
        let Ok(request) = admin_usage(
            "start_date=2025-10-01T08:00:00Z&end_date=2025-10-31&group_by=reporter&reporter=user&format=csv",
        ) else {
            panic!("a valid query parses");
        };
        let day = |raw: &str| chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok();
        assert_eq!(request.query.start_date, day("2025-10-01"));
        assert_eq!(request.query.end_date, day("2025-10-31"));
        assert_eq!(request.query.group_by, UsageGrouping::Reporter);
        assert_eq!(request.query.reporter, Some(Reporter::User));
        assert_eq!(request.format, ReportFormat::Csv);
        let Ok(defaults) = admin_usage("") else {
            panic!("an empty query parses");
        };
        assert_eq!(defaults.query.group_by, UsageGrouping::Day);
        assert_eq!(defaults.format, ReportFormat::Json);
    }

    #[test]
    fn every_bad_admin_usage_parameter_is_named_in_one_error() {
        let Err(ServiceError::Invalid { errors, .. }) =
            admin_usage("start_date=soon&group_by=week&reporter=me&format=xml")
        else {
            panic!("bad parameters are refused");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["start_date", "group_by", "reporter", "format"]);
    }

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-1"), "'-1");
    }
}
