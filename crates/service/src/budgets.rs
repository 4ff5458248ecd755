//! Budgets: how often a subject (a client address, a user, an email) may do something costly
//! or abusable within a window. State lives in the database, so a budget holds across
//! instances. The one rule for all of them is here: [`spend`] counts a request and refuses it
//! with `TooManyAttempts` once the budget is spent; a refused request leaves nothing stored.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use persistence::StoreError;
use persistence::throttle::{self, RecentFailures, Scope};
use uuid::Uuid;

use crate::{Context, ServiceError};

/// What may be spent, and how much of it within a window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub scope: Scope,
    /// At least 1 (settings refuse 0).
    pub max: u64,
    pub window: Duration,
}

impl Budget {
    fn window(&self) -> TimeDelta {
        TimeDelta::from_std(self.window).unwrap_or(TimeDelta::minutes(15))
    }

    /// The refusal when `recent` events leave no room for one more (`recent` counts `extra`
    /// events that are not part of the budget, e.g. the caller's own record).
    pub fn refusal(
        &self,
        recent: RecentFailures,
        extra: u64,
        now: DateTime<Utc>,
    ) -> Option<ServiceError> {
        if recent.count < self.max + extra {
            return None;
        }
        let lifts_at = recent.oldest.unwrap_or(now) + self.window();
        let millis = (lifts_at - now).num_milliseconds().max(0);
        let retry_after_secs = u64::try_from((millis + 999) / 1000).unwrap_or(1).max(1);
        Some(ServiceError::TooManyAttempts { retry_after_secs })
    }
}

/// Counts one request of `subject` against `budget`, or refuses it (429 with the time until
/// the oldest counted request leaves the window).
///
/// A spent budget is refused on a read, without writing (a flood of refused requests does not
/// grow the table). Otherwise the request is recorded first and counted with the others, so a
/// burst of concurrent requests cannot all pass a check none of them is counted in yet; one
/// found over the budget takes its record back. Returns the record's id, for a caller that
/// takes a successful request back (a right password is not a failure).
pub(crate) async fn spend(
    ctx: &Context,
    budget: Budget,
    subject: &str,
    now: DateTime<Utc>,
) -> Result<Uuid, ServiceError> {
    let since = now - budget.window();
    let recent = throttle::recent_failures(&ctx.db, budget.scope, subject, since).await?;
    if let Some(refused) = budget.refusal(recent, 0, now) {
        return Err(refused);
    }
    let txn = persistence::begin_write(&ctx.db).await?;
    let id = throttle::record_failure(&txn, budget.scope, subject, now).await?;
    throttle::prune(&txn, &[budget.scope], since).await?;
    txn.commit().await.map_err(StoreError::from)?;
    let recent = throttle::recent_failures(&ctx.db, budget.scope, subject, since).await?;
    if let Some(refused) = budget.refusal(recent, 1, now) {
        throttle::forget(&ctx.db, &[id]).await?;
        return Err(refused);
    }
    Ok(id)
}

/// [`spend`] for a client address, counted by its network ([`client_network`]).
pub(crate) async fn spend_by_client(
    ctx: &Context,
    budget: Budget,
    ip: &str,
    now: DateTime<Utc>,
) -> Result<Uuid, ServiceError> {
    spend(ctx, budget, &client_network(ip), now).await
}

/// A client address as the per-address budgets count it: an IPv4 address alone, an IPv6
/// address by its /64. One subscriber's network is usually a whole /64, so a client counted by
/// its full IPv6 address could take a fresh address, and a fresh budget, for every request.
/// Anything that is not an address is counted as it is.
pub(crate) fn client_network(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let network = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", Ipv6Addr::from(network))
        }
        Ok(IpAddr::V6(v6)) => v6.to_canonical().to_string(),
        _ => ip.to_owned(),
    }
}

impl Context {
    pub(crate) fn budget(&self, scope: Scope, max: u64) -> Budget {
        Budget {
            scope,
            max,
            window: self.throttle.budget_window,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_and_an_ipv4_one_by_its_address() {
        assert_eq!(client_network("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            client_network("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "2001:db8:1:2::/64"
        );
        assert_ne!(client_network("2001:db8:1:3::1"), "2001:db8:1:2::/64");
        assert_eq!(client_network("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(client_network("203.0.113.9"), "203.0.113.9");
        assert_eq!(client_network("not an address"), "not an address");
    }
}
