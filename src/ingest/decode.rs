//! The one decode-or-quarantine: a raw record either becomes a row under its
//! log type's schema or a quarantine row with the reason and its bytes. File
//! ingest, the Snyk puller, quarantine replay and rule tests all decode
//! through [`decode_record`], so a record is judged the same way wherever it
//! comes from.

use crate::formats::NotJson;
use crate::lake::QuarantineRow;
use crate::schema::{Provenance, RowBuilder};
use serde_json::Value;

/// Prepares a record of a log type for its schema before it is decoded
/// (`(log type name, record) → record`). Sources own these: the Snyk source's
/// gives REST items the v1 names its schemas use. The row's `eventjson`
/// keeps the record as sent.
pub type RecordAdapter = fn(&str, Value) -> Value;

/// The adapter that changes nothing.
pub fn unchanged(_log_type: &str, record: Value) -> Value {
    record
}

/// One record as read, with where it sits in its input.
pub struct Record<'a> {
    /// The original text (the row's `eventjson`, or the quarantined bytes).
    pub text: &'a str,
    /// The parsed record, or why the text is not JSON.
    pub value: Result<Value, NotJson>,
    /// The record or line number in its input, from 1.
    pub position: u64,
}

/// Decodes `record` into `builder`, or returns the quarantine row that says
/// why it was refused.
pub fn decode_record(
    builder: &mut RowBuilder,
    record: Record<'_>,
    adapt: RecordAdapter,
    provenance: &Provenance,
    parse_time: i64,
) -> Result<(), QuarantineRow> {
    let log_type = builder.log_type().clone();
    let refusal = match record.value {
        Err(reason) => format!("not JSON: {reason}"),
        Ok(value) => match builder.push(record.text, adapt(&log_type.name, value), provenance, parse_time) {
            Ok(()) => return Ok(()),
            Err(refusal) => refusal.0,
        },
    };
    Err(quarantine_row(&log_type.name, refusal, record.text.to_string(), provenance, record.position, parse_time))
}

/// A quarantine row for something of `log_type` that `provenance` sent.
pub fn quarantine_row(
    log_type: &str,
    reason: String,
    raw: String,
    provenance: &Provenance,
    position: u64,
    parse_time: i64,
) -> QuarantineRow {
    QuarantineRow {
        log_type: log_type.to_string(),
        reason,
        raw,
        source_id: provenance.source_id.clone(),
        source_label: provenance.source_label.clone(),
        source_file: provenance.source_file.clone(),
        position,
        parse_time,
    }
}
