//! Quarantine replay: every quarantined record (of one log type, or all) is
//! decoded again under today's schemas, in one commit. Records that pass land
//! in their tables and leave quarantine; the rest stay, with today's reason.

use super::decode::{Record, RecordAdapter, decode_record};
use super::{IngestError, Maintenance};
use crate::lake::{Lake, LakeError, QUARANTINE_TABLE, QuarantineRow};
use crate::schema::{Provenance, Registry, RowBuilder};
use std::collections::BTreeMap;

/// What `tarn quarantine replay` did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReplayReport {
    /// Records that now pass their schema and landed in their tables.
    pub landed: u64,
    /// Records that still fail, kept in quarantine with the current reason.
    pub still_quarantined: u64,
}

/// Retries every quarantined record (of `log_type`, or all) under the
/// current schemas, in one commit: passing records land in their tables and
/// leave quarantine; the rest stay, with today's reason.
pub fn replay_quarantine(
    lake: &Lake,
    registry: &Registry,
    log_type: Option<&str>,
    adapt: RecordAdapter,
) -> Result<ReplayReport, IngestError> {
    let wanted = log_type.map(|name| registry.get(name)).transpose()?;
    let snapshot = lake.snapshot()?;
    let replay = Maintenance::begin(lake, "quarantine replay")?;
    let chunk = replay.chunk();
    let mut builders: BTreeMap<String, RowBuilder> = BTreeMap::new();
    let mut report = ReplayReport::default();
    let parse_time = crate::now_micros();
    for entry in snapshot.table_files(QUARANTINE_TABLE) {
        for mut kept in read_quarantine(lake, &entry.path)? {
            if kept.raw.is_empty() {
                // A marker for a cut-off file: nothing to retry.
                chunk.quarantine(kept);
                continue;
            }
            let target = match registry.get(&kept.log_type) {
                Ok(t) if wanted.as_ref().is_none_or(|w| w.name == t.name) => t,
                _ => {
                    chunk.quarantine(kept);
                    continue;
                }
            };
            let provenance = Provenance {
                source_id: kept.source_id.clone(),
                source_label: kept.source_label.clone(),
                source_file: kept.source_file.clone(),
            };
            let builder = builders.entry(target.name.clone()).or_insert_with(|| RowBuilder::new(target.clone()));
            let record = Record { text: &kept.raw, position: kept.position };
            match decode_record(builder, record, adapt, &provenance, parse_time) {
                Ok(()) => report.landed += 1,
                Err(refused) => {
                    kept.reason = refused.reason;
                    report.still_quarantined += 1;
                    chunk.quarantine(kept);
                }
            }
        }
        chunk.remove(&entry.path);
    }
    for builder in builders.values_mut() {
        if let Some(batch) = builder.finish().map_err(LakeError::from)? {
            chunk.write(&builder.log_type().table, &batch)?;
        }
    }
    replay.commit()?;
    Ok(report)
}

/// The rows of one quarantine file.
fn read_quarantine(lake: &Lake, file: &str) -> Result<Vec<QuarantineRow>, LakeError> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Int64Type, TimestampMicrosecondType};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let path = format!("{}/{file}", lake.location());
    let reader = ParquetRecordBatchReaderBuilder::try_new(lake.store().open_parquet(file)?)?.build()?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch?;
        let column = |name: &str| {
            batch.column_by_name(name).cloned().ok_or_else(|| LakeError::NotQuarantine { path: path.clone(), column: name.to_string() })
        };
        let strings = |name: &str| -> Result<_, LakeError> {
            let array = column(name)?;
            array.as_string_opt::<i32>().cloned().ok_or_else(|| LakeError::NotQuarantine { path: path.clone(), column: name.to_string() })
        };
        let (log_types, reasons, raws) = (strings("p_log_type")?, strings("reason")?, strings("raw")?);
        let (ids, labels, files) = (strings("p_source_id")?, strings("p_source_label")?, strings("p_source_file")?);
        let positions = column("p_source_position")?;
        let positions = positions
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| LakeError::NotQuarantine { path: path.clone(), column: "p_source_position".into() })?;
        let parse_times = column("p_parse_time")?;
        let parse_times = parse_times
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| LakeError::NotQuarantine { path: path.clone(), column: "p_parse_time".into() })?;
        for row in 0..batch.num_rows() {
            rows.push(QuarantineRow {
                log_type: log_types.value(row).to_string(),
                reason: reasons.value(row).to_string(),
                raw: raws.value(row).to_string(),
                source_id: ids.value(row).to_string(),
                source_label: labels.value(row).to_string(),
                source_file: (!files.is_null(row)).then(|| files.value(row).to_string()),
                position: positions.value(row) as u64,
                parse_time: parse_times.value(row),
            });
        }
    }
    Ok(rows)
}
