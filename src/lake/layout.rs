//! The partition scheme, decided here and nowhere else: a table's rows live
//! under `<table>/year=YYYY/month=MM/day=DD/hour=HH/` by the UTC hour of
//! `p_event_time` (Panther's binning, Hive-style so other engines read it).

/// The Hive partition columns, outermost first.
pub const PARTITION_COLUMNS: [&str; 4] = ["year", "month", "day", "hour"];

/// The partition directory of a table for a UTC hour (microseconds since the epoch).
pub fn partition_dir(table: &str, micros: i64) -> (String, [i32; 4]) {
    use chrono::{Datelike, Timelike};
    let time = chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default();
    let values = [time.year(), time.month() as i32, time.day() as i32, time.hour() as i32];
    (format!("{table}/year={:04}/month={:02}/day={:02}/hour={:02}", values[0], values[1], values[2], values[3]), values)
}
