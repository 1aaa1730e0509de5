//! The commit log. On a local lake, `_tarn/log.jsonl`: one JSON line a
//! commit, appended under the lake lock. A line without its final newline
//! was cut by a crash and is not part of the lake. On S3, where nothing is
//! appended to, one object a commit, `_tarn/log/<id, 20 digits>.json`,
//! created only if absent: of two writers racing for the same id one wins,
//! the other reads the new commit and tries the next id.
//!
//! Checkpoints keep opening a lake from growing with its history: after a
//! commit that leaves [`CHECKPOINT_EVERY`] or more lines since the last
//! checkpoint, the writer saves the whole state (`_tarn/checkpoint.json`,
//! written aside and renamed into place) with the log offset it covers; a
//! reader loads it and parses only the lines after. A checkpoint whose
//! offset does not fall on the next commit's line (a log rewritten by
//! `tarn doctor --repair`) is ignored and the log read whole.

use super::store::Store;
use super::{LakeError, io_error};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// A local lake's log, relative to the lake root.
pub const LOG_FILE: &str = "_tarn/log.jsonl";

/// A lake on S3: the folder of its commit objects.
pub const LOG_DIR: &str = "_tarn/log";

/// The object of commit `id` in an S3 lake's log.
pub fn commit_key(id: u64) -> String {
    format!("{LOG_DIR}/{id:020}.json")
}

/// Lines after a checkpoint that make the writer save a new one.
pub const CHECKPOINT_EVERY: u64 = 100;

/// The checkpoint, relative to the lake root.
pub const CHECKPOINT_FILE: &str = "_tarn/checkpoint.json";

/// Removed file paths and the time (RFC 3339) of the commit that removed each.
pub(super) type RemovalTimes = HashMap<String, String>;

/// Files taken out of the lake (and not added again), with the time (RFC
/// 3339) of the commit that took them out: what `tarn vacuum` may delete
/// once no reader needs them. Read from the whole log, for vacuum alone, so
/// no other reader (nor the checkpoint) carries a map that only grows.
pub(super) fn removal_times(store: &Store) -> Result<RemovalTimes, LakeError> {
    let texts = match store {
        Store::Local(_) => store.read(LOG_FILE)?.into_iter().collect(),
        Store::S3(_) => {
            let keys: Vec<String> = store.list(LOG_DIR)?.into_iter().map(|l| l.key).collect();
            store.read_many(&keys)?.into_iter().flatten().collect::<Vec<_>>()
        }
    };
    let mut removed = HashMap::new();
    let lines = texts.iter().flat_map(|text| text.split(|&b| b == b'\n'));
    for commit in lines.filter_map(|line| serde_json::from_slice::<Commit>(line).ok()) {
        for path in commit.remove {
            removed.insert(path, commit.time.clone());
        }
        for added in commit.add {
            removed.remove(&added.path);
        }
    }
    Ok(removed)
}

/// The snapshot, or an error naming the first damaged line.
fn refuse_damaged(path: &Path, snapshot: Snapshot, damaged: Vec<DamagedLine>) -> Result<Snapshot, LakeError> {
    match damaged.into_iter().next() {
        Some(first) => Err(LakeError::DamagedLog { path: path.display().to_string(), line: first.line, reason: first.reason }),
        None => Ok(snapshot),
    }
}

/// The snapshot a checkpoint saved and the log offset it covers; `None`
/// if there is none or it cannot be read (then the log is read whole).
fn load_checkpoint(store: &Store) -> Option<(Snapshot, u64)> {
    let saved: Checkpoint = serde_json::from_slice(&store.read(CHECKPOINT_FILE).ok()??).ok()?;
    let files = saved
        .files
        .into_iter()
        .map(|(mut f, commit)| {
            f.commit = commit;
            (f.path.clone(), f)
        })
        .collect();
    let snapshot = Snapshot {
        last_commit: saved.last_commit,
        files,
        inputs: saved.inputs.into_iter().collect(),
        expiring: saved.expiring,
        checkpoints: saved.checkpoints,
        whole_len: saved.offset,
        since_checkpoint: 0,
        first_read: None,
    };
    Some((snapshot, saved.offset))
}

/// One data file a commit added.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub table: String,
    /// Relative to the lake root.
    pub path: String,
    /// year, month, day, hour.
    pub partition: [i32; 4],
    pub rows: u64,
    pub bytes: u64,
    /// Smallest and largest `p_event_time` in the file, microseconds.
    pub min_time: i64,
    pub max_time: i64,
    /// The commit that added the file (known from the log, not stored).
    #[serde(skip)]
    pub commit: u64,
}

/// One commit line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Commit {
    pub id: u64,
    /// RFC 3339.
    pub time: String,
    pub operation: String,
    #[serde(default)]
    pub add: Vec<FileEntry>,
    /// Paths of files this commit takes out of the lake.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Inputs consumed, as `<kind>:<identity>` (`sha256:<hex>` for a local file).
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Of those inputs, the ones the lake remembers only for a while (an
    /// event id a client may resend within a dedupe window): until when,
    /// in microseconds since the epoch. The rest are remembered for good.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub until: BTreeMap<String, i64>,
    /// Source positions this commit moves forward (a Snyk cursor), by source
    /// key: the rows and the position land together or not at all.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checkpoints: BTreeMap<String, serde_json::Value>,
}

/// The lake as of the last whole commit.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub last_commit: u64,
    /// Live files by path.
    pub files: BTreeMap<String, FileEntry>,
    pub inputs: HashSet<String>,
    /// Inputs of `inputs` remembered only until a time (microseconds).
    pub expiring: HashMap<String, i64>,
    /// The latest checkpoint of each source key.
    pub checkpoints: HashMap<String, serde_json::Value>,
    /// Bytes of the log that hold whole lines (on S3, where each commit is
    /// an object: the last commit's id).
    pub(super) whole_len: u64,
    /// Commit lines read after the checkpoint (all of them without one).
    pub(super) since_checkpoint: u64,
    /// The id of the first commit line read.
    first_read: Option<u64>,
}

/// The state a checkpoint saves: a [`Snapshot`] as of `offset` bytes of the log.
#[derive(Serialize, Deserialize)]
struct Checkpoint {
    last_commit: u64,
    offset: u64,
    files: Vec<(FileEntry, u64)>,
    inputs: Vec<String>,
    #[serde(default)]
    expiring: HashMap<String, i64>,
    checkpoints: HashMap<String, serde_json::Value>,
}

/// A whole log line that is not a commit (damaged on disk or by hand).
#[derive(Debug, Clone)]
pub struct DamagedLine {
    /// 1-based.
    pub line: usize,
    pub reason: String,
    /// Where the line starts and ends in the log, newline excluded.
    pub(super) span: (usize, usize),
}

impl Snapshot {
    /// The lake as of its last whole commit, from the checkpoint and the
    /// lines after it; a damaged line stops every reader (skipping it could
    /// show removed files, or hide added ones).
    pub(super) fn read(store: &Store) -> Result<Snapshot, LakeError> {
        let Store::Local(root) = store else { return Snapshot::read_objects(store) };
        let path = &root.join(LOG_FILE);
        let (mut snapshot, offset) = load_checkpoint(store).unwrap_or_default();
        let text = match std::fs::File::open(path) {
            Ok(mut file) => {
                use std::io::{Read, Seek, SeekFrom};
                let length = file.metadata().map_err(io_error(path))?.len();
                if length < offset {
                    // Shorter than the checkpoint says: not the log it covers.
                    return Snapshot::read_whole(path);
                }
                let mut text = Vec::new();
                file.seek(SeekFrom::Start(offset)).and_then(|_| file.read_to_end(&mut text)).map_err(io_error(path))?;
                text
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Snapshot::default()),
            Err(e) => return Err(io_error(path)(e)),
        };
        let expected = snapshot.last_commit;
        let damaged = snapshot.apply_lines(&text, offset);
        let misplaced = snapshot.since_checkpoint > 0 && snapshot.first_read != Some(expected + 1);
        if offset > 0 && (misplaced || !damaged.is_empty()) {
            // The log was rewritten under the checkpoint (or is damaged after
            // it): read it whole, which also says where a damaged line is.
            return Snapshot::read_whole(path);
        }
        refuse_damaged(path, snapshot, damaged)
    }

    /// An S3 lake's log: the checkpoint, then the commit objects after it,
    /// in order. Ids follow each other; a gap or an object that is not the
    /// commit its name says is damage, and stops every reader.
    fn read_objects(store: &Store) -> Result<Snapshot, LakeError> {
        let (mut snapshot, _) = load_checkpoint(store).unwrap_or_default();
        let after = (snapshot.last_commit > 0).then(|| commit_key(snapshot.last_commit));
        let keys: Vec<String> = store.list_after(LOG_DIR, after.as_deref())?.into_iter().map(|l| l.key).collect();
        for (key, text) in keys.iter().zip(store.read_many(&keys)?) {
            let damaged = |reason: String| LakeError::DamagedCommit { path: format!("{}/{key}", store.location()), reason };
            let Some(text) = text else { return Err(damaged("it was listed, then could not be read".to_string())) };
            let commit = serde_json::from_slice::<Commit>(&text).map_err(|e| damaged(e.to_string()))?;
            if commit_key(commit.id) != *key || commit.id != snapshot.last_commit + 1 {
                return Err(damaged(format!("holds commit {} where commit {} belongs", commit.id, snapshot.last_commit + 1)));
            }
            snapshot.since_checkpoint += 1;
            snapshot.apply(commit);
        }
        snapshot.whole_len = snapshot.last_commit;
        Ok(snapshot)
    }

    /// The whole log, without the checkpoint; a damaged line is an error.
    fn read_whole(path: &Path) -> Result<Snapshot, LakeError> {
        let (snapshot, damaged) = Snapshot::read_tolerant(path)?;
        refuse_damaged(path, snapshot, damaged)
    }

    /// Saves the snapshot as the log's checkpoint (under the lake lock).
    pub(super) fn save_checkpoint(&self, store: &Store) -> Result<(), LakeError> {
        let saved = Checkpoint {
            last_commit: self.last_commit,
            offset: self.whole_len,
            files: self.files.values().map(|f| (f.clone(), f.commit)).collect(),
            inputs: self.inputs.iter().cloned().collect(),
            expiring: self.expiring.clone(),
            checkpoints: self.checkpoints.clone(),
        };
        Ok(store.write(CHECKPOINT_FILE, serde_json::to_vec(&saved)?)?)
    }

    /// The commits of every whole line that parses, and the lines that do
    /// not: what `tarn doctor` reports and repairs.
    pub(super) fn read_tolerant(path: &Path) -> Result<(Snapshot, Vec<DamagedLine>), LakeError> {
        let text = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Snapshot::default(), Vec::new())),
            Err(e) => return Err(io_error(path)(e)),
        };
        let mut snapshot = Snapshot::default();
        let damaged = snapshot.apply_lines(&text, 0);
        Ok((snapshot, damaged))
    }

    /// Applies the whole lines of `text`, which starts at `offset` of the
    /// log; returns the lines that are not commits (spans relative to `text`).
    fn apply_lines(&mut self, text: &[u8], offset: u64) -> Vec<DamagedLine> {
        let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        self.whole_len = offset + whole as u64;
        let mut damaged = Vec::new();
        let mut start = 0;
        for (number, line) in text[..whole].split(|&b| b == b'\n').enumerate() {
            let span = (start, start + line.len());
            start += line.len() + 1;
            if line.is_empty() {
                continue;
            }
            let commit = serde_json::from_slice::<Commit>(line).map_err(|e| e.to_string()).and_then(|commit| {
                if commit.id <= self.last_commit {
                    Err(format!("commit {} follows commit {}", commit.id, self.last_commit))
                } else {
                    Ok(commit)
                }
            });
            match commit {
                Ok(commit) => {
                    self.first_read.get_or_insert(commit.id);
                    self.since_checkpoint += 1;
                    self.apply(commit);
                }
                Err(reason) => damaged.push(DamagedLine { line: number + 1, reason, span }),
            }
        }
        damaged
    }

    pub(super) fn apply(&mut self, commit: Commit) {
        self.last_commit = commit.id;
        for removed in &commit.remove {
            self.files.remove(removed);
        }
        for mut added in commit.add {
            added.commit = commit.id;
            self.files.insert(added.path.clone(), added);
        }
        self.inputs.extend(commit.inputs);
        self.expiring.extend(commit.until);
        self.checkpoints.extend(commit.checkpoints);
    }

    /// Forgets the expiring inputs whose time is over at `now`
    /// (microseconds): a resent event after its dedupe window lands again,
    /// and the ledger stays as large as one window's inputs.
    pub(super) fn forget_expired(&mut self, now: i64) {
        let inputs = &mut self.inputs;
        self.expiring.retain(|input, until| {
            let keep = *until > now;
            if !keep {
                inputs.remove(input);
            }
            keep
        });
    }

    /// Live files of one table.
    pub fn table_files(&self, table: &str) -> impl Iterator<Item = &FileEntry> {
        self.files.values().filter(move |f| f.table == table)
    }

    /// Tables with at least one live file.
    pub fn tables(&self) -> Vec<String> {
        let mut tables: Vec<String> = self.files.values().map(|f| f.table.clone()).collect();
        tables.dedup();
        tables.sort();
        tables.dedup();
        tables
    }
}

/// One table's size and time range, for `tarn tables`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSummary {
    pub table: String,
    pub rows: u64,
    pub files: u64,
    pub partitions: u64,
    pub bytes: u64,
    /// Smallest and largest `p_event_time`, microseconds.
    pub min_time: i64,
    pub max_time: i64,
}

impl Snapshot {
    /// A summary of every table with live files, by table name.
    pub fn summaries(&self) -> Vec<TableSummary> {
        let mut by_table: BTreeMap<&str, (TableSummary, HashSet<[i32; 4]>)> = BTreeMap::new();
        for file in self.files.values() {
            let (summary, partitions) = by_table.entry(&file.table).or_insert_with(|| {
                let empty = TableSummary {
                    table: file.table.clone(),
                    rows: 0,
                    files: 0,
                    partitions: 0,
                    bytes: 0,
                    min_time: i64::MAX,
                    max_time: i64::MIN,
                };
                (empty, HashSet::new())
            });
            summary.rows += file.rows;
            summary.files += 1;
            summary.bytes += file.bytes;
            summary.min_time = summary.min_time.min(file.min_time);
            summary.max_time = summary.max_time.max(file.max_time);
            partitions.insert(file.partition);
        }
        by_table
            .into_values()
            .map(|(mut s, p)| {
                s.partitions = p.len() as u64;
                s
            })
            .collect()
    }
}
