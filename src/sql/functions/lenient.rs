//! Lenient twins for Trino's `try`: `__try_<name>` runs the function
//! `<name>` and, if it fails on a batch, runs it again row by row, giving
//! NULL for each row it fails on, so `try(date_parse(x, '%Y'))` is NULL only
//! where `x` cannot be read. The dialect renames the functions inside a
//! `try(...)` to their twins (see `dialect.rs`).

use datafusion::arrow::array::{ArrayRef, new_null_array};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature};
use std::sync::Arc;

/// What the dialect puts before a function's name inside `try(...)`.
pub const LENIENT_PREFIX: &str = "__try_";

/// Registers a lenient twin of every scalar function the session has.
pub fn register(ctx: &SessionContext) {
    let functions: Vec<(String, Arc<ScalarUDF>)> = ctx.state().scalar_functions().iter().map(|(n, f)| (n.clone(), f.clone())).collect();
    for (name, inner) in functions {
        if name.starts_with(LENIENT_PREFIX) {
            continue;
        }
        ctx.register_udf(ScalarUDF::new_from_impl(Lenient { name: format!("{LENIENT_PREFIX}{name}"), inner }));
    }
}

#[derive(Debug)]
struct Lenient {
    name: String,
    inner: Arc<ScalarUDF>,
}

impl PartialEq for Lenient {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Lenient {}

impl std::hash::Hash for Lenient {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for Lenient {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let Ok(value) = self.inner.invoke_with_args(args.clone()) {
            return Ok(value);
        }
        let rows = args.number_rows;
        let return_type = args.return_field.data_type().clone();
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let mut pieces: Vec<ArrayRef> = Vec::with_capacity(rows);
        for row in 0..if all_scalar { 1 } else { rows } {
            let one = ScalarFunctionArgs {
                args: args
                    .args
                    .iter()
                    .map(|a| match a {
                        ColumnarValue::Array(array) => ColumnarValue::Array(array.slice(row, 1)),
                        ColumnarValue::Scalar(s) => ColumnarValue::Scalar(s.clone()),
                    })
                    .collect(),
                number_rows: 1,
                ..args.clone()
            };
            let piece = self.inner.invoke_with_args(one).and_then(|v| v.to_array(1));
            pieces.push(piece.unwrap_or_else(|_| new_null_array(&return_type, 1)));
        }
        let refs: Vec<&dyn datafusion::arrow::array::Array> = pieces.iter().map(|p| p.as_ref()).collect();
        let joined = datafusion::arrow::compute::concat(&refs)?;
        if all_scalar {
            return Ok(ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&joined, 0)?));
        }
        Ok(ColumnarValue::Array(joined))
    }
}
