//! `GET /api/tokens/admin/usage`: the admin usage report, as JSON or CSV.

use domain::{DateBound, Reporter, UsageGrouping};
use serde::{Deserialize, Serialize};
use service::{
    AdminUsageQuery, AdminUsageReport, Breakdown, FieldErrors, GroupTotals, ServiceError,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

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
