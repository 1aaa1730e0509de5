//! `tarn vacuum`: deletes files no live commit names once they have been
//! out of the lake for `--retain` (compaction and replay leave the files
//! they replace for readers that started before), and files no commit ever
//! named (left by crashed writers) once they are that old. Under the lake
//! lock, so no writer is moving files in meanwhile.

use super::doctor::data_files;
use super::{Lake, LakeError, io_error};
use std::fs;
use std::time::Duration;

/// What vacuum deleted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vacuumed {
    pub files: usize,
    pub bytes: u64,
    /// Files out of the lake for less than the retention, kept.
    pub kept: usize,
}

/// Deletes the Parquet files no live commit names that have been out of
/// the lake (or, never in it, on disk) for longer than `retain`.
pub fn vacuum(lake: &Lake, retain: Duration, dry_run: bool) -> Result<Vacuumed, LakeError> {
    let _lock = lake.lock()?;
    let snapshot = lake.snapshot()?;
    let removed = super::log::removal_times(&lake.log_path())?;
    let now = chrono::Utc::now();
    let cutoff = now - chrono::Duration::from_std(retain).unwrap_or(chrono::Duration::MAX);
    let mut on_disk = Vec::new();
    data_files(lake.root(), lake.root(), &mut on_disk);
    let mut done = Vacuumed::default();
    for relative in on_disk.into_iter().filter(|p| !snapshot.files.contains_key(p)) {
        let path = lake.root().join(&relative);
        let Ok(meta) = fs::metadata(&path) else { continue };
        let out_since = match removed.get(&relative) {
            Some(time) => chrono::DateTime::parse_from_rfc3339(time).map(|t| t.with_timezone(&chrono::Utc)).ok(),
            None => meta.modified().ok().map(chrono::DateTime::<chrono::Utc>::from),
        };
        if out_since.is_none_or(|since| since > cutoff) {
            done.kept += 1;
            continue;
        }
        if !dry_run {
            fs::remove_file(&path).map_err(io_error(&path))?;
        }
        done.files += 1;
        done.bytes += meta.len();
    }
    Ok(done)
}
