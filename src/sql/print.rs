//! Printing query results: an aligned table (default), CSV, a JSON array,
//! NDJSON (one object a line, for piping into jq or another tool), or
//! `lake`: CloudTrail Lake's `GetQueryResults` shape, every value a string
//! written as Lake (Trino) writes it.

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
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
    /// CloudTrail Lake's `GetQueryResults` JSON, values as Lake prints them.
    Lake,
}

impl Format {
    pub fn parse(name: &str) -> Option<Format> {
        <Format as clap::ValueEnum>::from_str(name, true).ok()
    }
}

const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

/// Writes `batches` to `out` in `format`. A value that cannot be shown (a
/// timestamp outside the calendar) fails the whole write before anything is
/// written: no cell ever holds an error text in place of a value.
pub fn write(out: &mut dyn Write, format: Format, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(), ArrowError> {
    check_displayable(schema, batches)?;
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
        Format::Lake => write_lake(out, schema, batches)?,
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

/// Fails on the first value of a date or time column (at any depth) that
/// has no text form, naming its column.
fn check_displayable(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(), ArrowError> {
    fn temporal(data_type: &DataType) -> bool {
        match data_type {
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 | DataType::Time32(_) | DataType::Time64(_) => true,
            DataType::Struct(fields) => fields.iter().any(|f| temporal(f.data_type())),
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) | DataType::Map(f, _) => temporal(f.data_type()),
            _ => false,
        }
    }
    let options = FormatOptions::default().with_display_error(false);
    for batch in batches {
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            if !temporal(field.data_type()) {
                continue;
            }
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            for row in 0..batch.num_rows() {
                if let Err(e) = formatter.value(row).try_to_string() {
                    let reason = crate::sql::one_line(&e.to_string());
                    return Err(ArrowError::InvalidArgumentError(format!(
                        "column {} holds a value with no date or time form ({reason}); cast it to BIGINT to see the number",
                        field.name()
                    )));
                }
            }
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
                    line.push_str(&csv_field(&formatter.value(row).try_to_string()?));
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

/// `{"QueryStatus": "FINISHED", "QueryStatistics": {...}, "QueryResultRows": [[{"col": "value"}, ...], ...]}`,
/// one result row a line; NULL stays JSON null.
fn write_lake(out: &mut dyn Write, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(), ArrowError> {
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    writeln!(
        out,
        "{{\"QueryStatus\": \"FINISHED\", \"QueryStatistics\": {{\"ResultsCount\": {total}, \"TotalResultsCount\": {total}}}, \"QueryResultRows\": ["
    )?;
    let mut first = true;
    for batch in batches {
        for row in 0..batch.num_rows() {
            let cells: Vec<serde_json::Value> = schema
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(field, column)| Ok(serde_json::json!({ field.name(): lake_value(column.as_ref(), row)? })))
                .collect::<Result<_, ArrowError>>()?;
            writeln!(out, "{}{}", if first { "  " } else { ", " }, serde_json::Value::Array(cells))?;
            first = false;
        }
    }
    writeln!(out, "]}}")?;
    Ok(())
}

/// One value as CloudTrail Lake prints it: timestamps `2023-01-22 16:53:53.000`,
/// structs and maps `{key=value, ...}`, arrays `[a, b]`; None for NULL
/// (`null` inside a struct, map or array).
pub fn lake_value(column: &dyn Array, row: usize) -> Result<Option<String>, ArrowError> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::DataType;
    if column.is_null(row) {
        return Ok(None);
    }
    let nested = |column: &dyn Array, row: usize| lake_value(column, row).map(|v| v.unwrap_or_else(|| "null".to_string()));
    Ok(Some(match column.data_type() {
        DataType::Struct(fields) => {
            let record = column.as_struct();
            let members = fields
                .iter()
                .zip(record.columns())
                .map(|(field, child)| Ok(format!("{}={}", field.name(), nested(child.as_ref(), row)?)))
                .collect::<Result<Vec<_>, ArrowError>>()?;
            format!("{{{}}}", members.join(", "))
        }
        DataType::Map(..) => {
            let map = column.as_map();
            let entries = map.value(row);
            let members = (0..entries.len())
                .map(|i| Ok(format!("{}={}", nested(entries.column(0).as_ref(), i)?, nested(entries.column(1).as_ref(), i)?)))
                .collect::<Result<Vec<_>, ArrowError>>()?;
            format!("{{{}}}", members.join(", "))
        }
        DataType::List(_) => {
            let items = column.as_list::<i32>().value(row);
            let members = (0..items.len()).map(|i| nested(items.as_ref(), i)).collect::<Result<Vec<_>, ArrowError>>()?;
            format!("[{}]", members.join(", "))
        }
        _ => {
            let options =
                FormatOptions::default().with_timestamp_tz_format(Some(TIMESTAMP_FORMAT)).with_timestamp_format(Some(TIMESTAMP_FORMAT));
            ArrayFormatter::try_new(column, &options)?.value(row).try_to_string()?
        }
    }))
}
