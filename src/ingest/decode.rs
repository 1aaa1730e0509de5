//! The one decode-or-quarantine: a raw record either becomes a row under its
//! log type's schema or a quarantine row with the reason and its bytes. File
//! ingest, the Snyk puller, quarantine replay and rule tests all decode
//! through [`decode_record`], so a record is judged the same way wherever it
//! comes from.

use crate::lake::QuarantineRow;
use crate::schema::{Provenance, RowBuilder};

pub use crate::schema::RecordAdapter;

/// The adapter that renames nothing.
pub fn unchanged(_log_type: &str, _key: &str) -> Option<&'static str> {
    None
}

/// One record as read, with where it sits in its input.
pub struct Record<'a> {
    /// The record's JSON text (the row's `eventjson`, or the quarantined bytes).
    pub text: &'a str,
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
    builder.push(record.text, adapt, provenance, parse_time).map_err(|refusal| {
        quarantine_row(&builder.log_type().name, refusal.0, record.text.to_string(), provenance, record.position, parse_time)
    })
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
