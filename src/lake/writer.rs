//! A write transaction: stage Parquet files (zstd) per table and UTC hour,
//! then commit them in one step together with the inputs they consumed.

use super::log::{Commit, FileEntry, Snapshot};
use super::system::{QUARANTINE_TABLE, QuarantineRow, quarantine_batch};
use super::{Lake, LakeError, io_error, partition_dir};
use datafusion::arrow::array::{AsArray, TimestampMicrosecondArray, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

const HOUR_MICROS: i64 = 3_600_000_000;
/// A partition file is closed and a new one started past this many rows.
const MAX_FILE_ROWS: u64 = 1_000_000;
/// At most this many partition files are open at once per decode worker
/// (each holds its row group in memory); the least recently written one is closed first.
const MAX_OPEN_FILES: usize = 4;
/// Quarantine rows are written out once they hold this many bytes, so a
/// chunk full of refused records neither piles up in memory nor overflows
/// one Arrow string column (2 GiB).
const QUARANTINE_FLUSH_BYTES: usize = 64 << 20;

struct OpenFile {
    writer: ArrowWriter<File>,
    /// The columns of the rows it holds: one schema a file.
    schema: datafusion::arrow::datatypes::SchemaRef,
    staged: PathBuf,
    entry: FileEntry,
    last_use: u64,
}

/// What a commit did.
#[derive(Debug, Clone, PartialEq)]
pub enum CommitOutcome {
    /// Committed as commit `id`, with `rows` table rows (quarantine not counted).
    Committed { id: u64, rows: u64, files: usize },
    /// Nothing to commit.
    Empty,
    /// Another writer committed some of these inputs first (or moved one of
    /// these checkpoints); nothing was committed. Redo the work without them.
    AlreadyConsumed(Vec<String>),
}

/// Stages files, then commits them atomically.
pub struct Transaction {
    lake: Lake,
    dir: PathBuf,
    /// Held while the transaction lives: a staging directory whose lock can be
    /// taken belongs to a dead writer.
    _staging_lock: File,
    files: StagedFiles,
    closed: Vec<(PathBuf, FileEntry)>,
    quarantine: Vec<QuarantineRow>,
    /// Bytes held in `quarantine`.
    quarantine_bytes: usize,
    /// A write that failed where it could not be reported; fails the commit.
    failed: Option<LakeError>,
    remove: Vec<String>,
    /// Removed files stay on disk for `tarn vacuum` (readers of an older
    /// snapshot may still read them) instead of being deleted at commit.
    keep_removed: bool,
    inputs: Vec<String>,
    /// Of `inputs`, those remembered only until a time.
    until: BTreeMap<String, i64>,
    /// Source key, the checkpoint this transaction started from, the new one.
    checkpoints: Vec<(String, Option<serde_json::Value>, serde_json::Value)>,
}

/// Parquet files being staged for a transaction, one per table and UTC hour
/// at a time. The transaction has one; each decode worker takes its own
/// ([`Transaction::worker_files`]) so workers encode Parquet in parallel,
/// and hands it back closed ([`Transaction::adopt`]).
pub struct StagedFiles {
    id: String,
    dir: PathBuf,
    /// Numbers the staged files of every `StagedFiles` of the transaction.
    numbers: Arc<AtomicU32>,
    properties: WriterProperties,
    open: HashMap<(String, i64), OpenFile>,
    closed: Vec<(PathBuf, FileEntry)>,
    clock: u64,
    /// A file closes when it holds this many rows.
    max_file_rows: u64,
}

impl Transaction {
    pub(super) fn begin(lake: Lake) -> Result<Transaction, LakeError> {
        let id = format!("{}-{:016x}", chrono::Utc::now().format("%Y%m%dT%H%M%S"), crate::unique_seed());
        let dir = lake.staging_dir().join(&id);
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let lock_path = dir.join(".lock");
        let staging_lock = File::create(&lock_path).map_err(io_error(&lock_path))?;
        staging_lock.lock().map_err(io_error(&lock_path))?;
        let properties = WriterProperties::builder()
            .set_compression(ZstdLevel::try_new(1).map_or(Compression::SNAPPY, Compression::ZSTD))
            .set_max_row_group_row_count(Some(128 * 1024))
            // The original record is unique per row: a dictionary only costs memory.
            .set_column_dictionary_enabled(ColumnPath::from(crate::schema::RAW_COLUMN), false)
            // Nor do its min and max prune anything; comparing whole records costs time.
            .set_column_statistics_enabled(ColumnPath::from(crate::schema::RAW_COLUMN), EnabledStatistics::None)
            .set_column_dictionary_enabled(ColumnPath::from("p_row_id"), false)
            .set_created_by(format!("tarn {}", env!("CARGO_PKG_VERSION")))
            .build();
        let files = StagedFiles {
            id: id.clone(),
            dir: dir.clone(),
            numbers: Arc::default(),
            properties,
            open: HashMap::new(),
            closed: Vec::new(),
            clock: 0,
            max_file_rows: MAX_FILE_ROWS,
        };
        Ok(Transaction {
            lake,
            dir,
            _staging_lock: staging_lock,
            files,
            closed: Vec::new(),
            quarantine: Vec::new(),
            quarantine_bytes: 0,
            failed: None,
            remove: Vec::new(),
            keep_removed: false,
            inputs: Vec::new(),
            until: BTreeMap::new(),
            checkpoints: Vec::new(),
        })
    }

    /// Rows written so far, in open and closed files.
    pub fn rows(&self) -> u64 {
        self.files.rows() + self.closed.iter().map(|(_, e)| e.rows).sum::<u64>()
    }

    /// Writes rows of `table`. The batch must have a `p_event_time` column;
    /// rows go to the partition of their UTC hour.
    pub fn write(&mut self, table: &str, batch: &RecordBatch) -> Result<(), LakeError> {
        self.files.write(table, batch)
    }

    /// Files of this transaction for one decode worker to write without
    /// holding the transaction.
    pub fn worker_files(&self) -> StagedFiles {
        self.files.sibling()
    }

    /// Takes a worker's files (closed by [`StagedFiles::finish`]) into this
    /// transaction.
    pub fn adopt(&mut self, closed: Vec<(PathBuf, FileEntry)>) {
        self.closed.extend(closed);
    }
}

impl StagedFiles {
    fn rows(&self) -> u64 {
        self.open.values().map(|f| f.entry.rows).chain(self.closed.iter().map(|(_, e)| e.rows)).sum()
    }

    /// Writes quarantine rows as one piece: a Parquet file of its own, since
    /// an open file holds its row group in memory until it closes.
    pub fn write_quarantine(&mut self, rows: &[QuarantineRow]) -> Result<(), LakeError> {
        let batch = quarantine_batch(rows)?;
        self.write(QUARANTINE_TABLE, &batch)?;
        self.close_table(QUARANTINE_TABLE)
    }

    /// Files beside these, for rows that may yet be dropped ([`StagedFiles::discard`]).
    pub fn sibling(&self) -> StagedFiles {
        StagedFiles {
            id: self.id.clone(),
            dir: self.dir.clone(),
            numbers: self.numbers.clone(),
            properties: self.properties.clone(),
            open: HashMap::new(),
            closed: Vec::new(),
            clock: 0,
            max_file_rows: self.max_file_rows,
        }
    }

    /// Takes closed files (of a sibling) into these.
    pub fn adopt(&mut self, closed: Vec<(PathBuf, FileEntry)>) {
        self.closed.extend(closed);
    }

    /// Deletes these files: their rows will not be committed.
    pub fn discard(self) {
        let open = self.open.into_values().map(|f| f.staged);
        for path in open.chain(self.closed.into_iter().map(|(path, _)| path)) {
            let _ = fs::remove_file(path);
        }
    }

    /// Closes every file; returns them for [`Transaction::adopt`].
    pub fn finish(mut self) -> Result<Vec<(PathBuf, FileEntry)>, LakeError> {
        let keys: Vec<_> = self.open.keys().cloned().collect();
        for key in keys {
            self.close(&key)?;
        }
        Ok(std::mem::take(&mut self.closed))
    }

    /// Writes rows of `table`. The batch must have a `p_event_time` column;
    /// rows go to the partition of their UTC hour.
    pub fn write(&mut self, table: &str, batch: &RecordBatch) -> Result<(), LakeError> {
        let times = event_times(table, batch)?;
        let mut by_hour: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for (row, time) in times.iter().enumerate() {
            by_hour.entry(time.unwrap_or_default().div_euclid(HOUR_MICROS)).or_default().push(row as u32);
        }
        if let [(hour, _)] = by_hour.iter().collect::<Vec<_>>()[..] {
            return self.write_hour(table, *hour, batch, &times);
        }
        for (hour, rows) in by_hour {
            let part = take_record_batch(batch, &UInt32Array::from(rows))?;
            let part_times = event_times(table, &part)?;
            self.write_hour(table, hour, &part, &part_times)?;
        }
        Ok(())
    }

    fn write_hour(
        &mut self,
        table: &str,
        hour: i64,
        batch: &RecordBatch,
        times: &datafusion::arrow::array::TimestampMicrosecondArray,
    ) -> Result<(), LakeError> {
        self.clock += 1;
        let key = (table.to_string(), hour);
        // Rows of another schema (compaction of files a schema evolution
        // left) start a file of their own: a Parquet file has one schema.
        if self.open.get(&key).is_some_and(|open| open.schema != batch.schema()) {
            self.close(&key)?;
        }
        if !self.open.contains_key(&key) {
            if self.open.len() >= MAX_OPEN_FILES
                && let Some(oldest) = self.open.iter().min_by_key(|(_, f)| f.last_use).map(|(k, _)| k.clone())
            {
                self.close(&oldest)?;
            }
            let (dir, partition) = partition_dir(table, hour * HOUR_MICROS);
            let number = self.numbers.fetch_add(1, Ordering::Relaxed) + 1;
            let name = format!("part-{}-{:05}.parquet", self.id, number);
            let staged = self.dir.join(format!("{number:05}.parquet"));
            let file = File::create(&staged).map_err(io_error(&staged))?;
            let writer = ArrowWriter::try_new(file, batch.schema(), Some(self.properties.clone()))?;
            let entry = FileEntry {
                table: table.to_string(),
                path: format!("{dir}/{name}"),
                partition,
                rows: 0,
                bytes: 0,
                min_time: i64::MAX,
                max_time: i64::MIN,
                commit: 0,
            };
            self.open.insert(key.clone(), OpenFile { writer, schema: batch.schema(), staged, entry, last_use: 0 });
        }
        let Some(file) = self.open.get_mut(&key) else { return Ok(()) };
        file.writer.write(batch)?;
        file.last_use = self.clock;
        file.entry.rows += batch.num_rows() as u64;
        let (min, max) = (datafusion::arrow::compute::min(times), datafusion::arrow::compute::max(times));
        file.entry.min_time = file.entry.min_time.min(min.unwrap_or(i64::MAX));
        file.entry.max_time = file.entry.max_time.max(max.unwrap_or(i64::MIN));
        if file.entry.rows >= self.max_file_rows {
            self.close(&key)?;
        }
        Ok(())
    }

    /// Closes the open files of `table`.
    fn close_table(&mut self, table: &str) -> Result<(), LakeError> {
        let keys: Vec<_> = self.open.keys().filter(|(t, _)| t == table).cloned().collect();
        for key in keys {
            self.close(&key)?;
        }
        Ok(())
    }

    fn close(&mut self, key: &(String, i64)) -> Result<(), LakeError> {
        let Some(mut file) = self.open.remove(key) else { return Ok(()) };
        file.writer.flush()?;
        // Made durable at commit, all files at once (`sync_staged`).
        let inner = file.writer.into_inner()?;
        file.entry.bytes = inner.metadata().map_err(io_error(&file.staged))?.len();
        self.closed.push((file.staged, file.entry));
        Ok(())
    }
}

impl Transaction {
    /// Sends a refused record to quarantine, in this same commit. Rows are
    /// written in pieces of about [`QUARANTINE_FLUSH_BYTES`]; a failure to
    /// write them fails the commit.
    pub fn quarantine(&mut self, row: QuarantineRow) {
        self.quarantine_bytes += row.held_bytes();
        self.quarantine.push(row);
        if self.quarantine_bytes >= QUARANTINE_FLUSH_BYTES
            && self.failed.is_none()
            && let Err(e) = self.flush_quarantine()
        {
            self.failed = Some(e);
        }
    }

    fn flush_quarantine(&mut self) -> Result<(), LakeError> {
        if !self.quarantine.is_empty() {
            let rows = std::mem::take(&mut self.quarantine);
            self.quarantine_bytes = 0;
            self.files.write_quarantine(&rows)?;
        }
        Ok(())
    }

    /// Takes a live file out of the lake in this commit (replay, compaction).
    /// If another writer took it out first, the commit is refused
    /// ([`CommitOutcome::AlreadyConsumed`]): its rows must not come back.
    pub fn remove(&mut self, path: &str) {
        self.remove.push(path.to_string());
    }

    /// Leaves the files this commit removes on disk, for `tarn vacuum`:
    /// a query that started before the commit still reads them.
    pub fn keep_removed_files(&mut self) {
        self.keep_removed = true;
    }

    /// Closes a file when it holds `rows` rows (compaction's target size).
    pub fn set_max_file_rows(&mut self, rows: u64) {
        self.files.max_file_rows = rows.max(1);
    }

    /// Records an input this commit consumes (a file's content hash, a queue
    /// message, an API cursor).
    pub fn consume(&mut self, input: String) {
        self.inputs.push(input);
    }

    /// Records an input the lake remembers only until `until`
    /// (microseconds since the epoch): an event id deduplicated within a
    /// window, so the ledger does not grow without end.
    pub fn consume_until(&mut self, input: String, until: i64) {
        self.until.insert(input.clone(), until);
        self.inputs.push(input);
    }

    /// Moves a source's checkpoint from `expected` (what this writer read
    /// before it fetched the rows) to `value`, in this commit. If another
    /// writer moved it meanwhile, the commit is refused, so two pullers of
    /// one source never both land the same records.
    pub fn checkpoint(&mut self, key: &str, expected: Option<serde_json::Value>, value: serde_json::Value) {
        self.checkpoints.push((key.to_string(), expected, value));
    }

    /// Commits everything staged. With `force`, inputs already consumed by an
    /// earlier commit are consumed again (a deliberate re-ingest).
    pub fn commit(mut self, operation: &str, force: bool) -> Result<CommitOutcome, LakeError> {
        if let Some(failed) = self.failed.take() {
            return Err(failed);
        }
        self.flush_quarantine()?;
        let empty = self.worker_files();
        let files = std::mem::replace(&mut self.files, empty);
        let closed = files.finish()?;
        self.closed.extend(closed);
        if self.closed.is_empty() && self.inputs.is_empty() && self.remove.is_empty() && self.checkpoints.is_empty() {
            return Ok(CommitOutcome::Empty);
        }
        let store = self.lake.store().clone();
        if store.is_local() {
            // (An upload to S3 is durable when it is answered.)
            sync_staged(&self.closed)?;
        }
        // The manifest lets the next writer undo the moves of a crashed commit.
        let manifest: Vec<&str> = self.closed.iter().map(|(_, e)| e.path.as_str()).collect();
        let manifest_path = self.dir.join("manifest.json");
        fs::write(&manifest_path, serde_json::to_vec(&manifest)?).map_err(io_error(&manifest_path))?;

        let _lock = self.lake.lock()?;
        recover(&self.lake)?;
        let mut snapshot = self.lake.snapshot()?;
        if let Some(refused) = self.refused(&snapshot, force) {
            return Ok(CommitOutcome::AlreadyConsumed(refused));
        }
        // Moved into their partitions (uploaded, on S3): no commit names
        // them yet, so no reader sees them.
        place_staged(&store, &self.closed)?;
        let mut commit = Commit {
            id: snapshot.last_commit + 1,
            time: String::new(),
            operation: operation.to_string(),
            add: self.closed.iter().map(|(_, e)| e.clone()).collect(),
            remove: self.remove.clone(),
            inputs: self.inputs.clone(),
            until: self.until.clone(),
            checkpoints: self.checkpoints.iter().map(|(key, _, value)| (key.clone(), value.clone())).collect(),
        };
        let mut attempts = 0;
        let log_len = loop {
            commit.id = snapshot.last_commit + 1;
            commit.time = chrono::Utc::now().to_rfc3339();
            if let Some(log_len) = append_commit(&self.lake, &snapshot, &commit)? {
                break log_len;
            }
            // Another writer on S3 took this commit's id (a local writer
            // holds the lock: it never does): read its commit, which may
            // consume what this one would, and try the next id.
            attempts += 1;
            snapshot = self.lake.snapshot()?;
            let refused = match self.refused(&snapshot, force) {
                Some(refused) => CommitOutcome::AlreadyConsumed(refused),
                None if attempts >= MAX_COMMIT_ATTEMPTS => {
                    self.closed.iter().for_each(|(_, entry)| drop(store.delete(&entry.path)));
                    return Err(LakeError::Conflict {
                        what: format!("other writers took the next commit id {attempts} times in a row, so nothing was committed"),
                    });
                }
                None => continue,
            };
            // Certainly not committed: its files go.
            self.closed.iter().for_each(|(_, entry)| drop(store.delete(&entry.path)));
            return Ok(refused);
        };
        after_commit(&self.lake, snapshot, &commit, log_len);
        if !self.keep_removed {
            for removed in &commit.remove {
                let _ = store.delete(removed);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
        let rows = commit.add.iter().filter(|f| f.table != QUARANTINE_TABLE).map(|f| f.rows).sum();
        Ok(CommitOutcome::Committed { id: commit.id, rows, files: commit.add.len() })
    }
}

/// How many times a writer on S3 tries the next commit id before it gives
/// up (each try means another writer committed meanwhile).
const MAX_COMMIT_ATTEMPTS: u32 = 1000;

impl Transaction {
    /// What keeps this transaction from committing on top of `snapshot`:
    /// inputs another commit consumed (unless `force`), source checkpoints
    /// it moved, files it took out.
    fn refused(&self, snapshot: &Snapshot, force: bool) -> Option<Vec<String>> {
        if !force {
            let taken: Vec<String> = self.inputs.iter().filter(|i| snapshot.inputs.contains(*i)).cloned().collect();
            if !taken.is_empty() {
                return Some(taken);
            }
        }
        let moved: Vec<String> = self
            .checkpoints
            .iter()
            .filter(|(key, expected, _)| snapshot.checkpoints.get(key) != expected.as_ref())
            .map(|c| c.0.clone())
            .collect();
        if !moved.is_empty() {
            return Some(moved);
        }
        let gone: Vec<String> = self.remove.iter().filter(|p| !snapshot.files.contains_key(*p)).cloned().collect();
        (!gone.is_empty()).then_some(gone)
    }
}

/// Puts staged files where their entries say: moved into their partition
/// folders locally, uploaded to S3 several at a time.
fn place_staged(store: &super::Store, files: &[(PathBuf, FileEntry)]) -> Result<(), LakeError> {
    const AT_ONCE: usize = 8;
    let per_thread = files.len().div_ceil(AT_ONCE).max(1);
    std::thread::scope(|scope| {
        let moves: Vec<_> = files
            .chunks(per_thread)
            .map(|part| scope.spawn(move || part.iter().try_for_each(|(staged, entry)| Ok(store.place(staged, &entry.path)?))))
            .collect();
        moves.into_iter().try_for_each(|placed| placed.join().unwrap_or(Err(LakeError::WorkerPanicked)))
    })
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // Uncommitted (or already committed) staging is not needed any more.
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Makes staged files durable before they are committed. Files are synced
/// on several threads at once: one at a time, a commit of a few hundred
/// small files waited seconds on the disk.
fn sync_staged(files: &[(PathBuf, FileEntry)]) -> Result<(), LakeError> {
    const AT_ONCE: usize = 16;
    let per_thread = files.len().div_ceil(AT_ONCE).max(1);
    std::thread::scope(|scope| {
        let syncs: Vec<_> = files
            .chunks(per_thread)
            .map(|part| {
                scope.spawn(move || {
                    part.iter().try_for_each(|(staged, _)| File::open(staged).and_then(|f| f.sync_all()).map_err(io_error(staged)))
                })
            })
            .collect();
        syncs.into_iter().try_for_each(|sync| sync.join().unwrap_or(Err(LakeError::WorkerPanicked)))
    })
}

/// Appends `commit` after the whole lines of `snapshot`'s log; returns the
/// log's length after it (on S3: the commit's id), or `None` if another
/// writer on S3 committed that id first.
pub(super) fn append_commit(lake: &Lake, snapshot: &Snapshot, commit: &Commit) -> Result<Option<u64>, LakeError> {
    let Some(path) = lake.store().local_path(super::log::LOG_FILE) else {
        let created = lake.store().create(&super::log::commit_key(commit.id), serde_json::to_vec(commit)?)?;
        return Ok(created.then_some(commit.id));
    };
    let file = File::options().create(true).append(false).write(true).truncate(false).open(&path).map_err(io_error(&path))?;
    // Drop a line cut by a crash, then append ours in one write.
    file.set_len(snapshot.whole_len).map_err(io_error(&path))?;
    let mut line = serde_json::to_vec(commit)?;
    line.push(b'\n');
    use std::io::{Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(snapshot.whole_len)).map_err(io_error(&path))?;
    file.write_all(&line).map_err(io_error(&path))?;
    file.sync_data().map_err(io_error(&path))?;
    Ok(Some(snapshot.whole_len + line.len() as u64))
}

/// What follows a commit, under the lake lock: its tables are published to
/// their Delta logs, and the log's checkpoint is saved when enough lines
/// follow the last one. A failure here loses nothing — tarn's commit
/// stands; a Delta log lags until the next commit of its table (or `tarn
/// doctor --repair`), a reader parses a few more lines — so it is a
/// warning, not an error.
pub(super) fn after_commit(lake: &Lake, mut snapshot: Snapshot, commit: &Commit, log_len: u64) {
    let mut tables: std::collections::BTreeSet<String> = commit.add.iter().map(|f| f.table.clone()).collect();
    tables.extend(commit.remove.iter().filter_map(|p| p.split('/').next()).map(str::to_string));
    snapshot.apply(commit.clone());
    snapshot.whole_len = log_len;
    if let Err(e) = super::delta::publish(lake, &snapshot, &tables) {
        tracing::warn!(error = %e, "the Delta logs lag tarn's commit {}; `tarn doctor --repair` publishes them", commit.id);
    }
    if snapshot.since_checkpoint + 1 >= super::log::CHECKPOINT_EVERY
        && let Err(e) = snapshot.save_checkpoint(lake.store())
    {
        tracing::warn!(error = %e, "could not save the commit log's checkpoint; readers parse the whole log until one is saved");
    }
}

/// Removes what crashed writers left: their staging directories, and files
/// they had moved into the lake without committing. Runs under the lake lock.
pub(super) fn recover(lake: &Lake) -> Result<(), LakeError> {
    let staging = lake.staging_dir();
    let Ok(entries) = fs::read_dir(&staging) else { return Ok(()) };
    let mut snapshot = None;
    for entry in entries.flatten() {
        let dir = entry.path();
        let Ok(lock) = File::options().write(true).open(dir.join(".lock")) else {
            // No lock file yet: a writer is still creating it, or it died
            // before writing anything. Only the latter is old.
            if entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().unwrap_or_default().as_secs() > 3600) {
                let _ = fs::remove_dir_all(&dir);
            }
            continue;
        };
        if lock.try_lock().is_err() {
            continue; // a live writer
        }
        if let Ok(manifest) = fs::read(dir.join("manifest.json")) {
            let paths: Vec<String> = serde_json::from_slice(&manifest).unwrap_or_default();
            let live = match &snapshot {
                Some(snapshot) => snapshot,
                None => snapshot.insert(lake.snapshot()?),
            };
            let live = &live.files;
            for path in paths.iter().filter(|p| !live.contains_key(*p)) {
                let _ = lake.store().delete(path);
            }
        }
        let _ = fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// A batch's `p_event_time` column, which every lake table has.
fn event_times(table: &str, batch: &RecordBatch) -> Result<TimestampMicrosecondArray, LakeError> {
    batch
        .column_by_name("p_event_time")
        .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
        .cloned()
        .ok_or_else(|| LakeError::NoEventTime { table: table.to_string() })
}
