//! Token metering: exactly-once tracking under the plan's limits (written in batches, see
//! [`batcher`] and [`ledger`]), the read-only check, and the statistics served from counters
//! and daily roll-ups.

mod batcher;
mod commands;
mod ledger;
mod reservations;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
/// Who reported a track (recorded with the event; the admin analytics group by it).
pub use domain::Reporter;
use domain::{
    BillingPeriod, ConversationId, Counters, EffectiveLimits, MaxTokensPerRequest, ModelTier, Plan,
    QuotaDecision, QuotaRequest, Refusal, RequestId, RequestType, TokenCounts, decide,
};
use persistence::ConnectionTrait;
use persistence::metering::{self as store, CountersRow, NewUsageEvent};
use persistence::subscriptions;
use uuid::Uuid;

use self::batcher::TrackWriter;
pub use self::batcher::{MAX_BATCHES_IN_FLIGHT, TrackBatching};
pub use self::commands::{CheckCommand, ReservationCommand, TrackCommand};
use self::ledger::{Ledger, TrackItem};
pub(crate) use self::reservations::close_reservation;
pub use self::reservations::{ActiveReservations, Reservation};

use crate::accounts::Subscriber;
use crate::metrics::TrackAnswer;
use crate::usage_alerts::{self, UsageAlert};
use crate::views::Subscription;
use crate::{Context, ServiceError};

/// What a track did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackOutcome {
    /// The event's id (the first event's, for a repeat).
    pub id: Uuid,
    /// The request id was already recorded; nothing changed.
    pub duplicate: bool,
    pub tokens_used: u64,
    pub tokens_limit: Option<u64>,
    pub tokens_remaining: Option<u64>,
    pub reset_date: DateTime<Utc>,
}

/// A positive answer to a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub tokens_remaining: Option<u64>,
    pub units_remaining: Option<u64>,
    pub reset_date: DateTime<Utc>,
}

/// The period's usage counters with their limits (`GET /api/usage/me`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSummary {
    pub period: BillingPeriod,
    pub counters: Counters,
    pub limits: EffectiveLimits,
}

/// Token totals of one request type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenTotals {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// The period's token statistics (`GET /api/tokens/me`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenStatistics {
    pub period: BillingPeriod,
    pub tokens_used: u64,
    pub tokens_limit: Option<u64>,
    pub by_request_type: BTreeMap<RequestType, TokenTotals>,
    pub by_model: BTreeMap<String, u64>,
    /// Days of the period with usage, ascending.
    pub daily: Vec<(NaiveDate, u64)>,
}

impl TokenStatistics {
    /// Percentage of the limit used, two decimals; `None` if unlimited.
    pub fn percentage_used(&self) -> Option<f64> {
        let limit = self.tokens_limit?;
        if limit == 0 {
            return Some(if self.tokens_used == 0 { 0.0 } else { 100.0 });
        }
        let basis_points =
            (u128::from(self.tokens_used) * 10_000 + u128::from(limit) / 2) / u128::from(limit);
        Some(basis_points as f64 / 100.0)
    }
}

/// Metering use cases.
#[derive(Clone)]
pub struct Metering {
    ctx: Context,
    writer: TrackWriter,
    /// How long an unsettled reservation counts.
    reservation_ttl: chrono::TimeDelta,
    /// The most tokens one track, check estimate or reservation may carry.
    max_per_request: MaxTokensPerRequest,
}

struct ParsedTrack {
    request_type: RequestType,
    model: String,
    tier: domain::ModelTier,
    counts: TokenCounts,
    request_id: Option<String>,
    conversation_id: Option<String>,
    reservation_id: Option<Uuid>,
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn counters_of(row: Option<&CountersRow>) -> Counters {
    row.map(ledger::usage_of).unwrap_or_default()
}

impl Metering {
    pub(crate) fn new(
        ctx: Context,
        batching: TrackBatching,
        reservation_ttl: Duration,
        max_per_request: MaxTokensPerRequest,
    ) -> Self {
        let ledger = Ledger {
            db: ctx.db.clone(),
            thresholds: ctx.alert_thresholds.clone(),
            metrics: ctx.metrics.clone(),
            outbox_signal: ctx.outbox_signal.clone(),
            webhook_signal: ctx.webhook_signal.clone(),
        };
        let writer = TrackWriter::new(ledger, batching);
        Self {
            ctx,
            writer,
            reservation_ttl: chrono::TimeDelta::from_std(reservation_ttl)
                .unwrap_or(chrono::TimeDelta::minutes(10)),
            max_per_request,
        }
    }

    /// The command with its model's tier, looked up in the catalog (an unknown model is 422
    /// `unknown_model`); a total above the request maximum is 422 on `total_tokens`, before
    /// anything is written (it would be recorded in full otherwise).
    fn resolve_track(&self, command: TrackCommand) -> Result<ParsedTrack, ServiceError> {
        self.max_per_request
            .admit("total_tokens", command.counts.total())?;
        let tier = self.ctx.catalog.resolve(command.model.as_str())?;
        Ok(ParsedTrack {
            request_type: command.request_type,
            model: command.model.into_inner(),
            tier,
            counts: command.counts,
            request_id: command.request_id.map(RequestId::into_inner),
            conversation_id: command.conversation_id.map(ConversationId::into_inner),
            reservation_id: command.reservation_id,
        })
    }

    async fn subscription(
        &self,
        conn: &impl ConnectionTrait,
        user_id: Uuid,
    ) -> Result<Subscription, ServiceError> {
        let row = subscriptions::find_by_user(conn, user_id)
            .await?
            .ok_or(ServiceError::NotFound("User"))?;
        Subscription::at(row, self.ctx.now())
    }

    async fn limits(
        &self,
        conn: &impl ConnectionTrait,
        user_id: Uuid,
    ) -> Result<EffectiveLimits, ServiceError> {
        Ok(self.subscription(conn, user_id).await?.limits())
    }

    /// Records one LLM request's tokens. In one transaction: the event (its unique request id
    /// tells a repeat), the quota gate (a conditional upsert of the period's counters) and the
    /// day's roll-up. A `request_id` makes it exactly-once: a repeat returns the first event
    /// with `duplicate: true` and changes nothing; a refusal rolls the event back.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn track(
        &self,
        user_id: Uuid,
        command: impl TryInto<TrackCommand, Error = ServiceError>,
    ) -> Result<TrackOutcome, ServiceError> {
        let subscription = self.subscription(&self.ctx.db, user_id).await?;
        let plan = subscription.plan;
        // The command is parsed here, from whatever the caller holds (the HTTP layer's body
        // converts itself), so a refused body still counts in the business metrics.
        let result = match command.try_into().and_then(|c| self.resolve_track(c)) {
            Ok(parsed) => {
                self.record(user_id, parsed, plan, subscription.limits(), Reporter::User)
                    .await
            }
            Err(e) => Err(e),
        };
        self.report(plan, &result);
        result
    }

    /// [`track`](Self::track) for a caller whose subscription was read with the account
    /// ([`Accounts::authenticate_subscriber`](crate::Accounts::authenticate_subscriber)): one
    /// round trip fewer.
    pub async fn track_for(
        &self,
        caller: Subscriber,
        command: impl TryInto<TrackCommand, Error = ServiceError>,
    ) -> Result<TrackOutcome, ServiceError> {
        self.track_reported(caller, Reporter::User, command).await
    }

    /// [`track_for`](Self::track_for), recording who reported it.
    #[tracing::instrument(skip_all, fields(user_id = %caller.user.id))]
    pub async fn track_reported(
        &self,
        caller: Subscriber,
        reporter: Reporter,
        command: impl TryInto<TrackCommand, Error = ServiceError>,
    ) -> Result<TrackOutcome, ServiceError> {
        let row = caller.subscription.ok_or(ServiceError::NotFound("User"))?;
        let subscription = Subscription::at(row, self.ctx.now())?;
        let plan = subscription.plan;
        // The command is parsed here, from whatever the caller holds (the HTTP layer's body
        // converts itself), so a refused body still counts in the business metrics.
        let result = match command.try_into().and_then(|c| self.resolve_track(c)) {
            Ok(parsed) => {
                self.record(
                    caller.user.id,
                    parsed,
                    plan,
                    subscription.limits(),
                    reporter,
                )
                .await
            }
            Err(e) => Err(e),
        };
        self.report(plan, &result);
        result
    }

    /// The business metrics of one answered track.
    fn report(&self, plan: Plan, result: &Result<TrackOutcome, ServiceError>) {
        let answer = match result {
            Ok(outcome) if outcome.duplicate => TrackAnswer::Duplicate,
            Ok(_) => TrackAnswer::Accepted,
            Err(ServiceError::Quota { refusal, .. }) => TrackAnswer::Refused(refusal.code()),
            Err(ServiceError::Invalid { code, .. }) => TrackAnswer::Refused(code),
            Err(ServiceError::RequestIdConflict) => TrackAnswer::Conflict,
            Err(_) => TrackAnswer::Failed,
        };
        self.ctx.metrics.track_answered(plan, answer);
    }

    /// This period's usage alerts (`GET /api/usage/me/alerts`), in the order they fired.
    pub async fn alerts(&self, user_id: Uuid) -> Result<Vec<UsageAlert>, ServiceError> {
        let period = BillingPeriod::containing(self.ctx.now());
        Ok(usage_alerts::for_period(&self.ctx.db, user_id, period).await?)
    }

    async fn record(
        &self,
        user_id: Uuid,
        parsed: ParsedTrack,
        plan: Plan,
        limits: EffectiveLimits,
        reporter: Reporter,
    ) -> Result<TrackOutcome, ServiceError> {
        let now = self.ctx.now();
        let quota = QuotaRequest {
            request_type: parsed.request_type,
            model_tier: parsed.tier,
            estimated_tokens: None,
        };
        let event = NewUsageEvent {
            id: store::event_id(now, &self.ctx.event_ids),
            user_id,
            request_type: parsed.request_type.as_str().to_owned(),
            model: parsed.model,
            prompt_tokens: to_i64(parsed.counts.prompt()),
            completion_tokens: to_i64(parsed.counts.completion()),
            total_tokens: to_i64(parsed.counts.total()),
            request_id: parsed.request_id,
            conversation_id: parsed.conversation_id,
            created_at: now,
            reporter: reporter.stored(),
        };
        let item = TrackItem {
            limits,
            quota,
            counts: parsed.counts,
            event,
            reservation_id: parsed.reservation_id,
        };
        // The tier refusal needs no counters: decide it before any write, unless the request
        // is a repeat of one recorded before the plan changed (its answer is the record).
        if let QuotaDecision::Refused(refusal @ Refusal::ModelNotAllowed { .. }) =
            decide(&limits, &Counters::default(), &quota)
        {
            return self.refused_unless_recorded(&item, refusal).await;
        }
        let (request_type, tokens) = (parsed.request_type, parsed.counts.total());
        let model = item.event.model.clone();
        let outcome = self.writer.write(item).await?;
        if !outcome.duplicate {
            self.ctx
                .metrics
                .tokens_tracked(plan, request_type, &model, tokens);
        }
        Ok(outcome)
    }

    async fn refused_unless_recorded(
        &self,
        item: &TrackItem,
        refusal: Refusal,
    ) -> Result<TrackOutcome, ServiceError> {
        let user_id = item.event.user_id;
        let period = BillingPeriod::containing(item.event.created_at);
        let recorded = match item.event.request_id.as_deref() {
            Some(request_id) => {
                store::find_by_request_id(&self.ctx.db, user_id, request_id).await?
            }
            None => None,
        };
        let Some(recorded) = recorded else {
            return Err(ServiceError::Quota {
                refusal,
                reset_date: period.reset_date(),
            });
        };
        if !item.is_recorded_as(&recorded) {
            return Err(ServiceError::RequestIdConflict);
        }
        let counters = store::counters(&self.ctx.db, user_id, period.start_date()).await?;
        let tokens_used = counters_of(counters.as_ref()).tokens_used;
        Ok(item.outcome(recorded.id, true, tokens_used, 0))
    }

    /// Answers whether a request would be accepted now, without recording anything.
    pub async fn check(
        &self,
        user_id: Uuid,
        command: CheckCommand,
    ) -> Result<CheckOutcome, ServiceError> {
        let parsed = self.resolve_check(command)?;
        let limits = self.limits(&self.ctx.db, user_id).await?;
        self.decide_check(user_id, parsed, limits).await
    }

    /// [`check`](Self::check) for a caller whose subscription was read with the account
    /// ([`Accounts::authenticate_subscriber`](crate::Accounts::authenticate_subscriber)): one
    /// round trip fewer.
    pub async fn check_for(
        &self,
        caller: Subscriber,
        command: CheckCommand,
    ) -> Result<CheckOutcome, ServiceError> {
        let parsed = self.resolve_check(command)?;
        let row = caller.subscription.ok_or(ServiceError::NotFound("User"))?;
        let limits = Subscription::at(row, self.ctx.now())?.limits();
        self.decide_check(caller.user.id, parsed, limits).await
    }

    fn resolve_check(
        &self,
        command: CheckCommand,
    ) -> Result<(RequestType, ModelTier, Option<u64>), ServiceError> {
        if let Some(estimate) = command.estimated_tokens {
            self.max_per_request.admit("estimated_tokens", estimate)?;
        }
        let tier = self.ctx.catalog.resolve(command.model.as_str())?;
        Ok((command.request_type, tier, command.estimated_tokens))
    }

    async fn decide_check(
        &self,
        user_id: Uuid,
        (request_type, model_tier, estimated_tokens): (RequestType, ModelTier, Option<u64>),
        limits: EffectiveLimits,
    ) -> Result<CheckOutcome, ServiceError> {
        let now = self.ctx.now();
        let period = BillingPeriod::containing(now);
        let row = store::counters(&self.ctx.db, user_id, period.start_date()).await?;
        let held = ledger::reserved_holdings(&self.ctx.db, row.iter(), now).await?;
        let key = persistence::ledger::CountersKey {
            user_id,
            period_start: period.start_date(),
        };
        let hold = held.get(&key).copied().unwrap_or_default();
        let counters = ledger::plus(&counters_of(row.as_ref()), &hold);
        match decide(
            &limits,
            &counters,
            &QuotaRequest {
                request_type,
                model_tier,
                estimated_tokens,
            },
        ) {
            QuotaDecision::Allowed {
                tokens_remaining,
                units_remaining,
            } => Ok(CheckOutcome {
                tokens_remaining,
                units_remaining,
                reset_date: period.reset_date(),
            }),
            QuotaDecision::Refused(refusal) => Err(ServiceError::Quota {
                refusal,
                reset_date: period.reset_date(),
            }),
        }
    }

    /// This period's counters and limits.
    pub async fn usage(&self, user_id: Uuid) -> Result<UsageSummary, ServiceError> {
        let period = BillingPeriod::containing(self.ctx.now());
        let limits = self.limits(&self.ctx.db, user_id).await?;
        let counters = counters_of(
            store::counters(&self.ctx.db, user_id, period.start_date())
                .await?
                .as_ref(),
        );
        Ok(UsageSummary {
            period,
            counters,
            limits,
        })
    }

    /// This period's token statistics, from the counters and the daily roll-ups only.
    pub async fn statistics(&self, user_id: Uuid) -> Result<TokenStatistics, ServiceError> {
        let UsageSummary {
            period,
            counters,
            limits,
        } = self.usage(user_id).await?;
        let rows = store::user_summaries(
            &self.ctx.db,
            user_id,
            period.start_date(),
            period.end_date(),
        )
        .await?;
        let mut by_request_type: BTreeMap<RequestType, TokenTotals> = BTreeMap::new();
        let mut by_model: BTreeMap<String, u64> = BTreeMap::new();
        let mut daily: BTreeMap<NaiveDate, u64> = BTreeMap::new();
        for row in rows {
            let total = to_u64(row.total_tokens);
            if let Ok(request_type) = RequestType::parse(&row.request_type) {
                let entry = by_request_type.entry(request_type).or_default();
                entry.prompt_tokens += to_u64(row.prompt_tokens);
                entry.completion_tokens += to_u64(row.completion_tokens);
                entry.total_tokens += total;
            }
            *by_model.entry(row.model).or_default() += total;
            *daily.entry(row.usage_date).or_default() += total;
        }
        Ok(TokenStatistics {
            period,
            tokens_used: counters.tokens_used,
            tokens_limit: limits.monthly_tokens,
            by_request_type,
            by_model,
            daily: daily.into_iter().collect(),
        })
    }
}
