//! The billing period: the UTC calendar month. Counters are keyed by the period's start date,
//! so a new month starts from zero without any reset job.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// A UTC calendar month.
///
/// `start` is the 1st at 00:00:00.000Z, `end` the last day at 23:59:59.000Z, and `reset_date`
/// the 1st of the next month at 00:00:00.000Z; an instant belongs to the period when
/// `start <= at < reset_date`.
///
/// A value always names a month chrono can represent, and no method panics. At the very edges
/// of chrono's range (years -262144 and +262143) the arithmetic saturates instead:
/// `next()` of the last representable month and `previous()` of the first return the same
/// period, and the last month's `reset_date()` is [`DateTime::<Utc>::MAX_UTC`] (the last
/// representable instant) because its true reset instant does not exist.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use doztra_domain::BillingPeriod;
///
/// let at = Utc.with_ymd_and_hms(2024, 12, 31, 23, 59, 59).single().ok_or("bad date")?;
/// let period = BillingPeriod::containing(at);
/// assert_eq!(period.start().to_rfc3339(), "2024-12-01T00:00:00+00:00");
/// assert_eq!(period.end().to_rfc3339(), "2024-12-31T23:59:59+00:00");
/// assert_eq!(period.reset_date().to_rfc3339(), "2025-01-01T00:00:00+00:00");
/// assert_eq!(period.next().start(), period.reset_date());
/// assert!(period.contains(at));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BillingPeriod {
    // Field order matters: the derived ordering is chronological.
    year: i32,
    month: u32,
}

impl BillingPeriod {
    /// The period that contains the instant `at`.
    pub fn containing(at: DateTime<Utc>) -> Self {
        Self {
            year: at.year(),
            month: at.month(),
        }
    }

    /// The period that contains `date` (any day of the month, usually the stored start date).
    pub fn from_start_date(date: NaiveDate) -> Self {
        Self {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The period of `year`-`month`, if `month` is 1..=12 and the month is within chrono's
    /// range.
    ///
    /// ```
    /// use doztra_domain::BillingPeriod;
    ///
    /// assert!(BillingPeriod::from_year_month(2025, 2).is_some());
    /// assert!(BillingPeriod::from_year_month(2025, 13).is_none());
    /// ```
    pub fn from_year_month(year: i32, month: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(year, month, 1).map(Self::from_start_date)
    }

    /// The calendar year.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// The month, 1..=12.
    pub fn month(&self) -> u32 {
        self.month
    }

    /// The first day of the period, used as the storage key of its counters.
    pub fn start_date(&self) -> NaiveDate {
        // Every value is built from a representable date, so the fallback is never taken.
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// The last day of the period.
    pub fn end_date(&self) -> NaiveDate {
        (28..=31)
            .rev()
            .find_map(|day| NaiveDate::from_ymd_opt(self.year, self.month, day))
            .unwrap_or_else(|| self.start_date())
    }

    /// The 1st of the month at 00:00:00.000Z.
    pub fn start(&self) -> DateTime<Utc> {
        midnight(self.start_date())
    }

    /// The last day of the month at 23:59:59.000Z (exactly, no sub-seconds).
    pub fn end(&self) -> DateTime<Utc> {
        self.end_date()
            .and_hms_opt(23, 59, 59)
            .map_or(DateTime::<Utc>::MAX_UTC, |end| end.and_utc())
    }

    /// The 1st of the next month at 00:00:00.000Z, when the counters start again from zero.
    ///
    /// For the last month chrono can represent this is [`DateTime::<Utc>::MAX_UTC`].
    pub fn reset_date(&self) -> DateTime<Utc> {
        match self.end_date().succ_opt() {
            Some(first_of_next) => midnight(first_of_next),
            None => DateTime::<Utc>::MAX_UTC,
        }
    }

    /// Whether `at` falls in this period (`start <= at < reset_date`).
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        // Comparing months rather than instants also holds for the saturated last month.
        Self::containing(at) == *self
    }

    /// The following month (December -> January of the next year). Saturates at the last
    /// representable month.
    pub fn next(&self) -> Self {
        self.end_date()
            .succ_opt()
            .map_or(*self, Self::from_start_date)
    }

    /// The preceding month (January -> December of the previous year). Saturates at the first
    /// representable month.
    pub fn previous(&self) -> Self {
        self.start_date()
            .pred_opt()
            .map_or(*self, Self::from_start_date)
    }
}

impl fmt::Display for BillingPeriod {
    /// `YYYY-MM`, e.g. `2025-10`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(0, 0, 0)
        .map_or(DateTime::<Utc>::MIN_UTC, |start| start.and_utc())
}

#[cfg(test)]
#[path = "period_tests.rs"]
mod tests;
