//! Local files (`tarn ingest file`): files and directories (walked, sorted)
//! become decode jobs; each file's log type comes from `--log-type` or
//! CloudTrail's key layout. A file is identified in the lake's ledger by its
//! content hash, so the same file ingested twice lands once.
//!
//! The walk (`walk`) reads every directory whole: an entry that is not a
//! regular file or a directory (a FIFO, a socket, a device, a dangling
//! symlink, a symlink loop, a directory it cannot read) is reported and
//! skipped, and the walk goes on. It never opens anything but directories.

use super::aws::cloudtrail::{log_type_for, sort_by_delivery_time};
use super::{IngestOptions, IngestReport};
use crate::ingest::{Chunk, DecodeSettings, Decoded, Fill, IngestError, Job, Progress, Settled, Source, drive};
use crate::lake::Lake;
use crate::schema::Registry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
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
    let mut walked = walk(paths, options.progress.as_deref());
    sort_by_delivery_time(&mut walked.files, |path| path.to_str().unwrap_or_default());
    for problem in walked.problems {
        source.report.fail(problem);
    }
    if let Some(progress) = &options.progress {
        progress.listing_done();
    }
    for path in walked.files {
        let log_type = log_type_for(registry, &path, options.log_type.as_deref()).map_err(|e| Arc::new(e) as _);
        let shown = path.display().to_string();
        source.jobs.push_back(Job { source_file: shown.clone(), name: shown, path, input: None, log_type });
    }
    let (_never, stop) = watch::channel(false);
    drive(lake, &mut source, true, stop).await?;
    Ok(source.report)
}

/// What a walk found: the regular files to read, in walk order, each once,
/// and one line for each entry it skipped.
#[derive(Debug, Default)]
struct Walked {
    files: Vec<PathBuf>,
    problems: Vec<String>,
}

/// A directory on the walk's current path, with the entries still to visit
/// (sorted, last first).
struct Frame {
    id: (u64, u64),
    entries: Vec<PathBuf>,
}

/// Walks `paths` (files or directories, in the order given): directories
/// are walked in name order, skipping names that start with '.'; symlinks are
/// followed once to what they point at. Iterative: the depth of a tree costs
/// heap, not stack. Names in the problems are the paths as walked. Each
/// file queued is added to `progress`'s totals with its size.
fn walk(paths: &[PathBuf], progress: Option<&Progress>) -> Walked {
    let mut walker = Walker { progress, ..Walker::default() };
    for path in paths {
        walker.visit(path.clone());
        while let Some(frame) = walker.stack.last_mut() {
            match frame.entries.pop() {
                Some(entry) => walker.visit(entry),
                None => {
                    let done = walker.stack.pop().expect("a frame");
                    walker.on_path.remove(&done.id);
                }
            }
        }
    }
    walker.walked
}

#[derive(Default)]
struct Walker<'a> {
    walked: Walked,
    progress: Option<&'a Progress>,
    /// The directories being walked, outermost first.
    stack: Vec<Frame>,
    /// (dev, inode) of each directory on `stack` → its path.
    on_path: HashMap<(u64, u64), PathBuf>,
    /// (dev, inode) of every directory walked and file queued: what two links
    /// reach is walked or queued once.
    seen_dirs: HashSet<(u64, u64)>,
    seen_files: HashSet<(u64, u64)>,
}

impl Walker<'_> {
    fn skip(&mut self, path: &Path, why: impl std::fmt::Display) {
        self.walked.problems.push(format!("{}: skipped: {why}", path.display()));
    }

    /// Queues a regular file, pushes a directory's frame, or reports why the
    /// entry is skipped.
    fn visit(&mut self, path: PathBuf) {
        let own = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) => return self.skip(&path, io_problem(&e)),
        };
        let meta = if own.file_type().is_symlink() {
            match std::fs::metadata(&path) {
                Ok(meta) => meta,
                Err(e) => {
                    let target = std::fs::read_link(&path).map(|t| t.display().to_string()).unwrap_or_else(|_| "?".into());
                    return match e.kind() {
                        std::io::ErrorKind::NotFound => self.skip(&path, format_args!("a dangling symlink (to {target})")),
                        _ => self.skip(&path, format_args!("a symlink (to {target}) that cannot be followed: {}", io_problem(&e))),
                    };
                }
            }
        } else {
            own.clone()
        };
        let id = (meta.dev(), meta.ino());
        let kind = meta.file_type();
        if kind.is_file() {
            if self.seen_files.insert(id) {
                if let Some(progress) = self.progress {
                    progress.listed(1, meta.len());
                }
                self.walked.files.push(std::fs::canonicalize(&path).unwrap_or(path));
            }
        } else if kind.is_dir() {
            self.enter(path, id, &own);
        } else {
            let what = if kind.is_fifo() {
                "a FIFO"
            } else if kind.is_socket() {
                "a socket"
            } else if kind.is_char_device() {
                "a character device"
            } else if kind.is_block_device() {
                "a block device"
            } else {
                "an unknown kind of file"
            };
            self.skip(&path, format_args!("{what}, not a regular file"));
        }
    }

    /// Starts walking the directory at `path` (`own`: its entry's metadata,
    /// a symlink's own when it is one) unless it is already on the path (a
    /// loop: reported) or was walked through another link (nothing to add).
    fn enter(&mut self, path: PathBuf, id: (u64, u64), own: &Metadata) {
        if let Some(ancestor) = self.on_path.get(&id) {
            let how = if own.file_type().is_symlink() { "a symlink loop" } else { "a directory loop" };
            let why = format!("{how} back to {}", ancestor.display());
            return self.skip(&path, why);
        }
        if self.seen_dirs.contains(&id) {
            return;
        }
        let listing = match std::fs::read_dir(&path) {
            Ok(listing) => listing,
            Err(e) => return self.skip(&path, format_args!("cannot read the directory: {}", io_problem(&e))),
        };
        let mut entries = Vec::new();
        for entry in listing {
            match entry {
                Ok(entry) => {
                    if !entry.file_name().to_string_lossy().starts_with('.') {
                        entries.push(entry.path());
                    }
                }
                Err(e) => {
                    // The listing broke off: what it gave is walked, the rest is reported.
                    self.skip(&path, format_args!("cannot read the whole directory: {}", io_problem(&e)));
                    break;
                }
            }
        }
        entries.sort_unstable_by(|a, b| b.cmp(a));
        self.seen_dirs.insert(id);
        self.on_path.insert(id, path);
        self.stack.push(Frame { id, entries });
    }
}

/// An I/O error in words, without the os error number when there is a plainer one.
fn io_problem(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "it does not exist".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}
