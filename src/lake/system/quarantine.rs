//! Quarantine: records that failed their schema (or were not JSON), kept with
//! their original bytes, where they came from and why, as a lake table of its
//! own so SQL can read it and `tarn quarantine replay` can retry it.

use super::Columns;
use crate::schema::timestamp_type;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::{Arc, LazyLock};

pub const QUARANTINE_TABLE: &str = "quarantine";

/// One refused record.
#[derive(Debug, Clone, PartialEq)]
pub struct QuarantineRow {
    pub log_type: String,
    pub reason: String,
    /// The record's original text.
    pub raw: String,
    pub source_id: String,
    pub source_label: String,
    pub source_file: Option<String>,
    /// Record number or line number within the source file.
    pub position: u64,
    /// Microseconds since the epoch.
    pub parse_time: i64,
}

impl QuarantineRow {
    /// The memory the row holds, its strings' allocations included: what
    /// bounds on held quarantine rows count.
    pub fn held_bytes(&self) -> usize {
        const PER_STRING: usize = 32; // the allocator's share of each string
        let strings = [&self.log_type, &self.reason, &self.raw, &self.source_id, &self.source_label];
        let text: usize = strings.iter().map(|s| s.capacity() + PER_STRING).sum();
        std::mem::size_of::<QuarantineRow>() + text + self.source_file.as_ref().map_or(0, |f| f.capacity() + PER_STRING)
    }
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("p_log_type", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("raw", DataType::Utf8, false),
        Field::new("p_source_id", DataType::Utf8, true),
        Field::new("p_source_label", DataType::Utf8, true),
        Field::new("p_source_file", DataType::Utf8, true),
        Field::new("p_source_position", DataType::Int64, false),
        Field::new("p_parse_time", timestamp_type(), false),
        // Quarantine is partitioned by when the record was refused.
        Field::new("p_event_time", timestamp_type(), false),
    ]))
});

/// The quarantine table's columns.
pub fn quarantine_schema() -> SchemaRef {
    SCHEMA.clone()
}

pub(crate) fn quarantine_batch(rows: &[QuarantineRow]) -> Result<RecordBatch, ArrowError> {
    Columns::new(rows)
        .text(|r| Some(r.log_type.as_str()))
        .text(|r| Some(r.reason.as_str()))
        .text(|r| Some(r.raw.as_str()))
        .text(|r| Some(r.source_id.as_str()))
        .text(|r| Some(r.source_label.as_str()))
        .text(|r| r.source_file.as_deref())
        .int(|r| Some(r.position as i64))
        .time(|r| Some(r.parse_time))
        .time(|r| Some(r.parse_time))
        .finish(quarantine_schema())
}
