//! Local files (`tarn ingest file`): files and directories (walked, sorted)
//! become decode jobs; each file's log type comes from `--log-type` or
//! CloudTrail's key layout. A file is identified in the lake's ledger by its
//! content hash, so the same file ingested twice lands once.
//! Directories are read whole ([`crate::walk`]): a bad entry is reported
//! and skipped, and the other files are read.

use super::aws::cloudtrail::{log_type_for, sort_by_delivery_time};
use super::{IngestOptions, IngestReport};
use crate::ingest::{Chunk, DecodeSettings, Decoded, Fill, IngestError, Job, Settled, Source, drive};
use crate::lake::Lake;
use crate::schema::Registry;
use crate::walk::walk;
use std::collections::VecDeque;
use std::path::PathBuf;
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
    let progress = options.progress.as_deref();
    let mut walked = walk(paths, |size| {
        if let Some(progress) = progress {
            progress.listed(1, size);
        }
    });
    sort_by_delivery_time(&mut walked.files, |path| path.to_str().unwrap_or_default());
    for problem in walked.problems {
        source.report.fail(problem.to_string());
    }
    if let Some(progress) = &options.progress {
        progress.listing_done();
    }
    for path in walked.files {
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        let log_type = log_type_for(registry, &path, options.log_type.as_deref()).map_err(|e| Arc::new(e) as _);
        let shown = path.display().to_string();
        source.jobs.push_back(Job { source_file: shown.clone(), name: shown, path, input: None, until: None, log_type });
    }
    let (_never, stop) = watch::channel(false);
    drive(lake, &mut source, true, stop).await?;
    Ok(source.report)
}
