//! Pruning from the commit log: a query's filters on the event time
//! (`p_event_time`, or the column it copies, such as CloudTrail's `eventtime`)
//! and on the partition columns (`year`, `month`, `day`, `hour`) are matched
//! against each live file's partition and its smallest and largest
//! `p_event_time`, which the commit log records. Files that cannot match are
//! never opened; in the files that remain, DataFusion's Parquet reader skips
//! row groups by their statistics.
//!
//! Pruning is conservative: a filter it does not understand keeps every file,
//! and DataFusion still applies every filter to the rows read.

use crate::lake::FileEntry;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};

/// The partition columns, in path order.
pub const PARTITION_COLUMNS: [&str; 4] = ["year", "month", "day", "hour"];

/// What the filters allow: an event-time range and partition-value ranges,
/// all inclusive.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    /// Microseconds.
    time: (i64, i64),
    /// year, month, day, hour.
    partition: [(i64, i64); 4],
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds { time: (i64::MIN, i64::MAX), partition: [(i64::MIN, i64::MAX); 4] }
    }
}

impl Bounds {
    /// The bounds the conjunction of `filters` sets on `time_columns` and the
    /// partition columns.
    pub fn from_filters(filters: &[Expr], time_columns: &[String]) -> Bounds {
        let mut bounds = Bounds::default();
        for filter in filters {
            bounds.narrow(filter, time_columns);
        }
        bounds
    }

    /// Whether a file may hold rows within the bounds.
    pub fn may_match(&self, file: &FileEntry) -> bool {
        let overlaps = |(lo, hi): (i64, i64), min: i64, max: i64| max >= lo && min <= hi;
        overlaps(self.time, file.min_time, file.max_time)
            && self.partition.iter().zip(file.partition).all(|(range, value)| overlaps(*range, value as i64, value as i64))
    }

    fn narrow(&mut self, filter: &Expr, time_columns: &[String]) {
        match filter {
            Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
                self.narrow(left, time_columns);
                self.narrow(right, time_columns);
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (column, op, value) = match (left.as_ref(), right.as_ref()) {
                    (Expr::Column(c), Expr::Literal(v, _)) => (c, *op, v),
                    (Expr::Literal(v, _), Expr::Column(c)) => match op.swap() {
                        Some(op) => (c, op, v),
                        None => return,
                    },
                    _ => return,
                };
                if let Some((target, floor, ceil)) = self.target(&column.name, value, time_columns) {
                    // Column values are whole numbers (microseconds, partition values).
                    let range = match op {
                        Operator::Eq => (ceil, floor),
                        Operator::Gt => (floor.saturating_add(1), i64::MAX),
                        Operator::GtEq => (ceil, i64::MAX),
                        Operator::Lt => (i64::MIN, ceil.saturating_sub(1)),
                        Operator::LtEq => (i64::MIN, floor),
                        _ => return,
                    };
                    intersect(target, range);
                }
            }
            Expr::Between(between) if !between.negated => {
                let Expr::Column(column) = between.expr.as_ref() else { return };
                let (Expr::Literal(low, _), Expr::Literal(high, _)) = (between.low.as_ref(), between.high.as_ref()) else { return };
                let Some((_, _, lower)) = self.target(&column.name, low, time_columns) else { return };
                if let Some((target, upper, _)) = self.target(&column.name, high, time_columns) {
                    intersect(target, (lower, upper));
                }
            }
            _ => {}
        }
    }

    /// The range a column's bounds live in, and a literal there rounded down
    /// and up (a nanosecond time to the microseconds around it).
    fn target(&mut self, column: &str, value: &ScalarValue, time_columns: &[String]) -> Option<(&mut (i64, i64), i64, i64)> {
        if time_columns.iter().any(|c| c == column) {
            let (lower, upper) = micros(value)?;
            return Some((&mut self.time, lower, upper));
        }
        let index = PARTITION_COLUMNS.iter().position(|c| *c == column)?;
        let number = integer(value)?;
        Some((&mut self.partition[index], number, number))
    }
}

fn intersect(target: &mut (i64, i64), (lo, hi): (i64, i64)) {
    target.0 = target.0.max(lo);
    target.1 = target.1.min(hi);
}

/// A time literal as microseconds, rounded down and up.
fn micros(value: &ScalarValue) -> Option<(i64, i64)> {
    Some(match value {
        ScalarValue::TimestampSecond(Some(v), _) => (v.checked_mul(1_000_000)?, v.checked_mul(1_000_000)?),
        ScalarValue::TimestampMillisecond(Some(v), _) => (v.checked_mul(1_000)?, v.checked_mul(1_000)?),
        ScalarValue::TimestampMicrosecond(Some(v), _) => (*v, *v),
        ScalarValue::TimestampNanosecond(Some(v), _) => (v.div_euclid(1_000), (v + 999).div_euclid(1_000)),
        _ => return None,
    })
}

fn integer(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::Int8(Some(v)) => Some(*v as i64),
        ScalarValue::Int16(Some(v)) => Some(*v as i64),
        ScalarValue::Int32(Some(v)) => Some(*v as i64),
        ScalarValue::Int64(Some(v)) => Some(*v),
        ScalarValue::UInt8(Some(v)) => Some(*v as i64),
        ScalarValue::UInt16(Some(v)) => Some(*v as i64),
        ScalarValue::UInt32(Some(v)) => Some(*v as i64),
        ScalarValue::UInt64(Some(v)) => i64::try_from(*v).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    const HOUR: i64 = 3_600_000_000;

    fn file(hour: i64) -> FileEntry {
        let (_, partition) = crate::lake::partition_dir("t", hour * HOUR);
        FileEntry {
            table: "t".into(),
            path: format!("f{hour}"),
            partition,
            rows: 1,
            bytes: 1,
            min_time: hour * HOUR + 60_000_000,
            max_time: hour * HOUR + 3_000_000_000,
            commit: 0,
        }
    }

    fn time(micros: i64) -> Expr {
        lit(ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into())))
    }

    fn kept(filters: &[Expr]) -> Vec<i64> {
        let bounds = Bounds::from_filters(filters, &["p_event_time".to_string(), "eventtime".to_string()]);
        let base = 490_000; // an hour in 2025
        (base..base + 6).filter(|h| bounds.may_match(&file(*h))).map(|h| h - base).collect()
    }

    #[test]
    fn time_ranges_keep_only_overlapping_files() {
        let base = 490_000 * HOUR;
        assert_eq!(kept(&[col("eventtime").gt_eq(time(base + 2 * HOUR)), col("eventtime").lt(time(base + 4 * HOUR))]), [2, 3]);
        assert_eq!(kept(&[col("p_event_time").gt_eq(time(base + 2 * HOUR)).and(col("p_event_time").lt(time(base + 4 * HOUR)))]), [2, 3]);
        assert_eq!(kept(&[time(base + HOUR).lt(col("eventtime"))]), [1, 2, 3, 4, 5], "literal on the left");
        // A file whose first event is exactly at the bound: `<` leaves it out, `<=` keeps it.
        let first_of_hour_3 = base + 3 * HOUR + 60_000_000;
        assert_eq!(kept(&[col("eventtime").lt(time(first_of_hour_3))]), [0, 1, 2]);
        assert_eq!(kept(&[col("eventtime").lt_eq(time(first_of_hour_3))]), [0, 1, 2, 3]);
        assert_eq!(kept(&[col("eventtime").eq(time(first_of_hour_3))]), [3]);
        assert_eq!(kept(&[col("eventtime").between(time(base + 3 * HOUR + 3_100_000_000), time(base + 5 * HOUR))]), [4]);
        // Nanoseconds: 1 ns after the first event of hour 5 still includes it with `<`.
        let nanos = lit(ScalarValue::TimestampNanosecond(Some((base + 5 * HOUR + 60_000_000) * 1000 + 1), None));
        assert_eq!(kept(&[col("eventtime").lt(nanos.clone())]), [0, 1, 2, 3, 4, 5]);
        assert_eq!(kept(&[col("eventtime").gt(nanos)]), [5]);
    }

    #[test]
    fn partition_columns_prune_too() {
        let hour_of = |h: i64| crate::lake::partition_dir("t", (490_000 + h) * HOUR).1[3] as i64;
        assert_eq!(kept(&[col("hour").eq(lit(hour_of(3) as i32))]), [3]);
        assert_eq!(hour_of(0), 16, "the six hours are 16..21 of one day");
        assert_eq!(kept(&[col("hour").gt_eq(lit(20))]), [4, 5]);
        assert_eq!(kept(&[col("hour").between(lit(17), lit(18)), col("year").eq(lit(2025))]), [1, 2]);
        assert_eq!(kept(&[col("year").eq(lit(2024))]), Vec::<i64>::new());
    }

    #[test]
    fn what_it_does_not_understand_keeps_every_file() {
        let base = 490_000 * HOUR;
        let everything = [0, 1, 2, 3, 4, 5];
        assert_eq!(kept(&[col("eventtime").gt(time(base)).or(col("eventname").eq(lit("x")))]), everything);
        assert_eq!(kept(&[col("eventtime").not_eq(time(base))]), everything);
        assert_eq!(kept(&[col("useridentity").is_not_null()]), everything);
        assert_eq!(kept(&[col("eventname").gt_eq(time(base + 5 * HOUR))]), everything, "not an event-time column");
        assert_eq!(kept(&[]), everything);
    }
}
