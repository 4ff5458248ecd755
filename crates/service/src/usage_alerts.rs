//! Usage alerts: a threshold crossed by a track is recorded in the track's own transaction (a
//! row unique per user, period, unit and threshold, so a concurrent writer that also crossed it
//! adds nothing), with one email to the user when their `notifications` preference is on and
//! the webhook events `usage.threshold_crossed` (and `usage.limit_reached` at 100 %) for every
//! endpoint that receives them. Nothing is sent from here: the outbox workers send after the
//! commit, so an alert is delivered if and only if the usage that crossed it was recorded.
//!
//! The preference is read when the alert is recorded (in the same transaction): the email
//! follows the user's choice at the moment the threshold was crossed, and the outbox stays a
//! plain list of messages to send.

use chrono::{DateTime, Utc};
use domain::{BillingPeriod, Crossing, MeteredUnit};
use persistence::alerts::{self as store, NewAlert, Recipient};
use persistence::email;
use persistence::{ConnectionTrait, StoreError};
use serde_json::json;
use uuid::Uuid;

use crate::outgoing::events::{EventType, OutgoingEvent, timestamp};
use crate::outgoing::publish::publish;

/// The `kind` of alert email in the outbox.
pub(crate) const EMAIL_KIND: &str = "usage_alert";

/// A crossing a batch found, before it is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FoundCrossing {
    pub(crate) user_id: Uuid,
    pub(crate) period: BillingPeriod,
    pub(crate) crossing: Crossing,
}

/// What [`record`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// The crossings recorded now (a crossing already recorded is left out).
    pub(crate) alerts: Vec<Crossing>,
    pub(crate) emails: usize,
    pub(crate) deliveries: usize,
}

/// Records `found` in the caller's transaction, with its emails and webhook deliveries.
pub(crate) async fn record(
    conn: &impl ConnectionTrait,
    found: &[FoundCrossing],
    now: DateTime<Utc>,
) -> Result<Recorded, StoreError> {
    if found.is_empty() {
        return Ok(Recorded::default());
    }
    let rows: Vec<(NewAlert, &FoundCrossing)> = found
        .iter()
        .map(|f| {
            let new = NewAlert {
                id: Uuid::now_v7(),
                user_id: f.user_id,
                period_start: f.period.start_date(),
                unit: f.crossing.unit.as_str(),
                threshold: i32::from(f.crossing.threshold),
                used: to_i64(f.crossing.used),
                limit: to_i64(f.crossing.limit),
                crossed_at: now,
            };
            (new, f)
        })
        .collect();
    let new: Vec<NewAlert> = rows.iter().map(|(n, _)| n.clone()).collect();
    let inserted = store::insert_alerts(conn, &new).await?;
    let fresh: Vec<&FoundCrossing> = rows
        .iter()
        .filter(|(n, _)| inserted.contains(&n.id))
        .map(|(_, f)| *f)
        .collect();
    if fresh.is_empty() {
        return Ok(Recorded::default());
    }
    let mut users: Vec<Uuid> = fresh.iter().map(|f| f.user_id).collect();
    users.sort_unstable();
    users.dedup();
    let recipients = store::recipients(conn, &users).await?;
    let mut recorded = Recorded::default();
    let mut events = Vec::new();
    for found in fresh {
        recorded.alerts.push(found.crossing);
        let Some(recipient) = recipients.iter().find(|r| r.user_id == found.user_id) else {
            continue; // the account is being deleted: its alerts go with it
        };
        if recipient.notifications {
            let (subject, body) = message(recipient, found);
            email::enqueue_kind(
                conn,
                &recipient.email,
                &subject,
                &body,
                Some(EMAIL_KIND),
                now,
            )
            .await?;
            recorded.emails += 1;
        }
        let data = json!({
            "user_id": found.user_id,
            "email": recipient.email,
            "unit": found.crossing.unit.as_str(),
            "threshold": found.crossing.threshold,
            "used": found.crossing.used,
            "limit": found.crossing.limit,
            "period_start": timestamp(found.period.start()),
            "period_end": timestamp(found.period.end()),
        });
        events.push(OutgoingEvent {
            event_type: EventType::UsageThresholdCrossed,
            at: now,
            data: data.clone(),
        });
        if found.crossing.reaches_limit() {
            events.push(OutgoingEvent {
                event_type: EventType::UsageLimitReached,
                at: now,
                data,
            });
        }
    }
    recorded.deliveries = publish(conn, &events).await?;
    Ok(recorded)
}

/// The email of one alert: subject and plain-text body.
fn message(recipient: &Recipient, found: &FoundCrossing) -> (String, String) {
    let c = &found.crossing;
    let unit = c.unit.describe();
    let resets = found.period.reset_date().format("%B %-d, %Y");
    let subject = if c.reaches_limit() {
        format!("You have reached your monthly limit of {unit}")
    } else {
        format!("You have used {}% of your monthly {unit}", c.threshold)
    };
    let what = if c.reaches_limit() {
        format!(
            "You have used {} of your {} {unit} this month: the limit is reached, and further requests that count {unit} are refused until the counter starts again on {resets} (UTC).",
            c.used, c.limit
        )
    } else {
        format!(
            "You have used {} of your {} {unit} this month ({}% of your limit). The counter starts again on {resets} (UTC).",
            c.used, c.limit, c.threshold
        )
    };
    let body = format!(
        "Hello {},\n\n{what}\n\nUpgrading your plan raises the limit at once.\n\nYou receive this message because notifications are on in your Doztra preferences; turn them off there to stop these emails.\n",
        recipient.name
    );
    (subject, body)
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// One alert of the current period, as `GET /api/usage/me/alerts` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageAlert {
    pub unit: MeteredUnit,
    pub threshold: u8,
    pub used: u64,
    pub limit: u64,
    pub crossed_at: DateTime<Utc>,
}

/// The user's alerts of the period, in the order they were crossed.
pub(crate) async fn for_period(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    period: BillingPeriod,
) -> Result<Vec<UsageAlert>, StoreError> {
    Ok(store::for_period(conn, user_id, period.start_date())
        .await?
        .into_iter()
        .filter_map(|row| {
            Some(UsageAlert {
                unit: MeteredUnit::parse(&row.unit)?,
                threshold: u8::try_from(row.threshold).ok()?,
                used: u64::try_from(row.used).unwrap_or(0),
                limit: u64::try_from(row.usage_limit).unwrap_or(0),
                crossed_at: row.crossed_at,
            })
        })
        .collect())
}
