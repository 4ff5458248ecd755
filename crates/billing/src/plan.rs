//! The paid plans and billing intervals that have a Stripe price, and their wire names.

use std::fmt;

/// A plan that costs money. `free` has no Stripe price, so it is not one of these: the service
/// downgrades to free by cancelling at period end, never by a price change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaidPlan {
    Basic,
    Professional,
}

impl PaidPlan {
    /// Both paid plans, cheapest first.
    pub const ALL: [PaidPlan; 2] = [PaidPlan::Basic, PaidPlan::Professional];

    /// The plan's wire name (`basic`, `professional`), the same as `domain::Plan`'s.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::Professional => "professional",
        }
    }

    /// The paid plan behind a domain plan; `None` for `free`.
    pub fn from_plan(plan: domain::Plan) -> Option<Self> {
        match plan {
            domain::Plan::Free => None,
            domain::Plan::Basic => Some(Self::Basic),
            domain::Plan::Professional => Some(Self::Professional),
        }
    }
}

impl From<PaidPlan> for domain::Plan {
    fn from(plan: PaidPlan) -> Self {
        match plan {
            PaidPlan::Basic => domain::Plan::Basic,
            PaidPlan::Professional => domain::Plan::Professional,
        }
    }
}

impl fmt::Display for PaidPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How often a subscription is charged: the domain's [`BillingInterval`] (named apart from
/// `domain::BillingPeriod`, the calendar month usage counters are keyed by).
pub use domain::BillingInterval;

/// Reads Stripe's `price.recurring.interval` (`month`, `year`).
pub(crate) fn interval_from_stripe(interval: &str) -> Option<BillingInterval> {
    match interval {
        "month" => Some(BillingInterval::Monthly),
        "year" => Some(BillingInterval::Yearly),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paid_plans_convert_to_and_from_domain_plans() {
        for plan in PaidPlan::ALL {
            let domain_plan: domain::Plan = plan.into();
            assert_eq!(domain_plan.as_str(), plan.as_str());
            assert_eq!(PaidPlan::from_plan(domain_plan), Some(plan));
        }
        assert_eq!(PaidPlan::from_plan(domain::Plan::Free), None);
    }

    #[test]
    fn intervals_parse_wire_and_stripe_names() {
        assert_eq!(
            BillingInterval::parse("yearly").ok(),
            Some(BillingInterval::Yearly)
        );
        assert!(BillingInterval::parse("Yearly").is_err());
        assert_eq!(
            interval_from_stripe("month"),
            Some(BillingInterval::Monthly)
        );
        assert_eq!(interval_from_stripe("week"), None);
    }
}
