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
pub(crate) const BATCH_ROWS: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The source itself failed (a listing, a queue call), with what to do.
    #[error("{0}")]
    Source(String),
    #[error(transparent)]
    Snyk(#[from] crate::sources::snyk::SnykError),
}

/// How inputs are decoded and committed.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// The log type of every input; None to tell it from CloudTrail key layouts.
    pub log_type: Option<String>,
    /// Ingest inputs even if the lake already holds them.
    pub force: bool,
    /// Records gathered before a commit (a commit also closes at the end).
    pub chunk_records: u64,
    /// `p_source_id` and `p_source_label` of the rows.
    pub source_id: String,
    pub source_label: String,
}

impl Default for IngestOptions {
    fn default() -> IngestOptions {
        IngestOptions {
            log_type: None,
            force: false,
            chunk_records: 500_000,
            source_id: "file".into(),
            source_label: "tarn ingest file".into(),
        }
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

/// One input to decode: a local file and what it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The local file to read.
    pub path: PathBuf,
    /// Its identity in the lake's ledger; None to use its content hash.
    pub input: Option<String>,
    /// `p_source_file` of its rows: the path, or `s3://bucket/key`.
    pub source_file: String,
}

impl Job {
    fn local(path: PathBuf) -> Job {
        Job { source_file: path.display().to_string(), path, input: None }
    }
}

/// The state the decode workers share while they build one chunk.
struct Shared {
    tx: Transaction,
    queue: VecDeque<Job>,
    /// Inputs already in the lake (unless forced) or taken by this run.
    seen: HashSet<String>,
    /// Records decoded into this chunk so far.
    records: u64,
    /// The chunk's inputs with their identity.
    inputs: Vec<(Job, String)>,
    quarantined: u64,
    bytes: u64,
    /// Inputs that could not be read, with the reason.
    failed: Vec<(Job, String)>,
    /// Inputs skipped because the lake (or this run) already has them.
    already: Vec<Job>,
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Files are decoded by this many threads at once; they share the writer.
fn worker_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4)
}

/// A chunk being built: rows and quarantine staged in one transaction,
/// with the inputs they came from. Sources fill it, commit it, and only then
/// acknowledge what it consumed.
pub struct Chunk {
    shared: Mutex<Shared>,
}

/// A chunk after decoding, ready to commit.
pub struct Decoded {
    pub tx: Transaction,
    /// Jobs not taken because the chunk was full.
    pub left: VecDeque<Job>,
    pub seen: HashSet<String>,
    pub inputs: Vec<(Job, String)>,
    pub failed: Vec<(Job, String)>,
    pub already: Vec<Job>,
    pub records: u64,
    pub quarantined: u64,
    pub bytes: u64,
}

impl Chunk {
    /// Starts a chunk. `seen` holds the inputs to skip.
    pub fn new(lake: &Lake, seen: HashSet<String>) -> Result<Chunk, LakeError> {
        let shared = Shared {
            tx: lake.begin()?,
            queue: VecDeque::new(),
            seen,
            records: 0,
            inputs: Vec::new(),
            quarantined: 0,
            bytes: 0,
            failed: Vec::new(),
            already: Vec::new(),
        };
        Ok(Chunk { shared: Mutex::new(shared) })
    }

    /// Decodes `jobs` into the chunk on parallel workers, until they are done
    /// or the chunk holds `options.chunk_records` records.
    pub fn decode(&self, jobs: impl IntoIterator<Item = Job>, registry: &Registry, options: &IngestOptions) -> Result<(), LakeError> {
        lock(&self.shared).queue.extend(jobs);
        let results: Vec<Result<(), LakeError>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..worker_count()).map(|_| scope.spawn(|| work(&self.shared, registry, options))).collect();
            workers.into_iter().map(|w| w.join().expect("an ingest worker panicked")).collect()
        });
        results.into_iter().collect()
    }

    /// Records decoded so far.
    pub fn records(&self) -> u64 {
        lock(&self.shared).records
    }

    /// Whether the lake (or this run) already holds `input`.
    pub fn has_seen(&self, input: &str) -> bool {
        lock(&self.shared).seen.contains(input)
    }

    pub fn finish(self) -> Decoded {
        let shared = self.shared.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        Decoded {
            tx: shared.tx,
            left: shared.queue,
            seen: shared.seen,
            inputs: shared.inputs,
            failed: shared.failed,
            already: shared.already,
            records: shared.records,
            quarantined: shared.quarantined,
            bytes: shared.bytes,
        }
    }
}

/// How a chunk's commit went.
#[derive(Debug)]
pub enum CommitStep {
    Committed {
        rows: u64,
    },
    Empty,
    /// Another writer committed `taken` of the chunk's inputs first; nothing
    /// was committed. `redo` are the chunk's other inputs, to decode again.
    Raced {
        redo: Vec<Job>,
        taken: u64,
    },
}

/// Commits a decoded chunk.
pub fn commit(chunk: Decoded, operation: &str, force: bool) -> Result<CommitStep, LakeError> {
    Ok(match chunk.tx.commit(operation, force)? {
        CommitOutcome::Committed { rows, .. } => CommitStep::Committed { rows },
        CommitOutcome::Empty => CommitStep::Empty,
        CommitOutcome::AlreadyConsumed(taken) => {
            let redo = chunk
                .inputs
                .into_iter()
                .filter(|(_, input)| !taken.contains(input))
                .map(|(job, input)| Job { input: Some(input), ..job })
                .collect();
            CommitStep::Raced { redo, taken: taken.len() as u64 }
        }
    })
}

/// Ingests local files (directories are walked) into the lake.
pub fn ingest_files(
    lake: &Lake,
    registry: &Registry,
    paths: &[PathBuf],
    options: &IngestOptions,
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
    let mut jobs: VecDeque<Job> = queue.into_iter().map(Job::local).collect();
    let mut seen = if options.force { HashSet::new() } else { lake.snapshot()?.inputs };
    while !jobs.is_empty() {
        let chunk = Chunk::new(lake, std::mem::take(&mut seen))?;
        let decoded = chunk.decode(std::mem::take(&mut jobs), registry, options);
        let mut chunk = chunk.finish();
        decoded?;
        jobs = std::mem::take(&mut chunk.left);
        seen = std::mem::take(&mut chunk.seen);
        for (_, problem) in std::mem::take(&mut chunk.failed) {
            on_problem(&problem);
            report.failed.push(problem);
        }
        report.already_ingested += chunk.already.len() as u64;
        let (files, quarantined, bytes) = (chunk.inputs.len() as u64, chunk.quarantined, chunk.bytes);
        match commit(chunk, "ingest", options.force)? {
            CommitStep::Committed { rows } => {
                report.commits += 1;
                report.rows += rows;
                report.files += files;
                report.quarantined += quarantined;
                report.bytes += bytes;
            }
            CommitStep::Empty => {}
            CommitStep::Raced { redo, taken } => {
                report.already_ingested += taken;
                for job in redo.into_iter().rev() {
                    if let Some(input) = &job.input {
                        seen.remove(input);
                    }
                    jobs.push_front(job);
                }
            }
        }
    }
    Ok(report)
}

/// One worker: takes jobs from the queue until it is empty or the chunk is full.
fn work(shared: &Mutex<Shared>, registry: &Registry, options: &IngestOptions) -> Result<(), LakeError> {
    let mut builders: BTreeMap<String, RowBuilder> = BTreeMap::new();
    let next_job = || {
        let mut chunk = lock(shared);
        if chunk.records >= options.chunk_records { None } else { chunk.queue.pop_front() }
    };
    while let Some(job) = next_job() {
        let input = match job.input.clone().map_or_else(|| fingerprint(&job.path), Ok) {
            Ok(input) => input,
            Err(e) => {
                let problem = format!("{}: cannot read it: {e}", job.source_file);
                lock(shared).failed.push((job, problem));
                continue;
            }
        };
        {
            let mut chunk = lock(shared);
            if !chunk.seen.insert(input.clone()) {
                chunk.already.push(job);
                continue;
            }
        }
        let log_type = match log_type_for(registry, Path::new(&job.source_file), options.log_type.as_deref()) {
            Ok(t) => t,
            Err(problem) => {
                let mut chunk = lock(shared);
                chunk.seen.remove(&input);
                chunk.failed.push((job, problem));
                continue;
            }
        };
        let builder = builders.entry(log_type.name.clone()).or_insert_with(|| RowBuilder::new(log_type.clone()));
        match ingest_one(shared, builder, &job, options)? {
            Ok(FileCounts { records, bytes }) => {
                let mut chunk = lock(shared);
                chunk.tx.consume(input.clone());
                chunk.inputs.push((job, input));
                chunk.records += records;
                chunk.bytes += bytes;
            }
            Err(problem) => {
                let mut chunk = lock(shared);
                chunk.seen.remove(&input);
                chunk.failed.push((job, problem));
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

/// Reads one input into `builder` (and quarantine). The outer error is the
/// lake's; the inner one says why the input was skipped.
fn ingest_one(
    shared: &Mutex<Shared>,
    builder: &mut RowBuilder,
    job: &Job,
    options: &IngestOptions,
) -> Result<Result<FileCounts, String>, LakeError> {
    let shown = job.source_file.clone();
    let provenance =
        Provenance { source_id: options.source_id.clone(), source_label: options.source_label.clone(), source_file: Some(shown.clone()) };
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
    let result = file::read(&job.path, &mut |record: RawRecord| -> Result<(), LakeError> {
        counts.bytes += record.text.len() as u64 + 1;
        counts.records += 1;
        let RawRecord { text, value, position } = record;
        let refusal = match value {
            Err(reason) => Some(format!("not JSON: {reason}")),
            Ok(value) => push_record(builder, &text, value, &provenance, parse_time).err().map(|r| r.0),
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
fn write_rows(shared: &Mutex<Shared>, builder: &mut RowBuilder) -> Result<(), LakeError> {
    if let Some(batch) = builder.finish()? {
        lock(shared).tx.write(&builder.log_type().table, &batch)?;
    }
    Ok(())
}

/// Decodes the builder's pending rows and writes them to the transaction.
pub(crate) fn flush(tx: &mut Transaction, builder: &mut RowBuilder) -> Result<(), LakeError> {
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

/// Decodes one record as its source sends it into `builder`: a Snyk REST
/// item gets the v1 names first (see [`snyk::to_schema_names`]). Ingest,
/// quarantine replay and rule tests all decode through here.
pub fn push_record(
    builder: &mut RowBuilder,
    raw: &str,
    record: serde_json::Value,
    provenance: &Provenance,
    parse_time: i64,
) -> Result<(), crate::schema::Refusal> {
    let record = snyk::to_schema_names(&builder.log_type().name, record);
    builder.push(raw, record, provenance, parse_time)
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
                        let builder = builders.entry(target.name.clone()).or_insert_with(|| RowBuilder::new(target.clone()));
                        push_record(builder, &kept.raw, value, &provenance, parse_time).map_err(|r| r.0)
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
