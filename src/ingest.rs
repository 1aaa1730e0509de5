//! Ingest: the pipeline from a source's raw records to lake commits.
//! Records are decoded under their log type; refused ones go to quarantine in
//! the same commit; each commit records the inputs it consumed, so an input
//! already in the lake is skipped (unless forced) and a crash before the
//! commit leaves nothing behind.

use crate::lake::{CommitOutcome, Lake, LakeError, QuarantineRow, Transaction};
use crate::schema::{LogType, Provenance, Registry, RowBuilder, SchemaError};
use crate::sources::{RawRecord, file, snyk};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;

/// Rows decoded before they are handed to the lake writer as one batch.
const BATCH_ROWS: usize = 2048;

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

/// The state the file workers share while they build one chunk.
struct Shared {
    tx: Transaction,
    queue: VecDeque<PathBuf>,
    /// Content hashes already in the lake (unless forced) or taken by this run.
    seen: HashSet<String>,
    /// Records decoded into this chunk so far.
    records: u64,
    /// The chunk's inputs: path and content hash.
    inputs: Vec<(PathBuf, String)>,
    quarantined: u64,
    bytes: u64,
    failed: Vec<String>,
    already_ingested: u64,
}

type SharedChunk = Mutex<Shared>;

fn lock(shared: &SharedChunk) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Files are decoded by this many threads at once; they share the writer.
fn worker_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4)
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
    let mut seen = if options.force { HashSet::new() } else { lake.snapshot()?.inputs };
    while !queue.is_empty() {
        let shared = Mutex::new(Shared {
            tx: lake.begin()?,
            queue: std::mem::take(&mut queue),
            seen: std::mem::take(&mut seen),
            records: 0,
            inputs: Vec::new(),
            quarantined: 0,
            bytes: 0,
            failed: Vec::new(),
            already_ingested: 0,
        });
        let results: Vec<Result<(), LakeError>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..worker_count()).map(|_| scope.spawn(|| work(&shared, registry, options))).collect();
            workers.into_iter().map(|w| w.join().expect("an ingest worker panicked")).collect()
        });
        let chunk = shared.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        queue = chunk.queue;
        seen = chunk.seen;
        for problem in &chunk.failed {
            on_problem(problem);
        }
        report.failed.extend(chunk.failed);
        report.already_ingested += chunk.already_ingested;
        for result in results {
            result?;
        }
        match chunk.tx.commit("ingest", options.force)? {
            CommitOutcome::Committed { rows, .. } => {
                report.commits += 1;
                report.rows += rows;
                report.files += chunk.inputs.len() as u64;
                report.quarantined += chunk.quarantined;
                report.bytes += chunk.bytes;
            }
            CommitOutcome::Empty => {}
            CommitOutcome::AlreadyConsumed(taken) => {
                // Another tarn committed some of these files meanwhile: redo the
                // chunk without them.
                report.already_ingested += taken.len() as u64;
                for (path, fingerprint) in chunk.inputs.into_iter().rev() {
                    if !taken.contains(&fingerprint) {
                        seen.remove(&fingerprint);
                        queue.push_front(path);
                    }
                }
            }
        }
    }
    Ok(report)
}

/// One worker: takes files from the queue until it is empty or the chunk is full.
fn work(shared: &SharedChunk, registry: &Registry, options: &FileOptions) -> Result<(), LakeError> {
    let mut builders: BTreeMap<String, RowBuilder> = BTreeMap::new();
    let next_file = || {
        let mut chunk = lock(shared);
        if chunk.records >= options.chunk_records { None } else { chunk.queue.pop_front() }
    };
    while let Some(path) = next_file() {
        let fingerprint = match fingerprint(&path) {
            Ok(f) => f,
            Err(e) => {
                lock(shared).failed.push(format!("{}: cannot read it: {e}", path.display()));
                continue;
            }
        };
        {
            let mut chunk = lock(shared);
            if !chunk.seen.insert(fingerprint.clone()) {
                chunk.already_ingested += 1;
                continue;
            }
        }
        let log_type = match log_type_for(registry, &path, options.log_type.as_deref()) {
            Ok(t) => t,
            Err(problem) => {
                let mut chunk = lock(shared);
                chunk.seen.remove(&fingerprint);
                chunk.failed.push(problem);
                continue;
            }
        };
        let builder = builders.entry(log_type.name.clone()).or_insert_with(|| RowBuilder::new(log_type.clone()));
        match ingest_one(shared, builder, &path, options)? {
            Ok(FileCounts { records, bytes }) => {
                let mut chunk = lock(shared);
                chunk.tx.consume(fingerprint.clone());
                chunk.inputs.push((path, fingerprint));
                chunk.records += records;
                chunk.bytes += bytes;
            }
            Err(problem) => {
                let mut chunk = lock(shared);
                chunk.seen.remove(&fingerprint);
                chunk.failed.push(problem);
            }
        }
    }
    for builder in builders.values_mut() {
        write_rows(shared, builder)?;
    }
    Ok(())
}

struct FileCounts {
    records: u64,
    bytes: u64,
}

/// Reads one file into `builder` (and quarantine). The outer error is the
/// lake's; the inner one says why the file was skipped.
fn ingest_one(
    shared: &SharedChunk,
    builder: &mut RowBuilder,
    path: &Path,
    options: &FileOptions,
) -> Result<Result<FileCounts, String>, LakeError> {
    let shown = path.display().to_string();
    let provenance = Provenance { source_id: "file".into(), source_label: options.source_label.clone(), source_file: Some(shown.clone()) };
    let parse_time = crate::now_micros();
    let log_type = builder.log_type().name.clone();
    let quarantine = |raw: String, position: u64, reason: String| QuarantineRow {
        log_type: log_type.clone(),
        reason,
        raw,
        source_id: provenance.source_id.clone(),
        source_label: provenance.source_label.clone(),
        source_file: Some(shown.clone()),
        position,
        parse_time,
    };
    let mut counts = FileCounts { records: 0, bytes: 0 };
    let result = file::read(path, &mut |record: RawRecord| -> Result<(), LakeError> {
        counts.bytes += record.text.len() as u64 + 1;
        counts.records += 1;
        let RawRecord { text, value, position } = record;
        let refusal = match value {
            Err(reason) => Some(format!("not JSON: {reason}")),
            Ok(value) => builder.push(&text, snyk::to_schema_names(&log_type, value), &provenance, parse_time).err().map(|r| r.0),
        };
        if let Some(reason) = refusal {
            let mut chunk = lock(shared);
            chunk.quarantined += 1;
            chunk.tx.quarantine(quarantine(text, position, reason));
        }
        if builder.len() >= BATCH_ROWS {
            write_rows(shared, builder)?;
        }
        Ok(())
    });
    match result {
        Ok(_) => Ok(Ok(counts)),
        Err(file::ReadError::Sink(e)) => Err(e),
        Err(file::ReadError::Broken { after, reason }) => {
            // The records before the break are kept; the break itself is
            // quarantined so it shows up beside them.
            let mut chunk = lock(shared);
            chunk.quarantined += 1;
            let reason = format!("the file is cut off or not valid JSON after record {after}: {reason}");
            chunk.tx.quarantine(quarantine(String::new(), after + 1, reason));
            Ok(Ok(counts))
        }
        Err(e) => Ok(Err(format!("{shown}: skipped: {e}"))),
    }
}

/// Decodes the builder's pending rows and writes them to the chunk.
fn write_rows(shared: &SharedChunk, builder: &mut RowBuilder) -> Result<(), LakeError> {
    if let Some(batch) = builder.finish()? {
        lock(shared).tx.write(&builder.log_type().table, &batch)?;
    }
    Ok(())
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
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
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
            return Err(format!(
                "{}: cannot tell its log type from its name; pass --log-type (for example Snyk.GroupAudit)",
                path.display()
            ));
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
            let parse_times =
                batch.column_by_name("p_parse_time").expect("quarantine column").as_primitive::<TimestampMicrosecondType>().clone();
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
                let provenance = Provenance {
                    source_id: kept.source_id.clone(),
                    source_label: kept.source_label.clone(),
                    source_file: kept.source_file.clone(),
                };
                let outcome = match serde_json::from_str::<serde_json::Value>(&kept.raw) {
                    Err(e) => Err(format!("not JSON: {e}")),
                    Ok(value) => {
                        let value = snyk::to_schema_names(&target.name, value);
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
