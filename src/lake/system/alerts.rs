//! The `alerts` table: one row each time a rule run raises an alert, or adds
//! events to an alert it raised earlier in the same dedup period. Rows land
//! in the commit that moves the rules' dedup state, so a crash never leaves
//! an alert without its state (or the reverse).

use super::Columns;
use crate::schema::timestamp_type;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::{Arc, LazyLock};

pub const ALERTS_TABLE: &str = "alerts";

/// One alert row.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub alert_id: String,
    pub rule_id: String,
    pub severity: String,
    pub title: String,
    pub dedup_key: String,
    /// `raised` for a new alert, `updated` for events added to an alert
    /// raised by an earlier run.
    pub kind: &'static str,
    /// Event times of the alert's first and last events so far, microseconds.
    pub first_seen: i64,
    pub last_seen: i64,
    /// Events in the alert so far.
    pub count: u64,
    /// The rows this alert row adds (all of them when raised).
    pub row_ids: Vec<String>,
    /// When the run wrote it, microseconds.
    pub written_at: i64,
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("alert_id", DataType::Utf8, false),
        Field::new("rule_id", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("dedup_key", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("first_seen", timestamp_type(), false),
        Field::new("last_seen", timestamp_type(), false),
        Field::new("count", DataType::Int64, false),
        Field::new("row_ids", DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), false),
        // Alert rows are partitioned by when they were written.
        Field::new("p_event_time", timestamp_type(), false),
    ]))
});

/// The alerts table's columns.
pub fn alerts_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Rows for the alerts table.
pub fn alerts_batch(rows: &[AlertRow]) -> Result<RecordBatch, ArrowError> {
    Columns::new(rows)
        .text(|r| Some(r.alert_id.as_str()))
        .text(|r| Some(r.rule_id.as_str()))
        .text(|r| Some(r.severity.as_str()))
        .text(|r| Some(r.title.as_str()))
        .text(|r| Some(r.dedup_key.as_str()))
        .text(|r| Some(r.kind))
        .time(|r| Some(r.first_seen))
        .time(|r| Some(r.last_seen))
        .int(|r| Some(r.count as i64))
        .texts(|r| &r.row_ids)
        .time(|r| Some(r.written_at))
        .finish(alerts_schema())
}
