//! Recording a batch of tracks in one transaction and one commit (group commit), each track
//! keeping its own outcome: accepted, refused by its own quota, or a repeat of a recorded
//! request id (answered as a duplicate, or 409 when its payload differs).
//!
//! One statement per step for the whole batch: lock the batch's counters rows (in key order),
//! insert every event (the unique `(user, request_id)` index tells the repeats), decide each
//! new event in arrival order with [`domain::decide`] against its account's running counters
//! (so several tracks of one account are gated in order against the same counter, exactly as
//! one by one), delete the refused events, add the accepted increments to the counters and the
//! daily roll-ups, commit. A failure anywhere rolls the whole batch back, so nothing is
//! half-written; then, unless the database is away (every caller gets the 503), each track is
//! written again alone, so a track the database refuses fails only itself.
//!
//! Usage alerts are decided in the same pass: after each track, the domain's
//! [`AlertLevels::record_crossings`] compares its account's running counters with its limits
//! and the alert levels the locked row carries. A track that crosses nothing costs nothing more
//! (the levels travel in the counters upsert the batch makes anyway); one that crosses a
//! threshold adds the alert rows, their emails and webhook deliveries to the same transaction
//! ([`crate::usage_alerts::record`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use domain::{
    AlertLevels, AlertThresholds, BillingPeriod, Counters, EffectiveLimits, QuotaDecision,
    QuotaRequest, Refusal, RequestType, TokenCounts, UsageUnit, decide,
};
use persistence::ledger::{self, CountersKey, CountersWrite, SummaryIncrement};
use persistence::metering::{CountersRow, NewUsageEvent, UsageEventRow};
use persistence::reservations::{self, ReservationRow};
use persistence::{DatabaseConnection, DbErr, StoreError};
use tokio::sync::Notify;
use uuid::Uuid;

use super::TrackOutcome;
use crate::ServiceError;
use crate::metrics::ServiceMetrics;
use crate::usage_alerts::{self, FoundCrossing};

/// What a batch needs besides its tracks: the pool, the alert thresholds, where to report, and
/// the outbox workers to wake when an alert queued something.
#[derive(Clone)]
pub(crate) struct Ledger {
    pub(crate) db: DatabaseConnection,
    pub(crate) thresholds: Arc<AlertThresholds>,
    pub(crate) metrics: Arc<dyn ServiceMetrics>,
    pub(crate) outbox_signal: Arc<Notify>,
    pub(crate) webhook_signal: Arc<Notify>,
}

/// One track, parsed and past its tier check, waiting for its batch.
#[derive(Debug, Clone)]
pub(crate) struct TrackItem {
    pub(crate) limits: EffectiveLimits,
    pub(crate) quota: QuotaRequest,
    pub(crate) counts: TokenCounts,
    pub(crate) event: NewUsageEvent,
    /// The reservation this track settles, if any.
    pub(crate) reservation_id: Option<Uuid>,
}

impl TrackItem {
    fn key(&self) -> CountersKey {
        CountersKey {
            user_id: self.event.user_id,
            period_start: self.period().start_date(),
        }
    }

    fn period(&self) -> BillingPeriod {
        BillingPeriod::containing(self.event.created_at)
    }

    fn repeat_key(&self) -> Option<(Uuid, String)> {
        self.event
            .request_id
            .clone()
            .map(|id| (self.event.user_id, id))
    }

    /// The answer, with `reserved` tokens held by the account's open reservations counted out
    /// of what remains.
    pub(crate) fn outcome(
        &self,
        id: Uuid,
        duplicate: bool,
        tokens_used: u64,
        reserved: u64,
    ) -> TrackOutcome {
        TrackOutcome {
            id,
            duplicate,
            tokens_used,
            tokens_limit: self.limits.monthly_tokens,
            tokens_remaining: self
                .limits
                .monthly_tokens
                .map(|limit| limit.saturating_sub(tokens_used).saturating_sub(reserved)),
            reset_date: self.period().reset_date(),
        }
    }

    /// Whether a recorded event is this track (same payload) rather than a different request
    /// that reused its request id.
    pub(crate) fn is_recorded_as(&self, existing: &UsageEventRow) -> bool {
        existing.request_type == self.event.request_type
            && existing.model == self.event.model
            && existing.prompt_tokens == self.event.prompt_tokens
            && existing.completion_tokens == self.event.completion_tokens
            && existing.total_tokens == self.event.total_tokens
            && existing.conversation_id == self.event.conversation_id
    }
}

pub(crate) type TrackResult = Result<TrackOutcome, ServiceError>;

/// Records `items` and answers each, in order. Tracks that repeat a request id already in the
/// batch wait for a following transaction, so each repeat sees its first occurrence recorded
/// (or refused) and is answered as any later repeat would be.
pub(crate) async fn record(book: &Ledger, items: Vec<TrackItem>) -> Vec<TrackResult> {
    let mut results: Vec<Option<TrackResult>> = (0..items.len()).map(|_| None).collect();
    let mut pending: Vec<(usize, TrackItem)> = items.into_iter().enumerate().collect();
    while !pending.is_empty() {
        let mut seen = HashSet::new();
        let (now, later): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|(_, item)| item.repeat_key().is_none_or(|key| seen.insert(key)));
        let answers = match write(book, &now).await {
            Ok(answers) => answers,
            Err(error) => isolate(book, &now, error).await,
        };
        for ((index, _), answer) in now.iter().zip(answers) {
            results[*index] = Some(answer);
        }
        pending = later;
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ServiceError::internal("track", "a track was lost"))))
        .collect()
}

/// After a batch failed: when the database is away every caller gets the 503; otherwise one
/// track may have caused it (a value the database refuses), so each is written again alone and
/// only the guilty one fails.
async fn isolate(
    book: &Ledger,
    items: &[(usize, TrackItem)],
    error: ServiceError,
) -> Vec<TrackResult> {
    tracing::error!(error = ?error, tracks = items.len(), "track batch failed");
    if items.len() == 1 || matches!(error, ServiceError::Unavailable(_)) {
        return items.iter().map(|_| Err(copy_for_caller(&error))).collect();
    }
    let mut answers = Vec::with_capacity(items.len());
    for item in items {
        let alone = std::slice::from_ref(item);
        answers.push(match write(book, alone).await {
            Ok(mut answer) => answer.pop().unwrap_or_else(|| Err(copy_for_caller(&error))),
            Err(own) => {
                tracing::error!(error = ?own, "track failed alone");
                Err(own)
            }
        });
    }
    answers
}

enum Verdict {
    Accepted {
        tokens_used: u64,
        reserved: u64,
    },
    Refused(Refusal),
    /// Not recorded, for a reason of its own (an unknown or settled reservation).
    Failed(ServiceError),
    Repeat,
}

/// One transaction for tracks whose request ids are distinct within the batch: read what the
/// batch touches, judge each track in arrival order, write what the judgements changed,
/// commit, answer each track.
async fn write(
    book: &Ledger,
    items: &[(usize, TrackItem)],
) -> Result<Vec<TrackResult>, ServiceError> {
    // The batch happens at its latest track's time (each was stamped by the service's clock).
    let Some(now) = items.iter().map(|(_, item)| item.event.created_at).max() else {
        return Ok(Vec::new());
    };
    let txn = persistence::begin_write(&book.db).await?;
    let reads = Reads::of(&txn, items, now).await?;
    let mut tally = Tally::new(&reads);
    for (_, item) in items {
        tally.judge(&reads, &book.thresholds, item, now);
    }
    let recorded = ledger::events_by_request_ids(&txn, &tally.repeats(items)).await?;
    let alerts = tally.apply(&txn, &reads, items, now).await?;
    txn.commit().await.map_err(StoreError::from)?;
    book.announce(items.len(), &alerts);
    Ok(tally.answers(items, &recorded))
}

/// What a batch's transaction reads before judging its tracks.
struct Reads {
    /// The batch's counters rows, locked (created at zero where missing).
    locked: Vec<ledger::LockedCounters>,
    before: HashMap<CountersKey, Counters>,
    levels_before: HashMap<CountersKey, AlertLevels>,
    /// What the active reservations of the locked rows hold.
    held: HashMap<CountersKey, Counters>,
    /// The ids of the events that were new (a repeated request id inserts nothing).
    inserted: HashSet<Uuid>,
    /// The caller's own reservations that tracks settle, by id.
    reservations: HashMap<Uuid, ReservationRow>,
}

impl Reads {
    /// Locks the counters, inserts every event and reads the reservations involved.
    async fn of(
        txn: &impl persistence::ConnectionTrait,
        items: &[(usize, TrackItem)],
        now: DateTime<Utc>,
    ) -> Result<Self, ServiceError> {
        let keys: Vec<CountersKey> = items
            .iter()
            .map(|(_, item)| item.key())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let events: Vec<NewUsageEvent> = items.iter().map(|(_, item)| item.event.clone()).collect();
        let locked = ledger::lock_counters(txn, &keys, now).await?;
        let before = locked.iter().map(|l| counters_of(&l.row)).collect();
        let levels_before = locked
            .iter()
            .map(|l| (counters_of(&l.row).0, ledger::alert_levels(&l.row)))
            .collect();
        let held = reserved_holdings(txn, locked.iter().map(|l| &l.row), now).await?;
        let inserted = ledger::insert_events(txn, &events).await?;
        let settling: HashSet<(Uuid, Uuid)> = items
            .iter()
            .filter_map(|(_, item)| Some((item.event.user_id, item.reservation_id?)))
            .collect();
        let reservations = reservations::find_many(txn, &settling)
            .await?
            .into_iter()
            .map(|row| (row.id, row))
            .collect();
        Ok(Self {
            locked,
            before,
            levels_before,
            held,
            inserted,
            reservations,
        })
    }
}

/// The batch judged track by track: the running counters, and what the judgements change.
struct Tally {
    running: HashMap<CountersKey, Counters>,
    held: HashMap<CountersKey, Counters>,
    levels: HashMap<CountersKey, AlertLevels>,
    crossings: Vec<FoundCrossing>,
    /// Open reservations settled per counters row.
    open_deltas: HashMap<CountersKey, i64>,
    /// Reservations settled, with the request that settled them.
    settled: Vec<((Uuid, Uuid), String)>,
    /// Events inserted that are not recorded (refused or failed): deleted again.
    not_recorded: Vec<(Uuid, Uuid)>,
    verdicts: Vec<Verdict>,
}

impl Tally {
    fn new(reads: &Reads) -> Self {
        Self {
            running: reads.before.clone(),
            held: reads.held.clone(),
            levels: reads.levels_before.clone(),
            crossings: Vec::new(),
            open_deltas: HashMap::new(),
            settled: Vec::new(),
            not_recorded: Vec::new(),
            verdicts: Vec::new(),
        }
    }

    /// Judges the next track against its account's running counters and records its verdict.
    fn judge(
        &mut self,
        reads: &Reads,
        thresholds: &AlertThresholds,
        item: &TrackItem,
        now: DateTime<Utc>,
    ) {
        if !reads.inserted.contains(&item.event.id) {
            self.verdicts.push(Verdict::Repeat);
            return;
        }
        let key = item.key();
        let verdict = match item.reservation_id.map(|id| reads.reservations.get(&id)) {
            // Only the caller's own reservations were looked up: another user's is unknown here.
            Some(None) => Verdict::Failed(ServiceError::NotFound("Reservation")),
            Some(Some(r)) if r.user_id != item.event.user_id => {
                Verdict::Failed(ServiceError::NotFound("Reservation"))
            }
            Some(Some(r))
                if r.state == reservations::SETTLED
                    || self.settled.iter().any(|((_, id), _)| *id == r.id) =>
            {
                Verdict::Failed(ServiceError::ReservationSettled)
            }
            Some(Some(r)) if r.state == reservations::ACTIVE && r.expires_at > now => {
                self.settle(item, r)
            }
            // No reservation, or one released or expired: an ordinary track.
            _ => self.gate(item),
        };
        if matches!(verdict, Verdict::Refused(_) | Verdict::Failed(_)) {
            self.not_recorded.push((item.event.user_id, item.event.id));
        }
        // A refused track adds nothing, but a limit lowered below what was already used (an
        // admin override, a downgrade) is reached all the same: it is announced now.
        let counters = self.running.entry(key).or_default();
        let found = self.levels.entry(key).or_default().record_crossings(
            thresholds,
            &item.limits,
            counters,
        );
        self.crossings
            .extend(found.into_iter().map(|crossing| FoundCrossing {
                user_id: item.event.user_id,
                period: item.period(),
                crossing,
            }));
        self.verdicts.push(verdict);
    }

    /// A track settling its live reservation: the reservation gives way to the actual counts,
    /// recorded in full.
    fn settle(&mut self, item: &TrackItem, r: &ReservationRow) -> Verdict {
        let key = item.key();
        let counters = self.running.entry(key).or_default();
        counters.record(item.quota.request_type, item.counts);
        let tokens_used = counters.tokens_used;
        let reservation_key = CountersKey {
            user_id: r.user_id,
            period_start: r.period_start,
        };
        if let Some(hold) = self.held.get_mut(&reservation_key) {
            *hold = hold.without(r);
        }
        *self.open_deltas.entry(reservation_key).or_default() -= 1;
        let by = item
            .event
            .request_id
            .clone()
            .unwrap_or_else(|| item.event.id.to_string());
        self.settled.push(((r.user_id, r.id), by));
        Verdict::Accepted {
            tokens_used,
            reserved: self.held.get(&key).map_or(0, |h| h.tokens_used),
        }
    }

    /// An ordinary track: the quota gate against the counters plus what reservations hold.
    fn gate(&mut self, item: &TrackItem) -> Verdict {
        let key = item.key();
        let counters = self.running.entry(key).or_default();
        let hold = self.held.get(&key).copied().unwrap_or_default();
        match decide(&item.limits, &plus(counters, &hold), &item.quota) {
            QuotaDecision::Allowed { .. } => {
                counters.record(item.quota.request_type, item.counts);
                Verdict::Accepted {
                    tokens_used: counters.tokens_used,
                    reserved: hold.tokens_used,
                }
            }
            QuotaDecision::Refused(refusal) => Verdict::Refused(refusal),
        }
    }

    /// The `(user, request_id)` of each repeat, to answer it with its recorded event.
    fn repeats(&self, items: &[(usize, TrackItem)]) -> Vec<(Uuid, String)> {
        items
            .iter()
            .zip(&self.verdicts)
            .filter(|(_, verdict)| matches!(verdict, Verdict::Repeat))
            .filter_map(|((_, item), _)| item.repeat_key())
            .collect()
    }

    /// Writes what the judgements changed: drops the events not recorded, closes the settled
    /// reservations, adds to the counters and the roll-ups, records the alerts.
    async fn apply(
        &self,
        txn: &impl persistence::ConnectionTrait,
        reads: &Reads,
        items: &[(usize, TrackItem)],
        now: DateTime<Utc>,
    ) -> Result<usage_alerts::Recorded, ServiceError> {
        ledger::delete_events(txn, &self.not_recorded).await?;
        for (reservation, by) in &self.settled {
            let (user_id, id) = *reservation;
            reservations::close(txn, user_id, id, reservations::SETTLED, Some(by), now).await?;
        }
        let writes = counter_writes(
            &reads.before,
            &self.running,
            &self.open_deltas,
            &reads.levels_before,
            &self.levels,
        );
        // A row created for tracks that were all refused goes again: a refusal leaves nothing.
        let unused: Vec<(Uuid, Uuid)> = reads
            .locked
            .iter()
            .filter(|l| l.created && !writes.iter().any(|w| w.key == counters_of(&l.row).0))
            .map(|l| (l.row.user_id, l.row.id))
            .collect();
        ledger::delete_counters(txn, &unused).await?;
        ledger::add_to_counters(txn, &writes, now).await?;
        ledger::add_to_summaries(txn, &summaries(items, &self.verdicts)).await?;
        Ok(usage_alerts::record(txn, &self.crossings, now).await?)
    }

    /// Each track's answer, in order; a repeat answers with the event recorded under its
    /// request id (409 when its payload differs).
    fn answers(self, items: &[(usize, TrackItem)], recorded: &[UsageEventRow]) -> Vec<TrackResult> {
        let recorded: HashMap<(Uuid, &str), &UsageEventRow> = recorded
            .iter()
            .filter_map(|row| Some(((row.user_id, row.request_id.as_deref()?), row)))
            .collect();
        let (running, held) = (&self.running, &self.held);
        items
            .iter()
            .zip(self.verdicts)
            .map(|((_, item), verdict)| match verdict {
                Verdict::Accepted {
                    tokens_used,
                    reserved,
                } => Ok(item.outcome(item.event.id, false, tokens_used, reserved)),
                Verdict::Refused(refusal) => Err(ServiceError::Quota {
                    refusal,
                    reset_date: item.period().reset_date(),
                }),
                Verdict::Failed(error) => Err(error),
                Verdict::Repeat => {
                    let request_id = item.event.request_id.as_deref().unwrap_or_default();
                    let existing =
                        recorded
                            .get(&(item.event.user_id, request_id))
                            .ok_or_else(|| {
                                ServiceError::internal("track", "a repeated event vanished")
                            })?;
                    if !item.is_recorded_as(existing) {
                        return Err(ServiceError::RequestIdConflict);
                    }
                    let key = item.key();
                    let tokens_used = running.get(&key).map_or(0, |c| c.tokens_used);
                    let reserved = held.get(&key).map_or(0, |h| h.tokens_used);
                    Ok(item.outcome(existing.id, true, tokens_used, reserved))
                }
            })
            .collect()
    }
}

impl Ledger {
    /// Reports a committed batch and wakes the workers its alerts queued work for.
    fn announce(&self, tracks: usize, alerts: &usage_alerts::Recorded) {
        self.metrics.track_batch(tracks);
        for crossing in &alerts.alerts {
            self.metrics
                .alert_recorded(crossing.unit, crossing.threshold);
        }
        if alerts.emails > 0 {
            self.outbox_signal.notify_one();
        }
        if alerts.deliveries > 0 {
            self.webhook_signal.notify_one();
        }
    }
}

/// What the active reservations of the locked rows hold (only rows with open reservations are
/// looked up: an account that never reserves pays nothing for the feature).
pub(crate) async fn reserved_holdings<'a>(
    conn: &impl persistence::ConnectionTrait,
    rows: impl Iterator<Item = &'a CountersRow>,
    now: DateTime<Utc>,
) -> Result<HashMap<CountersKey, Counters>, ServiceError> {
    let users: HashSet<Uuid> = rows
        .filter(|row| row.open_reservations > 0)
        .map(|row| row.user_id)
        .collect();
    let mut held: HashMap<CountersKey, Counters> = HashMap::new();
    for total in reservations::reserved_totals(conn, &users, now).await? {
        let Ok(request_type) = RequestType::parse(&total.request_type) else {
            continue;
        };
        let hold = held
            .entry(CountersKey {
                user_id: total.user_id,
                period_start: total.period_start,
            })
            .or_default();
        let count = |value: i64| u64::try_from(value).unwrap_or(0);
        hold.tokens_used = hold.tokens_used.saturating_add(count(total.tokens));
        let unit = unit_mut(hold, request_type);
        *unit = unit.saturating_add(count(total.reservations));
    }
    Ok(held)
}

/// Usage plus what reservations hold: what the quota rule sees.
pub(crate) fn plus(used: &Counters, held: &Counters) -> Counters {
    Counters {
        tokens_used: used.tokens_used.saturating_add(held.tokens_used),
        chat_messages: used.chat_messages.saturating_add(held.chat_messages),
        plagiarism_checks: used
            .plagiarism_checks
            .saturating_add(held.plagiarism_checks),
        prompts_generated: used
            .prompts_generated
            .saturating_add(held.prompts_generated),
    }
}

fn unit_mut(counters: &mut Counters, request_type: RequestType) -> &mut u64 {
    match request_type.unit() {
        UsageUnit::ChatMessages => &mut counters.chat_messages,
        UsageUnit::PlagiarismChecks => &mut counters.plagiarism_checks,
        UsageUnit::PromptsGenerated => &mut counters.prompts_generated,
    }
}

trait Holding {
    fn without(self, reservation: &ReservationRow) -> Self;
}

impl Holding for Counters {
    /// The holding once `reservation` no longer counts.
    fn without(mut self, reservation: &ReservationRow) -> Self {
        let tokens = u64::try_from(reservation.estimated_tokens).unwrap_or(0);
        self.tokens_used = self.tokens_used.saturating_sub(tokens);
        if let Ok(request_type) = RequestType::parse(&reservation.request_type) {
            let unit = unit_mut(&mut self, request_type);
            *unit = unit.saturating_sub(1);
        }
        self
    }
}

fn counters_of(row: &CountersRow) -> (CountersKey, Counters) {
    (
        CountersKey {
            user_id: row.user_id,
            period_start: row.period_start,
        },
        usage_of(row),
    )
}

/// The usage a counters row holds.
pub(crate) fn usage_of(row: &CountersRow) -> Counters {
    let count = |value: i64| u64::try_from(value).unwrap_or(0);
    Counters {
        tokens_used: count(row.tokens_used),
        chat_messages: count(row.chat_messages),
        plagiarism_checks: count(row.plagiarism_checks),
        prompts_generated: count(row.prompts_generated),
    }
}

/// What the batch writes to each counters row: what it added, the reservations it closed, and
/// the alert levels it raised (rows it changed in no way are left out).
fn counter_writes(
    before: &HashMap<CountersKey, Counters>,
    after: &HashMap<CountersKey, Counters>,
    open: &HashMap<CountersKey, i64>,
    levels_before: &HashMap<CountersKey, AlertLevels>,
    levels_after: &HashMap<CountersKey, AlertLevels>,
) -> Vec<CountersWrite> {
    let keys: HashSet<&CountersKey> = after.keys().chain(open.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let was = before.get(key).copied().unwrap_or_default();
            let now = after.get(key).copied().unwrap_or(was);
            let open_reservations = open.get(key).copied().unwrap_or(0);
            let levels_was = levels_before.get(key).copied().unwrap_or_default();
            let alert_levels = levels_after.get(key).copied().unwrap_or(levels_was);
            let changed = now != was || open_reservations != 0 || alert_levels != levels_was;
            changed.then(|| CountersWrite {
                key: *key,
                add: Counters {
                    tokens_used: now.tokens_used.saturating_sub(was.tokens_used),
                    chat_messages: now.chat_messages.saturating_sub(was.chat_messages),
                    plagiarism_checks: now.plagiarism_checks.saturating_sub(was.plagiarism_checks),
                    prompts_generated: now.prompts_generated.saturating_sub(was.prompts_generated),
                },
                open_reservations,
                alert_levels,
            })
        })
        .collect()
}

/// The accepted events summed per daily roll-up row.
fn summaries(items: &[(usize, TrackItem)], verdicts: &[Verdict]) -> Vec<SummaryIncrement> {
    type Key<'a> = (Uuid, NaiveDate, &'a str, &'a str, &'a str);
    let mut groups: BTreeMap<Key<'_>, SummaryIncrement> = BTreeMap::new();
    for ((_, item), verdict) in items.iter().zip(verdicts) {
        if !matches!(verdict, Verdict::Accepted { .. }) {
            continue;
        }
        let event = &item.event;
        let day = event.created_at.date_naive();
        let group = groups
            .entry((
                event.user_id,
                day,
                &event.request_type,
                &event.model,
                &event.reporter,
            ))
            .or_insert_with(|| SummaryIncrement {
                user_id: event.user_id,
                usage_date: day,
                request_type: event.request_type.clone(),
                model: event.model.clone(),
                reporter: event.reporter.clone(),
                prompt_tokens: 0,
                completion_tokens: 0,
                total_tokens: 0,
                request_count: 0,
            });
        group.prompt_tokens = group.prompt_tokens.saturating_add(event.prompt_tokens);
        group.completion_tokens = group
            .completion_tokens
            .saturating_add(event.completion_tokens);
        group.total_tokens = group.total_tokens.saturating_add(event.total_tokens);
        group.request_count += 1;
    }
    groups.into_values().collect()
}

/// The batch's error, once per caller: unavailability stays a 503, anything else is internal.
fn copy_for_caller(error: &ServiceError) -> ServiceError {
    match error {
        ServiceError::Unavailable(_) => {
            ServiceError::Unavailable(StoreError::Unavailable(DbErr::Custom(error.to_string())))
        }
        other => ServiceError::internal("track batch", other.to_string()),
    }
}
