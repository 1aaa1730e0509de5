//! Batch ingest of files and S3 objects (`tarn ingest file`, `tarn pull
//! s3`): the options their rows are decoded with, and the report both keep.

use crate::ingest::{Committed, DecodeSettings, Decoded, Job, Progress, Settled};
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
    /// Records larger than this many bytes are quarantined, never held whole.
    pub max_record: usize,
    /// Land the complete records of a file that is cut short.
    pub accept_partial: bool,
    /// Counters moved as inputs are listed and done, for a caller to show.
    pub progress: Option<Arc<Progress>>,
}

impl Default for IngestOptions {
    fn default() -> IngestOptions {
        IngestOptions {
            log_type: None,
            force: false,
            chunk_records: 500_000,
            source_id: "file".into(),
            source_label: "tarn ingest file".into(),
            max_record: crate::formats::json::DEFAULT_MAX_RECORD,
            accept_partial: false,
            progress: None,
        }
    }
}

impl IngestOptions {
    /// How this source's files are decoded.
    pub fn decode_settings(&self) -> DecodeSettings {
        DecodeSettings {
            source_id: self.source_id.clone(),
            source_label: self.source_label.clone(),
            adapt: super::adapt,
            max_record: self.max_record,
            accept_partial: self.accept_partial,
            progress: self.progress.clone(),
        }
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

    /// Reports the chunk's unreadable inputs before its commit.
    pub fn seal(&mut self, decoded: &mut Decoded) {
        for (_, problem) in decoded.failed.drain(..) {
            self.fail(problem);
        }
    }

    /// Counts a settled chunk; returns the jobs to decode again (another
    /// writer committed some of the chunk's inputs first, so none of it is
    /// in the lake).
    pub fn settle(&mut self, settled: Settled) -> Vec<Job> {
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
            Committed::Raced { redo, taken, .. } => {
                self.already_ingested += taken;
                redo
            }
        }
    }
}
