//! Ingest: the pipeline from a source's raw records to lake commits.
//! Records are decoded under their log type; refused ones go to quarantine in
//! the same commit; each commit records the inputs it consumed, so an input
//! already in the lake is skipped (unless forced) and a crash before the
//! commit leaves nothing behind.

use crate::lake::{CommitOutcome, Lake, LakeError, QuarantineRow, Transaction};
use crate::schema::{LogType, Provenance, Registry, RowBuilder, SchemaError};
use crate::sources::{RawRecord, file};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows decoded before they are handed to the lake writer as one batch.
const BATCH_ROWS: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// Settings of `tarn ingest file`.
#[derive(Debug, Clone)]
pub struct FileOptions {
    /// The log type of every file; None to tell it from CloudTrail key layouts.
    pub log_type: Option<String>,
    /// Ingest files even if the lake already holds their content.
    pub force: bool,
    /// Records gathered before a commit (a commit also closes at the end).
    pub chunk_records: u64,
    pub source_label: String,
}

impl Default for FileOptions {
    fn default() -> FileOptions {
        FileOptions { log_type: None, force: false, chunk_records: 500_000, source_label: "tarn ingest file".into() }
    }
}

/// What an ingest run did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IngestReport {
    /// Files whose records were committed.
    pub files: u64,
    /// Files skipped because the lake already holds them.
    pub already_ingested: u64,
    /// Files that could not be read at all, with the reason.
    pub failed: Vec<String>,
    pub rows: u64,
    pub quarantined: u64,
    pub commits: u64,
    /// Bytes read from the files, after decompression.
    pub bytes: u64,
}

/// Counts of the chunk being built; they join the report when it commits.
#[derive(Default)]
struct Chunk {
    files: Vec<PathBuf>,
    quarantined: u64,
    bytes: u64,
    failed: Vec<String>,
}

/// Ingests local files (directories are walked) into the lake.
pub fn ingest_files(
    lake: &Lake,
    registry: &Registry,
    paths: &[PathBuf],
    options: &FileOptions,
    on_problem: &mut dyn FnMut(&str),
) -> Result<IngestReport, IngestError> {
    let mut report = IngestReport::default();
    let mut queue: VecDeque<PathBuf> = VecDeque::new();
    for path in paths {
        if let Err(problem) = expand(path, &mut queue) {
            on_problem(&problem);
            report.failed.push(problem);
        }
    }
    let mut consumed = lake.snapshot()?.inputs;
    while !queue.is_empty() {
        let mut tx = lake.begin()?;
        let mut chunk = Chunk::default();
        let mut builders: BTreeMap<String, RowBuilder> = BTreeMap::new();
        let mut inputs: Vec<(PathBuf, String)> = Vec::new();
        while let Some(path) = queue.pop_front() {
            let fingerprint = match fingerprint(&path) {
                Ok(f) => f,
                Err(e) => {
                    let problem = format!("{}: cannot read it: {e}", path.display());
                    on_problem(&problem);
                    chunk.failed.push(problem);
                    continue;
                }
            };
            if !options.force && consumed.contains(&fingerprint) {
                report.already_ingested += 1;
                continue;
            }
            let log_type = match log_type_for(registry, &path, options.log_type.as_deref()) {
                Ok(t) => t,
                Err(problem) => {
                    on_problem(&problem);
                    chunk.failed.push(problem);
                    continue;
                }
            };
            let builder = builders.entry(log_type.name.clone()).or_insert_with(|| RowBuilder::new(log_type.clone()));
            match ingest_one(&mut tx, builder, &path, options, &mut chunk) {
                Ok(()) => {}
                Err(FileFailure::Unreadable(problem)) => {
                    on_problem(&problem);
                    chunk.failed.push(problem);
                    continue;
                }
                Err(FileFailure::Lake(e)) => return Err(e.into()),
            }
            tx.consume(fingerprint.clone());
            inputs.push((path.clone(), fingerprint));
            chunk.files.push(path);
            if tx.rows() + tx.quarantined() as u64 + builders.values().map(|b| b.len() as u64).sum::<u64>() >= options.chunk_records {
                break;
            }
        }
        for builder in builders.values_mut() {
            flush(&mut tx, builder)?;
        }
        let quarantined = tx.quarantined() as u64;
        match tx.commit("ingest", options.force)? {
            CommitOutcome::Committed { rows, .. } => {
                report.commits += 1;
                report.rows += rows;
                report.files += chunk.files.len() as u64;
                report.quarantined += quarantined;
                report.bytes += chunk.bytes;
                consumed.extend(inputs.into_iter().map(|(_, f)| f));
            }
            CommitOutcome::Empty => {}
            CommitOutcome::AlreadyConsumed(taken) => {
                // Another tarn committed some of these files meanwhile: redo the
                // chunk without them.
                report.already_ingested += taken.len() as u64;
                for (path, fingerprint) in inputs.into_iter().rev() {
                    if !taken.contains(&fingerprint) {
                        queue.push_front(path);
                    }
                }
                consumed.extend(taken);
            }
        }
        report.failed.append(&mut chunk.failed);
    }
    Ok(report)
}

enum FileFailure {
    Unreadable(String),
    Lake(LakeError),
}

fn ingest_one(tx: &mut Transaction, builder: &mut RowBuilder, path: &Path, options: &FileOptions, chunk: &mut Chunk) -> Result<(), FileFailure> {
    let shown = path.display().to_string();
    let provenance = Provenance { source_id: "file".into(), source_label: options.source_label.clone(), source_file: Some(shown.clone()) };
    let parse_time = crate::now_micros();
    let log_type = builder.log_type().name.clone();
    let quarantine = |record: &RawRecord, reason: String| QuarantineRow {
        log_type: log_type.clone(),
        reason,
        raw: record.text.clone(),
        source_id: provenance.source_id.clone(),
        source_label: provenance.source_label.clone(),
        source_file: Some(shown.clone()),
        position: record.position,
        parse_time,
    };
    let mut bytes = 0u64;
    let result = file::read(path, &mut |record: RawRecord| -> Result<(), LakeError> {
        bytes += record.text.len() as u64 + 1;
        match &record.value {
            Err(reason) => {
                chunk.quarantined += 1;
                tx.quarantine(quarantine(&record, format!("not JSON: {reason}")));
            }
            Ok(_) => {
                let value = record.value.as_ref().expect("checked").clone();
                if let Err(refusal) = builder.push(&record.text, value, &provenance, parse_time) {
                    chunk.quarantined += 1;
                    tx.quarantine(quarantine(&record, refusal.0));
                }
            }
        }
        if builder.len() >= BATCH_ROWS {
            flush(tx, builder)?;
        }
        Ok(())
    });
    chunk.bytes += bytes;
    match result {
        Ok(_) => Ok(()),
        Err(file::ReadError::Sink(e)) => Err(FileFailure::Lake(e)),
        Err(file::ReadError::Broken { after, reason }) => {
            // The records before the break are kept; the break itself is
            // quarantined so it shows up beside them.
            tx.quarantine(QuarantineRow {
                log_type,
                reason: format!("the file is cut off or not valid JSON after record {after}: {reason}"),
                raw: String::new(),
                source_id: "file".into(),
                source_label: options.source_label.clone(),
                source_file: Some(shown),
                position: after + 1,
                parse_time,
            });
            Ok(())
        }
        Err(e) => Err(FileFailure::Unreadable(format!("{shown}: skipped: {e}"))),
    }
}

fn flush(tx: &mut Transaction, builder: &mut RowBuilder) -> Result<(), LakeError> {
    if let Some(batch) = builder.finish()? {
        tx.write(&builder.log_type().table, &batch)?;
    }
    Ok(())
}

/// Adds `path` (or every file under it, sorted) to `queue`.
fn expand(path: &Path, queue: &mut VecDeque<PathBuf>) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_file() {
        queue.push_back(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        let name = entry.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !name.starts_with('.') {
            expand(&entry, queue)?;
        }
    }
    Ok(())
}

/// A file's content identity: `sha256:<hex>`.
fn fingerprint(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let digest = hasher.finalize();
    Ok(format!("sha256:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

/// The log type of a file: CloudTrail's key layout names digest and insight
/// files; otherwise the one given, or CloudTrail for a CloudTrail key.
pub fn log_type_for(registry: &Registry, path: &Path, given: Option<&str>) -> Result<Arc<LogType>, String> {
    let text = path.to_string_lossy();
    let from_layout = if text.contains("/CloudTrail-Digest/") || text.contains("_CloudTrail-Digest_") {
        Some("AWS.CloudTrailDigest")
    } else if text.contains("/CloudTrail-Insight/") || text.contains("_CloudTrail-Insight_") {
        Some("AWS.CloudTrailInsight")
    } else if text.contains("/CloudTrail/") || text.contains("_CloudTrail_") {
        Some("AWS.CloudTrail")
    } else {
        None
    };
    let name = match (given, from_layout) {
        (Some(given), Some(layout)) if given.eq_ignore_ascii_case("AWS.CloudTrail") => layout,
        (Some(given), _) => given,
        (None, Some(layout)) => layout,
        (None, None) => {
            return Err(format!("{}: cannot tell its log type from its name; pass --log-type (for example Snyk.GroupAudit)", path.display()));
        }
    };
    registry.get(name).map_err(|e| e.to_string())
}

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
pub fn replay_quarantine(lake: &Lake, registry: &Registry, log_type: Option<&str>) -> Result<ReplayReport, IngestError> {
    use crate::lake::QUARANTINE_TABLE;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Int64Type, TimestampMicrosecondType};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let wanted = log_type.map(|name| registry.get(name)).transpose()?;
    let snapshot = lake.snapshot()?;
    let mut tx = lake.begin()?;
    let mut builders: BTreeMap<String, RowBuilder> = BTreeMap::new();
    let mut report = ReplayReport::default();
    let parse_time = crate::now_micros();
    for entry in snapshot.table_files(QUARANTINE_TABLE) {
        let path = lake.root().join(&entry.path);
        let file = std::fs::File::open(&path).map_err(|e| LakeError::Io { path: path.display().to_string(), source: e })?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).map_err(LakeError::from)?.build().map_err(LakeError::from)?;
        for batch in reader {
            let batch = batch.map_err(LakeError::from)?;
            let text = |name: &str| batch.column_by_name(name).expect("quarantine column").as_string::<i32>().clone();
            let (log_types, reasons, raws) = (text("p_log_type"), text("reason"), text("raw"));
            let (ids, labels, files) = (text("p_source_id"), text("p_source_label"), text("p_source_file"));
            let positions = batch.column_by_name("p_source_position").expect("quarantine column").as_primitive::<Int64Type>().clone();
            let parse_times = batch.column_by_name("p_parse_time").expect("quarantine column").as_primitive::<TimestampMicrosecondType>().clone();
            for row in 0..batch.num_rows() {
                let mut kept = QuarantineRow {
                    log_type: log_types.value(row).to_string(),
                    reason: reasons.value(row).to_string(),
                    raw: raws.value(row).to_string(),
                    source_id: ids.value(row).to_string(),
                    source_label: labels.value(row).to_string(),
                    source_file: (!files.is_null(row)).then(|| files.value(row).to_string()),
                    position: positions.value(row) as u64,
                    parse_time: parse_times.value(row),
                };
                if kept.raw.is_empty() {
                    // A marker for a cut-off file: nothing to retry.
                    tx.quarantine(kept);
                    continue;
                }
                let target = match registry.get(&kept.log_type) {
                    Ok(t) if wanted.as_ref().is_none_or(|w| w.name == t.name) => t,
                    _ => {
                        tx.quarantine(kept);
                        continue;
                    }
                };
                let provenance = Provenance { source_id: kept.source_id.clone(), source_label: kept.source_label.clone(), source_file: kept.source_file.clone() };
                let outcome = match serde_json::from_str::<serde_json::Value>(&kept.raw) {
                    Err(e) => Err(format!("not JSON: {e}")),
                    Ok(value) => {
                        let value = if target.name.starts_with("Snyk.") { crate::sources::snyk::rest_item_to_v1(value) } else { value };
                        let builder = builders.entry(target.name.clone()).or_insert_with(|| RowBuilder::new(target.clone()));
                        builder.push(&kept.raw, value, &provenance, parse_time).map_err(|r| r.0)
                    }
                };
                match outcome {
                    Ok(()) => report.landed += 1,
                    Err(reason) => {
                        kept.reason = reason;
                        report.still_quarantined += 1;
                        tx.quarantine(kept);
                    }
                }
            }
        }
        tx.remove(&entry.path);
    }
    for builder in builders.values_mut() {
        flush(&mut tx, builder)?;
    }
    tx.commit("quarantine replay", true)?;
    Ok(report)
}
