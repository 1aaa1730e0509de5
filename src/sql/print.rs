//! Printing query results: an aligned table (default), CSV, a JSON array, or
//! NDJSON (one object a line, for piping into jq or another tool).

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::writer::{JsonArray, LineDelimited, WriterBuilder};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Ndjson,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        <Format as clap::ValueEnum>::from_str(name, true).ok()
    }
}

const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

/// Writes `batches` to `out` in `format`.
pub fn write(out: &mut dyn Write, format: Format, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(), ArrowError> {
    match format {
        Format::Table => {
            writeln!(out, "{}", pretty_format_batches_with_schema(schema.clone(), batches)?)?;
        }
        Format::Csv => write_csv(out, schema, batches)?,
        Format::Json => {
            let mut writer = WriterBuilder::new().with_explicit_nulls(true).build::<_, JsonArray>(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            writeln!(out)?;
        }
        Format::Ndjson => {
            let mut writer = WriterBuilder::new().with_explicit_nulls(true).build::<_, LineDelimited>(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
    }
    Ok(())
}

fn write_csv(out: &mut dyn Write, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(), ArrowError> {
    let header: Vec<String> = schema.fields().iter().map(|f| csv_field(f.name())).collect();
    writeln!(out, "{}", header.join(","))?;
    let options = FormatOptions::default().with_timestamp_tz_format(Some(TIMESTAMP_FORMAT)).with_timestamp_format(Some(TIMESTAMP_FORMAT));
    for batch in batches {
        let formatters = batch.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options)).collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let mut line = String::new();
            for (i, (formatter, column)) in formatters.iter().zip(batch.columns()).enumerate() {
                if i > 0 {
                    line.push(',');
                }
                if !column.is_null(row) {
                    line.push_str(&csv_field(&formatter.value(row).to_string()));
                }
            }
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}
