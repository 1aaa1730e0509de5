//! Running one rule's SQL in a session and reading what each matching row
//! means for alerting: its row id, event time, alert title and dedup key.

use super::Rule;
use crate::sql::{Sql, SqlError, lake_value};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, TimestampMicrosecondType};
use serde_json::Value;

/// A rule's query that failed, or returned rows alerts cannot be made of.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    #[error(transparent)]
    Query(#[from] SqlError),
    #[error("the query returns no {column} column; a rule's SELECT returns p_row_id and p_event_time of each matching row (SELECT * does)")]
    MissingColumn { column: &'static str },
    #[error("p_row_id must be the table's row id (text) and p_event_time a timestamp")]
    ColumnTypes,
    #[error("{path}: the query returns no column {first}")]
    NoColumn { path: String, first: String },
    #[error("{path}: {segment} is inside a {data_type} column, which has no fields")]
    NotStruct { path: String, segment: String, data_type: DataType },
    #[error("{path}: no field {segment}")]
    NoField { path: String, segment: String },
}

/// One row a rule matched.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub row_id: String,
    pub time: i64,
    pub title: String,
    pub dedup_key: String,
}

/// Runs the rule's queries and reads their matching rows.
pub async fn matches(sql: &Sql, rule: &Rule) -> Result<Vec<Match>, MatchError> {
    let mut found = Vec::new();
    for query in &rule.queries {
        let (_, batches) = sql.query(query).await?;
        for batch in &batches {
            read_batch(rule, batch, &mut found)?;
        }
    }
    Ok(found)
}

fn read_batch(rule: &Rule, batch: &RecordBatch, found: &mut Vec<Match>) -> Result<(), MatchError> {
    let need = |column: &'static str| batch.column_by_name(column).cloned().ok_or(MatchError::MissingColumn { column });
    let row_ids = need("p_row_id")?;
    let times = need("p_event_time")?;
    if row_ids.data_type() != &DataType::Utf8 || !matches!(times.data_type(), DataType::Timestamp(..)) {
        return Err(MatchError::ColumnTypes);
    }
    let title = rule.alert_title.as_deref().map(Template::parse);
    let title_fields: Vec<FieldColumn> =
        title.iter().flat_map(|t| t.fields()).map(|path| FieldColumn::find(batch, path)).collect::<Result<_, _>>()?;
    let key_fields: Vec<FieldColumn> = rule.dedup_key.iter().map(|path| FieldColumn::find(batch, path)).collect::<Result<_, _>>()?;
    let times = times.as_primitive::<TimestampMicrosecondType>();
    for row in 0..batch.num_rows() {
        let title = match &title {
            Some(template) => template.render(&title_fields.iter().map(|f| f.text(row)).collect::<Vec<_>>()),
            None => rule.title.clone(),
        };
        let dedup_key = match key_fields.is_empty() {
            true => title.clone(),
            false => key_fields.iter().map(|f| format!("{}={}", f.path, f.text(row).unwrap_or_default())).collect::<Vec<_>>().join(", "),
        };
        found.push(Match { row_id: row_ids.as_string::<i32>().value(row).to_string(), time: times.value(row), title, dedup_key });
    }
    Ok(())
}

/// An alert title with `{field.path}` placeholders.
pub struct Template {
    /// Literal text and field paths, alternating, starting with text.
    pieces: Vec<String>,
}

impl Template {
    pub fn parse(text: &str) -> Template {
        let mut pieces = Vec::new();
        // The text since the last placeholder.
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else { break };
            literal.push_str(&rest[..open]);
            pieces.push(std::mem::take(&mut literal));
            pieces.push(rest[open + 1..open + close].trim().to_string());
            rest = &rest[open + close + 1..];
        }
        literal.push_str(rest);
        pieces.push(literal);
        Template { pieces }
    }

    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().skip(1).step_by(2).map(String::as_str)
    }

    fn render(&self, values: &[Option<String>]) -> String {
        let mut out = String::new();
        for (i, piece) in self.pieces.iter().enumerate() {
            match i % 2 {
                0 => out.push_str(piece),
                _ => out.push_str(values[i / 2].as_deref().unwrap_or("(none)")),
            }
        }
        out
    }
}

/// A field path found in a result batch: a column (into structs), then a
/// path into its JSON text if the column holds JSON.
struct FieldColumn {
    path: String,
    column: ArrayRef,
    json_path: Vec<String>,
}

impl FieldColumn {
    fn find(batch: &RecordBatch, path: &str) -> Result<FieldColumn, MatchError> {
        let mut segments = path.split('.');
        let first = segments.next().unwrap_or_default();
        let schema = batch.schema();
        let index = schema
            .fields()
            .iter()
            .position(|f| f.name().eq_ignore_ascii_case(first))
            .ok_or_else(|| MatchError::NoColumn { path: path.to_string(), first: first.to_string() })?;
        let mut column = batch.column(index).clone();
        let mut json_path = Vec::new();
        for segment in segments {
            if !json_path.is_empty() || matches!(column.data_type(), DataType::Utf8) {
                json_path.push(segment.to_string());
                continue;
            }
            let DataType::Struct(fields) = column.data_type() else {
                return Err(MatchError::NotStruct {
                    path: path.to_string(),
                    segment: segment.to_string(),
                    data_type: column.data_type().clone(),
                });
            };
            let child = fields
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(segment))
                .ok_or_else(|| MatchError::NoField { path: path.to_string(), segment: segment.to_string() })?;
            column = column.as_struct().column(child).clone();
        }
        Ok(FieldColumn { path: path.to_string(), column, json_path })
    }

    fn text(&self, row: usize) -> Option<String> {
        if self.json_path.is_empty() {
            return lake_value(self.column.as_ref(), row).ok().flatten();
        }
        let text = self.column.as_string::<i32>();
        if text.is_null(row) {
            return None;
        }
        let mut value: Value = serde_json::from_str(text.value(row)).ok()?;
        for key in &self.json_path {
            value = value.get(key)?.clone();
        }
        match value {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_placeholders_in_order() {
        let template = Template::parse("Root login from {sourceIPAddress} as {userIdentity.arn}{");
        assert_eq!(template.fields().collect::<Vec<_>>(), ["sourceIPAddress", "userIdentity.arn"]);
        assert_eq!(template.render(&[Some("1.2.3.4".into()), None]), "Root login from 1.2.3.4 as (none){");
    }
}
