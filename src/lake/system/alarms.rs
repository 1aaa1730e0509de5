//! Alarms: a source that has gone quiet (Panther's "log drop-off alarm") is
//! recorded as a row of the `alarms` table, in the same commit that moves the
//! source's checkpoint, so a scheduled job raises each alarm once and SQL can
//! list them beside the data.

use super::Columns;
use crate::schema::timestamp_type;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::{Arc, LazyLock};

pub const ALARMS_TABLE: &str = "alarms";

/// One raised alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmRow {
    /// What kind of alarm: `log drop-off`.
    pub alarm: String,
    /// The source's key (`snyk:org:<id>`) and its label.
    pub source_id: String,
    pub source_label: String,
    pub log_type: String,
    pub message: String,
    /// The newest event the source delivered, microseconds; None if it never did.
    pub last_event_time: Option<i64>,
    pub silent_seconds: i64,
    pub threshold_seconds: i64,
    /// When the alarm was raised, microseconds.
    pub raised_at: i64,
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("alarm", DataType::Utf8, false),
        Field::new("p_source_id", DataType::Utf8, false),
        Field::new("p_source_label", DataType::Utf8, false),
        Field::new("p_log_type", DataType::Utf8, false),
        Field::new("message", DataType::Utf8, false),
        Field::new("last_event_time", timestamp_type(), true),
        Field::new("silent_seconds", DataType::Int64, false),
        Field::new("threshold_seconds", DataType::Int64, false),
        // Alarms are partitioned by when they were raised.
        Field::new("p_event_time", timestamp_type(), false),
    ]))
});

/// The alarms table's columns.
pub fn alarms_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Rows for the alarms table, to write with [`crate::lake::Transaction::write`].
pub fn alarms_batch(rows: &[AlarmRow]) -> Result<RecordBatch, ArrowError> {
    Columns::new(rows)
        .text(|r| Some(r.alarm.as_str()))
        .text(|r| Some(r.source_id.as_str()))
        .text(|r| Some(r.source_label.as_str()))
        .text(|r| Some(r.log_type.as_str()))
        .text(|r| Some(r.message.as_str()))
        .time(|r| r.last_event_time)
        .int(|r| Some(r.silent_seconds))
        .int(|r| Some(r.threshold_seconds))
        .time(|r| Some(r.raised_at))
        .finish(alarms_schema())
}
