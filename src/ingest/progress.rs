//! Progress of a long batch ingest (`tarn ingest file`, `tarn pull s3`): counters
//! the library moves as inputs are listed and finish, and a caller reads
//! when it likes. The library only counts; how progress is shown (a bar on
//! a terminal, periodic lines, JSON events) is the caller's business.

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counters of one batch ingest, shared between the workers that move them
/// and whoever shows them.
#[derive(Debug, Default)]
pub struct Progress {
    files_total: AtomicU64,
    bytes_total: AtomicU64,
    /// When the list of inputs was complete: the totals are final from then
    /// on, and the rate is measured from then.
    listed: OnceLock<Instant>,
    files_done: AtomicU64,
    records: AtomicU64,
    /// Bytes of the inputs done, as they are stored (compressed): what the
    /// totals are counted in.
    bytes_done: AtomicU64,
    /// Of those, bytes done without being read (objects skipped by name or
    /// already in the lake by their ETag): no measure of the rate.
    bytes_skipped: AtomicU64,
}

/// What [`Progress`] held at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProgressSnapshot {
    pub files_done: u64,
    /// Inputs listed so far (all of them once `listing` is false).
    pub files_total: u64,
    pub records: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub bytes_skipped: u64,
    /// Whether inputs are still being listed (the totals still grow).
    pub listing: bool,
    /// Time since the listing was complete.
    pub elapsed: Duration,
}

impl Progress {
    /// Adds listed inputs (`files` of `bytes` in all) to the totals.
    pub fn listed(&self, files: u64, bytes: u64) {
        self.files_total.fetch_add(files, Ordering::Relaxed);
        self.bytes_total.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Says the totals are final; the rate is measured from now.
    pub fn listing_done(&self) {
        let _ = self.listed.set(Instant::now());
    }

    /// An input done without reading it (skipped, or already in the lake by name).
    pub fn skipped(&self, bytes: u64) {
        self.files_done.fetch_add(1, Ordering::Relaxed);
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
        self.bytes_skipped.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Starts on the file at `path`; it counts as done (with its size on
    /// disk and the records set on the guard) when the guard is dropped,
    /// however the file ends: landed, failed, or already in the lake.
    pub fn file<'a>(progress: Option<&'a Progress>, path: &Path) -> FileDone<'a> {
        let bytes = progress.map_or(0, |_| std::fs::metadata(path).map_or(0, |meta| meta.len()));
        FileDone { progress, bytes, records: 0 }
    }

    pub fn snapshot(&self) -> ProgressSnapshot {
        let listed = self.listed.get();
        ProgressSnapshot {
            files_done: self.files_done.load(Ordering::Relaxed),
            files_total: self.files_total.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            bytes_done: self.bytes_done.load(Ordering::Relaxed),
            bytes_total: self.bytes_total.load(Ordering::Relaxed),
            bytes_skipped: self.bytes_skipped.load(Ordering::Relaxed),
            listing: listed.is_none(),
            elapsed: listed.map_or(Duration::ZERO, Instant::elapsed),
        }
    }
}

/// A file being read; see [`Progress::file`].
#[must_use = "the file counts as done when this is dropped"]
pub struct FileDone<'a> {
    progress: Option<&'a Progress>,
    bytes: u64,
    records: u64,
}

impl FileDone<'_> {
    /// The records the file brought.
    pub fn records(&mut self, records: u64) {
        self.records = records;
    }
}

impl Drop for FileDone<'_> {
    fn drop(&mut self) {
        if let Some(progress) = self.progress {
            progress.records.fetch_add(self.records, Ordering::Relaxed);
            progress.bytes_done.fetch_add(self.bytes, Ordering::Relaxed);
            progress.files_done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl ProgressSnapshot {
    /// Bytes read a second since the listing was complete (skipped inputs
    /// not counted); None before there is anything to measure.
    pub fn bytes_per_second(&self) -> Option<f64> {
        let read = self.bytes_done.saturating_sub(self.bytes_skipped);
        let seconds = self.elapsed.as_secs_f64();
        (read > 0 && seconds >= 0.5).then(|| read as f64 / seconds)
    }

    /// The time left at the rate so far, once the totals are final.
    pub fn eta(&self) -> Option<Duration> {
        if self.listing {
            return None;
        }
        let left = self.bytes_total.saturating_sub(self.bytes_done);
        self.bytes_per_second().map(|rate| Duration::from_secs_f64(left as f64 / rate))
    }
}

#[cfg(test)]
mod tests {
    use super::Progress;
    use std::time::Duration;

    #[test]
    fn a_file_counts_when_it_is_done_and_skipped_bytes_give_no_rate() {
        let progress = Progress::default();
        progress.listed(3, 300);
        assert!(progress.snapshot().listing);
        progress.listing_done();
        {
            let mut file = Progress::file(Some(&progress), std::path::Path::new("/nonexistent/file"));
            file.records(10);
            assert_eq!(progress.snapshot().files_done, 0, "not done while it is read");
        }
        progress.skipped(100);
        let mut now = progress.snapshot();
        assert_eq!((now.files_done, now.records, now.bytes_done, now.bytes_skipped), (2, 10, 100, 100));
        assert_eq!(now.bytes_per_second(), None, "nothing read yet: no rate, no ETA");
        now.bytes_done += 100;
        now.elapsed = Duration::from_secs(2);
        assert_eq!(now.bytes_per_second(), Some(50.0));
        assert_eq!(now.eta(), Some(Duration::from_secs(2)));
        now.listing = true;
        assert_eq!(now.eta(), None, "no ETA while the totals still grow");
    }

    #[test]
    fn no_progress_no_counting() {
        let mut file = Progress::file(None, std::path::Path::new("/"));
        file.records(5);
        drop(file);
    }
}
