//! Billing-period arithmetic: fixed cases, the edges of chrono's range, and properties.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, TimeZone, Timelike};
use proptest::prelude::*;

use super::*;

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, s).single().unwrap()
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[test]
fn a_mid_month_instant_gives_that_calendar_month() {
    let period = BillingPeriod::containing(utc(2025, 10, 4, 15, 0, 0));
    assert_eq!((period.year(), period.month()), (2025, 10));
    assert_eq!(period.start(), utc(2025, 10, 1, 0, 0, 0));
    assert_eq!(period.end(), utc(2025, 10, 31, 23, 59, 59));
    assert_eq!(period.reset_date(), utc(2025, 11, 1, 0, 0, 0));
    assert_eq!(
        period.start_date(),
        NaiveDate::from_ymd_opt(2025, 10, 1).unwrap()
    );
    assert_eq!(
        period.end_date(),
        NaiveDate::from_ymd_opt(2025, 10, 31).unwrap()
    );
    assert_eq!(period.to_string(), "2025-10");
}

#[test]
fn february_ends_on_the_29th_only_in_leap_years() {
    let leap = BillingPeriod::from_year_month(2024, 2).unwrap();
    assert_eq!(leap.end(), utc(2024, 2, 29, 23, 59, 59));
    let common = BillingPeriod::from_year_month(2025, 2).unwrap();
    assert_eq!(common.end(), utc(2025, 2, 28, 23, 59, 59));
    let century = BillingPeriod::from_year_month(1900, 2).unwrap();
    assert_eq!(century.end(), utc(1900, 2, 28, 23, 59, 59));
    let quad_century = BillingPeriod::from_year_month(2000, 2).unwrap();
    assert_eq!(quad_century.end(), utc(2000, 2, 29, 23, 59, 59));
}

#[test]
fn december_rolls_over_into_the_next_year() {
    let december = BillingPeriod::from_year_month(2025, 12).unwrap();
    assert_eq!(december.reset_date(), utc(2026, 1, 1, 0, 0, 0));
    assert_eq!(
        december.next(),
        BillingPeriod::from_year_month(2026, 1).unwrap()
    );
    assert_eq!(december.next().previous(), december);
}

#[test]
fn the_boundaries_belong_to_the_right_period() {
    let period = BillingPeriod::from_year_month(2025, 3).unwrap();
    assert!(period.contains(utc(2025, 3, 1, 0, 0, 0)));
    assert!(period.contains(utc(2025, 3, 31, 23, 59, 59) + Duration::milliseconds(999)));
    assert!(!period.contains(utc(2025, 4, 1, 0, 0, 0)));
    assert!(!period.contains(utc(2025, 3, 1, 0, 0, 0) - Duration::nanoseconds(1)));
}

#[test]
fn from_year_month_rejects_impossible_months() {
    assert!(BillingPeriod::from_year_month(2025, 0).is_none());
    assert!(BillingPeriod::from_year_month(2025, 13).is_none());
    assert!(BillingPeriod::from_year_month(i32::MAX, 1).is_none());
    assert!(BillingPeriod::from_year_month(i32::MIN, 1).is_none());
}

#[test]
fn periods_order_chronologically() {
    let dec = BillingPeriod::from_year_month(2024, 12).unwrap();
    let jan = BillingPeriod::from_year_month(2025, 1).unwrap();
    let feb = BillingPeriod::from_year_month(2025, 2).unwrap();
    assert!(dec < jan && jan < feb);
}

#[test]
fn the_last_representable_month_saturates_without_panicking() {
    let last = BillingPeriod::containing(DateTime::<Utc>::MAX_UTC);
    assert_eq!(last.month(), 12);
    assert_eq!(last.next(), last);
    assert_eq!(last.reset_date(), DateTime::<Utc>::MAX_UTC);
    assert!(last.start() < last.end());
    assert!(last.end() < last.reset_date());
    assert!(last.contains(DateTime::<Utc>::MAX_UTC));
    assert_eq!(last.previous().next(), last);
}

#[test]
fn the_first_representable_month_saturates_without_panicking() {
    let first = BillingPeriod::containing(DateTime::<Utc>::MIN_UTC);
    assert_eq!(first.month(), 1);
    assert_eq!(first.previous(), first);
    assert_eq!(first.start(), DateTime::<Utc>::MIN_UTC);
    assert!(first.contains(DateTime::<Utc>::MIN_UTC));
    assert_eq!(first.next().start(), first.reset_date());
    assert_eq!(first.next().previous(), first);
}

/// Instants between the years 1600 and 2600, to the nanosecond.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let min = utc(1600, 1, 1, 0, 0, 0).timestamp();
    let max = utc(2600, 1, 1, 0, 0, 0).timestamp();
    (min..max, 0..1_000_000_000u32)
        .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap())
}

/// Any month of the years -4000..4000, which covers every leap-year rule many times over.
fn period() -> impl Strategy<Value = BillingPeriod> {
    (-4000..4000i32, 1..=12u32)
        .prop_map(|(year, month)| BillingPeriod::from_year_month(year, month).unwrap())
}

proptest! {
    #[test]
    fn the_period_of_any_instant_contains_it(at in instant()) {
        let period = BillingPeriod::containing(at);
        prop_assert!(period.contains(at));
        prop_assert!(period.start() <= at);
        prop_assert!(at < period.reset_date());
        prop_assert!(!period.next().contains(at));
        prop_assert!(!period.previous().contains(at));
    }

    #[test]
    fn start_is_before_end_which_is_before_reset(period in period()) {
        prop_assert!(period.start() < period.end());
        prop_assert!(period.end() < period.reset_date());
        prop_assert_eq!(period.end() + Duration::seconds(1), period.reset_date());
    }

    #[test]
    fn next_starts_at_the_reset_date_and_previous_undoes_it(period in period()) {
        prop_assert_eq!(period.next().start(), period.reset_date());
        prop_assert_eq!(period.next().previous(), period);
        prop_assert_eq!(period.previous().next(), period);
        prop_assert!(period.previous() < period && period < period.next());
        if period.month() == 12 {
            prop_assert_eq!((period.next().year(), period.next().month()), (period.year() + 1, 1));
        } else {
            prop_assert_eq!((period.next().year(), period.next().month()), (period.year(), period.month() + 1));
        }
    }

    #[test]
    fn end_is_the_last_day_at_23_59_59_exactly(period in period()) {
        let end = period.end();
        prop_assert_eq!(end.day(), days_in_month(period.year(), period.month()));
        prop_assert_eq!((end.year(), end.month()), (period.year(), period.month()));
        prop_assert_eq!((end.hour(), end.minute(), end.second(), end.nanosecond()), (23, 59, 59, 0));
    }

    #[test]
    fn start_is_the_first_at_midnight_and_keys_round_trip(period in period()) {
        let start = period.start();
        prop_assert_eq!((start.day(), start.hour(), start.minute(), start.second(), start.nanosecond()), (1, 0, 0, 0, 0));
        prop_assert_eq!(period.start_date(), start.date_naive());
        prop_assert_eq!(BillingPeriod::from_start_date(period.start_date()), period);
        prop_assert_eq!(BillingPeriod::from_start_date(period.end_date()), period);
        prop_assert_eq!(BillingPeriod::containing(period.start()), period);
        prop_assert_eq!(BillingPeriod::containing(period.end()), period);
    }
}
