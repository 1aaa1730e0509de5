//! Sources turn the outside world into chunks for the ingest driver: each
//! implements [`crate::ingest::Source`] (fill a chunk, acknowledge after the
//! commit) and owns its config, its errors and the record adapter of its log
//! types. One folder per source family.
//!
//! - `file`: local files and directories (`tarn ingest file`).
//!
//! Here: what files and S3 objects are ingested with ([`IngestOptions`]),
//! which log type a file or key holds ([`log_type_for`]), and the record
//! adapter of every source's log types ([`adapt`]).
//! - `aws`: AWS clients, the CloudTrail key rule, S3 backfill, the SQS intake.
//! - `snyk`: Snyk audit logs from the REST or v1 API.

pub mod aws;
pub mod file;
pub mod snyk;

use crate::ingest::{Committed, DecodeSettings, Job, Settled};
use crate::schema::{LogType, Registry};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

/// How files are decoded and committed.
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

impl IngestOptions {
    /// How this source's files are decoded.
    pub fn decode_settings(&self) -> DecodeSettings {
        DecodeSettings { source_id: self.source_id.clone(), source_label: self.source_label.clone(), adapt }
    }
}

/// What an ingest of files or objects did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IngestReport {
    /// Files (or objects) whose records were committed.
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

impl IngestReport {
    /// A file that could not be read: a warning, and a line in the report.
    pub fn fail(&mut self, problem: String) {
        tracing::warn!("{problem}");
        self.failed.push(problem);
    }

    /// Counts a settled chunk; returns the jobs to decode again (another
    /// writer committed some of the chunk's inputs first, so none of it is
    /// in the lake).
    pub fn settle(&mut self, settled: Settled) -> Vec<Job> {
        for (_, problem) in settled.failed {
            self.fail(problem);
        }
        self.already_ingested += settled.already;
        match settled.outcome {
            Committed::Rows(rows) => {
                self.commits += 1;
                self.rows += rows;
                self.files += settled.inputs.len() as u64;
                self.quarantined += settled.quarantined;
                self.bytes += settled.bytes;
                Vec::new()
            }
            Committed::Empty => Vec::new(),
            Committed::Raced { redo, taken } => {
                self.already_ingested += taken;
                redo
            }
        }
    }
}

/// The log type of a file: CloudTrail's key layout names digest and insight
/// files; otherwise the one given, or CloudTrail for a CloudTrail key.
pub fn log_type_for(registry: &Registry, path: &Path, given: Option<&str>) -> Result<Arc<LogType>, String> {
    let from_layout = aws::cloudtrail::log_type_of(&path.to_string_lossy());
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

/// The record adapter of every source's log types: a Snyk REST item gets the
/// v1 names its schema uses; other records pass unchanged. File ingest,
/// quarantine replay and rule tests decode with it.
pub fn adapt(log_type: &str, record: Value) -> Value {
    snyk::to_schema_names(log_type, record)
}
