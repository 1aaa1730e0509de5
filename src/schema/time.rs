//! Timestamp formats of the Panther schema (`timeFormat` / `timeFormats`).
//!
//! Every format parses to microseconds since the Unix epoch, UTC, which is
//! how the lake stores timestamps.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};

/// A `timeFormat` a schema cannot use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TimeFormatError {
    #[error("'{0}' is not a valid strftime pattern")]
    Pattern(String),
    #[error("unknown time format '{0}' (use rfc3339, unix, unix_ms, unix_us, unix_ns or a strftime pattern such as '%Y-%m-%d %H:%M:%S')")]
    Unknown(String),
}

/// One accepted time format.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeFormat {
    Rfc3339,
    Unix,
    UnixMs,
    UnixUs,
    UnixNs,
    /// A strftime pattern such as `%Y-%m-%d %H:%M:%S`.
    Pattern(String),
}

impl TimeFormat {
    /// Reads a format name as a schema file writes it.
    pub fn parse(name: &str) -> Result<TimeFormat, TimeFormatError> {
        Ok(match name {
            "rfc3339" => TimeFormat::Rfc3339,
            "unix" => TimeFormat::Unix,
            "unix_ms" => TimeFormat::UnixMs,
            "unix_us" => TimeFormat::UnixUs,
            "unix_ns" => TimeFormat::UnixNs,
            pattern if pattern.contains('%') => {
                // chrono reports a bad pattern only when it is used; try it once
                // on a fixed instant so the schema check catches it.
                let probe = chrono::DateTime::UNIX_EPOCH.naive_utc();
                let mut text = String::new();
                use std::fmt::Write;
                if write!(text, "{}", probe.format(pattern)).is_err() {
                    return Err(TimeFormatError::Pattern(pattern.to_string()));
                }
                TimeFormat::Pattern(pattern.to_string())
            }
            other => return Err(TimeFormatError::Unknown(other.to_string())),
        })
    }

    /// Parses one JSON value under this format, to microseconds since the epoch.
    pub fn to_micros(&self, value: Moment<'_>) -> Option<i64> {
        match self {
            TimeFormat::Rfc3339 => parse_rfc3339(value.text()?),
            TimeFormat::Unix => scaled(value, 1_000_000.0),
            TimeFormat::UnixMs => scaled(value, 1_000.0),
            TimeFormat::UnixUs => scaled(value, 1.0),
            TimeFormat::UnixNs => scaled(value, 0.001),
            TimeFormat::Pattern(pattern) => parse_pattern(value.text()?, pattern),
        }
    }
}

/// A JSON value that may hold a time.
#[derive(Debug, Clone, Copy)]
pub enum Moment<'a> {
    Text(&'a str),
    Number(&'a serde_json::Number),
    /// Anything else (never a time).
    Other,
}

impl<'a> Moment<'a> {
    #[cfg(test)]
    pub fn of(value: &'a serde_json::Value) -> Moment<'a> {
        match value {
            serde_json::Value::String(s) => Moment::Text(s),
            serde_json::Value::Number(n) => Moment::Number(n),
            _ => Moment::Other,
        }
    }

    fn text(self) -> Option<&'a str> {
        match self {
            Moment::Text(text) => Some(text),
            _ => None,
        }
    }
}

/// Reads a number of units (a JSON number or a numeric string) as microseconds.
/// Whole numbers stay exact; fractions go through f64.
fn scaled(value: Moment<'_>, micros_per_unit: f64) -> Option<i64> {
    let text;
    let number = match value {
        Moment::Number(n) => n,
        Moment::Text(s) => {
            text = serde_json::from_str::<serde_json::Number>(s.trim()).ok()?;
            &text
        }
        Moment::Other => return None,
    };
    if let Some(whole) = number.as_i64() {
        return if micros_per_unit >= 1.0 {
            whole.checked_mul(micros_per_unit as i64)
        } else {
            Some(whole.div_euclid((1.0 / micros_per_unit).round() as i64))
        };
    }
    let number = number.as_f64()?;
    number.is_finite().then(|| (number * micros_per_unit).round() as i64)
}

fn parse_rfc3339(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros());
    }
    // Tolerate what some producers write: no zone (taken as UTC), or a space for the `T`.
    for pattern in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, pattern) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z").ok().map(|t| t.timestamp_micros())
}

fn parse_pattern(text: &str, pattern: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_str(text, pattern) {
        return Some(t.timestamp_micros());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(text, pattern) {
        return Some(t.and_utc().timestamp_micros());
    }
    NaiveDate::parse_from_str(text, pattern).ok().map(|d| d.and_time(NaiveTime::MIN).and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_format_reads_the_same_instant() {
        let micros = 1_700_000_000_123_000;
        let cases = [
            ("rfc3339", json!("2023-11-14T22:13:20.123Z")),
            ("rfc3339", json!("2023-11-14T23:13:20.123+01:00")),
            ("unix", json!(1_700_000_000.123)),
            ("unix", json!("1700000000.123")),
            ("unix_ms", json!(1_700_000_000_123i64)),
            ("unix_us", json!(1_700_000_000_123_000i64)),
            ("unix_ns", json!(1_700_000_000_123_000_000i64)),
            ("%Y-%m-%d %H:%M:%S%.3f", json!("2023-11-14 22:13:20.123")),
        ];
        for (format, value) in cases {
            let format = TimeFormat::parse(format).unwrap();
            assert_eq!(format.to_micros(Moment::of(&value)), Some(micros), "{format:?} on {value}");
        }
    }

    #[test]
    fn a_date_only_pattern_is_midnight_utc() {
        let format = TimeFormat::parse("%Y-%m-%d").unwrap();
        assert_eq!(format.to_micros(Moment::of(&json!("1970-01-02"))), Some(86_400_000_000));
    }

    #[test]
    fn garbage_is_not_a_time() {
        assert_eq!(TimeFormat::Rfc3339.to_micros(Moment::of(&json!("yesterday"))), None);
        assert_eq!(TimeFormat::Unix.to_micros(Moment::of(&json!(true))), None);
        assert!(TimeFormat::parse("iso").is_err());
    }
}
