//! The Arrow columns a table's rows are appended to, one builder per column
//! (and per nested field), made from the table's Arrow schema. A checked row
//! ([`Out`]) is appended value by value, positionally: a struct's fields come
//! in the schema's order, so nothing is matched by name and nothing is
//! parsed twice.

use super::compile::{Kind, Node, Object};
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanBuilder, Float64Builder, Int16Builder, Int32Builder, Int64Builder, ListArray, NullBufferBuilder, StringBuilder,
    StructArray, TimestampMicrosecondBuilder,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, FieldRef, Fields, Schema, TimeUnit};
use datafusion::arrow::error::ArrowError;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

/// A checked value, ready for Arrow: strings borrowed from the input where
/// they can be, struct fields named by their columns.
#[derive(Debug)]
pub enum Out<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    List(Vec<Out<'a>>),
    /// Fields in the schema's order; None where absent.
    Struct(Vec<Option<Out<'a>>>),
}

impl Out<'_> {
    /// The same value owning its strings.
    pub(super) fn into_owned(self) -> Out<'static> {
        match self {
            Out::Null => Out::Null,
            Out::Bool(b) => Out::Bool(b),
            Out::Int(i) => Out::Int(i),
            Out::Float(f) => Out::Float(f),
            Out::Str(s) => Out::Str(Cow::Owned(s.into_owned())),
            Out::List(items) => Out::List(items.into_iter().map(Out::into_owned).collect()),
            Out::Struct(fields) => Out::Struct(fields.into_iter().map(|value| value.map(Out::into_owned)).collect()),
        }
    }
}

impl Out<'_> {
    /// The value as JSON, struct fields named by their columns under `object`.
    pub(super) fn to_json(&self, object: &Object) -> Value {
        fn value(out: &Out<'_>, node: &Node) -> Value {
            match (out, &node.kind) {
                (Out::Struct(_), Kind::Object(object)) => out.to_json(object),
                (Out::List(items), Kind::Array(element)) => Value::Array(items.iter().map(|item| value(item, element)).collect()),
                (Out::Null, _) => Value::Null,
                (Out::Bool(b), _) => Value::Bool(*b),
                (Out::Int(i), _) => Value::from(*i),
                (Out::Float(f), _) => Value::from(*f),
                (Out::Str(s), _) => Value::String(s.to_string()),
                _ => Value::Null,
            }
        }
        let Out::Struct(fields) = self else { return Value::Null };
        let columns =
            object.fields.iter().zip(fields).filter_map(|(field, out)| Some((field.column.clone(), value(out.as_ref()?, &field.node))));
        Value::Object(columns.collect())
    }
}

/// One column's builder.
pub(super) enum Column {
    Utf8(StringBuilder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder, Option<Arc<str>>),
    List { field: FieldRef, offsets: Vec<i32>, nulls: NullBufferBuilder, items: Box<Column> },
    Struct { fields: Fields, children: Vec<Column>, nulls: NullBufferBuilder, len: usize },
}

impl Column {
    /// The builder of a column of `data_type` (the types a compiled schema uses).
    pub(super) fn new(data_type: &DataType) -> Result<Column, ArrowError> {
        Ok(match data_type {
            DataType::Utf8 => Column::Utf8(StringBuilder::new()),
            DataType::Int16 => Column::Int16(Int16Builder::new()),
            DataType::Int32 => Column::Int32(Int32Builder::new()),
            DataType::Int64 => Column::Int64(Int64Builder::new()),
            DataType::Float64 => Column::Float64(Float64Builder::new()),
            DataType::Boolean => Column::Boolean(BooleanBuilder::new()),
            DataType::Timestamp(TimeUnit::Microsecond, zone) => {
                Column::Timestamp(TimestampMicrosecondBuilder::new(), zone.as_deref().map(Arc::from))
            }
            DataType::List(field) => Column::List {
                field: field.clone(),
                offsets: vec![0],
                nulls: NullBufferBuilder::new(0),
                items: Box::new(Column::new(field.data_type())?),
            },
            DataType::Struct(fields) => Column::Struct {
                fields: fields.clone(),
                children: fields.iter().map(|f| Column::new(f.data_type())).collect::<Result<_, _>>()?,
                nulls: NullBufferBuilder::new(0),
                len: 0,
            },
            other => return Err(ArrowError::NotYetImplemented(format!("a column of type {other} in a log schema"))),
        })
    }

    /// Appends one value (None or a value of another kind: null).
    pub(super) fn append(&mut self, value: Option<&Out<'_>>) {
        match (self, value) {
            (Column::Utf8(b), Some(Out::Str(s))) => b.append_value(s),
            (Column::Int16(b), Some(Out::Int(i))) => b.append_option(i16::try_from(*i).ok()),
            (Column::Int32(b), Some(Out::Int(i))) => b.append_option(i32::try_from(*i).ok()),
            (Column::Int64(b), Some(Out::Int(i))) => b.append_value(*i),
            (Column::Float64(b), Some(Out::Float(f))) => b.append_value(*f),
            (Column::Float64(b), Some(Out::Int(i))) => b.append_value(*i as f64),
            (Column::Boolean(b), Some(Out::Bool(v))) => b.append_value(*v),
            (Column::Timestamp(b, _), Some(Out::Int(i))) => b.append_value(*i),
            (Column::List { offsets, nulls, items, .. }, Some(Out::List(values))) => {
                for value in values {
                    items.append(Some(value));
                }
                let last = offsets.last().copied().unwrap_or(0);
                offsets.push(last + values.len() as i32);
                nulls.append_non_null();
            }
            (Column::Struct { children, nulls, len, .. }, Some(Out::Struct(values))) => {
                for (i, child) in children.iter_mut().enumerate() {
                    child.append(values.get(i).and_then(Option::as_ref));
                }
                nulls.append_non_null();
                *len += 1;
            }
            (column, _) => column.append_null(),
        }
    }

    fn append_null(&mut self) {
        match self {
            Column::Utf8(b) => b.append_null(),
            Column::Int16(b) => b.append_null(),
            Column::Int32(b) => b.append_null(),
            Column::Int64(b) => b.append_null(),
            Column::Float64(b) => b.append_null(),
            Column::Boolean(b) => b.append_null(),
            Column::Timestamp(b, _) => b.append_null(),
            Column::List { offsets, nulls, .. } => {
                offsets.push(offsets.last().copied().unwrap_or(0));
                nulls.append_null();
            }
            Column::Struct { children, nulls, len, .. } => {
                for child in children {
                    child.append_null();
                }
                nulls.append_null();
                *len += 1;
            }
        }
    }

    /// The values appended so far, as an array. The builder starts over
    /// with room for as many values as this batch had, so the next batch
    /// does not grow its buffers step by step (each step a copy and fresh
    /// pages).
    pub(super) fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        fn again<B>(builder: &mut B, make: impl FnOnce(usize) -> B, len: usize) {
            *builder = make(len);
        }
        Ok(match self {
            Column::Utf8(b) => {
                let array = b.finish();
                *b = StringBuilder::with_capacity(array.len(), array.value_data().len());
                Arc::new(array)
            }
            Column::Int16(b) => {
                let array = b.finish();
                again(b, Int16Builder::with_capacity, array.len());
                Arc::new(array)
            }
            Column::Int32(b) => {
                let array = b.finish();
                again(b, Int32Builder::with_capacity, array.len());
                Arc::new(array)
            }
            Column::Int64(b) => {
                let array = b.finish();
                again(b, Int64Builder::with_capacity, array.len());
                Arc::new(array)
            }
            Column::Float64(b) => {
                let array = b.finish();
                again(b, Float64Builder::with_capacity, array.len());
                Arc::new(array)
            }
            Column::Boolean(b) => {
                let array = b.finish();
                again(b, BooleanBuilder::with_capacity, array.len());
                Arc::new(array)
            }
            Column::Timestamp(b, zone) => {
                let array = b.finish().with_timezone_opt(zone.clone());
                again(b, TimestampMicrosecondBuilder::with_capacity, array.len());
                Arc::new(array)
            }
            Column::List { field, offsets, nulls, items } => {
                let len = offsets.len();
                let mut fresh = Vec::with_capacity(len);
                fresh.push(0);
                let offsets = OffsetBuffer::new(std::mem::replace(offsets, fresh).into());
                let valid = std::mem::replace(nulls, NullBufferBuilder::new(len)).finish();
                Arc::new(ListArray::try_new(field.clone(), offsets, items.finish()?, valid)?)
            }
            Column::Struct { fields, children, nulls, len } => {
                let length = std::mem::take(len);
                let valid = std::mem::replace(nulls, NullBufferBuilder::new(length)).finish();
                if fields.is_empty() {
                    Arc::new(StructArray::new_empty_fields(length, valid))
                } else {
                    let arrays = children.iter_mut().map(Column::finish).collect::<Result<Vec<_>, _>>()?;
                    Arc::new(StructArray::try_new(fields.clone(), arrays, valid)?)
                }
            }
        })
    }
}

/// A table's columns, in its Arrow schema's order.
pub(super) fn table_columns(schema: &Schema) -> Result<Vec<Column>, ArrowError> {
    schema.fields().iter().map(|f| Column::new(f.data_type())).collect()
}
