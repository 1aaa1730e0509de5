//! Local files (`tarn ingest file`): files and directories (walked, sorted)
//! become decode jobs; each file's log type comes from `--log-type` or
//! CloudTrail's key layout. A file is identified in the lake's ledger by its
//! content hash, so the same file ingested twice lands once.

use super::aws::cloudtrail;
use crate::ingest::{Chunk, Committed, DecodeSettings, Fill, IngestError, Job, Settled, Source, drive};
use crate::lake::Lake;
use crate::schema::{LogType, Registry};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

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
        DecodeSettings { source_id: self.source_id.clone(), source_label: self.source_label.clone(), adapt: super::adapt }
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

/// The file source: a queue of decode jobs.
struct Files<'a> {
    jobs: VecDeque<Job>,
    options: &'a IngestOptions,
    settings: DecodeSettings,
    report: IngestReport,
}

#[async_trait::async_trait]
impl Source for Files<'_> {
    fn operation(&self) -> &'static str {
        "ingest"
    }

    fn force(&self) -> bool {
        self.options.force
    }

    async fn fill(&mut self, chunk: &Chunk, _stop: &mut watch::Receiver<bool>) -> Result<Fill, IngestError> {
        if self.jobs.is_empty() {
            return Ok(Fill::Done);
        }
        let jobs = std::mem::take(&mut self.jobs).into();
        chunk.decode_files(jobs, &self.settings, self.options.chunk_records).await?;
        Ok(Fill::More)
    }

    async fn settle(&mut self, settled: Settled) -> Result<(), IngestError> {
        self.jobs = settled.left.into();
        for (_, problem) in settled.failed {
            tracing::warn!("{problem}");
            self.report.failed.push(problem);
        }
        self.report.already_ingested += settled.already;
        match settled.outcome {
            Committed::Rows(rows) => {
                self.report.commits += 1;
                self.report.rows += rows;
                self.report.files += settled.inputs.len() as u64;
                self.report.quarantined += settled.quarantined;
                self.report.bytes += settled.bytes;
            }
            Committed::Empty => {}
            Committed::Raced { redo, taken } => {
                self.report.already_ingested += taken;
                for job in redo.into_iter().rev() {
                    self.jobs.push_front(job);
                }
            }
        }
        Ok(())
    }
}

/// Ingests local files (directories are walked) into the lake. Problems with
/// single files are reported as warnings and listed in the report; the other
/// files go on.
pub fn ingest_files(lake: &Lake, registry: &Registry, paths: &[PathBuf], options: &IngestOptions) -> Result<IngestReport, IngestError> {
    let mut source = Files { jobs: VecDeque::new(), options, settings: options.decode_settings(), report: IngestReport::default() };
    let mut found: VecDeque<PathBuf> = VecDeque::new();
    for path in paths {
        if let Err(problem) = expand(path, &mut found) {
            tracing::warn!("{problem}");
            source.report.failed.push(problem);
        }
    }
    for path in found {
        let shown = path.display().to_string();
        match log_type_for(registry, &path, options.log_type.as_deref()) {
            Ok(log_type) => source.jobs.push_back(Job { path, input: None, source_file: shown, log_type }),
            Err(problem) => {
                tracing::warn!("{problem}");
                source.report.failed.push(problem);
            }
        }
    }
    let (_never, stop) = watch::channel(false);
    let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(IngestError::Runtime)?;
    runtime.block_on(drive(lake, &mut source, true, stop))?;
    Ok(source.report)
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

/// The log type of a file: CloudTrail's key layout names digest and insight
/// files; otherwise the one given, or CloudTrail for a CloudTrail key.
pub fn log_type_for(registry: &Registry, path: &Path, given: Option<&str>) -> Result<Arc<LogType>, String> {
    let from_layout = cloudtrail::log_type_of(&path.to_string_lossy());
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
