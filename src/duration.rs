//! Durations as people write them in flags and config (`90s`, `30m`, `6h`,
//! `7d`, `1h30m`), and back as text for messages.

use std::time::Duration;

/// Text that is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a duration; write it like 90s, 30m, 6h or 7d")]
pub struct DurationError {
    /// The text as given.
    pub text: String,
}

/// Parses `6h`, `30m`, `1h30m`, `7d`, `90s`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(tarn::duration::parse("1h30m"), Ok(Duration::from_secs(5400)));
/// assert!(tarn::duration::parse("6 hours").is_err());
/// ```
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let wrong = || DurationError { text: text.to_string() };
    let mut seconds: u64 = 0;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(wrong()),
        };
        let n: u64 = number.parse().map_err(|_| wrong())?;
        seconds = n.checked_mul(unit).and_then(|s| seconds.checked_add(s)).ok_or_else(wrong)?;
        number.clear();
    }
    if !number.is_empty() || seconds == 0 {
        return Err(wrong());
    }
    Ok(Duration::from_secs(seconds))
}

/// A time people write in flags and config: a day (`2026-11-20`, midnight
/// UTC) or RFC 3339; microseconds since the epoch.
///
/// ```
/// assert_eq!(tarn::duration::instant("1970-01-02"), Some(86_400_000_000));
/// assert_eq!(tarn::duration::instant("soon"), None);
/// ```
pub fn instant(text: &str) -> Option<i64> {
    if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(day.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_micros());
    }
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_micros())
}

/// `2d 3h`, `7h 12m`, `45s`: the two largest units.
pub fn show(duration: Duration) -> String {
    let s = duration.as_secs();
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_combinations() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("6h"), Ok(Duration::from_secs(21_600)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse("1d12h"), Ok(Duration::from_secs(129_600)));
        for bad in ["", "6", "h", "6x", "-1h", "0s", "1.5h"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shown_with_two_units() {
        assert_eq!(show(Duration::from_secs(45)), "45s");
        assert_eq!(show(Duration::from_secs(7 * 3600 + 12 * 60 + 5)), "7h 12m");
        assert_eq!(show(Duration::from_secs(2 * 86_400 + 3 * 3600)), "2d 3h");
        assert_eq!(show(Duration::from_secs(6 * 3600)), "6h");
    }
}
