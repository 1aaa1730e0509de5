//! `tarn doctor`: checks a lake against its commit log, and repairs what a
//! disk, a crash or a hand left wrong so the lake answers again.
//!
//! Checked: every log line is a commit, in order; every live file is there,
//! has the size the log says and a readable Parquet footer with the rows the
//! log says; Parquet files no commit names (left by a crashed writer, or by a
//! commit whose line was damaged) are listed. The repair, under the lake
//! lock: damaged lines are dropped (the old log is kept beside it), lost or
//! damaged files are taken out of the lake in one commit, and files no
//! commit names are moved to `_tarn/lost+found/`. Nothing is deleted: what
//! the repair takes out of the lake is kept for a person to look at.
//!
//! A dropped line loses its commit's ledger as well as its rows, so the next
//! ingest of the same inputs lands them again: rows are not doubled, and a
//! source that can be read again loses nothing.

use super::log::{DamagedLine, LOG_FILE, Snapshot};
use super::store::{Listed, Store, StoreError};
use super::writer::{after_commit, append_commit, recover};
use super::{Commit, FileEntry, Lake, LakeError, io_error};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// One thing wrong with a lake.
#[derive(Debug, Clone)]
pub enum Finding {
    /// A whole log line that is not a commit: every command refuses the lake.
    DamagedLine(DamagedLine),
    /// A live file that is not on disk.
    Missing(FileEntry),
    /// A live file whose size is not the one its commit recorded.
    WrongSize { file: FileEntry, actual: u64 },
    /// A live file whose Parquet footer cannot be read, or holds other rows.
    Unreadable { file: FileEntry, reason: String },
    /// A live file tarn could not reach (permissions, a failing disk, S3
    /// access): not known to be lost, so repair leaves it in the lake.
    Unreachable { file: FileEntry, reason: String },
    /// A Parquet file in the lake's folders that no commit names. tarn never
    /// reads it; an engine that lists folders would.
    Unlisted { path: String, rows: Option<u64> },
    /// The lake's folder lets other users in (security logs are its owner's).
    OpenToOthers { mode: u32 },
    /// A table's Delta log does not show tarn's live files (a crash between
    /// tarn's commit and its publication, or a lake from before Delta).
    DeltaBehind { table: String, missing: usize, extra: usize, unreadable: Option<String> },
}

impl Finding {
    /// Whether the finding breaks tarn's reads (an unlisted file does not).
    pub fn breaks_reads(&self) -> bool {
        !matches!(self, Finding::Unlisted { .. } | Finding::OpenToOthers { .. } | Finding::DeltaBehind { .. })
    }

    /// The live file the finding is about, if any.
    pub fn lost_file(&self) -> Option<&FileEntry> {
        match self {
            Finding::Missing(file) | Finding::WrongSize { file, .. } | Finding::Unreadable { file, .. } => Some(file),
            _ => None,
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let described = |file: &FileEntry| format!("{} (table {}, {} rows, commit {})", file.path, file.table, file.rows, file.commit);
        match self {
            Finding::DamagedLine(line) => {
                write!(
                    f,
                    "commit log line {} is not a commit ({}); every command refuses the lake until it is dropped",
                    line.line, line.reason
                )
            }
            Finding::Missing(file) => write!(f, "{} is missing", described(file)),
            Finding::WrongSize { file, actual } => {
                write!(f, "{} is {actual} bytes, its commit wrote {} (cut short or overwritten)", described(file), file.bytes)
            }
            Finding::Unreadable { file, reason } => write!(f, "{} cannot be read: {reason}", described(file)),
            Finding::Unreachable { file, reason } => write!(
                f,
                "{} could not be reached ({reason}); repair leaves it in the lake: fix access to it and run `tarn doctor` again",
                described(file)
            ),
            Finding::Unlisted { path, rows } => {
                let rows = rows.map_or("unreadable".to_string(), |r| format!("{r} rows"));
                write!(f, "{path} ({rows}) is in no commit: left by a crashed writer or a dropped log line; tarn does not read it")
            }
            Finding::OpenToOthers { mode } => {
                write!(f, "the lake's folder has mode {mode:o}: other users can read its security logs (chmod 700 closes it)")
            }
            Finding::DeltaBehind { table, missing, extra, unreadable: None } => write!(
                f,
                "table {table}'s Delta log lags tarn's: {missing} live file(s) not in it, {extra} it still shows; other engines see an older table"
            ),
            Finding::DeltaBehind { table, unreadable: Some(reason), .. } => {
                write!(f, "table {table}'s Delta log lags tarn's: it cannot be read ({reason})")
            }
        }
    }
}

/// What `tarn doctor` found.
#[derive(Debug, Clone)]
pub struct Checkup {
    pub commits: u64,
    pub live_files: usize,
    pub findings: Vec<Finding>,
}

impl Checkup {
    /// No finding breaks reads.
    pub fn healthy(&self) -> bool {
        !self.findings.iter().any(Finding::breaks_reads)
    }

    /// Rows of live files that are lost, by table.
    pub fn rows_lost(&self) -> BTreeMap<String, u64> {
        let mut lost = BTreeMap::new();
        for file in self.findings.iter().filter_map(Finding::lost_file) {
            *lost.entry(file.table.clone()).or_default() += file.rows;
        }
        lost
    }
}

/// What `tarn doctor --repair` did.
#[derive(Debug, Clone, Default)]
pub struct Repair {
    /// Log lines dropped, and where the log as it was is kept.
    pub dropped_lines: Vec<usize>,
    pub old_log: Option<PathBuf>,
    /// Live files taken out of the lake, and the commit that did it.
    pub removed: Vec<FileEntry>,
    pub commit: Option<u64>,
    /// Files no commit named, moved under `lost_and_found`, with their rows.
    pub moved: Vec<(String, Option<u64>)>,
    pub lost_and_found: PathBuf,
    /// The lake's folder was made its owner's alone.
    pub closed: bool,
    /// Tables whose Delta log was brought level with tarn's.
    pub published: Vec<String>,
}

/// Checks the lake without changing it.
pub fn check(lake: &Lake) -> Result<Checkup, LakeError> {
    // A local log is read line by line, so a damaged line is reported, not
    // an error; an S3 lake's commits are objects, read as every reader does.
    let (snapshot, damaged) = match lake.store().local_path(LOG_FILE) {
        Some(log) => Snapshot::read_tolerant(&log)?,
        None => (lake.snapshot()?, Vec::new()),
    };
    check_files(lake, &snapshot, damaged)
}

fn check_files(lake: &Lake, snapshot: &Snapshot, damaged: Vec<DamagedLine>) -> Result<Checkup, LakeError> {
    let store = lake.store();
    let mut findings: Vec<Finding> = damaged.into_iter().map(Finding::DamagedLine).collect();
    for file in snapshot.files.values() {
        let actual = match store.size(&file.path) {
            Ok(Some(size)) => size,
            Ok(None) => {
                findings.push(Finding::Missing(file.clone()));
                continue;
            }
            Err(e) => {
                findings.push(Finding::Unreachable { file: file.clone(), reason: e.to_string() });
                continue;
            }
        };
        if actual != file.bytes {
            findings.push(Finding::WrongSize { file: file.clone(), actual });
            continue;
        }
        match footer_rows(store, &file.path, actual) {
            Ok(rows) if rows == file.rows => {}
            Ok(rows) => findings.push(Finding::Unreadable { file: file.clone(), reason: format!("it holds {rows} rows") }),
            Err(StoreError::Parquet(e)) => findings.push(Finding::Unreadable { file: file.clone(), reason: e.to_string() }),
            Err(e) => findings.push(Finding::Unreachable { file: file.clone(), reason: e.to_string() }),
        }
    }
    let listed = store.list("")?;
    for file in data_files(&listed).filter(|f| !snapshot.files.contains_key(&f.key)) {
        let rows = footer_rows(store, &file.key, file.size).ok();
        findings.push(Finding::Unlisted { path: file.key.clone(), rows });
    }
    if let Some(mode) = store.local_path("").and_then(|root| open_mode(&root)) {
        findings.push(Finding::OpenToOthers { mode });
    }
    for table in delta_tables(&listed, snapshot) {
        let live: BTreeSet<String> =
            snapshot.table_files(&table).map(|f| f.path.trim_start_matches(&format!("{table}/")).to_string()).collect();
        match super::delta::read_state(lake, &table) {
            Ok(state) => {
                let published: BTreeSet<String> = state.live.into_keys().collect();
                if published != live {
                    findings.push(Finding::DeltaBehind {
                        missing: live.difference(&published).count(),
                        extra: published.difference(&live).count(),
                        table,
                        unreadable: None,
                    });
                }
            }
            Err(e) => findings.push(Finding::DeltaBehind { missing: live.len(), extra: 0, table, unreadable: Some(e.to_string()) }),
        }
    }
    Ok(Checkup { commits: snapshot.last_commit, live_files: snapshot.files.len(), findings })
}

/// Tables with live files or a Delta log.
pub(super) fn delta_tables(listed: &[Listed], snapshot: &Snapshot) -> BTreeSet<String> {
    let mut tables: BTreeSet<String> = snapshot.tables().into_iter().collect();
    let marker = format!("/{}/", super::delta::DELTA_LOG);
    tables.extend(listed.iter().filter_map(|l| l.key.split_once(&marker)).map(|(table, _)| table.to_string()));
    tables
}

/// The folder's permission bits, if they let anyone but its owner in.
fn open_mode(dir: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(dir).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

/// The rows a Parquet file's footer says it holds.
fn footer_rows(store: &Store, key: &str, size: u64) -> Result<u64, StoreError> {
    let metadata = store.parquet_metadata(key, size)?;
    Ok(metadata.file_metadata().num_rows().max(0) as u64)
}

/// The Parquet files of a listing of the lake that are in table folders.
/// Folders whose name starts with `_` or `.` hold no rows (`_tarn/`, each
/// table's `_delta_log/` with its Parquet checkpoints), as in Hive and
/// Spark.
pub(super) fn data_files(listed: &[Listed]) -> impl Iterator<Item = &Listed> {
    listed.iter().filter(|l| {
        let (folders, name) = l.key.rsplit_once('/').unwrap_or(("", &l.key));
        name.ends_with(".parquet") && !name.starts_with('.') && !folders.split('/').any(|f| f.starts_with(['_', '.']))
    })
}

/// Repairs the lake under its lock: drops damaged log lines, takes lost and
/// damaged files out in one commit, moves files no commit names aside.
pub fn repair(lake: &Lake) -> Result<Repair, LakeError> {
    let root = lake.local_root("tarn doctor --repair")?.to_path_buf();
    let meta = root.join("_tarn");
    let _lock = lake.lock()?;
    let log = root.join(LOG_FILE);
    let lost_and_found = meta.join("lost+found");
    let mut repair = Repair { lost_and_found: lost_and_found.clone(), ..Repair::default() };

    let (_, damaged) = Snapshot::read_tolerant(&log)?;
    if !damaged.is_empty() {
        let text = fs::read(&log).map_err(io_error(&log))?;
        let kept = without_spans(&text, &damaged);
        let old = meta.join(format!("log.jsonl.damaged-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S")));
        fs::copy(&log, &old).map_err(io_error(&old))?;
        let next = meta.join("log.jsonl.repaired");
        fs::write(&next, &kept).map_err(io_error(&next))?;
        fs::File::open(&next).and_then(|f| f.sync_all()).map_err(io_error(&next))?;
        fs::rename(&next, &log).map_err(io_error(&log))?;
        // Its offsets are the old log's.
        let _ = fs::remove_file(root.join(super::log::CHECKPOINT_FILE));
        repair.dropped_lines = damaged.iter().map(|d| d.line).collect();
        repair.old_log = Some(old);
    }
    recover(lake)?;
    let snapshot = lake.snapshot()?;
    let checkup = check_files(lake, &snapshot, Vec::new())?;

    let lost: Vec<FileEntry> = checkup.findings.iter().filter_map(Finding::lost_file).cloned().collect();
    if !lost.is_empty() {
        for file in &lost {
            move_aside(&root, &file.path, &lost_and_found)?;
        }
        let commit = Commit {
            id: snapshot.last_commit + 1,
            time: chrono::Utc::now().to_rfc3339(),
            operation: "repair".into(),
            add: Vec::new(),
            remove: lost.iter().map(|f| f.path.clone()).collect(),
            inputs: Vec::new(),
            until: Default::default(),
            checkpoints: BTreeMap::new(),
        };
        let Some(log_len) = append_commit(lake, &snapshot, &commit)? else {
            return Err(LakeError::Conflict { what: format!("it committed {} first, so the repair was not committed", commit.id) });
        };
        after_commit(lake, snapshot.clone(), &commit, log_len);
        repair.commit = Some(commit.id);
        repair.removed = lost;
    }
    for finding in &checkup.findings {
        match finding {
            Finding::Unlisted { path, rows } => {
                move_aside(&root, path, &lost_and_found)?;
                repair.moved.push((path.clone(), *rows));
            }
            Finding::OpenToOthers { mode } => {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&root, fs::Permissions::from_mode(mode & 0o700)).map_err(io_error(&root))?;
                repair.closed = true;
            }
            _ => {}
        }
    }
    let snapshot = lake.snapshot()?;
    repair.published = super::delta::publish(lake, &snapshot, &delta_tables(&lake.store().list("")?, &snapshot))?;
    Ok(repair)
}

/// The log without the damaged lines (and without a last line a crash cut).
fn without_spans(text: &[u8], damaged: &[DamagedLine]) -> Vec<u8> {
    let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut kept = Vec::with_capacity(whole);
    let mut at = 0;
    for line in damaged {
        kept.extend_from_slice(&text[at..line.span.0]);
        at = (line.span.1 + 1).min(whole);
    }
    kept.extend_from_slice(&text[at..whole]);
    kept
}

/// Moves a lake file (if it is there) under `lost+found/`, keeping its path.
fn move_aside(root: &Path, relative: &str, lost_and_found: &Path) -> Result<(), LakeError> {
    let from = root.join(relative);
    if !from.exists() {
        return Ok(());
    }
    let to = lost_and_found.join(relative);
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    fs::rename(&from, &to).map_err(io_error(&from))
}
