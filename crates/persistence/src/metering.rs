//! Token metering storage: usage events, daily roll-ups and per-period counters. The quota gate
//! is one conditional upsert (`INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING`),
//! atomic on both databases; the event insert relies on the unique (user, request id) index for
//! exactly-once.

use chrono::{DateTime, NaiveDate, Utc};
use domain::UsageUnit;
use sea_orm::sea_query::{Condition, Expr, Func, OnConflict, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, FromQueryResult,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, TryInsertResult,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::{token_usage, token_usage_summary, usage_statistics};

pub use token_usage::Model as UsageEventRow;
pub use usage_statistics::Model as CountersRow;

/// A usage event to record.
#[derive(Debug, Clone)]
pub struct NewUsageEvent {
    pub id: Uuid,
    pub user_id: Uuid,
    pub request_type: String,
    pub model: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub request_id: Option<String>,
    pub conversation_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The event a user recorded under a request id.
pub async fn find_by_request_id(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    request_id: &str,
) -> Result<Option<UsageEventRow>, StoreError> {
    Ok(token_usage::Entity::find()
        .filter(token_usage::Column::UserId.eq(user_id))
        .filter(token_usage::Column::RequestId.eq(request_id))
        .one(conn)
        .await?)
}

/// Inserts the event unless the user already has one with its request id; `false` means a
/// concurrent repeat won (the caller rolls back).
pub async fn insert_event(
    conn: &impl ConnectionTrait,
    event: &NewUsageEvent,
) -> Result<bool, StoreError> {
    let row = token_usage::ActiveModel {
        id: Set(event.id),
        user_id: Set(event.user_id),
        request_type: Set(event.request_type.clone()),
        model: Set(event.model.clone()),
        prompt_tokens: Set(event.prompt_tokens),
        completion_tokens: Set(event.completion_tokens),
        total_tokens: Set(event.total_tokens),
        request_id: Set(event.request_id.clone()),
        conversation_id: Set(event.conversation_id.clone()),
        created_at: Set(event.created_at),
        usage_date: Set(event.created_at.date_naive()),
    };
    // Rows affected, not RETURNING: the answer must not depend on how a driver reports keys.
    let result = token_usage::Entity::insert(row)
        .on_conflict_do_nothing_on([token_usage::Column::UserId, token_usage::Column::RequestId])
        .exec_without_returning(conn)
        .await?;
    Ok(matches!(result, TryInsertResult::Inserted(n) if n > 0))
}

/// Adds the event to its day's roll-up (insert or increment, one statement).
pub async fn add_to_summary(
    conn: &impl ConnectionTrait,
    event: &NewUsageEvent,
) -> Result<(), StoreError> {
    use token_usage_summary::Column as C;
    let row = token_usage_summary::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(event.user_id),
        usage_date: Set(event.created_at.date_naive()),
        request_type: Set(event.request_type.clone()),
        model: Set(event.model.clone()),
        prompt_tokens: Set(event.prompt_tokens),
        completion_tokens: Set(event.completion_tokens),
        total_tokens: Set(event.total_tokens),
        request_count: Set(1),
    };
    let add =
        |col: C| Expr::col((token_usage_summary::Entity, col)).add(Expr::col(("excluded", col)));
    token_usage_summary::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([C::UserId, C::UsageDate, C::RequestType, C::Model])
                .value(C::PromptTokens, add(C::PromptTokens))
                .value(C::CompletionTokens, add(C::CompletionTokens))
                .value(C::TotalTokens, add(C::TotalTokens))
                .value(C::RequestCount, add(C::RequestCount))
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

fn unit_column(unit: UsageUnit) -> usage_statistics::Column {
    match unit {
        UsageUnit::ChatMessages => usage_statistics::Column::ChatMessages,
        UsageUnit::PlagiarismChecks => usage_statistics::Column::PlagiarismChecks,
        UsageUnit::PromptsGenerated => usage_statistics::Column::PromptsGenerated,
    }
}

/// One request against the quota gate.
#[derive(Debug, Clone, Copy)]
pub struct GatedIncrement {
    pub user_id: Uuid,
    pub period_start: NaiveDate,
    pub tokens: i64,
    pub unit: UsageUnit,
    /// `None` = unlimited.
    pub token_limit: Option<i64>,
    /// `None` = unlimited.
    pub unit_limit: Option<i64>,
    pub now: DateTime<Utc>,
}

/// The quota gate, one statement that also creates the period's counters row: adds the tokens
/// and one unit to the period's counters only if, before this request, tokens are under the
/// token limit and the unit counter is under its limit. Returns the counters after the
/// increment, or `None` if a limit refused it.
///
/// `INSERT ... ON CONFLICT (user_id, period_start) DO UPDATE SET ... WHERE <limits>
/// RETURNING *`: an existing row is incremented only if the condition holds on it; on
/// PostgreSQL the conflicting row is locked and the condition evaluated on its latest version,
/// so concurrent requests of one user are serialised and no limit is passed by more than one
/// request. A fresh row starts from zero counters, which are under every limit of 1 or more;
/// a limit of 0 (or less) refuses every request, so it is answered without a statement (the
/// insert branch of an upsert has no condition).
pub async fn add_within_limits(
    conn: &impl ConnectionTrait,
    inc: GatedIncrement,
) -> Result<Option<CountersRow>, StoreError> {
    use usage_statistics::Column as C;
    if inc.token_limit.is_some_and(|limit| limit <= 0)
        || inc.unit_limit.is_some_and(|limit| limit <= 0)
    {
        return Ok(None);
    }
    let unit_col = unit_column(inc.unit);
    let one_if = |unit: UsageUnit| i64::from(inc.unit == unit);
    let row = usage_statistics::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(inc.user_id),
        period_start: Set(inc.period_start),
        tokens_used: Set(inc.tokens),
        chat_messages: Set(one_if(UsageUnit::ChatMessages)),
        plagiarism_checks: Set(one_if(UsageUnit::PlagiarismChecks)),
        prompts_generated: Set(one_if(UsageUnit::PromptsGenerated)),
        updated_at: Set(inc.now),
        tokens_alert_level: Set(0),
        chat_messages_alert_level: Set(0),
        plagiarism_checks_alert_level: Set(0),
        prompts_generated_alert_level: Set(0),
    };
    let current = |col: C| Expr::col((usage_statistics::Entity, col));
    let add = |col: C| current(col).add(Expr::col(("excluded", col)));
    let mut on_conflict = OnConflict::columns([C::UserId, C::PeriodStart]);
    on_conflict
        .value(C::TokensUsed, add(C::TokensUsed))
        .value(unit_col, add(unit_col))
        .value(C::UpdatedAt, Expr::col(("excluded", C::UpdatedAt)));
    let mut within = Condition::all();
    if let Some(limit) = inc.token_limit {
        within = within.add(current(C::TokensUsed).lt(limit));
    }
    if let Some(limit) = inc.unit_limit {
        within = within.add(current(unit_col).lt(limit));
    }
    if !within.is_empty() {
        on_conflict.action_cond_where(within);
    }
    let mut insert = usage_statistics::Entity::insert(row)
        .on_conflict(on_conflict)
        .into_query();
    insert.returning_all();
    let Some(result) = conn.query_one(&insert).await? else {
        return Ok(None);
    };
    Ok(Some(CountersRow::from_query_result(&result, "")?))
}

/// The period's counters, if any usage was recorded in it.
pub async fn counters(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    period_start: NaiveDate,
) -> Result<Option<CountersRow>, StoreError> {
    Ok(usage_statistics::Entity::find()
        .filter(usage_statistics::Column::UserId.eq(user_id))
        .filter(usage_statistics::Column::PeriodStart.eq(period_start))
        .one(conn)
        .await?)
}

fn sum(col: impl sea_orm::sea_query::IntoColumnRef) -> SimpleExpr {
    // PostgreSQL's SUM(bigint) is numeric; cast back so both databases yield an i64.
    let total: SimpleExpr = Func::sum(Expr::col(col)).into();
    let zero: SimpleExpr = Expr::val(0);
    SimpleExpr::from(Func::cast_as(Func::coalesce([total, zero]), "BIGINT"))
}

/// One roll-up group of a user's period.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct UserSummaryRow {
    pub usage_date: NaiveDate,
    pub request_type: String,
    pub model: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub request_count: i64,
}

/// A user's roll-ups between two days (inclusive). At most days × types × models rows,
/// whatever the number of events.
pub async fn user_summaries(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<UserSummaryRow>, StoreError> {
    use token_usage_summary::Column as C;
    Ok(token_usage_summary::Entity::find()
        .select_only()
        .columns([
            C::UsageDate,
            C::RequestType,
            C::Model,
            C::PromptTokens,
            C::CompletionTokens,
            C::TotalTokens,
            C::RequestCount,
        ])
        .filter(C::UserId.eq(user_id))
        .filter(C::UsageDate.gte(from))
        .filter(C::UsageDate.lte(to))
        .order_by_asc(C::UsageDate)
        .into_model::<UserSummaryRow>()
        .all(conn)
        .await?)
}

/// Filters of a user's history.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    pub request_type: Option<String>,
    pub model: Option<String>,
    /// Inclusive lower bound.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub until: Option<DateTime<Utc>>,
}

/// Events matching `filter`, newest first, one page (1-based).
pub async fn history_page(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    filter: &HistoryFilter,
    page: u64,
    per_page: u64,
) -> Result<Vec<UsageEventRow>, StoreError> {
    use token_usage::Column as C;
    let Some(offset) = crate::page_offset(page, per_page) else {
        return Ok(Vec::new());
    };
    Ok(history_query(user_id, filter)
        .order_by_desc(C::CreatedAt)
        .order_by_desc(C::Id)
        .offset(offset)
        .limit(per_page)
        .all(conn)
        .await?)
}

/// Events matching `filter` that come after `(created_at, id)` in history order (newest first),
/// at most `limit`: a keyset page, as cheap at any depth as the first (the
/// `(user_id, created_at, id)` index is walked from the position, nothing is skipped).
pub async fn history_after(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    filter: &HistoryFilter,
    after: (DateTime<Utc>, Uuid),
    limit: u64,
) -> Result<Vec<UsageEventRow>, StoreError> {
    use token_usage::Column as C;
    let (at, id) = after;
    let before_position = Condition::any()
        .add(C::CreatedAt.lt(at))
        .add(Condition::all().add(C::CreatedAt.eq(at)).add(C::Id.lt(id)));
    Ok(history_query(user_id, filter)
        .filter(before_position)
        .order_by_desc(C::CreatedAt)
        .order_by_desc(C::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// How many events match `filter` (an index range count; callers prefer the roll-ups when the
/// filter is day-aligned).
pub async fn history_count(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    filter: &HistoryFilter,
) -> Result<u64, StoreError> {
    Ok(history_query(user_id, filter).count(conn).await?)
}

fn history_query(user_id: Uuid, filter: &HistoryFilter) -> sea_orm::Select<token_usage::Entity> {
    use token_usage::Column as C;
    let mut query = token_usage::Entity::find().filter(C::UserId.eq(user_id));
    if let Some(t) = &filter.request_type {
        query = query.filter(C::RequestType.eq(t.as_str()));
    }
    if let Some(m) = &filter.model {
        query = query.filter(C::Model.eq(crate::lookup_text(m).as_ref()));
    }
    if let Some(from) = filter.from {
        query = query.filter(C::CreatedAt.gte(from));
    }
    if let Some(until) = filter.until {
        query = query.filter(C::CreatedAt.lt(until));
    }
    query
}

/// Events counted from the roll-ups (exact for day-aligned ranges).
pub async fn summary_count(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    request_type: Option<&str>,
    model: Option<&str>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<u64, StoreError> {
    use token_usage_summary::Column as C;
    let mut query = token_usage_summary::Entity::find()
        .select_only()
        .column_as(sum(C::RequestCount), "total")
        .filter(C::UserId.eq(user_id));
    if let Some(t) = request_type {
        query = query.filter(C::RequestType.eq(t));
    }
    if let Some(m) = model {
        query = query.filter(C::Model.eq(crate::lookup_text(m).as_ref()));
    }
    if let Some(from) = from {
        query = query.filter(C::UsageDate.gte(from));
    }
    if let Some(to) = to {
        query = query.filter(C::UsageDate.lte(to));
    }
    let total: Option<i64> = query.into_tuple().one(conn).await?;
    Ok(u64::try_from(total.unwrap_or(0)).unwrap_or(0))
}

/// Grand totals over all users and a date range (inclusive days).
#[derive(Debug, Clone, Default, PartialEq, Eq, FromQueryResult)]
pub struct UsageTotals {
    pub total_tokens: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub request_count: i64,
    pub active_users: i64,
}

fn in_range(from: NaiveDate, to: NaiveDate) -> sea_orm::Select<token_usage_summary::Entity> {
    use token_usage_summary::Column as C;
    token_usage_summary::Entity::find()
        .select_only()
        .filter(C::UsageDate.gte(from))
        .filter(C::UsageDate.lte(to))
}

/// Totals across every user between two days.
pub async fn usage_totals(
    conn: &impl ConnectionTrait,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<UsageTotals, StoreError> {
    use token_usage_summary::Column as C;
    let totals = in_range(from, to)
        .column_as(sum(C::TotalTokens), "total_tokens")
        .column_as(sum(C::PromptTokens), "prompt_tokens")
        .column_as(sum(C::CompletionTokens), "completion_tokens")
        .column_as(sum(C::RequestCount), "request_count")
        .column_as(
            SimpleExpr::from(Func::cast_as(
                Func::count_distinct(Expr::col(C::UserId)),
                "BIGINT",
            )),
            "active_users",
        )
        .into_model::<UsageTotals>()
        .one(conn)
        .await?;
    Ok(totals.unwrap_or_default())
}

/// The key of an admin breakdown group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupKey {
    Day(NaiveDate),
    User(Uuid),
    Name(String),
}

/// A group of the admin breakdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub key: GroupKey,
    pub total_tokens: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub request_count: i64,
}

/// The admin breakdown dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Day,
    User,
    Model,
    RequestType,
}

type Sums = (i64, i64, i64, i64);

/// Totals per day, user, model or request type between two days.
pub async fn usage_groups(
    conn: &impl ConnectionTrait,
    from: NaiveDate,
    to: NaiveDate,
    group_by: GroupBy,
) -> Result<Vec<GroupRow>, StoreError> {
    use token_usage_summary::Column as C;
    let key = match group_by {
        GroupBy::Day => C::UsageDate,
        GroupBy::User => C::UserId,
        GroupBy::Model => C::Model,
        GroupBy::RequestType => C::RequestType,
    };
    let query = in_range(from, to)
        .column(key)
        .column_as(sum(C::TotalTokens), "total_tokens")
        .column_as(sum(C::PromptTokens), "prompt_tokens")
        .column_as(sum(C::CompletionTokens), "completion_tokens")
        .column_as(sum(C::RequestCount), "request_count")
        .group_by(key);
    let row =
        |key: GroupKey, (total_tokens, prompt_tokens, completion_tokens, request_count): Sums| {
            GroupRow {
                key,
                total_tokens,
                prompt_tokens,
                completion_tokens,
                request_count,
            }
        };
    Ok(match group_by {
        GroupBy::Day => query
            .into_tuple::<(NaiveDate, i64, i64, i64, i64)>()
            .all(conn)
            .await?
            .into_iter()
            .map(|(k, a, b, c, d)| row(GroupKey::Day(k), (a, b, c, d)))
            .collect(),
        GroupBy::User => query
            .into_tuple::<(Uuid, i64, i64, i64, i64)>()
            .all(conn)
            .await?
            .into_iter()
            .map(|(k, a, b, c, d)| row(GroupKey::User(k), (a, b, c, d)))
            .collect(),
        GroupBy::Model | GroupBy::RequestType => query
            .into_tuple::<(String, i64, i64, i64, i64)>()
            .all(conn)
            .await?
            .into_iter()
            .map(|(k, a, b, c, d)| row(GroupKey::Name(k), (a, b, c, d)))
            .collect(),
    })
}
