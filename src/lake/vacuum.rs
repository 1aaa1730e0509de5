//! `tarn vacuum`: deletes files no live commit names once they have been
//! out of the lake for `--retain` (compaction and replay leave the files
//! they replace for readers that started before), and files no commit ever
//! named (left by crashed writers) once they are that old. Under the lake
//! lock, so no writer is moving files in meanwhile; on S3, where writers
//! upload a chunk's files before its commit, a file younger than the
//! retention is never deleted, so keep `--retain` longer than a commit takes.

use super::doctor::{data_files, delta_tables};
use super::{Lake, LakeError};
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
    let removed = super::log::removal_times(lake.store())?;
    let now = chrono::Utc::now();
    let cutoff = now - chrono::Duration::from_std(retain).unwrap_or(chrono::Duration::MAX);
    let listed = lake.store().list("")?;
    // Files a lagging Delta log still shows (its publication failed and
    // no commit has brought it level yet) stay: other engines read them.
    let mut in_delta = std::collections::HashSet::new();
    for table in delta_tables(&listed, &snapshot) {
        if let Ok(state) = super::delta::read_state(lake, &table) {
            in_delta.extend(state.live.into_keys().map(|path| format!("{table}/{path}")));
        }
    }
    let mut done = Vacuumed::default();
    for file in data_files(&listed).filter(|f| !snapshot.files.contains_key(&f.key)) {
        if in_delta.contains(&file.key) {
            done.kept += 1;
            continue;
        }
        let out_since = match removed.get(&file.key) {
            Some(time) => chrono::DateTime::parse_from_rfc3339(time).map(|t| t.with_timezone(&chrono::Utc)).ok(),
            None => Some(chrono::DateTime::<chrono::Utc>::from(file.modified)),
        };
        if out_since.is_none_or(|since| since > cutoff) {
            done.kept += 1;
            continue;
        }
        if !dry_run {
            lake.store().delete(&file.key)?;
        }
        done.files += 1;
        done.bytes += file.size;
    }
    Ok(done)
}
