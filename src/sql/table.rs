//! A lake table for DataFusion: reads exactly the files the commit log lists
//! as live (never a directory listing, which could show a half-done commit),
//! with the Hive partition columns `year`, `month`, `day`, `hour`, and only
//! those a query's time and partition filters can match (see `prune`).

use super::prune::{Bounds, PARTITION_COLUMNS};
use crate::lake::{FileEntry, Store};
use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a lake table's files are read from: the object store DataFusion
/// reads them through, and the prefix their paths in the lake start with.
#[derive(Debug, Clone)]
pub struct FilesAt {
    url: ObjectStoreUrl,
    /// Keys are `<prefix>/<path in the lake>` (`prefix` may be empty).
    prefix: String,
    /// A local lake's folder: each file is checked before a scan.
    local: Option<PathBuf>,
    /// A lake on S3: the store to register under `url`.
    objects: Option<Arc<dyn object_store::ObjectStore>>,
}

impl FilesAt {
    /// The files of the lake in `store`.
    pub fn of(store: &Store) -> Result<FilesAt> {
        Ok(match store.object_store() {
            Some((url, objects, prefix)) => FilesAt { url: ObjectStoreUrl::parse(&url)?, prefix, local: None, objects: Some(objects) },
            None => {
                let root = store.local_path("").unwrap_or_default();
                let prefix = root.to_string_lossy().trim_matches('/').to_string();
                FilesAt { url: ObjectStoreUrl::local_filesystem(), prefix, local: Some(root), objects: None }
            }
        })
    }

    /// No files (a table that only lends its schema).
    pub fn nowhere() -> FilesAt {
        FilesAt { url: ObjectStoreUrl::local_filesystem(), prefix: String::new(), local: None, objects: None }
    }

    /// The URL and store to register with a session, for a lake on S3.
    pub fn object_store(&self) -> Option<(ObjectStoreUrl, Arc<dyn object_store::ObjectStore>)> {
        self.objects.clone().map(|objects| (self.url.clone(), objects))
    }

    fn key(&self, path: &str) -> String {
        if self.prefix.is_empty() { path.to_string() } else { format!("{}/{path}", self.prefix) }
    }
}

#[derive(Debug)]
pub struct LakeTable {
    file_schema: SchemaRef,
    partition_fields: Vec<FieldRef>,
    schema: SchemaRef,
    files_at: FilesAt,
    files: Vec<FileEntry>,
    /// Columns whose filters prune files by their `p_event_time` range.
    time_columns: Vec<String>,
}

impl LakeTable {
    pub fn new(file_schema: SchemaRef, files_at: FilesAt, files: Vec<FileEntry>, time_columns: Vec<String>) -> LakeTable {
        let partition_fields: Vec<FieldRef> =
            PARTITION_COLUMNS.iter().map(|name| Arc::new(Field::new(*name, DataType::Int32, false))).collect();
        let mut fields: Vec<FieldRef> = file_schema.fields().iter().cloned().collect();
        fields.extend(partition_fields.iter().cloned());
        let schema = Arc::new(Schema::new_with_metadata(fields, file_schema.metadata().clone()));
        LakeTable { file_schema, partition_fields, schema, files_at, files, time_columns }
    }

    /// The table's columns: the file columns, then the partition columns.
    pub fn full_schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

#[async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        // DataFusion keeps the filter above the scan and pushes it into the
        // Parquet reader for row-group pruning on statistics.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let bounds = Bounds::from_filters(filters, &self.time_columns);
        let files: Vec<&FileEntry> = self.files.iter().filter(|f| bounds.may_match(f)).collect();
        if files.is_empty() {
            let projected = match projection {
                Some(indices) => Arc::new(self.schema.project(indices)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let groups_wanted = state.config().target_partitions().max(1);
        let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); groups_wanted.min(files.len())];
        for (i, entry) in files.into_iter().enumerate() {
            if let Some(root) = &self.files_at.local {
                check_present(&root.join(&entry.path), entry)?;
            }
            let file = PartitionedFile::new(self.files_at.key(&entry.path), entry.bytes)
                .with_partition_values(entry.partition.iter().map(|v| ScalarValue::Int32(Some(*v))).collect());
            let count = groups.len();
            groups[i % count].push(file);
        }
        // The session's Parquet options (tarn's reading settings), not the defaults.
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let table_schema = TableSchema::builder(self.file_schema.clone()).with_table_partition_cols(self.partition_fields.clone()).build();
        let source = format.file_source(table_schema);
        let config = FileScanConfigBuilder::new(self.files_at.url.clone(), source)
            .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
}

/// Refuses a scan of a file that is gone or cut short: Parquet's own error
/// for a short file ("expected: N, actual: N") does not say what happened.
fn check_present(path: &std::path::Path, entry: &FileEntry) -> Result<()> {
    let problem = match std::fs::metadata(path) {
        Ok(meta) if meta.len() == entry.bytes => return Ok(()),
        Ok(meta) => format!("is {} bytes, its commit wrote {}", meta.len(), entry.bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "is missing".to_string(),
        Err(e) => format!("cannot be read ({e})"),
    };
    let lost = crate::lake::LakeError::LostFile { path: entry.path.clone(), table: entry.table.clone(), problem };
    Err(DataFusionError::External(Box::new(lost)))
}

/// A table of rows held in memory, with the same columns as a [`LakeTable`]
/// of `file_schema`: the partition columns are worked out from `p_event_time`.
pub fn memory_table(file_schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<MemTable> {
    use datafusion::arrow::array::{Array, ArrayRef, Int32Array, TimestampMicrosecondArray};
    let schema = LakeTable::new(file_schema, FilesAt::nowhere(), Vec::new(), Vec::new()).full_schema();
    let mut full = Vec::new();
    for batch in batches {
        let times = batch
            .column_by_name("p_event_time")
            .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>())
            .ok_or_else(|| DataFusionError::Internal("a lake row has a p_event_time".into()))?;
        let partitions: Vec<[i32; 4]> = (0..times.len()).map(|i| crate::lake::partition_dir("", times.value(i)).1).collect();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for part in 0..PARTITION_COLUMNS.len() {
            columns.push(Arc::new(partitions.iter().map(|p| p[part]).collect::<Int32Array>()));
        }
        full.push(RecordBatch::try_new(schema.clone(), columns)?);
    }
    MemTable::try_new(schema, vec![full])
}
