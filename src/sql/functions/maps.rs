//! Trino's aggregates that build a map: `histogram(x)` (each distinct
//! value and how many rows have it) and `map_agg(key, value)` (a value for
//! each distinct key; with a key twice, the first value seen). NULL keys are
//! left out, as in Trino. Entries come sorted by key so results are stable.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray, MapArray, StructArray, new_empty_array};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Signature, Volatility};
use std::collections::HashMap;
use std::sync::Arc;

/// Which map an aggregate builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapKind {
    Histogram,
    MapAgg,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MapAggregate {
    kind: MapKind,
    signature: Signature,
}

impl MapAggregate {
    pub fn new(kind: MapKind) -> MapAggregate {
        let arguments = if kind == MapKind::Histogram { 1 } else { 2 };
        MapAggregate { kind, signature: Signature::any(arguments, Volatility::Immutable) }
    }

    /// The key and value types for argument types `types`.
    fn entry_types(&self, types: &[DataType]) -> Result<(DataType, DataType)> {
        let key = types.first().cloned().unwrap_or(DataType::Null);
        if key.is_nested() {
            return plan_err!("{}: a map key cannot be {key}", self.name());
        }
        let value = match self.kind {
            MapKind::Histogram => DataType::Int64,
            MapKind::MapAgg => types.get(1).cloned().unwrap_or(DataType::Null),
        };
        Ok((key, value))
    }
}

fn entries_field(key: &DataType, value: &DataType) -> FieldRef {
    let fields = Fields::from(vec![Field::new("key", key.clone(), false), Field::new("value", value.clone(), true)]);
    Arc::new(Field::new("entries", DataType::Struct(fields), false))
}

impl AggregateUDFImpl for MapAggregate {
    fn name(&self) -> &str {
        match self.kind {
            MapKind::Histogram => "histogram",
            MapKind::MapAgg => "map_agg",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, types: &[DataType]) -> Result<DataType> {
        let (key, value) = self.entry_types(types)?;
        Ok(DataType::Map(entries_field(&key, &value), false))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let types: Vec<DataType> = args.input_fields.iter().map(|f| f.data_type().clone()).collect();
        let (key, value) = self.entry_types(&types)?;
        Ok(vec![
            Arc::new(Field::new_list(format_state_name(args.name, "keys"), Field::new_list_field(key, true), true)),
            Arc::new(Field::new_list(format_state_name(args.name, "values"), Field::new_list_field(value, true), true)),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let types: Vec<DataType> = args.expr_fields.iter().map(|f| f.data_type().clone()).collect();
        let (key, value) = self.entry_types(&types)?;
        Ok(Box::new(MapAccumulator { kind: self.kind, key, value, entries: HashMap::new() }))
    }
}

#[derive(Debug)]
struct MapAccumulator {
    kind: MapKind,
    key: DataType,
    value: DataType,
    entries: HashMap<ScalarValue, ScalarValue>,
}

impl MapAccumulator {
    fn add(&mut self, key: ScalarValue, value: ScalarValue) {
        if key.is_null() {
            return;
        }
        match self.kind {
            MapKind::Histogram => {
                let count = self.entries.entry(key).or_insert(ScalarValue::Int64(Some(0)));
                if let (ScalarValue::Int64(Some(n)), ScalarValue::Int64(Some(more))) = (count, value) {
                    *n += more;
                }
            }
            MapKind::MapAgg => {
                self.entries.entry(key).or_insert(value);
            }
        }
    }

    /// The entries sorted by key.
    fn sorted(&self) -> Vec<(ScalarValue, ScalarValue)> {
        let mut entries: Vec<(ScalarValue, ScalarValue)> = self.entries.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        entries.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        entries
    }

    fn arrays(&self) -> Result<(ArrayRef, ArrayRef)> {
        let entries = self.sorted();
        let array = |values: Vec<ScalarValue>, data_type: &DataType| -> Result<ArrayRef> {
            if values.is_empty() { Ok(new_empty_array(data_type)) } else { ScalarValue::iter_to_array(values) }
        };
        let (keys, values): (Vec<_>, Vec<_>) = entries.into_iter().unzip();
        Ok((array(keys, &self.key)?, array(values, &self.value)?))
    }
}

impl Accumulator for MapAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for row in 0..values[0].len() {
            let key = ScalarValue::try_from_array(&values[0], row)?;
            let value = match self.kind {
                MapKind::Histogram => ScalarValue::Int64(Some(1)),
                MapKind::MapAgg => ScalarValue::try_from_array(&values[1], row)?,
            };
            self.add(key, value);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (keys, values) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for row in 0..keys.len() {
            if keys.is_null(row) {
                continue;
            }
            let (row_keys, row_values) = (keys.value(row), values.value(row));
            for i in 0..row_keys.len() {
                self.add(ScalarValue::try_from_array(&row_keys, i)?, ScalarValue::try_from_array(&row_values, i)?);
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (keys, values) = self.arrays()?;
        let one_list = |array: ArrayRef, data_type: &DataType| {
            let field = Arc::new(Field::new_list_field(data_type.clone(), true));
            ScalarValue::List(Arc::new(ListArray::new(field, OffsetBuffer::from_lengths([array.len()]), array, None)))
        };
        Ok(vec![one_list(keys, &self.key), one_list(values, &self.value)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let (keys, values) = self.arrays()?;
        let entries = entries_field(&self.key, &self.value);
        let DataType::Struct(fields) = entries.data_type() else { return plan_err!("map entries are a struct") };
        let length = keys.len();
        let structs = StructArray::try_new(fields.clone(), vec![keys, values], None)?;
        let map = MapArray::try_new(entries, OffsetBuffer::new(vec![0i32, length as i32].into()), structs, None, false)?;
        Ok(ScalarValue::Map(Arc::new(map)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.entries.iter().map(|(k, v)| k.size() + v.size()).sum::<usize>()
    }
}
