//! `tarn optimize`: frequent small ingests leave many small files per
//! partition, which every engine pays for at each query. Optimize rewrites
//! each partition's small files into files of about a target size, in one
//! commit that adds the new files and removes the old (published to the
//! Delta logs like any commit). The old files stay on disk — a query that
//! started before the commit still reads them — until `tarn vacuum`.

use crate::ingest::{IngestError, Maintenance};
use crate::lake::store::ParquetBytes;
use crate::lake::{CommitOutcome, FileEntry, Lake, LakeError};
use std::collections::BTreeMap;

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
pub fn optimize(lake: &Lake, table: Option<&str>, target_bytes: u64) -> Result<Optimized, IngestError> {
    use datafusion::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
    let snapshot = lake.snapshot()?;
    // Small files by table, partition and schema (files of a schema that
    // evolved are not mixed with older ones in one file).
    // Each footer is parsed once: the metadata read here is the one the
    // rows are read with.
    let mut groups: BTreeMap<Group, Vec<(&FileEntry, ArrowReaderMetadata)>> = BTreeMap::new();
    for file in snapshot.files.values().filter(|f| table.is_none_or(|t| f.table == t) && f.bytes < target_bytes) {
        let footer = lake.store().parquet_metadata(&file.path, file.bytes).map_err(LakeError::from)?;
        let metadata = ArrowReaderMetadata::try_new(std::sync::Arc::new(footer), ArrowReaderOptions::new()).map_err(LakeError::from)?;
        let key = (file.table.clone(), file.partition, format!("{:?}", metadata.schema().fields()));
        groups.entry(key).or_default().push((file, metadata));
    }
    groups.retain(|_, files| files.len() > 1);
    let mut done = Optimized::default();
    if groups.is_empty() {
        return Ok(done);
    }
    let compaction = Maintenance::begin(lake, "optimize")?;
    let chunk = compaction.chunk();
    for ((table, _, _), files) in &groups {
        let (bytes, rows): (u64, u64) = files.iter().fold((0, 0), |(b, r), (f, _)| (b + f.bytes, r + f.rows));
        chunk.compacting((target_bytes as f64 / (bytes as f64 / rows.max(1) as f64)).ceil() as u64);
        for (file, metadata) in files {
            let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(open(lake, file)?, metadata.clone());
            for batch in reader.build().map_err(LakeError::from)? {
                chunk.write(table, &batch.map_err(LakeError::from)?)?;
            }
            chunk.remove(&file.path);
        }
        done.partitions += 1;
        done.files_before += files.len();
        done.rows += rows;
    }
    match compaction.commit()? {
        CommitOutcome::Committed { id, files, .. } => {
            done.files_after = files;
            done.commit = Some(id);
            Ok(done)
        }
        CommitOutcome::Empty => Ok(Optimized::default()),
        CommitOutcome::AlreadyConsumed(paths) => Err(LakeError::Conflict {
            what: format!("it took out {} of the files this one rewrote, so nothing was committed", paths.len()),
        }
        .into()),
    }
}

/// Files compacted together: table, partition, schema.
type Group = (String, [i32; 4], String);

fn open(lake: &Lake, file: &FileEntry) -> Result<ParquetBytes, LakeError> {
    Ok(lake.store().open_parquet(&file.path)?)
}
