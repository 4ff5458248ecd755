//! Usage history for a user and usage analytics for admins.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use domain::{DateBound, PageRequest, Reporter, RequestType, UsageGrouping};
use persistence::metering::{self as store, GroupKey, HistoryFilter};
use persistence::users;
use uuid::Uuid;

use crate::auth_tokens::CurrentUser;
use crate::history_cursor::{FilterFingerprint, HistoryCursor};
use crate::{Context, ServiceError};

/// Largest history page.
pub const MAX_HISTORY_PAGE: u64 = 100;

/// `GET /api/tokens/me/history` as received.
#[derive(Debug, Clone, Default)]
pub struct HistoryQuery {
    pub page: Option<u64>,
    pub limit: Option<u64>,
    pub request_type: Option<String>,
    pub model: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    /// Continues after a previous page (its `next_cursor`), with the same filters.
    pub cursor: Option<String>,
}

/// One recorded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEvent {
    pub id: Uuid,
    pub timestamp: DateTime<Utc>,
    pub request_type: String,
    pub model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub request_id: Option<String>,
    pub conversation_id: Option<String>,
}

/// A page of history, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub total_records: u64,
    pub total_pages: u64,
    pub current_page: u64,
    pub records_per_page: u64,
    pub events: Vec<UsageEvent>,
    /// Opens the next page (keyset: as fast at any depth); `None` on the last page.
    pub next_cursor: Option<String>,
    /// How far back raw events are kept (`USAGE_EVENT_RETENTION`); `None` when kept forever.
    pub retained_since: Option<DateTime<Utc>>,
}

/// Validates 1-based `page` and page size `limit` (1..=`max`), naming both when both are
/// invalid: [`PageRequest::parse`] for the listings whose query still reaches the service
/// as received.
pub(crate) fn page_params(
    page: Option<u64>,
    limit: Option<u64>,
    default_limit: u64,
    max: u64,
) -> Result<(u64, u64), ServiceError> {
    let page = PageRequest::parse(page, limit, default_limit, max)
        .map_err(ServiceError::from_domain_errors)?;
    Ok((page.page(), page.per_page()))
}

/// Usage history and analytics.
#[derive(Clone)]
pub struct UsageReports {
    ctx: Context,
}

/// Totals of one group (or of everything).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupTotals {
    pub total_tokens: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub request_count: u64,
}

/// The admin breakdown, by the requested dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Breakdown {
    /// Ascending by day.
    Day(Vec<(NaiveDate, GroupTotals)>),
    /// Descending by tokens: user id, email, name.
    User(Vec<(Uuid, String, String, GroupTotals)>),
    /// Descending by tokens.
    Model(Vec<(String, GroupTotals)>),
    /// Descending by tokens.
    RequestType(Vec<(String, GroupTotals)>),
    /// Descending by tokens: `user` or an API key id, and the key's name.
    Reporter(Vec<(String, Option<String>, GroupTotals)>),
}

/// `GET /api/tokens/admin/usage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUsageReport {
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub totals: GroupTotals,
    pub active_users: u64,
    pub breakdown: Breakdown,
}

/// `GET /api/tokens/admin/usage`, parsed. Without dates, the report covers the 30 days up to
/// today (UTC).
#[derive(Debug, Clone, Default)]
pub struct AdminUsageQuery {
    /// The first day (default: 29 days before `end_date`).
    pub start_date: Option<NaiveDate>,
    /// The last day (default: today).
    pub end_date: Option<NaiveDate>,
    pub group_by: UsageGrouping,
    /// Only this reporter's events.
    pub reporter: Option<Reporter>,
}

fn totals(total: i64, prompt: i64, completion: i64, count: i64) -> GroupTotals {
    let u = |v: i64| u64::try_from(v).unwrap_or(0);
    GroupTotals {
        total_tokens: u(total),
        prompt_tokens: u(prompt),
        completion_tokens: u(completion),
        request_count: u(count),
    }
}

impl UsageReports {
    pub(crate) fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    /// A page of the user's events, newest first. The total comes from the daily roll-ups when
    /// the filter is day-aligned, so deep histories stay cheap to count.
    pub async fn history(
        &self,
        user_id: Uuid,
        query: HistoryQuery,
    ) -> Result<HistoryPage, ServiceError> {
        let (page, per_page) = page_params(query.page, query.limit, 20, MAX_HISTORY_PAGE)?;
        let fingerprint = FilterFingerprint::of(&[
            query.request_type.as_deref(),
            query.model.as_deref(),
            query.start_date.as_deref(),
            query.end_date.as_deref(),
            Some(&per_page.to_string()),
        ]);
        let cursor = query
            .cursor
            .as_deref()
            .map(|text| HistoryCursor::decode(text, &fingerprint))
            .transpose()?;
        if cursor.is_some() && query.page.is_some() {
            return Err(ServiceError::invalid_field(
                "cursor",
                "Give either cursor or page, not both.",
            ));
        }
        let page = cursor.map_or(page, |c| c.page);
        let request_type = query
            .request_type
            .as_deref()
            .map(RequestType::parse)
            .transpose()
            .map_err(ServiceError::from)?
            .map(|t| t.as_str().to_owned());
        let from = query
            .start_date
            .as_deref()
            .map(|raw| DateBound::start("start_date", raw))
            .transpose()?;
        let until = query
            .end_date
            .as_deref()
            .map(|raw| DateBound::end("end_date", raw))
            .transpose()?;
        if let (Some(from), Some(until)) = (&from, &until)
            && from.at() >= until.at()
        {
            return Err(ServiceError::invalid_field(
                "end_date",
                "end_date must not be before start_date.",
            ));
        }
        let day_aligned =
            from.is_none_or(|b| b.day().is_some()) && until.is_none_or(|b| b.day().is_some());
        let filter = HistoryFilter {
            request_type,
            model: query.model,
            from: from.map(|b| b.at()),
            until: until.map(|b| b.at()),
        };
        let total = if day_aligned {
            store::summary_count(
                &self.ctx.db,
                user_id,
                filter.request_type.as_deref(),
                filter.model.as_deref(),
                from.and_then(|b| b.day()),
                until.and_then(|b| b.day()),
            )
            .await?
        } else {
            store::history_count(&self.ctx.db, user_id, &filter).await?
        };
        let rows = match cursor {
            Some(c) => {
                store::history_after(
                    &self.ctx.db,
                    user_id,
                    &filter,
                    (c.created_at, c.id),
                    per_page,
                )
                .await?
            }
            None => store::history_page(&self.ctx.db, user_id, &filter, page, per_page).await?,
        };
        let more = page.saturating_mul(per_page) < total && rows.len() as u64 == per_page;
        let next_cursor = rows
            .last()
            .filter(|_| more && page < PageRequest::MAX_PAGE)
            .map(|last| {
                HistoryCursor::after(page + 1, last.created_at, last.id, &fingerprint).encode()
            });
        let u = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(HistoryPage {
            total_records: total,
            total_pages: total.div_ceil(per_page),
            current_page: page,
            records_per_page: per_page,
            events: rows
                .into_iter()
                .map(|r| UsageEvent {
                    id: r.id,
                    timestamp: r.created_at,
                    request_type: r.request_type,
                    model: r.model,
                    prompt_tokens: u(r.prompt_tokens),
                    completion_tokens: u(r.completion_tokens),
                    total_tokens: u(r.total_tokens),
                    request_id: r.request_id,
                    conversation_id: r.conversation_id,
                })
                .collect(),
            next_cursor,
            retained_since: self.ctx.usage_retention.map(|kept| self.ctx.now() - kept),
        })
    }

    /// Usage across all users between two days (default: the last 30 days), grouped by day,
    /// user, model or request type. Served from the daily roll-ups.
    pub async fn admin_usage(
        &self,
        actor: &CurrentUser,
        query: AdminUsageQuery,
    ) -> Result<AdminUsageReport, ServiceError> {
        if !actor.role.is_admin() {
            return Err(ServiceError::AdminRequired);
        }
        let end_date = query
            .end_date
            .unwrap_or_else(|| self.ctx.now().date_naive());
        let start_date = query.start_date.unwrap_or_else(|| {
            end_date
                .checked_sub_signed(TimeDelta::days(29))
                .unwrap_or(end_date)
        });
        if start_date > end_date {
            return Err(ServiceError::invalid_field(
                "end_date",
                "end_date must not be before start_date.",
            ));
        }
        let db = &self.ctx.db;
        let group_by = query.group_by;
        let reporter = query.reporter.map(|r| r.stored());
        let reporter = reporter.as_deref();
        let all = store::usage_totals(db, start_date, end_date, reporter).await?;
        let rows = store::usage_groups(db, start_date, end_date, group_by, reporter).await?;
        let mut named: Vec<(String, GroupTotals)> = Vec::new();
        let mut days: Vec<(NaiveDate, GroupTotals)> = Vec::new();
        let mut by_user: Vec<(Uuid, GroupTotals)> = Vec::new();
        for row in rows {
            let t = totals(
                row.total_tokens,
                row.prompt_tokens,
                row.completion_tokens,
                row.request_count,
            );
            match row.key {
                GroupKey::Day(d) => days.push((d, t)),
                GroupKey::User(u) => by_user.push((u, t)),
                GroupKey::Name(n) => named.push((n, t)),
            }
        }
        let breakdown = match group_by {
            UsageGrouping::Day => {
                days.sort_by_key(|(d, _)| *d);
                Breakdown::Day(days)
            }
            UsageGrouping::User => {
                let accounts =
                    users::find_many(db, by_user.iter().map(|(id, _)| *id).collect()).await?;
                let mut rows: Vec<(Uuid, String, String, GroupTotals)> = by_user
                    .into_iter()
                    .map(|(id, t)| {
                        let account = accounts.iter().find(|a| a.id == id);
                        let email = account.map(|a| a.email.clone()).unwrap_or_default();
                        let name = account.map(|a| a.name.clone()).unwrap_or_default();
                        (id, email, name, t)
                    })
                    .collect();
                rows.sort_by(|a, b| {
                    b.3.total_tokens
                        .cmp(&a.3.total_tokens)
                        .then_with(|| a.1.cmp(&b.1))
                });
                Breakdown::User(rows)
            }
            UsageGrouping::Reporter => {
                let keys = persistence::api_keys::list(db).await?;
                let mut rows: Vec<(String, Option<String>, GroupTotals)> = named
                    .into_iter()
                    .map(|(reporter, t)| {
                        let name = keys
                            .iter()
                            .find(|k| k.id.to_string() == reporter)
                            .map(|k| k.name.clone());
                        (reporter, name, t)
                    })
                    .collect();
                rows.sort_by(|a, b| {
                    b.2.total_tokens
                        .cmp(&a.2.total_tokens)
                        .then_with(|| a.0.cmp(&b.0))
                });
                Breakdown::Reporter(rows)
            }
            UsageGrouping::Model | UsageGrouping::RequestType => {
                named.sort_by(|a, b| {
                    b.1.total_tokens
                        .cmp(&a.1.total_tokens)
                        .then_with(|| a.0.cmp(&b.0))
                });
                if group_by == UsageGrouping::Model {
                    Breakdown::Model(named)
                } else {
                    Breakdown::RequestType(named)
                }
            }
        };
        Ok(AdminUsageReport {
            start_date,
            end_date,
            totals: totals(
                all.total_tokens,
                all.prompt_tokens,
                all.completion_tokens,
                all.request_count,
            ),
            active_users: u64::try_from(all.active_users).unwrap_or(0),
            breakdown,
        })
    }
}
