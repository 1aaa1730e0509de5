//! The two date pattern languages of Trino, turned into chrono's: MySQL's
//! `%` specifiers (`date_parse`, `date_format`; `%i` is minutes, `%s`
//! seconds, `%M` the month's name) and Java's letters (`format_datetime`:
//! `yyyy-MM-dd HH:mm:ss`, `'T'` quoted text). Then `date_parse` itself: the
//! fields a pattern leaves out are 1970-01-01 00:00:00, as in Trino.

use chrono::format::{Parsed, StrftimeItems};

/// A pattern tarn cannot turn into chrono's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatternError {
    #[error("%{0} is not supported in a date format; use %Y %m %d %H %i %s and the others of Trino's date_format")]
    MySql(char),
    #[error("'{0}' is not supported in a datetime pattern; use letters like yyyy MM dd HH mm ss SSS EEE a Z")]
    Java(String),
    #[error("'{text}' does not match the format '{format}'")]
    Parse { text: String, format: String },
}

/// MySQL's specifiers (Trino's `date_parse`/`date_format`) as chrono's.
pub fn mysql_to_chrono(format: &str) -> Result<String, PatternError> {
    let mut out = String::with_capacity(format.len() + 8);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            push_literal(&mut out, c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push_str("%%");
            break;
        };
        out.push_str(match spec {
            'Y' => "%Y",
            'y' => "%y",
            'm' => "%m",
            'c' => "%-m",
            'd' => "%d",
            'e' => "%-d",
            'H' => "%H",
            'k' => "%-H",
            'h' | 'I' => "%I",
            'l' => "%-I",
            'i' => "%M",
            's' | 'S' => "%S",
            'f' => "%6f",
            'p' => "%p",
            'M' => "%B",
            'b' => "%b",
            'a' => "%a",
            'W' => "%A",
            'j' => "%j",
            'T' => "%H:%M:%S",
            'r' => "%I:%M:%S %p",
            '%' => "%%",
            'D' | 'U' | 'u' | 'V' | 'v' | 'w' | 'X' | 'x' => return Err(PatternError::MySql(spec)),
            other => {
                push_literal(&mut out, other);
                continue;
            }
        });
    }
    Ok(out)
}

/// Java's pattern letters (Trino's `format_datetime`) as chrono's.
pub fn java_to_chrono(pattern: &str) -> Result<String, PatternError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // 'text' is literal; '' is one quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            while i < chars.len() {
                match (chars[i], chars.get(i + 1)) {
                    ('\'', Some('\'')) => {
                        out.push('\'');
                        i += 2;
                    }
                    ('\'', _) => break,
                    (c, _) => {
                        push_literal(&mut out, c);
                        i += 1;
                    }
                }
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            push_literal(&mut out, c);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&d| d == c).count();
        let letters: String = chars[i..i + run].iter().collect();
        out.push_str(match (c, run) {
            ('y' | 'Y' | 'u', 2) => "%y",
            ('y' | 'Y' | 'u', _) => "%Y",
            ('M', 1) => "%-m",
            ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('D', _) => "%j",
            ('H', 1) => "%-H",
            ('H', _) => "%H",
            ('h', 1) => "%-I",
            ('h', _) => "%I",
            ('m', 1) => "%-M",
            ('m', _) => "%M",
            ('s', 1) => "%-S",
            ('s', _) => "%S",
            // chrono prints 3, 6 or 9 digits: `S` and `SS` print 3.
            ('S', 1..=3) => "%3f",
            ('S', 4..=6) => "%6f",
            ('S', _) => "%9f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('Z', 1) => "%z",
            ('Z', _) => "%:z",
            ('z', _) => "%Z",
            _ => return Err(PatternError::Java(letters)),
        });
        i += run;
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c == '%' {
        out.push_str("%%");
    } else {
        out.push(c);
    }
}

/// Formats `time` with a chrono pattern from [`java_to_chrono`] or
/// [`mysql_to_chrono`].
pub fn format(time: &chrono::NaiveDateTime, chrono_pattern: &str) -> String {
    // As UTC, so the zone letters print (a naive time has none to print).
    time.and_utc().format(chrono_pattern).to_string()
}

/// Trino's `date_parse(text, format)`: microseconds since the epoch, the
/// fields `format` does not name taken from 1970-01-01 00:00:00.
pub fn parse(text: &str, mysql_format: &str) -> Result<i64, PatternError> {
    let pattern = mysql_to_chrono(mysql_format)?;
    let refuse = || PatternError::Parse { text: text.to_string(), format: mysql_format.to_string() };
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, text, StrftimeItems::new(&pattern)).map_err(|_| refuse())?;
    if parsed.year().is_none() && parsed.year_mod_100().is_none() {
        parsed.set_year(1970).map_err(|_| refuse())?;
    }
    if parsed.month().is_none() && parsed.ordinal().is_none() {
        parsed.set_month(1).map_err(|_| refuse())?;
    }
    if parsed.day().is_none() && parsed.ordinal().is_none() {
        parsed.set_day(1).map_err(|_| refuse())?;
    }
    if parsed.hour_div_12().is_none() {
        parsed.set_hour(0).map_err(|_| refuse())?;
    }
    if parsed.hour_mod_12().is_none() {
        parsed.set_hour12(12).map_err(|_| refuse())?;
    }
    if parsed.minute().is_none() {
        parsed.set_minute(0).map_err(|_| refuse())?;
    }
    if parsed.second().is_none() {
        parsed.set_second(0).map_err(|_| refuse())?;
    }
    let time = parsed.to_naive_datetime_with_offset(0).map_err(|_| refuse())?;
    // Trino's timestamp(3): the fraction is cut to milliseconds.
    let micros = time.and_utc().timestamp_micros();
    Ok(micros - micros.rem_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> chrono::NaiveDateTime {
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    #[test]
    fn java_patterns_format_as_trino_documents() {
        let t = at("2024-03-05 14:07:09.123456");
        let cases = [
            ("yyyy-MM-dd HH:mm:ss", "2024-03-05 14:07:09"),
            ("yyyy-MM-dd'T'HH:mm:ss.SSS", "2024-03-05T14:07:09.123"),
            ("EEE, dd MMM yyyy", "Tue, 05 Mar 2024"),
            ("EEEE d MMMM yy h a", "Tuesday 5 March 24 2 PM"),
            ("H:m:s.SSSSSS", "14:7:9.123456"),
            ("'it''s' D", "it's 065"),
            ("HH:mm Z z", "14:07 +0000 UTC"),
        ];
        for (pattern, expected) in cases {
            assert_eq!(format(&t, &java_to_chrono(pattern).unwrap()), expected, "{pattern}");
        }
        assert!(java_to_chrono("yyyy qq").unwrap_err().to_string().contains("'qq'"));
    }

    #[test]
    fn mysql_minutes_are_i_and_the_month_name_is_capital_m() {
        let t = at("2024-03-05 14:07:09.5");
        assert_eq!(format(&t, &mysql_to_chrono("%Y-%m-%d %H:%i:%s").unwrap()), "2024-03-05 14:07:09");
        assert_eq!(format(&t, &mysql_to_chrono("%M %e, %Y %r %f").unwrap()), "March 5, 2024 02:07:09 PM 500000");
        assert_eq!(mysql_to_chrono("%D").unwrap_err(), PatternError::MySql('D'));
    }

    #[test]
    fn date_parse_defaults_missing_fields_to_the_epoch() {
        let micros = |text: &str| at(text).and_utc().timestamp_micros();
        assert_eq!(parse("2022/10/20/05", "%Y/%m/%d/%H").unwrap(), micros("2022-10-20 05:00:00"));
        assert_eq!(parse("2024-02-29 23:59:58", "%Y-%m-%d %H:%i:%s").unwrap(), micros("2024-02-29 23:59:58"));
        assert_eq!(parse("10:30", "%H:%i").unwrap(), micros("1970-01-01 10:30:00"));
        assert_eq!(parse("03:04:05 PM", "%r").unwrap(), micros("1970-01-01 15:04:05"));
        assert_eq!(parse("2024-01-01 00:00:00.123456", "%Y-%m-%d %T.%f").unwrap(), micros("2024-01-01 00:00:00.123"));
        assert!(parse("2024-13-01", "%Y-%m-%d").is_err());
        assert!(parse("2024-01-01 extra", "%Y-%m-%d").is_err());
    }
}
