//! Reserve-then-settle for streamed calls. A backend about to start a long generation reserves
//! its estimate through the same gate as a track (used + held by other reservations + estimate
//! must fit), so concurrent generations cannot all pass and overshoot together; the track that
//! reports the actual counts settles the reservation (see [`super::ledger`]), a release gives it
//! back, and an unsettled one stops counting at `expires_at` (computed on read; the maintenance
//! worker sweeps it later).
//!
//! Every change to a user's reservations runs under that user's counters lock, like tracks, so
//! grants are exact across instances.

use chrono::{DateTime, Utc};
use domain::{BillingPeriod, QuotaDecision, QuotaRequest, RequestId, RequestType, decide};
use persistence::ledger::{self as store_ledger, CountersKey, CountersWrite};
use persistence::reservations::{self as store, ReservationRow};
use persistence::{DatabaseConnection, StoreError};
use uuid::Uuid;

use super::ledger::{plus, reserved_holdings, usage_of};
use super::{Metering, ReservationCommand};
use crate::ServiceError;
use crate::accounts::Subscriber;
use crate::views::Subscription;

/// A granted reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: Uuid,
    pub request_type: RequestType,
    pub model: String,
    pub reserved_tokens: u64,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The reservations that count now, with what they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveReservations {
    pub reservations: Vec<Reservation>,
    pub total_reserved_tokens: u64,
}

impl TryFrom<ReservationRow> for Reservation {
    type Error = ServiceError;
    fn try_from(row: ReservationRow) -> Result<Self, ServiceError> {
        Ok(Self {
            id: row.id,
            request_type: RequestType::parse(&row.request_type)
                .map_err(|e| ServiceError::internal("stored request type", e))?,
            model: row.model,
            reserved_tokens: u64::try_from(row.estimated_tokens).unwrap_or(0),
            request_id: row.request_id,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

struct ParsedReservation {
    request_type: RequestType,
    model: String,
    quota: QuotaRequest,
    estimated_tokens: u64,
    request_id: Option<String>,
}

impl Metering {
    /// The command with its model's tier (an unknown model is 422 `unknown_model`); an
    /// estimate above the request maximum is 422 on `estimated_tokens`.
    fn resolve_reservation(
        &self,
        command: ReservationCommand,
    ) -> Result<ParsedReservation, ServiceError> {
        self.max_per_request
            .admit("estimated_tokens", command.estimated_tokens)?;
        let model_tier = self.ctx.catalog.resolve(command.model.as_str())?;
        Ok(ParsedReservation {
            request_type: command.request_type,
            model: command.model.into_inner(),
            quota: QuotaRequest {
                request_type: command.request_type,
                model_tier,
                estimated_tokens: Some(command.estimated_tokens),
            },
            estimated_tokens: command.estimated_tokens,
            request_id: command.request_id.map(RequestId::into_inner),
        })
    }

    /// Reserves an estimate for the caller when the whole of it fits; `true` with a new
    /// reservation, `false` when `request_id` named one already granted (the retry gets it).
    #[tracing::instrument(skip_all, fields(user_id = %caller.user.id))]
    pub async fn reserve_for(
        &self,
        caller: Subscriber,
        command: ReservationCommand,
    ) -> Result<(Reservation, bool), ServiceError> {
        let parsed = self.resolve_reservation(command)?;
        let user_id = caller.user.id;
        let row = caller.subscription.ok_or(ServiceError::NotFound("User"))?;
        let limits = Subscription::at(row, self.ctx.now())?.limits();
        if let Some(existing) = self.earlier_reservation(user_id, &parsed).await? {
            return Ok((existing, false));
        }
        let now = self.ctx.now();
        let period = BillingPeriod::containing(now);
        let key = CountersKey {
            user_id,
            period_start: period.start_date(),
        };
        let txn = persistence::begin_write(&self.ctx.db).await?;
        let locked = store_ledger::lock_counters(&txn, &[key], now).await?;
        let held = reserved_holdings(&txn, locked.iter().map(|l| &l.row), now).await?;
        let used = locked.first().map(|l| usage_of(&l.row)).unwrap_or_default();
        let hold = held.get(&key).copied().unwrap_or_default();
        if let QuotaDecision::Refused(refusal) = decide(&limits, &plus(&used, &hold), &parsed.quota)
        {
            txn.rollback().await.map_err(StoreError::from)?;
            return Err(ServiceError::Quota {
                refusal,
                reset_date: period.reset_date(),
            });
        }
        let row = ReservationRow {
            id: Uuid::now_v7(),
            user_id,
            period_start: period.start_date(),
            request_type: parsed.request_type.as_str().to_owned(),
            model: parsed.model.clone(),
            estimated_tokens: i64::try_from(parsed.estimated_tokens).unwrap_or(i64::MAX),
            request_id: parsed.request_id.clone(),
            state: store::ACTIVE.to_owned(),
            settled_by: None,
            created_at: now,
            expires_at: now + self.reservation_ttl,
            ended_at: None,
        };
        if !store::insert(&txn, &row).await? {
            // A concurrent retry with this request id got there first: answer its reservation.
            txn.rollback().await.map_err(StoreError::from)?;
            return match self.earlier_reservation(user_id, &parsed).await? {
                Some(existing) => Ok((existing, false)),
                None => Err(ServiceError::internal("reserve", "a reservation vanished")),
            };
        }
        let opened = opening_or_closing(key, locked.first().map(|l| &l.row), 1);
        store_ledger::add_to_counters(&txn, &[opened], now).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok((Reservation::try_from(row)?, true))
    }

    /// The reservation granted earlier under the same request id (409 if its payload differs).
    async fn earlier_reservation(
        &self,
        user_id: Uuid,
        parsed: &ParsedReservation,
    ) -> Result<Option<Reservation>, ServiceError> {
        let Some(request_id) = parsed.request_id.as_deref() else {
            return Ok(None);
        };
        let Some(row) = store::find_by_request_id(&self.ctx.db, user_id, request_id).await? else {
            return Ok(None);
        };
        let same = row.request_type == parsed.request_type.as_str()
            && row.model == parsed.model
            && u64::try_from(row.estimated_tokens).ok() == Some(parsed.estimated_tokens);
        if !same {
            return Err(ServiceError::RequestIdConflict);
        }
        Ok(Some(Reservation::try_from(row)?))
    }

    /// Gives a reservation back. Releasing one that was released or expired already changes
    /// nothing; one settled by a track is 409; another user's or an unknown one is 404.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn release(&self, user_id: Uuid, reservation_id: &str) -> Result<(), ServiceError> {
        let id =
            Uuid::parse_str(reservation_id).map_err(|_| ServiceError::NotFound("Reservation"))?;
        let row = store::find(&self.ctx.db, user_id, id)
            .await?
            .ok_or(ServiceError::NotFound("Reservation"))?;
        close_reservation(&self.ctx.db, &row, store::RELEASED, self.ctx.now()).await
    }

    /// The caller's reservations that count now, oldest first, and what they hold.
    pub async fn reservations(&self, user_id: Uuid) -> Result<ActiveReservations, ServiceError> {
        let rows = store::list_active(&self.ctx.db, user_id, self.ctx.now()).await?;
        let reservations = rows
            .into_iter()
            .map(Reservation::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ActiveReservations {
            total_reserved_tokens: reservations.iter().map(|r| r.reserved_tokens).sum(),
            reservations,
        })
    }
}

/// Closes an active reservation as `state` (released, or expired by the sweep) at `now`, under
/// its user's counters lock, keeping `open_reservations` exact. A settled one is 409.
pub(crate) async fn close_reservation(
    db: &DatabaseConnection,
    row: &ReservationRow,
    state: &str,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let key = CountersKey {
        user_id: row.user_id,
        period_start: row.period_start,
    };
    let txn = persistence::begin_write(db).await?;
    let locked = store_ledger::lock_counters(&txn, &[key], now).await?;
    if store::close(&txn, row.user_id, row.id, state, None, now).await? {
        let closed = opening_or_closing(key, locked.first().map(|l| &l.row), -1);
        store_ledger::add_to_counters(&txn, &[closed], now).await?;
        txn.commit().await.map_err(StoreError::from)?;
        return Ok(());
    }
    txn.rollback().await.map_err(StoreError::from)?;
    match store::find(db, row.user_id, row.id).await? {
        Some(current) if current.state == store::SETTLED => Err(ServiceError::ReservationSettled),
        _ => Ok(()),
    }
}

/// The counters write of a reservation opened (`1`) or closed (`-1`): usage unchanged, the
/// locked row's alert levels kept as they are.
fn opening_or_closing(
    key: CountersKey,
    locked: Option<&persistence::metering::CountersRow>,
    open_reservations: i64,
) -> CountersWrite {
    CountersWrite {
        key,
        add: domain::Counters::default(),
        open_reservations,
        alert_levels: locked.map(store_ledger::alert_levels).unwrap_or_default(),
    }
}
