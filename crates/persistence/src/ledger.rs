//! The write side of metering, one statement per step for a whole batch of tracks: lock (and
//! create) the batch's counters rows, insert its events, take back the refused ones, add the
//! accepted increments to the counters (with the alert levels the batch raised) and to the daily
//! roll-ups.
//!
//! The quota decision itself is not here: the service decides in memory, with the domain's
//! rule, on the counters this module returns locked. Every track of a user locks that user's
//! counters row first, so everything else the batch writes for the user (events, roll-ups) is
//! written by one transaction at a time. Rows are always locked in `(user_id, period_start)`
//! order, so two batches sharing users (two server instances) wait for each other instead of
//! deadlocking.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use domain::{AlertLevels, Counters};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, FromQueryResult,
    QueryFilter, QueryTrait,
};
use uuid::Uuid;

use crate::StoreError;
use crate::entities::{token_usage, token_usage_summary, usage_statistics};
use crate::metering::{CountersRow, NewUsageEvent, UsageEventRow};

/// A counters row: one user in one billing period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountersKey {
    pub user_id: Uuid,
    pub period_start: NaiveDate,
}

/// A counters row locked by [`lock_counters`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedCounters {
    pub row: CountersRow,
    /// The row did not exist before this statement (it starts at zero).
    pub created: bool,
}

/// Locks the counters rows of `keys` for the rest of the transaction, creating the missing ones
/// at zero, and returns them (one statement: an upsert whose update changes nothing but
/// `updated_at`, which takes the row lock on PostgreSQL; SQLite's write transaction already
/// holds the database). `keys` must be distinct; they are locked in sorted order.
pub async fn lock_counters(
    conn: &impl ConnectionTrait,
    keys: &[CountersKey],
    now: DateTime<Utc>,
) -> Result<Vec<LockedCounters>, StoreError> {
    use usage_statistics::Column as C;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    // A created row carries the id generated here; an existing one keeps its own.
    let new_ids: HashSet<Uuid> = sorted.iter().map(|_| Uuid::now_v7()).collect();
    let rows = sorted
        .iter()
        .zip(&new_ids)
        .map(|(key, id)| usage_statistics::ActiveModel {
            id: Set(*id),
            user_id: Set(key.user_id),
            period_start: Set(key.period_start),
            tokens_used: Set(0),
            chat_messages: Set(0),
            plagiarism_checks: Set(0),
            prompts_generated: Set(0),
            updated_at: Set(now),
            open_reservations: Set(0),
            tokens_alert_level: Set(0),
            chat_messages_alert_level: Set(0),
            plagiarism_checks_alert_level: Set(0),
            prompts_generated_alert_level: Set(0),
        });
    let mut statement = usage_statistics::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([C::UserId, C::PeriodStart])
                .value(C::UpdatedAt, Expr::col(("excluded", C::UpdatedAt)))
                .to_owned(),
        )
        .into_query();
    statement.returning_all();
    conn.query_all(&statement)
        .await?
        .iter()
        .map(|row| {
            let row = CountersRow::from_query_result(row, "")?;
            Ok(LockedCounters {
                created: new_ids.contains(&row.id),
                row,
            })
        })
        .collect()
}

/// Deletes counters rows by `(user_id, id)` (rows a batch created for tracks it then refused,
/// so a refusal leaves nothing behind).
pub async fn delete_counters(
    conn: &impl ConnectionTrait,
    keys: &[(Uuid, Uuid)],
) -> Result<(), StoreError> {
    use usage_statistics::Column as C;
    delete_by_user_and_id::<usage_statistics::Entity>(conn, keys, C::UserId, C::Id).await
}

/// Deletes the rows `(user_id, id)` of a per-user table; the statement names the users as well
/// as the ids, as every statement on a per-user table does (docs/SCALING.md).
async fn delete_by_user_and_id<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    keys: &[(Uuid, Uuid)],
    user_column: E::Column,
    id_column: E::Column,
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let users: HashSet<Uuid> = keys.iter().map(|(user, _)| *user).collect();
    E::delete_many()
        .filter(user_column.is_in(users))
        .filter(id_column.is_in(keys.iter().map(|(_, id)| *id)))
        .exec(conn)
        .await?;
    Ok(())
}

/// Inserts the events, skipping any whose `(user_id, request_id)` is already recorded, and
/// returns the ids of those inserted (one statement). Events are written in
/// `(user_id, request_id)` order; the caller holds every user's counters lock, so no other
/// transaction can be inserting the same request ids meanwhile.
pub async fn insert_events(
    conn: &impl ConnectionTrait,
    events: &[NewUsageEvent],
) -> Result<HashSet<Uuid>, StoreError> {
    use token_usage::Column as C;
    if events.is_empty() {
        return Ok(HashSet::new());
    }
    let mut sorted: Vec<&NewUsageEvent> = events.iter().collect();
    sorted.sort_by(|a, b| (a.user_id, &a.request_id).cmp(&(b.user_id, &b.request_id)));
    let rows = sorted.into_iter().map(|event| token_usage::ActiveModel {
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
        reporter: Set(event.reporter.clone()),
    });
    let mut statement = token_usage::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([C::UserId, C::RequestId])
                .do_nothing()
                .to_owned(),
        )
        .into_query();
    statement.returning_col(C::Id);
    let inserted = conn.query_all(&statement).await?;
    inserted
        .iter()
        .map(|row| row.try_get_by_index::<Uuid>(0).map_err(StoreError::from))
        .collect()
}

/// The recorded events of `(user_id, request_id)` pairs (the first record of each repeat).
pub async fn events_by_request_ids(
    conn: &impl ConnectionTrait,
    keys: &[(Uuid, String)],
) -> Result<Vec<UsageEventRow>, StoreError> {
    use token_usage::Column as C;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let users: HashSet<Uuid> = keys.iter().map(|(user, _)| *user).collect();
    let ids: HashSet<&str> = keys.iter().map(|(_, id)| id.as_str()).collect();
    // Users x ids is a superset of the pairs; the caller matches pairs exactly.
    Ok(token_usage::Entity::find()
        .filter(C::UserId.is_in(users))
        .filter(C::RequestId.is_in(ids))
        .all(conn)
        .await?)
}

/// Deletes events by `(user_id, id)` (the batch's refused ones, inserted before their verdict).
pub async fn delete_events(
    conn: &impl ConnectionTrait,
    keys: &[(Uuid, Uuid)],
) -> Result<(), StoreError> {
    use token_usage::Column as C;
    delete_by_user_and_id::<token_usage::Entity>(conn, keys, C::UserId, C::Id).await
}

/// The alert levels stored on a counters row.
pub fn alert_levels(row: &CountersRow) -> AlertLevels {
    let level = |value: i32| u8::try_from(value.clamp(0, 100)).unwrap_or(0);
    AlertLevels {
        tokens: level(row.tokens_alert_level),
        chat_messages: level(row.chat_messages_alert_level),
        plagiarism_checks: level(row.plagiarism_checks_alert_level),
        prompts_generated: level(row.prompts_generated_alert_level),
    }
}

/// What a batch writes to one counters row it locked: the increments to add, the reservations
/// it opened (positive) or closed (negative), and the row's alert levels as they are now
/// (written as they are: the row is locked, so nothing else moved them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountersWrite {
    pub key: CountersKey,
    pub add: Counters,
    pub open_reservations: i64,
    pub alert_levels: AlertLevels,
}

/// Adds increments to counters rows that [`lock_counters`] locked and sets their alert levels
/// (one statement; each key at most once).
pub async fn add_to_counters(
    conn: &impl ConnectionTrait,
    writes: &[CountersWrite],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use usage_statistics::Column as C;
    if writes.is_empty() {
        return Ok(());
    }
    let rows = writes.iter().map(|w| usage_statistics::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(w.key.user_id),
        period_start: Set(w.key.period_start),
        tokens_used: Set(to_i64(w.add.tokens_used)),
        chat_messages: Set(to_i64(w.add.chat_messages)),
        plagiarism_checks: Set(to_i64(w.add.plagiarism_checks)),
        prompts_generated: Set(to_i64(w.add.prompts_generated)),
        updated_at: Set(now),
        open_reservations: Set(w.open_reservations),
        tokens_alert_level: Set(i32::from(w.alert_levels.tokens)),
        chat_messages_alert_level: Set(i32::from(w.alert_levels.chat_messages)),
        plagiarism_checks_alert_level: Set(i32::from(w.alert_levels.plagiarism_checks)),
        prompts_generated_alert_level: Set(i32::from(w.alert_levels.prompts_generated)),
    });
    let add = |col: C| Expr::col((usage_statistics::Entity, col)).add(Expr::col(("excluded", col)));
    let excluded = |col: C| Expr::col(("excluded", col));
    usage_statistics::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([C::UserId, C::PeriodStart])
                .value(C::TokensUsed, add(C::TokensUsed))
                .value(C::ChatMessages, add(C::ChatMessages))
                .value(C::PlagiarismChecks, add(C::PlagiarismChecks))
                .value(C::PromptsGenerated, add(C::PromptsGenerated))
                .value(C::OpenReservations, add(C::OpenReservations))
                .value(C::UpdatedAt, excluded(C::UpdatedAt))
                .value(C::TokensAlertLevel, excluded(C::TokensAlertLevel))
                .value(
                    C::ChatMessagesAlertLevel,
                    excluded(C::ChatMessagesAlertLevel),
                )
                .value(
                    C::PlagiarismChecksAlertLevel,
                    excluded(C::PlagiarismChecksAlertLevel),
                )
                .value(
                    C::PromptsGeneratedAlertLevel,
                    excluded(C::PromptsGeneratedAlertLevel),
                )
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// One day's roll-up increment of a (user, request type, model, reporter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryIncrement {
    pub user_id: Uuid,
    pub usage_date: NaiveDate,
    pub request_type: String,
    pub model: String,
    pub reporter: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub request_count: i64,
}

/// Adds increments to the daily roll-ups, inserting missing rows (one statement; each key at
/// most once).
pub async fn add_to_summaries(
    conn: &impl ConnectionTrait,
    increments: &[SummaryIncrement],
) -> Result<(), StoreError> {
    use token_usage_summary::Column as C;
    if increments.is_empty() {
        return Ok(());
    }
    let rows = increments
        .iter()
        .map(|inc| token_usage_summary::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(inc.user_id),
            usage_date: Set(inc.usage_date),
            request_type: Set(inc.request_type.clone()),
            model: Set(inc.model.clone()),
            reporter: Set(inc.reporter.clone()),
            prompt_tokens: Set(inc.prompt_tokens),
            completion_tokens: Set(inc.completion_tokens),
            total_tokens: Set(inc.total_tokens),
            request_count: Set(inc.request_count),
        });
    let add =
        |col: C| Expr::col((token_usage_summary::Entity, col)).add(Expr::col(("excluded", col)));
    token_usage_summary::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([
                C::UserId,
                C::UsageDate,
                C::RequestType,
                C::Model,
                C::Reporter,
            ])
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

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
