//! A chunk: the rows, quarantine rows, consumed inputs and checkpoints of one
//! lake commit, filled by a source. Files are decoded into it by parallel
//! workers on blocking threads (they share its transaction); records a source
//! already holds (API pages) are pushed into it one by one. Either way every
//! record goes through [`super::decode::decode_record`].

use super::IngestError;
use super::Progress;
use super::decode::{Record, RecordAdapter, decode_record, quarantine_row};
use crate::formats::json::{self, Piece, ReadError};
use crate::lake::{Lake, LakeError, QuarantineRow, StagedFiles, Transaction};
use crate::schema::{LogType, Provenance, RowBuilder};
use datafusion::arrow::record_batch::RecordBatch;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Rows decoded before they are handed to the lake writer as one batch.
const BATCH_ROWS: usize = 2048;
/// A batch is also closed once its records hold this many bytes, so no
/// Arrow string column nears its 2 GiB offset limit.
const BATCH_BYTES: usize = 64 << 20;

/// One input to decode: a local file and what it stands for.
#[derive(Debug, Clone)]
pub struct Job {
    /// The local file to read.
    pub path: PathBuf,
    /// Its identity in the lake's ledger; None to use its content hash.
    pub input: Option<String>,
    /// Until when (microseconds) the ledger remembers it; None: for good.
    pub until: Option<i64>,
    /// `p_source_file` of its rows: the path, or `s3://bucket/key`.
    pub source_file: String,
    /// How messages name it: the path, or `s3://bucket/key (ETag e)`.
    pub name: String,
    /// The log type its records are decoded under, or why it has none
    /// (told only if the file is not already in the lake).
    pub log_type: Result<Arc<LogType>, Arc<dyn std::error::Error + Send + Sync>>,
}

/// How a source's files are decoded: the rows' provenance and the source's
/// record adapter.
#[derive(Debug, Clone)]
pub struct DecodeSettings {
    /// `p_source_id` and `p_source_label` of the rows.
    pub source_id: String,
    pub source_label: String,
    pub adapt: RecordAdapter,
    /// Records larger than this many bytes are quarantined with their size
    /// and first bytes, never held whole.
    pub max_record: usize,
    /// Land the complete records of a file that is cut short (and mark it
    /// consumed) instead of skipping the whole file.
    pub accept_partial: bool,
    /// Counts each file as it is done, if someone watches.
    pub progress: Option<Arc<Progress>>,
}

/// The state a chunk's decode workers share.
struct Shared {
    tx: Transaction,
    queue: VecDeque<Job>,
    /// Inputs already in the lake (unless forced) or taken by this run.
    seen: HashSet<String>,
    records: u64,
    inputs: Vec<(Job, String)>,
    quarantined: u64,
    bytes: u64,
    failed: Vec<(Job, String)>,
    already: Vec<Job>,
    /// Builders of records pushed one by one, by log type.
    builders: BTreeMap<String, RowBuilder>,
}

/// A chunk being filled. Sources fill it; the driver commits it and only then
/// lets the source acknowledge what it consumed.
pub struct Chunk {
    shared: Arc<Mutex<Shared>>,
}

/// A chunk after filling, ready to commit.
pub struct Decoded {
    pub(super) tx: Transaction,
    /// Jobs not taken because the chunk was full.
    pub left: VecDeque<Job>,
    /// The inputs whose records are in the chunk, with their identity.
    pub inputs: Vec<(Job, String)>,
    /// Inputs that could not be read, with the reason.
    pub failed: Vec<(Job, String)>,
    /// Inputs skipped because the lake (or this run) already has them.
    pub already: Vec<Job>,
    pub quarantined: u64,
    /// Bytes read, after decompression.
    pub bytes: u64,
}

impl Decoded {
    /// Quarantines a row that is not a record's (a message given up on).
    pub fn quarantine(&mut self, row: QuarantineRow) {
        self.quarantined += 1;
        self.tx.quarantine(row);
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Files are decoded by this many threads at once; they share the writer.
fn worker_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4)
}

impl Chunk {
    /// Starts a chunk. `seen` holds the inputs to skip.
    pub(super) fn new(lake: &Lake, seen: HashSet<String>) -> Result<Chunk, LakeError> {
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
            builders: BTreeMap::new(),
        };
        Ok(Chunk { shared: Arc::new(Mutex::new(shared)) })
    }

    /// Decodes `jobs` into the chunk on parallel workers (blocking threads,
    /// so other sources go on meanwhile), until they are done or the chunk
    /// holds `limit` records; jobs left over are in [`Decoded::left`].
    pub async fn decode_files(&self, jobs: Vec<Job>, settings: &DecodeSettings, limit: u64) -> Result<(), IngestError> {
        lock(&self.shared).queue.extend(jobs);
        let (shared, settings) = (self.shared.clone(), settings.clone());
        let decode = move || {
            std::thread::scope(|scope| {
                let (shared, settings) = (&*shared, &settings);
                let workers: Vec<_> = (0..worker_count()).map(|i| scope.spawn(move || work(shared, settings, limit, i % 2 == 1))).collect();
                workers.into_iter().try_for_each(|w| w.join().unwrap_or(Err(LakeError::WorkerPanicked)))
            })
        };
        match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::spawn_blocking(decode).await.map_err(|_| LakeError::WorkerPanicked)??,
            Err(_) => decode()?,
        }
        Ok(())
    }

    /// Decodes one record a source holds (an API page's item) into the chunk,
    /// or quarantines it and returns why.
    pub fn push(
        &self,
        log_type: &Arc<LogType>,
        record: Record<'_>,
        adapt: RecordAdapter,
        provenance: &Provenance,
        parse_time: i64,
    ) -> Result<Option<String>, IngestError> {
        let mut guard = lock(&self.shared);
        let shared = &mut *guard;
        shared.records += 1;
        let builder = shared.builders.entry(log_type.name.clone()).or_insert_with(|| RowBuilder::new(log_type.clone()));
        let mut refused = None;
        if let Err(row) = decode_record(builder, record, adapt, provenance, parse_time) {
            refused = Some(row.reason.clone());
            shared.quarantined += 1;
            shared.tx.quarantine(row);
        }
        if builder.len() >= BATCH_ROWS {
            flush(&mut shared.tx, builder)?;
        }
        Ok(refused)
    }

    /// Writes rows tarn makes itself (alarms, alerts) with the chunk.
    pub fn write(&self, table: &str, batch: &RecordBatch) -> Result<(), IngestError> {
        Ok(lock(&self.shared).tx.write(table, batch)?)
    }

    /// Quarantines a row that is not a record's (a message given up on).
    pub fn quarantine(&self, row: QuarantineRow) {
        let mut shared = lock(&self.shared);
        shared.quarantined += 1;
        shared.tx.quarantine(row);
    }

    /// Moves a source's checkpoint with the chunk (see [`Transaction::checkpoint`]).
    pub fn checkpoint(&self, key: &str, expected: Option<serde_json::Value>, value: serde_json::Value) {
        lock(&self.shared).tx.checkpoint(key, expected, value);
    }

    /// Takes a committed file out of the lake with the chunk.
    pub fn remove(&self, path: &str) {
        lock(&self.shared).tx.remove(path);
    }

    /// Leaves removed files on disk for `tarn vacuum` (see
    /// [`Transaction::keep_removed_files`]) and closes files at `rows` rows:
    /// how compaction writes.
    pub fn compacting(&self, rows: u64) {
        let mut shared = lock(&self.shared);
        shared.tx.keep_removed_files();
        shared.tx.set_max_file_rows(rows);
    }

    /// Records in the chunk so far.
    pub fn records(&self) -> u64 {
        lock(&self.shared).records
    }

    /// Whether the lake (or this run) already holds `input`.
    pub fn has_seen(&self, input: &str) -> bool {
        lock(&self.shared).seen.contains(input)
    }

    /// Marks `input` consumed by this chunk, remembered by the lake until
    /// `until` (microseconds; None: for good). False, and nothing marked,
    /// if the lake or this chunk already has it: the caller drops what it
    /// stands for as a duplicate.
    pub fn claim(&self, input: &str, until: Option<i64>) -> bool {
        let mut shared = lock(&self.shared);
        if !shared.seen.insert(input.to_string()) {
            return false;
        }
        match until {
            Some(until) => shared.tx.consume_until(input.to_string(), until),
            None => shared.tx.consume(input.to_string()),
        }
        true
    }

    /// Ends filling: pending pushed rows are written.
    pub(super) fn finish(self) -> Result<Decoded, IngestError> {
        let shared = match Arc::try_unwrap(self.shared) {
            Ok(mutex) => mutex.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()),
            Err(_) => return Err(LakeError::WorkerPanicked.into()),
        };
        let mut tx = shared.tx;
        for mut builder in shared.builders.into_values() {
            flush(&mut tx, &mut builder)?;
        }
        Ok(Decoded {
            tx,
            left: shared.queue,
            inputs: shared.inputs,
            failed: shared.failed,
            already: shared.already,
            quarantined: shared.quarantined,
            bytes: shared.bytes,
        })
    }
}

/// One worker: takes jobs from the queue until it is empty or the chunk is full.
/// Odd workers take jobs from the back of the queue: jobs come sorted (by
/// path, so by time for CloudTrail keys), and workers that meet in the
/// middle write few partitions in common, so a chunk has fewer, larger
/// Parquet files.
fn work(shared: &Mutex<Shared>, settings: &DecodeSettings, limit: u64, from_back: bool) -> Result<(), LakeError> {
    let mut builders: BTreeMap<String, RowBuilder> = BTreeMap::new();
    let mut files = lock(shared).tx.worker_files();
    let next_job = || {
        let mut chunk = lock(shared);
        match () {
            _ if chunk.records >= limit => None,
            _ if from_back => chunk.queue.pop_back(),
            _ => chunk.queue.pop_front(),
        }
    };
    while let Some(job) = next_job() {
        let mut done = Progress::file(settings.progress.as_deref(), &job.path);
        let input = match job.input.clone().map_or_else(|| fingerprint(&job.path), Ok) {
            Ok(input) => input,
            Err(e) => {
                let problem = format!("{}: cannot read it: {e}", job.name);
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
        let log_type = match &job.log_type {
            Ok(log_type) => log_type.clone(),
            Err(problem) => {
                let problem = problem.to_string();
                let mut chunk = lock(shared);
                chunk.seen.remove(&input);
                chunk.failed.push((job, problem));
                continue;
            }
        };
        let builder = builders.entry(log_type.name.clone()).or_insert_with(|| RowBuilder::new(log_type));
        match decode_file(shared, &mut files, builder, &job, settings)? {
            Ok(FileCounts { records, bytes }) => {
                let mut chunk = lock(shared);
                match job.until {
                    Some(until) => chunk.tx.consume_until(input.clone(), until),
                    None => chunk.tx.consume(input.clone()),
                }
                chunk.inputs.push((job, input));
                chunk.records += records;
                chunk.bytes += bytes;
                done.records(records);
            }
            Err(problem) => {
                let mut chunk = lock(shared);
                chunk.seen.remove(&input);
                chunk.failed.push((job, problem));
            }
        }
    }
    let closed = files.finish()?;
    lock(shared).tx.adopt(closed);
    Ok(())
}

struct FileCounts {
    records: u64,
    bytes: u64,
}

/// A file's rows are held in memory up to this many bytes; past it they go
/// to Parquet files of the file's own, adopted only if the file is read to
/// its end, so one large file does not cost its size in memory.
const FILE_HOLD_BYTES: usize = 64 << 20;

/// The rows and quarantine rows of one file, held until the file has been
/// read to its end: a file lands whole or not at all.
struct FileRows {
    batches: Vec<RecordBatch>,
    held_bytes: usize,
    quarantine: Vec<QuarantineRow>,
    quarantined: u64,
    /// The file's own staged files, once it held too much to keep in memory.
    own: Option<StagedFiles>,
}

impl FileRows {
    fn new() -> FileRows {
        FileRows { batches: Vec::new(), held_bytes: 0, quarantine: Vec::new(), quarantined: 0, own: None }
    }

    fn take_batch(&mut self, builder: &mut RowBuilder, files: &StagedFiles) -> Result<(), LakeError> {
        if let Some(batch) = builder.finish()? {
            self.held_bytes += batch.get_array_memory_size();
            self.batches.push(batch);
            if self.held_bytes >= FILE_HOLD_BYTES {
                self.spill(&builder.log_type().table, files)?;
            }
        }
        Ok(())
    }

    fn quarantine(&mut self, row: QuarantineRow, files: &StagedFiles) -> Result<(), LakeError> {
        self.held_bytes += row.held_bytes();
        self.quarantined += 1;
        self.quarantine.push(row);
        if self.held_bytes >= FILE_HOLD_BYTES {
            let rows = std::mem::take(&mut self.quarantine);
            self.own.get_or_insert_with(|| files.sibling()).write_quarantine(&rows)?;
            self.held_bytes = self.batches.iter().map(RecordBatch::get_array_memory_size).sum();
        }
        Ok(())
    }

    /// Moves the held rows to the file's own staged files.
    fn spill(&mut self, table: &str, files: &StagedFiles) -> Result<(), LakeError> {
        let own = self.own.get_or_insert_with(|| files.sibling());
        for batch in self.batches.drain(..) {
            own.write(table, &batch)?;
        }
        self.held_bytes = self.quarantine.iter().map(QuarantineRow::held_bytes).sum();
        Ok(())
    }

    /// Hands the file's rows to the chunk: its rows to the worker's own
    /// Parquet files (encoded without holding the chunk), its quarantine
    /// rows to the chunk.
    fn land(self, shared: &Mutex<Shared>, files: &mut StagedFiles, table: &str) -> Result<(), LakeError> {
        for batch in &self.batches {
            files.write(table, batch)?;
        }
        if let Some(own) = self.own {
            files.adopt(own.finish()?);
        }
        let mut chunk = lock(shared);
        chunk.quarantined += self.quarantined;
        for row in self.quarantine {
            chunk.tx.quarantine(row);
        }
        Ok(())
    }

    /// Drops the file's rows (it did not read to its end).
    fn discard(self) {
        if let Some(own) = self.own {
            own.discard();
        }
    }
}

/// Reads one file into the chunk, whole or not at all. The outer error is
/// the lake's; the inner one says why the file was skipped.
fn decode_file(
    shared: &Mutex<Shared>,
    files: &mut StagedFiles,
    builder: &mut RowBuilder,
    job: &Job,
    settings: &DecodeSettings,
) -> Result<Result<FileCounts, String>, LakeError> {
    let provenance = Provenance {
        source_id: settings.source_id.clone(),
        source_label: settings.source_label.clone(),
        source_file: Some(job.source_file.clone()),
    };
    let parse_time = crate::now_micros();
    let log_type = builder.log_type().name.clone();
    let mut rows = FileRows::new();
    let mut records = 0;
    let result = json::read(&job.path, settings.max_record, &mut |piece| -> Result<(), LakeError> {
        records += 1;
        match piece {
            Piece::Record { bytes, position } => match std::str::from_utf8(bytes) {
                Ok(text) => {
                    if let Err(row) = decode_record(builder, Record { text, position }, settings.adapt, &provenance, parse_time) {
                        rows.quarantine(row, files)?;
                    }
                    if builder.len() >= BATCH_ROWS || builder.pending_bytes() >= BATCH_BYTES {
                        rows.take_batch(builder, files)?;
                    }
                }
                Err(e) => {
                    // Quarantined, not repaired: its bytes show as U+FFFD in `raw`.
                    let reason = format!("not JSON: invalid UTF-8 at byte {} of the record", e.valid_up_to() + 1);
                    let raw = String::from_utf8_lossy(bytes).into_owned();
                    rows.quarantine(quarantine_row(&log_type, reason, raw, &provenance, position, parse_time), files)?;
                }
            },
            Piece::Broken { bytes, position, reason, .. } => {
                let raw = String::from_utf8_lossy(bytes).into_owned();
                rows.quarantine(quarantine_row(&log_type, reason, raw, &provenance, position, parse_time), files)?;
            }
        }
        Ok(())
    });
    rows.take_batch(builder, files)?;
    let table = builder.log_type().table.clone();
    match result {
        Ok(summary) => {
            rows.land(shared, files, &table)?;
            Ok(Ok(FileCounts { records, bytes: summary.bytes }))
        }
        Err(ReadError::Sink(e)) => {
            rows.discard();
            Err(e)
        }
        Err(ReadError::CutShort { offset, records: complete, reason }) if settings.accept_partial => {
            let cut = ReadError::<LakeError>::CutShort { offset, records: complete, reason };
            let bytes = offset;
            let reason = format!("{cut}; its complete records landed (--accept-partial)");
            rows.quarantine(quarantine_row(&log_type, reason, String::new(), &provenance, records + 1, parse_time), files)?;
            rows.land(shared, files, &table)?;
            Ok(Ok(FileCounts { records, bytes }))
        }
        Err(e @ ReadError::CutShort { .. }) => {
            rows.discard();
            let hint = if job.input.is_none() { "; --accept-partial lands its complete records" } else { "" };
            Ok(Err(format!("{}: skipped, nothing of it landed: {e} (it lands whole once complete{hint})", job.name)))
        }
        Err(e) => {
            rows.discard();
            Ok(Err(format!("{}: skipped: {e}", job.name)))
        }
    }
}

/// Decodes the builder's pending rows and writes them to the transaction.
fn flush(tx: &mut Transaction, builder: &mut RowBuilder) -> Result<(), LakeError> {
    if let Some(batch) = builder.finish()? {
        tx.write(&builder.log_type().table, &batch)?;
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
