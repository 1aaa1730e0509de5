//! Retention: whole hour partitions that every event data store over a
//! table has stopped keeping are taken out of the lake in one commit, then
//! deleted from disk. A table keeps what its longest-keeping store keeps
//! (two stores over `aws_cloudtrail`, 90 and 366 days: 366); a table no
//! store shows is never dropped. A partition goes only once all of its hour
//! is older than the cutoff, so no row a store still keeps is lost.

use super::eds::EventDataStore;
use crate::ingest::{IngestError, Maintenance};
use crate::lake::{CommitOutcome, Lake};
use std::collections::BTreeMap;

const HOUR_MICROS: i64 = 3_600_000_000;
const DAY_MICROS: i64 = 24 * HOUR_MICROS;

/// What retention dropped (or, with a dry run, would drop) from one table.
#[derive(Debug, Clone, PartialEq)]
pub struct Dropped {
    pub table: String,
    pub retention_days: u32,
    /// Partitions older than this instant (microseconds) went.
    pub cutoff: i64,
    pub partitions: usize,
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
}

/// What one retention run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionReport {
    pub dry_run: bool,
    pub tables: Vec<Dropped>,
    pub commit: Option<u64>,
}

impl RetentionReport {
    /// One line a table, for the CLI.
    pub fn lines(&self) -> Vec<String> {
        let verb = if self.dry_run { "would drop" } else { "dropped" };
        let mut lines: Vec<String> = self
            .tables
            .iter()
            .map(|d| {
                let cutoff = chrono::DateTime::from_timestamp_micros(d.cutoff).unwrap_or_default().format("%Y-%m-%d %H:%M UTC");
                if d.partitions == 0 {
                    format!("{}: keeps {} days; nothing older than {cutoff}", d.table, d.retention_days)
                } else {
                    format!(
                        "{}: keeps {} days; {verb} {} partitions older than {cutoff} ({} files, {} rows, {:.1} MiB)",
                        d.table,
                        d.retention_days,
                        d.partitions,
                        d.files,
                        d.rows,
                        d.bytes as f64 / 1_048_576.0
                    )
                }
            })
            .collect();
        if self.tables.is_empty() {
            lines.push("no event data store shows a lake table; nothing to drop".to_string());
        }
        if let Some(id) = self.commit {
            lines.push(format!("committed as lake commit {id}"));
        }
        lines
    }
}

/// Applies the stores' retention at `now` (microseconds).
pub fn apply(lake: &Lake, stores: &[EventDataStore], now: i64, dry_run: bool) -> Result<RetentionReport, IngestError> {
    let mut keep: BTreeMap<&str, u32> = BTreeMap::new();
    for store in stores {
        for table in &store.tables {
            let days = keep.entry(table).or_insert(0);
            *days = (*days).max(store.retention_days);
        }
    }
    let snapshot = lake.snapshot()?;
    let retention = Maintenance::begin(lake, "retention")?;
    let mut tables = Vec::new();
    for (table, days) in keep {
        let cutoff = now - days as i64 * DAY_MICROS;
        let mut dropped = Dropped { table: table.to_string(), retention_days: days, cutoff, partitions: 0, files: 0, rows: 0, bytes: 0 };
        let mut partitions = std::collections::HashSet::new();
        for file in snapshot.table_files(table) {
            if partition_start(file.partition).is_some_and(|start| start + HOUR_MICROS <= cutoff) {
                partitions.insert(file.partition);
                dropped.files += 1;
                dropped.rows += file.rows;
                dropped.bytes += file.bytes;
                retention.chunk().remove(&file.path);
            }
        }
        dropped.partitions = partitions.len();
        tables.push(dropped);
    }
    let mut commit = None;
    if !dry_run && tables.iter().any(|d| d.files > 0) {
        if let CommitOutcome::Committed { id, .. } = retention.commit()? {
            commit = Some(id);
        }
        remove_empty_partition_dirs(lake, &tables);
    }
    Ok(RetentionReport { dry_run, tables, commit })
}

/// The first microsecond of a `[year, month, day, hour]` partition.
fn partition_start([year, month, day, hour]: [i32; 4]) -> Option<i64> {
    let date = chrono::NaiveDate::from_ymd_opt(year, month as u32, day as u32)?;
    Some(date.and_hms_opt(hour as u32, 0, 0)?.and_utc().timestamp_micros())
}

/// Removes the partition directories retention emptied (best effort).
fn remove_empty_partition_dirs(lake: &Lake, tables: &[Dropped]) {
    fn prune(dir: &std::path::Path) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else { return false };
        let mut empty = true;
        for entry in entries.flatten() {
            let path = entry.path();
            empty &= path.is_dir() && prune(&path);
        }
        empty && std::fs::remove_dir(dir).is_ok()
    }
    for dropped in tables.iter().filter(|d| d.files > 0) {
        // S3 has no folders to remove.
        let Some(table_dir) = lake.store().local_path(&dropped.table) else { continue };
        if let Ok(years) = std::fs::read_dir(table_dir) {
            for year in years.flatten() {
                prune(&year.path());
            }
        }
    }
}
