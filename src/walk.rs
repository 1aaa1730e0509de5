//! Directory walks, for the files `tarn ingest file` reads and the rule
//! files `tarn rules` loads: every directory is read whole, and an entry
//! that is not a regular file or a directory (a FIFO, a socket, a device, a
//! dangling symlink, a symlink loop, a directory it cannot read) is reported
//! and skipped, and the walk goes on. It never opens anything but
//! directories, and a loop of links is walked once.

use std::collections::{HashMap, HashSet};
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// What a walk found: the regular files to read, in walk order, each once,
/// and each entry it skipped.
#[derive(Debug, Default)]
pub struct Walked {
    pub files: Vec<PathBuf>,
    pub problems: Vec<Skipped>,
}

/// An entry the walk did not read, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: PathBuf,
    pub why: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: skipped: {}", self.path.display(), self.why)
    }
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
/// heap, not stack. Names in the problems are the paths as walked.
/// `listed` is told each file's size as it is queued.
pub fn walk(paths: &[PathBuf], listed: impl FnMut(u64)) -> Walked {
    let mut walker = Walker {
        walked: Walked::default(),
        listed,
        stack: Vec::new(),
        on_path: HashMap::new(),
        seen_dirs: HashSet::new(),
        seen_files: HashSet::new(),
    };
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

struct Walker<F> {
    walked: Walked,
    listed: F,
    /// The directories being walked, outermost first.
    stack: Vec<Frame>,
    /// (dev, inode) of each directory on `stack` → its path.
    on_path: HashMap<(u64, u64), PathBuf>,
    /// (dev, inode) of every directory walked and file queued: what two links
    /// reach is walked or queued once.
    seen_dirs: HashSet<(u64, u64)>,
    seen_files: HashSet<(u64, u64)>,
}

impl<F: FnMut(u64)> Walker<F> {
    fn skip(&mut self, path: &Path, why: impl std::fmt::Display) {
        self.walked.problems.push(Skipped { path: path.to_path_buf(), why: why.to_string() });
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
                (self.listed)(meta.len());
                self.walked.files.push(path);
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
