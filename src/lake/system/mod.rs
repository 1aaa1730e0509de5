//! System tables: what tarn itself writes beside the sources' rows —
//! quarantined records, drop-off alarms and detection alerts. Each is a lake
//! table with a fixed schema, partitioned by when its row was written.

mod alarms;
mod alerts;
mod quarantine;

pub use alarms::{ALARMS_TABLE, AlarmRow, alarms_batch, alarms_schema};
pub use alerts::{ALERTS_TABLE, AlertRow, alerts_batch, alerts_schema};
pub(crate) use quarantine::quarantine_batch;
pub use quarantine::{QUARANTINE_TABLE, QuarantineRow, quarantine_schema};

use datafusion::arrow::array::{ArrayRef, Int64Array, ListBuilder, StringArray, StringBuilder, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::Arc;

/// The one batch builder of the system tables: rows of `R` become a batch,
/// a column at a time, in the order of the table's schema.
///
/// ```
/// # use tarn::lake::system::Columns;
/// # use datafusion::arrow::datatypes::{DataType, Field, Schema};
/// # use std::sync::Arc;
/// let schema = Arc::new(Schema::new(vec![Field::new("name", DataType::Utf8, false), Field::new("n", DataType::Int64, false)]));
/// let rows = [("a", 1), ("b", 2)];
/// let batch = Columns::new(&rows).text(|r| Some(r.0)).int(|r| Some(r.1)).finish(schema).unwrap();
/// assert_eq!(batch.num_rows(), 2);
/// ```
pub struct Columns<'a, R> {
    rows: &'a [R],
    arrays: Vec<ArrayRef>,
}

impl<'a, R> Columns<'a, R> {
    pub fn new(rows: &'a [R]) -> Columns<'a, R> {
        Columns { rows, arrays: Vec::new() }
    }

    /// A UTF-8 column.
    pub fn text(mut self, get: impl Fn(&'a R) -> Option<&'a str>) -> Self {
        self.arrays.push(Arc::new(self.rows.iter().map(get).collect::<StringArray>()));
        self
    }

    /// A 64-bit integer column.
    pub fn int(mut self, get: impl Fn(&'a R) -> Option<i64>) -> Self {
        self.arrays.push(Arc::new(self.rows.iter().map(get).collect::<Int64Array>()));
        self
    }

    /// A UTC timestamp column, microseconds.
    pub fn time(mut self, get: impl Fn(&'a R) -> Option<i64>) -> Self {
        self.arrays.push(Arc::new(self.rows.iter().map(get).collect::<TimestampMicrosecondArray>().with_timezone("UTC")));
        self
    }

    /// A list-of-strings column.
    pub fn texts(mut self, get: impl Fn(&'a R) -> &'a [String]) -> Self {
        let mut lists = ListBuilder::new(StringBuilder::new());
        for row in self.rows {
            lists.append_value(get(row).iter().map(Some));
        }
        self.arrays.push(Arc::new(lists.finish()));
        self
    }

    pub fn finish(self, schema: SchemaRef) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(schema, self.arrays)
    }
}
