//! The lake: Hive-partitioned Parquet under `<lake>/<table>/year=/month=/day=/hour=/`,
//! and the commit log that says which files are live and which inputs each
//! commit consumed.
//!
//! A file becomes visible only when a commit line naming it is appended to
//! `_tarn/log.jsonl`, so readers see whole commits or nothing. Writers stage
//! files under `_tarn/staging/`, then take the lake lock, move them into
//! place and append the commit line. A crash at any point leaves either no
//! commit line (the staged or moved files are removed by the next writer) or a
//! whole one.

pub mod delta;
pub mod doctor;
mod layout;
mod log;
pub mod system;
pub mod vacuum;
mod writer;

pub use layout::{PARTITION_COLUMNS, partition_dir};
pub use log::{Commit, FileEntry, Snapshot, TableSummary};
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
    #[error("another writer changed the lake meanwhile ({what} were taken out by it); nothing was committed, run the command again")]
    Conflict { what: String },
    #[error("writing the commit log: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("a source's task stopped unexpectedly ({0}); what it committed is in the lake, run again for the rest")]
    Task(String),
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> LakeError + '_ {
    move |source| LakeError::Io { path: path.display().to_string(), source }
}

/// The lake format this tarn reads and writes (`_tarn/format`): tarn's
/// commit log, Hive-partitioned Parquet, a Delta log per table.
pub const FORMAT: u32 = 1;

/// A lake directory.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
}

impl Lake {
    /// Opens (creating if needed) the lake at `root`.
    pub fn open(root: &Path) -> Result<Lake, LakeError> {
        use std::os::unix::fs::DirBuilderExt;
        let meta = root.join("_tarn");
        let format = meta.join("format");
        let created = !meta.is_dir();
        // A new lake is its owner's alone (an existing one keeps its mode;
        // `tarn doctor` says if others can read it).
        fs::DirBuilder::new().recursive(true).mode(0o700).create(meta.join("staging")).map_err(io_error(&meta))?;
        if created {
            // Written aside and renamed: a writer starting at the same time
            // reads the whole number or no file, never an empty one.
            let staged = meta.join(format!(".format.{}", std::process::id()));
            fs::write(&staged, format!("{FORMAT}\n")).map_err(io_error(&staged))?;
            fs::rename(&staged, &format).map_err(io_error(&format))?;
        }
        // A lake without the file is from before it: format 1.
        if let Ok(text) = fs::read_to_string(&format)
            && text.trim().parse::<u32>().is_ok_and(|found| found > FORMAT)
        {
            return Err(LakeError::NewerFormat { path: root.display().to_string(), found: text.trim().to_string() });
        }
        let root = fs::canonicalize(root).map_err(io_error(root))?;
        Ok(Lake { root })
    }

    /// Opens the lake at `root` only if there is one: commands that read
    /// never create a lake (a mistyped `--lake` would show an empty one).
    pub fn open_existing(root: &Path) -> Result<Lake, LakeError> {
        if !root.join("_tarn").is_dir() {
            return Err(LakeError::NoLake { path: root.display().to_string() });
        }
        Lake::open(root)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `_tarn/`: the commit log, the lock, staging, the event data store catalog.
    pub(crate) fn meta_dir(&self) -> PathBuf {
        self.root.join("_tarn")
    }

    fn log_path(&self) -> PathBuf {
        self.meta_dir().join("log.jsonl")
    }

    fn staging_dir(&self) -> PathBuf {
        self.meta_dir().join("staging")
    }

    /// The committed state: live files and consumed inputs.
    pub fn snapshot(&self) -> Result<Snapshot, LakeError> {
        Snapshot::read(&self.log_path())
    }

    /// Takes the lake's writer lock (blocking until other writers release it).
    pub(crate) fn lock(&self) -> Result<File, LakeError> {
        let path = self.meta_dir().join("lock");
        let file = File::options().create(true).truncate(false).write(true).open(&path).map_err(io_error(&path))?;
        file.lock().map_err(io_error(&path))?;
        Ok(file)
    }

    /// Starts a transaction that stages files and commits them at once.
    pub fn begin(&self) -> Result<Transaction, LakeError> {
        Transaction::begin(self.clone())
    }
}

#[cfg(test)]
mod tests;
