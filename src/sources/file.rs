//! Local files (`tarn ingest file`): files and directories (walked, sorted)
//! become decode jobs; each file's log type comes from `--log-type` or
//! CloudTrail's key layout. A file is identified in the lake's ledger by its
//! content hash, so the same file ingested twice lands once.

use super::aws::cloudtrail::log_type_for;
use super::{IngestOptions, IngestReport};
use crate::ingest::{Chunk, DecodeSettings, Decoded, Fill, IngestError, Job, Settled, Source, drive};
use crate::lake::Lake;
use crate::schema::Registry;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

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

    fn seal(&mut self, decoded: &mut Decoded) {
        self.report.seal(decoded);
    }

    async fn settle(&mut self, mut settled: Settled) -> Result<(), IngestError> {
        self.jobs = std::mem::take(&mut settled.left).into();
        for job in self.report.settle(settled).into_iter().rev() {
            self.jobs.push_front(job);
        }
        Ok(())
    }
}

/// Ingests local files (directories are walked) into the lake. Problems with
/// single files are reported as warnings and listed in the report; the other
/// files go on. For async code: [`ingest_paths`].
pub fn ingest_files(lake: &Lake, registry: &Registry, paths: &[PathBuf], options: &IngestOptions) -> Result<IngestReport, IngestError> {
    if tokio::runtime::Handle::try_current().is_ok() {
        let misuse = std::io::Error::other("ingest_files blocks, and was called inside an async runtime; await ingest_paths there");
        return Err(IngestError::Runtime(misuse));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().build().map_err(IngestError::Runtime)?;
    runtime.block_on(ingest_paths(lake, registry, paths, options))
}

/// [`ingest_files`] for async code: decoding runs on blocking threads.
pub async fn ingest_paths(
    lake: &Lake,
    registry: &Registry,
    paths: &[PathBuf],
    options: &IngestOptions,
) -> Result<IngestReport, IngestError> {
    let mut source = Files { jobs: VecDeque::new(), options, settings: options.decode_settings(), report: IngestReport::default() };
    let mut found: VecDeque<PathBuf> = VecDeque::new();
    for path in paths {
        if let Err(problem) = expand(path, &mut found) {
            source.report.fail(problem);
        }
    }
    for path in found {
        let log_type = log_type_for(registry, &path, options.log_type.as_deref()).map_err(|e| Arc::new(e) as _);
        source.jobs.push_back(Job { source_file: path.display().to_string(), path, input: None, log_type });
    }
    let (_never, stop) = watch::channel(false);
    drive(lake, &mut source, true, stop).await?;
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
