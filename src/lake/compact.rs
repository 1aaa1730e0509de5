//! `tarn optimize` and `tarn vacuum`: frequent small ingests leave many small
//! files per partition, which every engine pays for at each query.
//!
//! Optimize rewrites each partition's small files into files of about a
//! target size, in one commit that adds the new files and removes the old
//! (published to the Delta logs like any commit). The old files stay on disk:
//! a query that started before the commit still reads them. Vacuum deletes
//! files no live commit names once they have been out of the lake for
//! `--retain` (and files no commit ever named, left by crashed writers,
//! once they are that old), under the lake lock.

use super::doctor::data_files;
use super::{CommitOutcome, FileEntry, Lake, LakeError, io_error};
use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

/// What optimize did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Optimized {
    pub partitions: usize,
    pub files_before: usize,
    pub files_after: usize,
    pub rows: u64,
    pub commit: Option<u64>,
}

/// Rewrites the small files of each partition of `table` (every table if
/// `None`) into files of about `target_bytes`, in one commit.
pub fn optimize(lake: &Lake, table: Option<&str>, target_bytes: u64) -> Result<Optimized, LakeError> {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let snapshot = lake.snapshot()?;
    // Small files by table, partition and schema (files of a schema that
    // evolved are not mixed with older ones in one file).
    let mut groups: BTreeMap<(String, [i32; 4], String), Vec<&FileEntry>> = BTreeMap::new();
    for file in snapshot.files.values().filter(|f| table.is_none_or(|t| f.table == t) && f.bytes < target_bytes) {
        let path = lake.root().join(&file.path);
        let opened = fs::File::open(&path).map_err(io_error(&path))?;
        let schema = ParquetRecordBatchReaderBuilder::try_new(opened)?.schema().clone();
        groups.entry((file.table.clone(), file.partition, format!("{:?}", schema.fields()))).or_default().push(file);
    }
    groups.retain(|_, files| files.len() > 1);
    let mut done = Optimized::default();
    if groups.is_empty() {
        return Ok(done);
    }
    let mut transaction = lake.begin()?;
    transaction.keep_removed_files();
    for ((table, _, _), files) in &groups {
        let (bytes, rows): (u64, u64) = files.iter().fold((0, 0), |(b, r), f| (b + f.bytes, r + f.rows));
        transaction.set_max_file_rows((target_bytes as f64 / (bytes as f64 / rows.max(1) as f64)).ceil() as u64);
        for file in files {
            let path = lake.root().join(&file.path);
            let opened = fs::File::open(&path).map_err(io_error(&path))?;
            for batch in ParquetRecordBatchReaderBuilder::try_new(opened)?.build()? {
                transaction.write(table, &batch?)?;
            }
            transaction.remove(&file.path);
        }
        done.partitions += 1;
        done.files_before += files.len();
        done.rows += rows;
    }
    match transaction.commit("optimize", false)? {
        CommitOutcome::Committed { id, files, .. } => {
            done.files_after = files;
            done.commit = Some(id);
            Ok(done)
        }
        CommitOutcome::Empty => Ok(Optimized::default()),
        CommitOutcome::AlreadyConsumed(paths) => Err(LakeError::Conflict { what: format!("{} of the files it rewrote", paths.len()) }),
    }
}

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
    let now = chrono::Utc::now();
    let cutoff = now - chrono::Duration::from_std(retain).unwrap_or(chrono::Duration::MAX);
    let mut on_disk = Vec::new();
    data_files(lake.root(), lake.root(), &mut on_disk);
    let mut done = Vacuumed::default();
    for relative in on_disk.into_iter().filter(|p| !snapshot.files.contains_key(p)) {
        let path = lake.root().join(&relative);
        let Ok(meta) = fs::metadata(&path) else { continue };
        let out_since = match snapshot.removed.get(&relative) {
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
