//! Usage history for a user and usage analytics for admins.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use domain::{DateBound, ModelName, PageRequest, Reporter, RequestType, UsageGrouping};
use persistence::metering::{self as store, GroupKey, HistoryFilter};
use persistence::users;
use uuid::Uuid;

use crate::auth_tokens::CurrentUser;
use crate::history_cursor::{FilterFingerprint, HistoryCursor};
use crate::{Context, ServiceError};

/// Largest history page.
pub const MAX_HISTORY_PAGE: u64 = 100;

/// The last year a date filter can name (RFC 3339's four digits).
const MAX_YEAR: i32 = 9999;

/// History page size when none is asked for.
pub const DEFAULT_HISTORY_PAGE: u64 = 20;

/// `GET /api/tokens/me/history`, parsed.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    /// Where the page starts.
    pub start: HistoryStart,
    /// Page size, 1..=[`MAX_HISTORY_PAGE`].
    pub per_page: u64,
    pub request_type: Option<RequestType>,
    pub model: Option<ModelName>,
    /// Only the events of one reporter (`user` or an API key).
    pub reporter: Option<Reporter>,
    /// Inclusive lower bound.
    pub from: Option<DateBound>,
    /// Inclusive upper bound (kept as the exclusive instant after it); after `from`.
    pub until: Option<DateBound>,
}

impl Default for HistoryQuery {
    /// The first page of 20, unfiltered.
    fn default() -> Self {
        Self {
            start: HistoryStart::Page(1),
            per_page: DEFAULT_HISTORY_PAGE,
            request_type: None,
            model: None,
            reporter: None,
            from: None,
            until: None,
        }
    }
}

/// Where a history page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryStart {
    /// A 1-based page number (offset pagination).
    Page(u64),
    /// The `next_cursor` of the previous page, as the client sent it back: it holds for the
    /// same filters and page size only.
    Cursor(String),
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
    /// Who tracked it: `user` or an API key's id.
    pub reporter: String,
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

/// What a history cursor is bound to: the filters, as parsed (so equal filters written
/// differently, `2025-01-01` and `2025-01-01T00:00:00Z`, share cursors), and the page size.
fn fingerprint(query: &HistoryQuery) -> FilterFingerprint {
    let instant = |at: Option<DateTime<Utc>>| at.map(|at| at.timestamp_millis().to_string());
    let (from, until) = (
        instant(query.from.map(|b| b.at())),
        instant(upper_bound(query.until)),
    );
    let reporter = query.reporter.as_ref().map(Reporter::stored);
    FilterFingerprint::of(&[
        query.request_type.as_ref().map(RequestType::as_str),
        query.model.as_ref().map(ModelName::as_str),
        reporter.as_deref(),
        from.as_deref(),
        until.as_deref(),
        Some(&query.per_page.to_string()),
    ])
}

/// The exclusive instant a history ends at: none for an end past the last day of year 9999,
/// which bounds nothing (and SQLite, which keeps times as text, would compare `+10000-...`
/// below every stored one).
fn upper_bound(until: Option<DateBound>) -> Option<DateTime<Utc>> {
    until.map(|b| b.at()).filter(|at| at.year() <= MAX_YEAR)
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
        query: impl TryInto<HistoryQuery, Error = ServiceError>,
    ) -> Result<HistoryPage, ServiceError> {
        let query = query.try_into()?;
        let per_page = query.per_page;
        let fingerprint = fingerprint(&query);
        let (page, cursor) = match &query.start {
            HistoryStart::Page(page) => (*page, None),
            HistoryStart::Cursor(text) => {
                let cursor = HistoryCursor::decode(text, &fingerprint)?;
                (cursor.page, Some(cursor))
            }
        };
        // Raw events older than the retention are deleted (or about to be): the listing and
        // its count start there, so no page past the kept events is promised.
        let retained_since = self.ctx.usage_retention.map(|kept| self.ctx.now() - kept);
        let from = match (query.from.map(|b| b.at()), retained_since) {
            (Some(asked), Some(kept)) => Some(asked.max(kept)),
            (asked, kept) => asked.or(kept),
        };
        let filter = HistoryFilter {
            request_type: query.request_type.map(|t| t.as_str().to_owned()),
            model: query.model.map(ModelName::into_inner),
            reporter: query.reporter.map(|r| r.stored()),
            from,
            until: upper_bound(query.until),
        };
        let total = self
            .history_total(user_id, &filter, query.from, query.until)
            .await?;
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
                    reporter: r.reporter,
                })
                .collect(),
            next_cursor,
            retained_since,
        })
    }

    /// How many events `filter` lists: from the daily roll-ups for its whole days (cheap at any
    /// depth) and from the events for the rest: a date-time bound, and the part of the day
    /// in which the retention cutoff falls (its earlier events are gone from the events but
    /// not from the roll-ups).
    async fn history_total(
        &self,
        user_id: Uuid,
        filter: &HistoryFilter,
        asked_from: Option<DateBound>,
        asked_until: Option<DateBound>,
    ) -> Result<u64, ServiceError> {
        let db = &self.ctx.db;
        let until_day = match asked_until {
            None => None,
            Some(bound) => match bound.day() {
                Some(day) => Some(day),
                None => return Ok(store::history_count(db, user_id, filter).await?),
            },
        };
        let asked_from_at = asked_from.map(|b| b.at());
        let from_day = match (filter.from, asked_from) {
            (None, _) => None,
            // The asked start holds (the cutoff is earlier, or there is none).
            (Some(at), Some(bound)) if Some(at) == asked_from_at => match bound.day() {
                Some(day) => Some(day),
                None => return Ok(store::history_count(db, user_id, filter).await?),
            },
            // The cutoff: its day's kept events counted one by one, whole days after it from
            // the roll-ups.
            (Some(cutoff), _) => {
                let next_midnight = cutoff
                    .date_naive()
                    .succ_opt()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|d| d.and_utc());
                let head = HistoryFilter {
                    until: match (filter.until, next_midnight) {
                        (Some(until), Some(midnight)) => Some(until.min(midnight)),
                        (until, midnight) => until.or(midnight),
                    },
                    ..filter.clone()
                };
                let head = store::history_count(db, user_id, &head).await?;
                let Some(next_day) = cutoff.date_naive().succ_opt() else {
                    return Ok(head);
                };
                let rest =
                    store::summary_count(db, user_id, filter, (Some(next_day), until_day)).await?;
                return Ok(head + rest);
            }
        };
        Ok(store::summary_count(db, user_id, filter, (from_day, until_day)).await?)
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
