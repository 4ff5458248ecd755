//! Reading the caller's usage: the period's statistics and counters, the request history, the
//! usage alerts and the models the plan allows. Every read is retried like a check.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use domain::{ModelTier, RequestType, UsageUnit};
use reqwest::Method;
use serde::Deserialize;
use uuid::Uuid;

use crate::client::{Call, Client};
use crate::error::Error;
use crate::retry::Safety;

/// `GET /api/tokens/me`: this period's token statistics.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TokenStats {
    pub current_period: CurrentPeriod,
    pub breakdown: Breakdown,
    /// Total tokens per model this period.
    pub models: BTreeMap<String, u64>,
    /// The days of the period with usage, ascending.
    pub daily_usage: Vec<DailyUsage>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CurrentPeriod {
    pub start_date: DateTime<Utc>,
    pub end_date: DateTime<Utc>,
    pub tokens_used: u64,
    /// `None` = unlimited.
    pub tokens_limit: Option<u64>,
    /// Two decimals; may pass 100 (the last request is recorded in full).
    pub percentage_used: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Breakdown {
    pub chat: ChatBreakdown,
    pub plagiarism: TotalOnly,
    pub prompt_generation: TotalOnly,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChatBreakdown {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TotalOnly {
    pub total_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DailyUsage {
    pub date: NaiveDate,
    pub total_tokens: u64,
}

/// `GET /api/usage/me`: this period's counters against the plan's limits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UsageCounters {
    pub tokens: Counter,
    pub chat_messages: Counter,
    pub plagiarism_checks: Counter,
    pub prompts_generated: Counter,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Counter {
    pub used: u64,
    /// `None` = unlimited.
    pub limit: Option<u64>,
    pub reset_date: DateTime<Utc>,
}

/// The filters and page of `GET /api/tokens/me/history` (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    pub limit: Option<u32>,
    pub page: Option<u64>,
    /// The `next_cursor` of the previous page (same filters and `limit`; not with `page`).
    pub cursor: Option<String>,
    pub request_type: Option<RequestType>,
    pub model: Option<String>,
    /// Only the events of one reporter: `user` or an API key's id.
    pub reporter: Option<String>,
    /// A date (`2025-10-01`, the whole day) or an RFC 3339 date-time; inclusive.
    pub start_date: Option<String>,
    pub end_date: Option<String>,
}

impl HistoryQuery {
    /// The page after `page` (`None` on the last one), with the same filters.
    pub fn after(&self, page: &HistoryPage) -> Option<Self> {
        page.next_cursor.as_ref().map(|cursor| Self {
            cursor: Some(cursor.clone()),
            page: None,
            ..self.clone()
        })
    }
}

/// One page of the history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HistoryPage {
    pub total_records: u64,
    pub total_pages: u64,
    pub current_page: u64,
    pub records_per_page: u64,
    pub history: Vec<HistoryItem>,
    /// Pass it as [`HistoryQuery::cursor`] for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
    /// History reaches back to here (`USAGE_EVENT_RETENTION`); `None` = kept forever.
    pub retained_since: Option<DateTime<Utc>>,
}

/// One recorded request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HistoryItem {
    pub id: Uuid,
    pub timestamp: DateTime<Utc>,
    pub request_type: RequestType,
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub request_id: Option<String>,
    pub conversation_id: Option<String>,
    /// Who tracked it: `user` or the id of the API key that did (absent from servers before
    /// the field existed).
    #[serde(default)]
    pub reporter: Option<String>,
}

/// A usage alert crossed this month.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UsageAlert {
    pub unit: UsageUnit,
    /// Percent of the limit.
    pub threshold: u8,
    pub used: u64,
    pub limit: u64,
    pub crossed_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct UsageAlerts {
    alerts: Vec<UsageAlert>,
}

/// `GET /api/models`: the catalog with the caller's permission on each model.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Models {
    pub max_model_tier: ModelTier,
    pub models: Vec<Model>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Model {
    pub name: String,
    pub tier: ModelTier,
    pub allowed: bool,
}

impl Client {
    /// `GET /api/tokens/me`.
    pub async fn token_stats(&self, access_token: &str) -> Result<TokenStats, Error> {
        self.get(access_token, "/api/tokens/me").await
    }

    /// `GET /api/usage/me`.
    pub async fn usage(&self, access_token: &str) -> Result<UsageCounters, Error> {
        self.get(access_token, "/api/usage/me").await
    }

    /// `GET /api/usage/me/alerts`: this month's alerts, in the order they were crossed.
    pub async fn usage_alerts(&self, access_token: &str) -> Result<Vec<UsageAlert>, Error> {
        let alerts: UsageAlerts = self.get(access_token, "/api/usage/me/alerts").await?;
        Ok(alerts.alerts)
    }

    /// `GET /api/models`.
    pub async fn models(&self, access_token: &str) -> Result<Models, Error> {
        self.get(access_token, "/api/models").await
    }

    /// `GET /api/tokens/me/history`. Follow the pages with [`HistoryQuery::after`].
    pub async fn history(
        &self,
        access_token: &str,
        query: &HistoryQuery,
    ) -> Result<HistoryPage, Error> {
        self.history_at(access_token, "/api/tokens/me/history".to_owned(), query)
            .await
    }

    pub(crate) async fn history_at(
        &self,
        credential: &str,
        path: String,
        query: &HistoryQuery,
    ) -> Result<HistoryPage, Error> {
        let call = Call::new(Method::GET, path, Safety::Idempotent)
            .bearer(credential)
            .query("limit", query.limit.map(|v| v.to_string()))
            .query("page", query.page.map(|v| v.to_string()))
            .query("cursor", query.cursor.clone())
            .query(
                "request_type",
                query.request_type.map(|t| t.as_str().to_owned()),
            )
            .query("model", query.model.clone())
            .query("reporter", query.reporter.clone())
            .query("start_date", query.start_date.clone())
            .query("end_date", query.end_date.clone());
        self.send(call).await?.json()
    }

    pub(crate) async fn get<T: serde::de::DeserializeOwned>(
        &self,
        credential: &str,
        path: impl Into<String>,
    ) -> Result<T, Error> {
        let call = Call::new(Method::GET, path, Safety::Idempotent).bearer(credential);
        self.send(call).await?.json()
    }
}
