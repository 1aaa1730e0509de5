//! The record decoder: one raw JSON record in, one lake row out (or the reason
//! it was refused). Rows are gathered into Arrow record batches.
//!
//! Decoding first normalises the record under the schema (lower-case keys,
//! timestamps as microseconds, `json` fields as text, checks and indicators),
//! then hands the normalised rows to Arrow's JSON decoder, which builds the
//! nested columns.

use super::LogType;
use super::compile::{Kind, Node, Object, RAW_COLUMN, StringCheck};
use super::indicators::Indicator;
use super::model::IpKind;
use datafusion::arrow::json::reader::{Decoder, ReaderBuilder};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

/// Rows Arrow's JSON decoder takes at once.
const DECODE_ROWS: usize = 8192;

/// Where a record came from, stamped on its row.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    pub source_id: String,
    pub source_label: String,
    pub source_file: Option<String>,
}

/// One refused record's reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// Turns raw records into rows of one log type's table.
pub struct RowBuilder {
    log_type: Arc<LogType>,
    /// Arrow's JSON decoder for the table, made by the first `finish`.
    decoder: Option<Decoder>,
    pending: Vec<Value>,
    /// The original text's bytes of the pending rows.
    pending_bytes: usize,
    row_ids: RowIds,
}

impl RowBuilder {
    pub fn new(log_type: Arc<LogType>) -> RowBuilder {
        RowBuilder { log_type, decoder: None, pending: Vec::new(), pending_bytes: 0, row_ids: RowIds::new() }
    }

    pub fn log_type(&self) -> &Arc<LogType> {
        &self.log_type
    }

    /// Rows waiting for `finish`.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The original text's bytes of the rows waiting for `finish`.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Decodes one record. `record` is the value to check (it may differ from
    /// `raw` when a source renames keys); `raw` is stored as the row's
    /// original text. `parse_time` is microseconds since the epoch.
    pub fn push(&mut self, raw: &str, record: Value, provenance: &Provenance, parse_time: i64) -> Result<(), Refusal> {
        let mut row = self.log_type.normalise(record)?;
        let event_time = row.event_time.unwrap_or(parse_time);
        let columns = &mut row.columns;
        columns.insert(RAW_COLUMN.into(), Value::String(raw.to_string()));
        columns.insert("p_log_type".into(), Value::String(self.log_type.name.clone()));
        columns.insert("p_row_id".into(), Value::String(self.row_ids.next()));
        columns.insert("p_event_time".into(), Value::from(event_time));
        columns.insert("p_parse_time".into(), Value::from(parse_time));
        columns.insert("p_source_id".into(), Value::String(provenance.source_id.clone()));
        columns.insert("p_source_label".into(), Value::String(provenance.source_label.clone()));
        if let Some(file) = &provenance.source_file {
            columns.insert("p_source_file".into(), Value::String(file.clone()));
        }
        let mut indicators = std::mem::take(&mut row.indicators).into_iter().peekable();
        while let Some((column, _)) = indicators.peek().cloned() {
            let mut values = Vec::new();
            while let Some((_, value)) = indicators.next_if(|(c, _)| *c == column) {
                values.push(Value::String(value));
            }
            if self.log_type.indicator_columns.contains(&column) {
                columns.insert(column.into(), Value::Array(values));
            }
        }
        self.pending.push(Value::Object(row.columns));
        self.pending_bytes += raw.len();
        Ok(())
    }

    /// Builds the pending rows into one batch (None when there are none).
    pub fn finish(&mut self) -> Result<Option<RecordBatch>, datafusion::arrow::error::ArrowError> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        let mut decoder = match self.decoder.take() {
            Some(decoder) => decoder,
            None => ReaderBuilder::new(self.log_type.arrow_schema.clone()).with_batch_size(DECODE_ROWS).build_decoder()?,
        };
        let mut batches = Vec::new();
        for rows in self.pending.chunks(DECODE_ROWS) {
            decoder.serialize(rows)?;
            batches.extend(decoder.flush()?);
        }
        self.decoder = Some(decoder);
        self.pending.clear();
        self.pending_bytes = 0;
        match batches.len() {
            1 => Ok(batches.pop()),
            _ => Ok(Some(datafusion::arrow::compute::concat_batches(&self.log_type.arrow_schema, &batches)?)),
        }
    }
}

/// A record normalised under its schema.
pub struct NormalRow {
    pub columns: Map<String, Value>,
    pub event_time: Option<i64>,
    pub indicators: BTreeSet<(&'static str, String)>,
}

impl LogType {
    /// Checks one record against the schema and normalises it, without the
    /// standard fields.
    pub fn normalise(&self, record: Value) -> Result<NormalRow, Refusal> {
        let Value::Object(map) = record else {
            return Err(Refusal(format!("the record is a JSON {}, not an object", json_kind(&record))));
        };
        let mut walk = Walk { event_time: None, indicators: BTreeSet::new(), position: Vec::new() };
        let columns = walk.object(&self.root, map, "")?;
        Ok(NormalRow { columns, event_time: walk.event_time.map(|(_, t)| t), indicators: walk.indicators })
    }
}

struct Walk {
    /// The event time found so far, with the field position it came from:
    /// when several are present, the first in field order wins.
    event_time: Option<(Vec<usize>, i64)>,
    indicators: BTreeSet<(&'static str, String)>,
    position: Vec<usize>,
}

impl Walk {
    fn object(&mut self, object: &Object, map: Map<String, Value>, path: &str) -> Result<Map<String, Value>, Refusal> {
        let mut out = Map::new();
        let mut seen = vec![false; object.fields.len()];
        for (key, value) in map {
            let index = match object.by_lower_name.get(&key) {
                Some(&i) => i,
                None => match object.by_lower_name.get(&key.to_lowercase()) {
                    Some(&i) => i,
                    None => continue, // kept in the original record text
                },
            };
            let field = &object.fields[index];
            let field_path = if path.is_empty() { field.name.clone() } else { format!("{path}.{}", field.name) };
            self.position.push(index);
            let converted = self.value(&field.node, value, &field_path);
            self.position.pop();
            if let Some(converted) = converted? {
                seen[index] = true;
                out.insert(field.column.clone(), converted);
            }
        }
        for (field, seen) in object.fields.iter().zip(seen) {
            if field.required && !seen {
                let field_path = if path.is_empty() { field.name.clone() } else { format!("{path}.{}", field.name) };
                return Err(Refusal(format!("required field '{field_path}' is missing")));
            }
        }
        Ok(out)
    }

    fn value(&mut self, node: &Node, value: Value, path: &str) -> Result<Option<Value>, Refusal> {
        let value = match value {
            Value::Null => return Ok(None),
            Value::String(text) if node.embedded_json => match serde_json::from_str::<Value>(&text) {
                Ok(Value::Null) => return Ok(None),
                Ok(parsed) => parsed,
                Err(e) => return Err(Refusal(format!("field '{path}' should hold embedded JSON: {e}"))),
            },
            other => other,
        };
        let wrong = |expected: &str, value: &Value| Refusal(format!("field '{path}' should be {expected}, got {}", shown(value)));
        let converted = match &node.kind {
            Kind::String { checks } => {
                let text = match value {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => return Err(wrong("a string", &other)),
                };
                for check in checks {
                    check_string(check, &text).map_err(|why| Refusal(format!("field '{path}': {why}")))?;
                }
                for indicator in &node.indicators {
                    Indicator::collect(*indicator, &text, &mut self.indicators);
                }
                Value::String(text)
            }
            Kind::Int16 => Value::from(integer(&value, i16::MIN as i64, i16::MAX as i64).ok_or_else(|| wrong("a 16-bit integer", &value))?),
            Kind::Int32 => Value::from(integer(&value, i32::MIN as i64, i32::MAX as i64).ok_or_else(|| wrong("a 32-bit integer", &value))?),
            Kind::Int64 => Value::from(integer(&value, i64::MIN, i64::MAX).ok_or_else(|| wrong("a 64-bit integer", &value))?),
            Kind::Float => {
                let number = match &value {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.trim().parse::<f64>().ok(),
                    _ => None,
                };
                Value::from(number.ok_or_else(|| wrong("a number", &value))?)
            }
            Kind::Boolean => match &value {
                Value::Bool(b) => Value::Bool(*b),
                Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
                Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
                _ => return Err(wrong("true or false", &value)),
            },
            Kind::Timestamp { formats, event_time } => {
                if value.as_str().is_some_and(|s| s.trim().is_empty()) {
                    return Ok(None);
                }
                let Some(micros) = formats.iter().find_map(|f| f.to_micros(&value)) else {
                    let names: Vec<String> = formats.iter().map(|f| format!("{f:?}").to_lowercase()).collect();
                    return Err(Refusal(format!(
                        "field '{path}' has a timestamp that does not match {}: {}",
                        names.join(" or "),
                        shown(&value)
                    )));
                };
                if *event_time && self.event_time.as_ref().is_none_or(|(at, _)| self.position < *at) {
                    self.event_time = Some((self.position.clone(), micros));
                }
                Value::from(micros)
            }
            Kind::Object(object) => match value {
                Value::Object(map) => Value::Object(self.object(object, map, path)?),
                other => return Err(wrong("an object", &other)),
            },
            Kind::Array(element) => match value {
                Value::Array(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        out.push(self.value(element, item, &format!("{path}[]"))?.unwrap_or(Value::Null));
                    }
                    Value::Array(out)
                }
                other => return Err(wrong("an array", &other)),
            },
            Kind::Json => Value::String(value.to_string()),
        };
        Ok(Some(converted))
    }
}

fn integer(value: &Value, min: i64, max: i64) -> Option<i64> {
    let number = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))?,
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        _ => return None,
    };
    (min..=max).contains(&number).then_some(number)
}

/// A string value a `validate` check refuses.
#[derive(Debug, thiserror::Error)]
enum CheckFailure<'a> {
    #[error("'{text}' is not one of the allowed values ({})", allowed.join(", "))]
    NotAllowed { text: &'a str, allowed: &'a [String] },
    #[error("'{0}' is a denied value")]
    Denied(&'a str),
    #[error("'{text}' is not an {} address", ip_name(*kind))]
    NotIp { text: &'a str, kind: IpKind },
    #[error("'{text}' is not an {} CIDR block", ip_name(*kind))]
    NotCidr { text: &'a str, kind: IpKind },
}

fn check_string<'a>(check: &'a StringCheck, text: &'a str) -> Result<(), CheckFailure<'a>> {
    match check {
        StringCheck::Allow(allowed) if !allowed.iter().any(|a| a == text) => Err(CheckFailure::NotAllowed { text, allowed }),
        StringCheck::Deny(denied) if denied.iter().any(|d| d == text) => Err(CheckFailure::Denied(text)),
        StringCheck::Ip(kind) if !ip_matches(text, *kind) => Err(CheckFailure::NotIp { text, kind: *kind }),
        StringCheck::Cidr(kind) => {
            let ok = text.split_once('/').is_some_and(|(ip, bits)| {
                let max = if ip.contains(':') { 128 } else { 32 };
                ip_matches(ip, *kind) && bits.parse::<u8>().is_ok_and(|b| b <= max)
            });
            if ok { Ok(()) } else { Err(CheckFailure::NotCidr { text, kind: *kind }) }
        }
        _ => Ok(()),
    }
}

fn ip_matches(text: &str, kind: IpKind) -> bool {
    matches!((text.parse::<IpAddr>(), kind), (Ok(_), IpKind::Any) | (Ok(IpAddr::V4(_)), IpKind::Ipv4) | (Ok(IpAddr::V6(_)), IpKind::Ipv6))
}

fn ip_name(kind: IpKind) -> &'static str {
    match kind {
        IpKind::Ipv4 => "IPv4",
        IpKind::Ipv6 => "IPv6",
        IpKind::Any => "IP",
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value as an error message shows it: its kind, and the text if short.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.len() <= 60 {
        format!("{} {text}", json_kind(value))
    } else {
        format!("{} {}...", json_kind(value), &text[..text.floor_char_boundary(57)])
    }
}

/// Unique row ids: a per-process random prefix and a counter.
struct RowIds {
    prefix: String,
    next: u64,
}

impl RowIds {
    fn new() -> RowIds {
        RowIds { prefix: format!("{:016x}", crate::unique_seed()), next: 0 }
    }

    fn next(&mut self) -> String {
        self.next += 1;
        format!("{}{:08x}", self.prefix, self.next)
    }
}
