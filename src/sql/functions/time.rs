//! Trino's date and time functions on UTC microsecond timestamps:
//! `date_add(unit, n, t)`, `date_diff(unit, t1, t2)`, the field functions
//! (`year`, `hour`, `day_of_week`, ...) and the ISO 8601 and Unix-time
//! conversions.

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc};

/// A unit name `date_add` or `date_diff` does not know.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("'{0}' is not a time unit; use millisecond, second, minute, hour, day, week, month, quarter or year")]
pub struct UnitError(pub String);

/// Text `from_iso8601_timestamp` or `from_iso8601_date` cannot read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TimeError {
    #[error("'{0}' is not an ISO 8601 timestamp (like 2023-01-22T16:53:53Z)")]
    Timestamp(String),
    #[error("'{0}' is not an ISO 8601 date (like 2023-01-22)")]
    Date(String),
    #[error("Value cannot be cast to date: {0} (date() takes a date like 2023-01-22; use date(from_iso8601_timestamp(x)) for a timestamp)")]
    Cast(String),
}

/// A unit of `date_add` and `date_diff`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Unit {
    pub fn parse(text: &str) -> Result<Unit, UnitError> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "millisecond" => Unit::Millisecond,
            "second" => Unit::Second,
            "minute" => Unit::Minute,
            "hour" => Unit::Hour,
            "day" => Unit::Day,
            "week" => Unit::Week,
            "month" => Unit::Month,
            "quarter" => Unit::Quarter,
            "year" => Unit::Year,
            _ => return Err(UnitError(text.to_string())),
        })
    }

    /// Microseconds in a fixed-length unit; None for months, quarters, years.
    fn micros(self) -> Option<i64> {
        Some(match self {
            Unit::Millisecond => 1_000,
            Unit::Second => 1_000_000,
            Unit::Minute => 60_000_000,
            Unit::Hour => 3_600_000_000,
            Unit::Day => 86_400_000_000,
            Unit::Week => 7 * 86_400_000_000,
            Unit::Month | Unit::Quarter | Unit::Year => return None,
        })
    }

    fn months(self) -> i64 {
        match self {
            Unit::Quarter => 3,
            Unit::Year => 12,
            _ => 1,
        }
    }
}

pub fn from_micros(micros: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
}

/// `date_add(unit, n, t)`; a month later than Jan 31 is the last of February, as in Trino.
pub fn add(unit: Unit, amount: i64, micros: i64) -> Option<i64> {
    if let Some(step) = unit.micros() {
        return amount.checked_mul(step).and_then(|delta| micros.checked_add(delta));
    }
    let time = from_micros(micros)?;
    let months = amount.checked_mul(unit.months())?;
    let moved = if months >= 0 {
        time.checked_add_months(Months::new(u32::try_from(months).ok()?))
    } else {
        time.checked_sub_months(Months::new(u32::try_from(-months).ok()?))
    }?;
    Some(moved.timestamp_micros())
}

/// `date_diff(unit, t1, t2)`: whole units from t1 to t2 (negative if t2 is earlier).
pub fn diff(unit: Unit, from: i64, to: i64) -> Option<i64> {
    if let Some(step) = unit.micros() {
        return Some((to - from) / step);
    }
    let (a, b) = (from_micros(from)?, from_micros(to)?);
    let mut months = (b.year() as i64 - a.year() as i64) * 12 + (b.month() as i64 - a.month() as i64);
    // A month counts only once the day and time of day are reached again.
    let rest = |t: &DateTime<Utc>| (t.day(), t.num_seconds_from_midnight(), t.nanosecond());
    if months > 0 && rest(&b) < rest(&a) {
        months -= 1;
    } else if months < 0 && rest(&b) > rest(&a) {
        months += 1;
    }
    Some(months / unit.months())
}

/// A field function: `year(t)`, `hour(t)`, `day_of_week(t)`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Year,
    Quarter,
    Month,
    Week,
    Day,
    DayOfWeek,
    DayOfYear,
    Hour,
    Minute,
    Second,
    Millisecond,
}

impl Field {
    pub fn of(self, micros: i64) -> Option<i64> {
        let t = from_micros(micros)?;
        Some(match self {
            Field::Year => t.year() as i64,
            Field::Quarter => (t.month0() / 3 + 1) as i64,
            Field::Month => t.month() as i64,
            Field::Week => t.iso_week().week() as i64,
            Field::Day => t.day() as i64,
            Field::DayOfWeek => t.weekday().number_from_monday() as i64,
            Field::DayOfYear => t.ordinal() as i64,
            Field::Hour => t.hour() as i64,
            Field::Minute => t.minute() as i64,
            Field::Second => t.second() as i64,
            Field::Millisecond => (t.nanosecond() / 1_000_000) as i64,
        })
    }
}

/// `from_iso8601_timestamp`: a date, or a date and time with or without an
/// offset (UTC when absent, as in a UTC session).
pub fn parse_iso8601(text: &str) -> Result<i64, TimeError> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_micros());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H%:z"] {
        if let Ok(time) = DateTime::parse_from_str(text, format) {
            return Ok(time.timestamp_micros());
        }
    }
    let naive = text.strip_suffix('Z').unwrap_or(text);
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(naive, format) {
            return Ok(time.and_utc().timestamp_micros());
        }
    }
    parse_iso8601_date(naive).map(|days| days as i64 * 86_400_000_000).map_err(|_| TimeError::Timestamp(text.to_string()))
}

/// `from_iso8601_date`: days since the epoch.
pub fn parse_iso8601_date(text: &str) -> Result<i32, TimeError> {
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| TimeError::Date(text.to_string()))?;
    Ok((date - DateTime::UNIX_EPOCH.date_naive()).num_days() as i32)
}

/// `to_iso8601(t)`: `2023-01-22T16:53:53.000Z`.
pub fn to_iso8601(micros: i64) -> Option<String> {
    Some(from_micros(micros)?.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// `from_unixtime(seconds)`.
pub fn from_unixtime(seconds: f64) -> Option<i64> {
    let micros = (seconds * 1e6).round();
    (micros.is_finite() && micros.abs() < 9.2e18).then_some(micros as i64)
}

/// `to_unixtime(t)`: seconds, with the fraction.
pub fn to_unixtime(micros: i64) -> f64 {
    TimeDelta::microseconds(micros).as_seconds_f64()
}

/// Days since 1970-01-01 of `micros`' UTC date (`date(timestamp)`).
pub fn day_number(micros: i64) -> i32 {
    micros.div_euclid(86_400_000_000) as i32
}

/// `date(text)`: the text, trimmed, must be a date alone (`2024-02-29`).
pub fn date_of_text(text: &str) -> Result<i32, TimeError> {
    let refuse = || TimeError::Cast(text.to_string());
    let trimmed = text.trim();
    let well_formed = trimmed.len() >= 10 && trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    let date = NaiveDate::parse_from_str(trimmed, "%Y-%m-%d").ok().filter(|_| well_formed).ok_or_else(refuse)?;
    Ok((date - DateTime::UNIX_EPOCH.date_naive()).num_days() as i32)
}

/// The last day of the month of day number `day` (`last_day_of_month`).
pub fn last_day_of_month(day: i32) -> Option<i32> {
    let date = DateTime::UNIX_EPOCH.date_naive().checked_add_signed(TimeDelta::days(day as i64))?;
    let first = date.with_day(1)?;
    let last = first.checked_add_months(Months::new(1))?.pred_opt()?;
    Some((last - DateTime::UNIX_EPOCH.date_naive()).num_days() as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        parse_iso8601(text).unwrap()
    }

    #[test]
    fn months_clamp_to_the_month_end() {
        assert_eq!(add(Unit::Month, 1, at("2023-01-31T10:00:00Z")), Some(at("2023-02-28T10:00:00Z")));
        assert_eq!(add(Unit::Year, -1, at("2024-02-29T00:00:00Z")), Some(at("2023-02-28T00:00:00Z")));
        assert_eq!(add(Unit::Day, -1, at("2023-03-01")), Some(at("2023-02-28")));
    }

    #[test]
    fn diff_counts_whole_units() {
        assert_eq!(diff(Unit::Day, at("2023-01-01T12:00:00Z"), at("2023-01-03T11:59:59Z")), Some(1));
        assert_eq!(diff(Unit::Hour, at("2023-01-03T00:00:00Z"), at("2023-01-01T00:00:00Z")), Some(-48));
        assert_eq!(diff(Unit::Month, at("2023-01-31"), at("2023-02-28")), Some(0));
        assert_eq!(diff(Unit::Month, at("2023-01-15"), at("2023-03-15")), Some(2));
        assert_eq!(diff(Unit::Year, at("2020-06-01"), at("2023-05-31")), Some(2));
        assert_eq!(diff(Unit::Quarter, at("2023-03-01"), at("2022-01-01")), Some(-4));
    }

    #[test]
    fn iso8601_forms() {
        assert_eq!(at("2023-01-22T16:53:53Z"), at("2023-01-22T17:53:53+01:00"));
        assert_eq!(at("2023-01-22T16:53:53.500"), at("2023-01-22T16:53:53Z") + 500_000);
        assert_eq!(at("2023-01-22"), at("2023-01-22T00:00:00Z"));
        assert!(parse_iso8601("22/01/2023").unwrap_err().to_string().contains("not an ISO 8601 timestamp"));
        assert_eq!(Field::DayOfWeek.of(at("2023-01-22")), Some(7));
        assert_eq!(Field::Quarter.of(at("2023-04-01")), Some(2));
        assert_eq!(to_iso8601(at("2023-01-22T16:53:53.5Z")).as_deref(), Some("2023-01-22T16:53:53.500Z"));
    }
}
