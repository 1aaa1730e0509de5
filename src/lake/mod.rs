//! The lake: Hive-partitioned Parquet under `<lake>/<table>/year=/month=/day=/hour=/`,
//! and the commit log that says which files are live and which inputs each
//! commit consumed.
//!
//! A file becomes visible only when a commit line naming it is appended to
//! `_tarn/log.jsonl`, so readers see whole commits or nothing. Writers stage
//! files under `_tarn/staging/`, then take the lake lock, move them into
//! place and append the commit line. A crash at any point leaves either no
//! commit line (the staged or moved files are removed by the next writer) or a
//! whole one. A lake on S3 keeps the same layout under a prefix, with one
//! object a commit in place of the appended line and conditional writes in
//! place of the lock ([`store`], `docs/lake.md`).

pub mod delta;
pub mod doctor;
mod layout;
mod log;
pub mod store;
pub mod system;
pub mod vacuum;
mod writer;

pub use layout::{PARTITION_COLUMNS, partition_dir};
pub use log::{Commit, FileEntry, Snapshot, TableSummary};
pub use store::{Store, StoreError};
pub use system::{
    ALARMS_TABLE, ALERTS_TABLE, AlarmRow, AlertRow, QUARANTINE_TABLE, QuarantineRow, alarms_batch, alarms_schema, alerts_batch,
    alerts_schema, quarantine_schema,
};
pub use writer::{CommitOutcome, StagedFiles, Transaction};

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in the lake.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("lake {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error(
        "lake commit log {path} line {line} is damaged ({reason}); run `tarn doctor` to see what is wrong and `tarn doctor --repair` to drop the line"
    )]
    DamagedLog { path: String, line: usize, reason: String },
    #[error(
        "lake commit {path} is damaged ({reason}); restore it from the bucket's object versions or a backup (`tarn doctor --repair` mends local lakes only)"
    )]
    DamagedCommit { path: String, reason: String },
    #[error("writing Parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error("building rows: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("{path} is not a quarantine file (no usable column {column}); remove it from the lake or restore it from a backup")]
    NotQuarantine { path: String, column: String },
    #[error("a decode worker stopped unexpectedly; nothing of the chunk was committed, run the command again")]
    WorkerPanicked,
    #[error("rows for table {table} have no p_event_time timestamp column; this is a bug in tarn, please report it")]
    NoEventTime { table: String },
    #[error(
        "there is no lake at {path}; check --lake (or lake: in tarn.yml, or TARN_LAKE), or make one: tarn ingest file <files> --lake {path}, or tarn demo"
    )]
    NoLake { path: String },
    #[error(
        "the lake file {path} (table {table}) {problem}; run `tarn doctor` to check the lake, and `tarn doctor --repair` to take lost files out of it"
    )]
    LostFile { path: String, table: String, problem: String },
    #[error(
        "the Delta log {path} is damaged ({reason}); restore it from a backup, or move the table's _delta_log folder aside and run `tarn doctor --repair` to publish the table anew"
    )]
    DamagedDelta { path: String, reason: String },
    #[error(
        "table {table}'s Delta log needs reader {reader} / writer {writer}, newer than the Delta protocol this tarn writes (1/2); use a newer tarn for this lake"
    )]
    NewerDelta { table: String, reader: u64, writer: u64 },
    #[error("the lake at {path} is in format {found}, newer than this tarn's ({FORMAT}); use the tarn that wrote it, or a newer one")]
    NewerFormat { path: String, found: String },
    #[error("another writer changed the lake meanwhile: {what}; run the command again")]
    Conflict { what: String },
    #[error("writing the commit log: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("a source's task stopped unexpectedly ({0}); what it committed is in the lake, run again for the rest")]
    Task(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what} works on a local lake only for now; run it on a machine with the lake on disk")]
    LocalOnly { what: String },
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> LakeError + '_ {
    move |source| LakeError::Io { path: path.display().to_string(), source }
}

/// The lake format this tarn reads and writes (`_tarn/format`): tarn's
/// commit log, Hive-partitioned Parquet, a Delta log per table.
pub const FORMAT: u32 = 1;

/// Where the lake keeps its format number.
const FORMAT_FILE: &str = "_tarn/format";

/// A lake: a local folder or an S3 prefix ([`Store`]).
#[derive(Debug, Clone)]
pub struct Lake {
    store: Store,
    /// A local folder for this process's staging and downloads: `_tarn/`
    /// of a local lake, a folder under the system's temporary one for a
    /// lake on S3.
    scratch: PathBuf,
}

impl Lake {
    /// Opens (creating if needed) the lake at `root`: a local path, or
    /// `s3://bucket/prefix`.
    pub fn open(root: &Path) -> Result<Lake, LakeError> {
        Lake::open_at(root, true)
    }

    /// Opens the lake at `root` only if there is one: commands that read
    /// never create a lake (a mistyped `--lake` would show an empty one).
    pub fn open_existing(root: &Path) -> Result<Lake, LakeError> {
        Lake::open_at(root, false)
    }

    /// Connects to the store once, and reads the format once: a lake on S3
    /// exists when it has `_tarn/format`; a local one when it has `_tarn/`
    /// (lakes from before the format file have none).
    fn open_at(root: &Path, create: bool) -> Result<Lake, LakeError> {
        use std::os::unix::fs::DirBuilderExt;
        let no_lake = || LakeError::NoLake { path: root.display().to_string() };
        let store = match Store::at(root)? {
            Store::Local(_) => {
                if !create && !root.join("_tarn").is_dir() {
                    return Err(no_lake());
                }
                // A new lake is its owner's alone (an existing one keeps its
                // mode; `tarn doctor` says if others can read it).
                let staging = root.join("_tarn").join("staging");
                fs::DirBuilder::new().recursive(true).mode(0o700).create(&staging).map_err(io_error(&staging))?;
                Store::Local(fs::canonicalize(root).map_err(io_error(root))?)
            }
            remote => remote,
        };
        // Read first (a reader with read-only credentials never writes);
        // created whole and only if absent, so a writer starting at the same
        // time reads the whole number or no file, never an empty one. A
        // lake without the file is from before it: format 1.
        let text = match store.read(FORMAT_FILE)? {
            Some(text) => text,
            None if !create && !store.is_local() => return Err(no_lake()),
            None => {
                store.create(FORMAT_FILE, format!("{FORMAT}\n").into_bytes())?;
                Default::default()
            }
        };
        if let Ok(text) = std::str::from_utf8(&text)
            && text.trim().parse::<u32>().is_ok_and(|found| found > FORMAT)
        {
            return Err(LakeError::NewerFormat { path: store.location(), found: text.trim().to_string() });
        }
        let scratch = match &store {
            Store::Local(root) => root.join("_tarn"),
            Store::S3(_) => {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(store.location().as_bytes());
                let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                let scratch = std::env::temp_dir().join("tarn").join(name);
                let staging = scratch.join("staging");
                fs::DirBuilder::new().recursive(true).mode(0o700).create(&staging).map_err(io_error(&staging))?;
                scratch
            }
        };
        Ok(Lake { store, scratch })
    }

    /// Where the lake's files are.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The lake's location as the user writes it (a path or an `s3://` URL).
    pub fn location(&self) -> String {
        self.store.location()
    }

    /// The lake's folder, for what only a local lake has (`tarn doctor`).
    pub(crate) fn local_root(&self, what: &str) -> Result<&Path, LakeError> {
        match &self.store {
            Store::Local(root) => Ok(root),
            Store::S3(_) => Err(LakeError::LocalOnly { what: what.to_string() }),
        }
    }

    /// A local folder of this process's own: staged files, downloads.
    pub fn scratch_dir(&self) -> &Path {
        &self.scratch
    }

    fn staging_dir(&self) -> PathBuf {
        self.scratch.join("staging")
    }

    /// The committed state: live files and consumed inputs.
    pub fn snapshot(&self) -> Result<Snapshot, LakeError> {
        let mut snapshot = Snapshot::read(&self.store)?;
        snapshot.forget_expired(crate::now_micros());
        Ok(snapshot)
    }

    /// Takes the lake's writer lock (blocking until other writers release
    /// it). A lake on S3 has none: its writers race for the next commit's
    /// name with conditional writes instead.
    pub(crate) fn lock(&self) -> Result<Option<File>, LakeError> {
        let Store::Local(root) = &self.store else { return Ok(None) };
        let path = root.join("_tarn").join("lock");
        let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(io_error(&path))?;
        file.lock().map_err(io_error(&path))?;
        Ok(Some(file))
    }

    /// Starts a transaction that stages files and commits them at once.
    pub fn begin(&self) -> Result<Transaction, LakeError> {
        Transaction::begin(self.clone())
    }
}

#[cfg(test)]
mod tests;
