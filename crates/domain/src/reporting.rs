//! What usage reports filter and group by: who reported a track ([`Reporter`]), the grouping of
//! the admin analytics ([`UsageGrouping`]) and the bounds of a date filter ([`DateBound`]).

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use uuid::Uuid;

use crate::error::DomainError;

/// Who reported a track: the user through their own route, or a service API key acting for
/// them. Recorded with each event; the admin analytics group and filter by it.
///
/// ```
/// use doztra_domain::Reporter;
///
/// assert_eq!(Reporter::parse(" user ")?, Reporter::User);
/// let key = Reporter::parse("0190C1F4-9A7B-7C3D-8E2F-123456789ABC")?;
/// assert_eq!(key.to_string(), "0190c1f4-9a7b-7c3d-8e2f-123456789abc");
/// assert!(Reporter::parse("someone").is_err());
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reporter {
    /// The user, through `/api/tokens/me/track`.
    User,
    /// A service API key, by its id.
    ApiKey(Uuid),
}

impl Reporter {
    /// The text of [`Reporter::User`].
    pub const USER: &'static str = "user";

    /// Parses `user` or an API key id (surrounding blanks ignored).
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw.trim() {
            Self::USER => Ok(Self::User),
            id => Uuid::parse_str(id)
                .map(Self::ApiKey)
                .map_err(|_| DomainError::InvalidReporter(raw.to_owned())),
        }
    }

    /// The text form, as stored with each event and shown in reports: `user` or the key's id
    /// (lower-case, hyphenated).
    pub fn stored(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User => f.write_str(Self::USER),
            Self::ApiKey(id) => id.fmt(f),
        }
    }
}

/// How the admin usage analytics break their totals down. Defaults to [`UsageGrouping::Day`].
///
/// ```
/// use doztra_domain::UsageGrouping;
///
/// assert_eq!(UsageGrouping::parse("request_type")?, UsageGrouping::RequestType);
/// assert_eq!(UsageGrouping::default(), UsageGrouping::Day);
/// assert!(UsageGrouping::parse("week").is_err());
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UsageGrouping {
    /// `day`, the default.
    #[default]
    Day,
    /// `user`.
    User,
    /// `model`.
    Model,
    /// `request_type`.
    RequestType,
    /// `reporter`: `user` or an API key id.
    Reporter,
}

impl UsageGrouping {
    /// Every grouping.
    pub const ALL: [UsageGrouping; 5] = [
        UsageGrouping::Day,
        UsageGrouping::User,
        UsageGrouping::Model,
        UsageGrouping::RequestType,
        UsageGrouping::Reporter,
    ];

    /// Parses a wire string, exactly.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|grouping| grouping.as_str() == raw)
            .ok_or_else(|| DomainError::UnknownGrouping(raw.to_owned()))
    }

    /// The wire string.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::User => "user",
            Self::Model => "model",
            Self::RequestType => "request_type",
            Self::Reporter => "reporter",
        }
    }
}

/// One bound of an inclusive date filter, as requests give it: an ISO date (`2025-10-01`, the
/// whole day, UTC) or an RFC 3339 date-time.
///
/// ```
/// use doztra_domain::DateBound;
///
/// let from = DateBound::start("start_date", "2025-10-01")?;
/// let until = DateBound::end("end_date", "2025-10-31")?;
/// assert_eq!(from.at().to_rfc3339(), "2025-10-01T00:00:00+00:00");
/// // An inclusive end is kept as the instant just after it.
/// assert_eq!(until.at().to_rfc3339(), "2025-11-01T00:00:00+00:00");
/// assert_eq!(until.calendar_day().to_string(), "2025-10-31");
/// assert!(DateBound::start("start_date", "yesterday").is_err());
/// # Ok::<(), doztra_domain::DomainError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateBound {
    at: DateTime<Utc>,
    day: Option<NaiveDate>,
    /// The UTC day of the date or date-time as given (an end's `at` is the instant after it).
    named_day: NaiveDate,
}

impl DateBound {
    /// An inclusive start: a date starts at its midnight.
    pub fn start(field: &'static str, raw: &str) -> Result<Self, DomainError> {
        Self::parse(field, raw, false)
    }

    /// An inclusive end, kept as the exclusive instant after it: a date ends at the next
    /// midnight, a date-time one millisecond later.
    pub fn end(field: &'static str, raw: &str) -> Result<Self, DomainError> {
        Self::parse(field, raw, true)
    }

    fn parse(field: &'static str, raw: &str, end: bool) -> Result<Self, DomainError> {
        let raw = raw.trim();
        if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
            // RFC 3339 years have four digits; chrono's `%Y` also takes signed and longer ones,
            // whose arithmetic and storage overflow.
            if !(0..=9999).contains(&day.year()) {
                return Err(DomainError::DateOutOfRange { field });
            }
            let midnight = if end { day.succ_opt() } else { Some(day) };
            let at = midnight
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc())
                .ok_or(DomainError::DateOutOfRange { field })?;
            return Ok(Self {
                at,
                day: Some(day),
                named_day: day,
            });
        }
        let at = DateTime::parse_from_rfc3339(raw)
            .map_err(|_| DomainError::InvalidDate { field })?
            .with_timezone(&Utc);
        let named_day = at.date_naive();
        if !(0..=9999).contains(&named_day.year()) {
            return Err(DomainError::DateOutOfRange { field });
        }
        let at = if end {
            at.checked_add_signed(TimeDelta::milliseconds(1))
                .ok_or(DomainError::DateOutOfRange { field })?
        } else {
            at
        };
        Ok(Self {
            at,
            day: None,
            named_day,
        })
    }

    /// The instant: inclusive for a start, exclusive for an end.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// The date, when the bound was given as one (a whole day).
    pub fn day(&self) -> Option<NaiveDate> {
        self.day
    }

    /// The day the bound names: its date, or the UTC date of the date-time as given (an end
    /// of `2025-10-31T23:59:59.999Z` names October 31st, not the instant after it).
    pub fn calendar_day(&self) -> NaiveDate {
        self.named_day
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_reporter_is_user_or_an_api_key_id() {
        let id = "0190c1f4-9a7b-7c3d-8e2f-123456789abc";
        assert_eq!(Reporter::parse("user").unwrap().stored(), "user");
        assert_eq!(Reporter::parse(id).unwrap().stored(), id);
        for raw in ["", "User", "key", "0190c1f4"] {
            let err = Reporter::parse(raw).unwrap_err();
            assert_eq!(err.field(), Some("reporter"));
            assert_eq!(err.to_string(), "reporter must be user or an API key id.");
        }
    }

    #[test]
    fn groupings_parse_their_wire_strings_exactly() {
        for grouping in UsageGrouping::ALL {
            assert_eq!(UsageGrouping::parse(grouping.as_str()).unwrap(), grouping);
        }
        let err = UsageGrouping::parse("Day").unwrap_err();
        assert_eq!(err.field(), Some("group_by"));
        assert_eq!(
            err.to_string(),
            "group_by must be day, user, model, request_type or reporter."
        );
    }

    #[test]
    fn date_bounds_take_a_day_or_an_instant_and_name_their_field() {
        let start = DateBound::start("start_date", " 2025-10-01T12:30:00+02:00 ").unwrap();
        assert_eq!(start.at().to_rfc3339(), "2025-10-01T10:30:00+00:00");
        assert_eq!(start.day(), None);
        let end = DateBound::end("end_date", "2025-10-01T10:30:00Z").unwrap();
        assert_eq!(end.at() - start.at(), TimeDelta::milliseconds(1));
        assert_eq!(end.calendar_day().to_string(), "2025-10-01");
        // The last millisecond of a day (JavaScript's end of day) names that day.
        let end = DateBound::end("end_date", "2025-10-31T23:59:59.999Z").unwrap();
        assert_eq!(end.at().to_rfc3339(), "2025-11-01T00:00:00+00:00");
        assert_eq!(end.calendar_day().to_string(), "2025-10-31");

        let err = DateBound::end("end_date", "10/01/2025").unwrap_err();
        assert_eq!(err.field(), Some("end_date"));
        assert_eq!(
            err.to_string(),
            "end_date must be a date (YYYY-MM-DD) or an RFC 3339 date-time."
        );
        assert!(DateBound::end("end_date", "9999-12-31").is_ok());
        for far in [
            NaiveDate::MAX.format("%Y-%m-%d").to_string(),
            "-0001-01-10".to_owned(),
            NaiveDate::MIN.format("%Y-%m-%d").to_string(),
            "+10000-01-01".to_owned(),
            // Year 0000 in its zone, year -1 in UTC.
            "0000-01-01T00:30:00+01:00".to_owned(),
        ] {
            let err = DateBound::start("start_date", &far).unwrap_err();
            assert_eq!(err.to_string(), "start_date is out of range.", "{far}");
            let err = DateBound::end("end_date", &far).unwrap_err();
            assert_eq!(err.to_string(), "end_date is out of range.", "{far}");
        }
    }
}
