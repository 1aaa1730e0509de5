//! The record decoder: one record's JSON text in, one lake row out (or the
//! reason it was refused). Rows are gathered into Arrow record batches.
//!
//! The text is parsed once, straight under the compiled schema (a serde
//! `DeserializeSeed` per schema node): keys are looked up as they are read,
//! fields the schema does not name are skipped without being built, `json`
//! fields are kept as slices of the input, and strings are borrowed from the
//! input where they hold no escapes. The checked row ([`Out`]) is appended
//! to the table's Arrow column builders at once (`columns.rs`), so nothing
//! of a record is held after it is pushed but its values in those columns.

use super::LogType;
use super::columns::{Column, Out, table_columns};
use super::compile::{Kind, Node, Object, StringCheck};
use super::indicators::Indicator;
use super::model::IpKind;
use super::time::Moment;
use datafusion::arrow::record_batch::RecordBatch;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// Renames a record's top-level keys to the names its log type's schema
/// uses (`(log type name, key) → schema key`), before the schema looks them
/// up. Sources own these: the Snyk source's gives REST items the v1 names.
/// The row's `eventjson` keeps the record as sent.
pub type RecordAdapter = fn(&str, &str) -> Option<&'static str>;

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
    /// One builder per column of the table, in its Arrow schema's order:
    /// the schema's fields, `eventjson`, the standard fields, the indicators.
    columns: Vec<Column>,
    rows: usize,
    /// The original text's bytes of the pending rows.
    pending_bytes: usize,
    row_ids: RowIds,
}

impl RowBuilder {
    pub fn new(log_type: Arc<LogType>) -> RowBuilder {
        let columns = table_columns(&log_type.arrow_schema).expect("a compiled schema has only the column types tarn builds");
        RowBuilder { log_type, columns, rows: 0, pending_bytes: 0, row_ids: RowIds::new() }
    }

    pub fn log_type(&self) -> &Arc<LogType> {
        &self.log_type
    }

    /// Rows waiting for `finish`.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The original text's bytes of the rows waiting for `finish`.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Decodes one record's JSON text, or says why it is refused. `adapt`
    /// renames its top-level keys first (the text is stored as it is).
    /// `parse_time` is microseconds since the epoch.
    pub fn push(&mut self, text: &str, adapt: RecordAdapter, provenance: &Provenance, parse_time: i64) -> Result<(), Refusal> {
        let log_type = self.log_type.clone();
        let mut walk = Walk::new(&log_type.name, adapt);
        let fields = walk.record(&log_type, text)?;
        let event_time = walk.event_time.map_or(parse_time, |(_, t)| t);
        let (schema_columns, standard) = self.columns.split_at_mut(fields.len());
        for (column, value) in schema_columns.iter_mut().zip(&fields) {
            column.append(value.as_ref());
        }
        let row_id = self.row_ids.next();
        let source_file = provenance.source_file.as_deref().map(|f| Out::Str(Cow::Borrowed(f)));
        let values = [
            Some(Out::Str(Cow::Borrowed(text))),
            Some(Out::Str(Cow::Borrowed(&log_type.name))),
            Some(Out::Str(Cow::Owned(row_id))),
            Some(Out::Int(event_time)),
            Some(Out::Int(parse_time)),
            Some(Out::Str(Cow::Borrowed(&provenance.source_id))),
            Some(Out::Str(Cow::Borrowed(&provenance.source_label))),
            source_file,
        ];
        let (fixed, indicator_columns) = standard.split_at_mut(values.len());
        for (column, value) in fixed.iter_mut().zip(&values) {
            column.append(value.as_ref());
        }
        for (column, name) in indicator_columns.iter_mut().zip(&log_type.indicator_columns) {
            let found: Vec<Out<'_>> =
                walk.indicators.iter().filter(|(c, _)| c == name).map(|(_, value)| Out::Str(Cow::Borrowed(value.as_str()))).collect();
            column.append((!found.is_empty()).then_some(&Out::List(found)));
        }
        self.rows += 1;
        self.pending_bytes += text.len();
        Ok(())
    }

    /// Builds the pending rows into one batch (None when there are none).
    pub fn finish(&mut self) -> Result<Option<RecordBatch>, datafusion::arrow::error::ArrowError> {
        if self.rows == 0 {
            return Ok(None);
        }
        self.rows = 0;
        self.pending_bytes = 0;
        let arrays = self.columns.iter_mut().map(Column::finish).collect::<Result<Vec<_>, _>>()?;
        RecordBatch::try_new(self.log_type.arrow_schema.clone(), arrays).map(Some)
    }
}

/// A record normalised under its schema, as JSON (for tests and tools).
#[derive(Debug)]
pub struct NormalRow {
    pub columns: serde_json::Map<String, Value>,
    pub event_time: Option<i64>,
    pub indicators: BTreeSet<(&'static str, String)>,
}

impl LogType {
    /// Checks one record against the schema and normalises it, without the
    /// standard fields.
    pub fn normalise(&self, record: Value) -> Result<NormalRow, Refusal> {
        let text = record.to_string();
        let mut walk = Walk::new(&self.name, |_, _| None);
        let row = walk.record(self, &text)?;
        let Value::Object(columns) = Out::Struct(row).to_json(&self.root) else { return Err(Refusal("not an object".into())) };
        Ok(NormalRow { columns, event_time: walk.event_time.map(|(_, t)| t), indicators: walk.indicators })
    }
}

/// The state of one record's walk under its schema.
struct Walk<'a> {
    log_type: &'a str,
    adapt: RecordAdapter,
    /// The event time found so far, with the field position it came from:
    /// when several are present, the first in field order wins.
    event_time: Option<(Vec<usize>, i64)>,
    indicators: BTreeSet<(&'static str, String)>,
    position: Vec<usize>,
    /// Why the record was refused; the parse error that carries it out of
    /// serde is only a signal.
    refusal: Option<Refusal>,
}

/// A field's path for messages (`userIdentity.sessionContext`), built only
/// when a message needs it.
#[derive(Clone, Copy)]
enum FieldPath<'p> {
    Root,
    Field(&'p FieldPath<'p>, &'p str),
    Item(&'p FieldPath<'p>),
}

impl fmt::Display for FieldPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            FieldPath::Root => Ok(()),
            FieldPath::Field(FieldPath::Root, name) => f.write_str(name),
            FieldPath::Field(parent, name) => write!(f, "{parent}.{name}"),
            FieldPath::Item(parent) => write!(f, "{parent}[]"),
        }
    }
}

impl<'a> Walk<'a> {
    fn new(log_type: &'a str, adapt: RecordAdapter) -> Walk<'a> {
        Walk { log_type, adapt, event_time: None, indicators: BTreeSet::new(), position: Vec::new(), refusal: None }
    }

    /// Parses and checks one record's text under `log_type`'s schema.
    fn record<'s>(&mut self, log_type: &'s LogType, text: &'s str) -> Result<Vec<Option<Out<'s>>>, Refusal> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let seed = ObjectSeed { object: &log_type.root, walk: self, path: &FieldPath::Root, top: true };
        let parsed = seed.deserialize(&mut deserializer).and_then(|row| deserializer.end().map(|_| row));
        match parsed {
            Ok(Out::Struct(fields)) => Ok(fields),
            Ok(_) => Err(Refusal("the record is not a JSON object".into())),
            Err(e) => Err(self.refusal.take().unwrap_or_else(|| Refusal(format!("not JSON: {e}")))),
        }
    }

    fn refuse<E: de::Error>(&mut self, reason: String) -> E {
        self.refusal = Some(Refusal(reason));
        E::custom("refused")
    }

    fn note_event_time(&mut self, micros: i64) {
        if self.event_time.as_ref().is_none_or(|(at, _)| self.position < *at) {
            self.event_time = Some((self.position.clone(), micros));
        }
    }
}

/// The top-level record, or an object field: reads its keys under `object`.
struct ObjectSeed<'s, 'w, 'a> {
    object: &'s Object,
    walk: &'w mut Walk<'a>,
    path: &'w FieldPath<'w>,
    /// The record itself: its keys go through the source's adapter, and a
    /// record that is not an object is refused as such.
    top: bool,
}

impl<'de: 's, 's> DeserializeSeed<'de> for ObjectSeed<'s, '_, '_> {
    type Value = Out<'s>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Out<'s>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de: 's, 's> Visitor<'de> for ObjectSeed<'s, '_, '_> {
    type Value = Out<'s>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Out<'s>, A::Error> {
        let object = self.object;
        let mut values: Vec<Option<Out<'s>>> = Vec::new();
        values.resize_with(object.fields.len(), || None);
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let key: &str = &key.0;
            let renamed = if self.top { (self.walk.adapt)(self.walk.log_type, key) } else { None };
            let key = renamed.unwrap_or(key);
            let Some(index) = object.field_index(key) else {
                map.next_value::<IgnoredAny>()?; // kept in the original record text
                continue;
            };
            let field = &object.fields[index];
            let path = FieldPath::Field(self.path, &field.name);
            self.walk.position.push(index);
            let value = map.next_value_seed(NodeSeed { node: &field.node, walk: &mut *self.walk, path: &path, embedded: false });
            self.walk.position.pop();
            let value = value?;
            values[index] = value;
        }
        for (field, value) in object.fields.iter().zip(&values) {
            if field.required && value.is_none() {
                let path = FieldPath::Field(self.path, &field.name);
                return Err(self.walk.refuse(format!("required field '{path}' is missing")));
            }
        }
        Ok(Out::Struct(values))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Out<'s>, E> {
        Err(self.not_an_object(Shown::Str(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Out<'s>, E> {
        Err(self.not_an_object(Shown::Number(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Out<'s>, E> {
        Err(self.not_an_object(Shown::Number(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Out<'s>, E> {
        Err(self.not_an_object(Shown::Number(v.to_string())))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Out<'s>, E> {
        Err(self.not_an_object(Shown::Bool(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Out<'s>, E> {
        Err(self.not_an_object(Shown::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Out<'s>, A::Error> {
        let value = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Err(self.not_an_object(Shown::Value(value)))
    }
}

impl ObjectSeed<'_, '_, '_> {
    fn not_an_object<E: de::Error>(self, value: Shown<'_>) -> E {
        let reason = if self.top {
            format!("the record is a JSON {}, not an object", value.kind())
        } else {
            format!("field '{}' should be an object, got {value}", self.path)
        };
        self.walk.refuse(reason)
    }
}

/// A key, borrowed from the input when it holds no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key<'de>, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_string())))
    }
}

use serde::Deserialize as _;

/// A value seen where another kind was expected, as a message shows it.
enum Shown<'v> {
    Null,
    Bool(bool),
    Number(String),
    Str(&'v str),
    Value(Value),
}

impl Shown<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Shown::Null => "null",
            Shown::Bool(_) => "boolean",
            Shown::Number(_) => "number",
            Shown::Str(_) => "string",
            Shown::Value(value) => json_kind(value),
        }
    }
}

impl fmt::Display for Shown<'_> {
    /// Its kind, and the text if short.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let text = match self {
            Shown::Null => "null".to_string(),
            Shown::Bool(b) => b.to_string(),
            Shown::Number(n) => n.clone(),
            Shown::Str(s) => Value::String(s.to_string()).to_string(),
            Shown::Value(v) => v.to_string(),
        };
        if text.len() <= 60 {
            write!(f, "{} {text}", self.kind())
        } else {
            write!(f, "{} {}...", self.kind(), &text[..text.floor_char_boundary(57)])
        }
    }
}

/// Any field: reads one value under `node`. None for null.
struct NodeSeed<'s, 'w, 'a> {
    node: &'s Node,
    walk: &'w mut Walk<'a>,
    path: &'w FieldPath<'w>,
    /// Set when reading the JSON held in a string (`embedded_json`).
    embedded: bool,
}

impl<'de: 's, 's> DeserializeSeed<'de> for NodeSeed<'s, '_, '_> {
    type Value = Option<Out<'s>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Out<'s>>, D::Error> {
        if matches!(self.node.kind, Kind::Json) {
            // The value's own text, as a slice of the input.
            let raw = <&'de RawValue>::deserialize(deserializer)?;
            let text = raw.get();
            if text == "null" {
                return Ok(None);
            }
            if self.node.embedded_json && !self.embedded && text.starts_with('"') {
                let inner: String = serde_json::from_str(text).map_err(de::Error::custom)?;
                return match serde_json::from_str::<&RawValue>(&inner) {
                    Ok(value) if value.get() == "null" => Ok(None),
                    Ok(value) => Ok(Some(Out::Str(Cow::Owned(value.get().to_string())))),
                    Err(e) => Err(self.walk.refuse(format!("field '{}' should hold embedded JSON: {e}", self.path))),
                };
            }
            return Ok(Some(Out::Str(Cow::Borrowed(text))));
        }
        deserializer.deserialize_any(self)
    }
}

impl<'s> NodeSeed<'s, '_, '_> {
    fn wrong<E: de::Error>(&mut self, expected: &str, value: Shown<'_>) -> E {
        let reason = format!("field '{}' should be {expected}, got {value}", self.path);
        self.walk.refuse(reason)
    }

    /// A string value: the JSON it holds (`embedded_json`), or a string,
    /// number, boolean or timestamp under the node's kind.
    fn text<E: de::Error>(mut self, text: Cow<'s, str>) -> Result<Option<Out<'s>>, E> {
        if self.node.embedded_json && !self.embedded {
            let mut deserializer = serde_json::Deserializer::from_str(&text);
            let path = self.path;
            let seed = NodeSeed { node: self.node, walk: &mut *self.walk, path, embedded: true };
            return match seed.deserialize(&mut deserializer).and_then(|v| deserializer.end().map(|_| v)) {
                Ok(value) => Ok(value.map(Out::into_owned)),
                Err(_) if self.walk.refusal.is_some() => Err(E::custom("refused")),
                Err(e) => Err(self.walk.refuse(format!("field '{path}' should hold embedded JSON: {e}"))),
            };
        }
        match &self.node.kind {
            Kind::String { checks } => {
                for check in checks {
                    if let Err(why) = check_string(check, &text) {
                        let reason = format!("field '{}': {why}", self.path);
                        return Err(self.walk.refuse(reason));
                    }
                }
                for indicator in &self.node.indicators {
                    Indicator::collect(*indicator, &text, &mut self.walk.indicators);
                }
                Ok(Some(Out::Str(text)))
            }
            Kind::Int16 | Kind::Int32 | Kind::Int64 => match text.trim().parse::<i64>() {
                Ok(n) => self.integer(n, Shown::Str(&text)),
                Err(_) => Err(self.wrong(integer_name(&self.node.kind), Shown::Str(&text))),
            },
            Kind::Float => match text.trim().parse::<f64>() {
                Ok(n) => Ok(Some(Out::Float(n))),
                Err(_) => Err(self.wrong("a number", Shown::Str(&text))),
            },
            Kind::Boolean if text.eq_ignore_ascii_case("true") => Ok(Some(Out::Bool(true))),
            Kind::Boolean if text.eq_ignore_ascii_case("false") => Ok(Some(Out::Bool(false))),
            Kind::Boolean => Err(self.wrong("true or false", Shown::Str(&text))),
            Kind::Timestamp { .. } if text.trim().is_empty() => Ok(None),
            Kind::Timestamp { .. } => self.timestamp(Moment::Text(&text), Shown::Str(&text)),
            Kind::Object(_) => Err(self.wrong("an object", Shown::Str(&text))),
            Kind::Array(_) => Err(self.wrong("an array", Shown::Str(&text))),
            // (json values are read whole, as text, before they get here)
            Kind::Json => Ok(Some(Out::Str(text))),
        }
    }

    fn number<E: de::Error>(mut self, number: serde_json::Number) -> Result<Option<Out<'s>>, E> {
        match &self.node.kind {
            Kind::String { .. } => self.text(Cow::Owned(number.to_string())),
            Kind::Int16 | Kind::Int32 | Kind::Int64 => {
                // A whole float within range only: `1e300 as i64` would be i64::MAX.
                let in_range = |f: &f64| f.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(f);
                let whole = number.as_i64().or_else(|| number.as_f64().filter(in_range).map(|f| f as i64));
                match whole {
                    Some(n) => self.integer(n, Shown::Number(number.to_string())),
                    None => Err(self.wrong(integer_name(&self.node.kind), Shown::Number(number.to_string()))),
                }
            }
            Kind::Float => Ok(number.as_f64().map(Out::Float)),
            Kind::Timestamp { .. } => {
                let shown = Shown::Number(number.to_string());
                self.timestamp(Moment::Number(&number), shown)
            }
            Kind::Boolean => Err(self.wrong("true or false", Shown::Number(number.to_string()))),
            Kind::Object(_) => Err(self.wrong("an object", Shown::Number(number.to_string()))),
            Kind::Array(_) => Err(self.wrong("an array", Shown::Number(number.to_string()))),
            Kind::Json => Ok(Some(Out::Str(Cow::Owned(number.to_string())))),
        }
    }

    fn integer<E: de::Error>(mut self, n: i64, shown: Shown<'_>) -> Result<Option<Out<'s>>, E> {
        let (min, max) = match self.node.kind {
            Kind::Int16 => (i16::MIN as i64, i16::MAX as i64),
            Kind::Int32 => (i32::MIN as i64, i32::MAX as i64),
            _ => (i64::MIN, i64::MAX),
        };
        if (min..=max).contains(&n) { Ok(Some(Out::Int(n))) } else { Err(self.wrong(integer_name(&self.node.kind), shown)) }
    }

    fn timestamp<E: de::Error>(self, moment: Moment<'_>, shown: Shown<'_>) -> Result<Option<Out<'s>>, E> {
        let (formats, event_time) = match &self.node.kind {
            Kind::Timestamp { formats, event_time } => (&formats[..], *event_time),
            _ => (&[][..], false),
        };
        match formats.iter().find_map(|f| f.to_micros(moment)) {
            Some(micros) if !(MIN_MICROS..=MAX_MICROS).contains(&micros) => {
                let reason = format!("field '{}' has a timestamp outside the years 1 to 9999: {shown}", self.path);
                Err(self.walk.refuse(reason))
            }
            Some(micros) => {
                if event_time {
                    self.walk.note_event_time(micros);
                }
                Ok(Some(Out::Int(micros)))
            }
            None => {
                let names: Vec<String> = formats.iter().map(|f| format!("{f:?}").to_lowercase()).collect();
                let reason = format!("field '{}' has a timestamp that does not match {}: {shown}", self.path, names.join(" or "));
                Err(self.walk.refuse(reason))
            }
        }
    }
}

/// The first and last microsecond a timestamp may hold: 0001-01-01 and
/// 9999-12-31 23:59:59.999999 UTC, the range SQL engines (and the lake's
/// hour partitions) can show; a value outside is refused, not clamped.
const MIN_MICROS: i64 = -62_135_596_800_000_000;
const MAX_MICROS: i64 = 253_402_300_799_999_999;

fn integer_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Int16 => "a 16-bit integer",
        Kind::Int32 => "a 32-bit integer",
        _ => "a 64-bit integer",
    }
}

impl<'de: 's, 's> Visitor<'de> for NodeSeed<'s, '_, '_> {
    type Value = Option<Out<'s>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        self.text(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.text(Cow::Owned(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        self.text(Cow::Owned(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.number(v.into())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.number(v.into())
    }
    fn visit_f64<E: de::Error>(mut self, v: f64) -> Result<Self::Value, E> {
        match serde_json::Number::from_f64(v) {
            Some(n) => self.number(n),
            None => Err(self.wrong("a number", Shown::Number(v.to_string()))),
        }
    }
    fn visit_bool<E: de::Error>(mut self, v: bool) -> Result<Self::Value, E> {
        match &self.node.kind {
            Kind::Boolean => Ok(Some(Out::Bool(v))),
            Kind::String { .. } => self.text(Cow::Borrowed(if v { "true" } else { "false" })),
            Kind::Timestamp { .. } => self.timestamp(Moment::Other, Shown::Bool(v)),
            Kind::Float => Err(self.wrong("a number", Shown::Bool(v))),
            Kind::Int16 | Kind::Int32 | Kind::Int64 => Err(self.wrong(integer_name(&self.node.kind), Shown::Bool(v))),
            Kind::Object(_) => Err(self.wrong("an object", Shown::Bool(v))),
            Kind::Array(_) => Err(self.wrong("an array", Shown::Bool(v))),
            Kind::Json => Ok(Some(Out::Str(Cow::Borrowed(if v { "true" } else { "false" })))),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        match &self.node.kind {
            Kind::Object(object) => {
                let seed = ObjectSeed { object, walk: self.walk, path: self.path, top: false };
                seed.visit_map(map).map(Some)
            }
            _ => {
                let value = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Err(self.mismatch(Shown::Value(value)))
            }
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        match &self.node.kind {
            Kind::Array(element) => {
                let path = FieldPath::Item(self.path);
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(item) =
                    seq.next_element_seed(NodeSeed { node: element, walk: &mut *self.walk, path: &path, embedded: false })?
                {
                    items.push(item.unwrap_or(Out::Null));
                }
                Ok(Some(Out::List(items)))
            }
            _ => {
                let value = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Err(self.mismatch(Shown::Value(value)))
            }
        }
    }
}

impl NodeSeed<'_, '_, '_> {
    /// An object or array where the node's kind is another.
    fn mismatch<E: de::Error>(mut self, value: Shown<'_>) -> E {
        let expected = match &self.node.kind {
            Kind::String { .. } => "a string",
            Kind::Int16 | Kind::Int32 | Kind::Int64 => integer_name(&self.node.kind),
            Kind::Float => "a number",
            Kind::Boolean => "true or false",
            Kind::Object(_) => "an object",
            Kind::Array(_) => "an array",
            Kind::Timestamp { .. } => {
                return self.timestamp::<E>(Moment::Other, value).err().unwrap_or_else(|| E::custom("refused"));
            }
            Kind::Json => "JSON",
        };
        self.wrong(expected, value)
    }
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
