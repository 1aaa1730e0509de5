//! Arithmetic that fails instead of wrapping, and functions that refuse to
//! build one value larger than a result may hold.
//!
//! DataFusion adds, subtracts, multiplies, negates and sums integers with
//! wrapping arithmetic (`9223372036854775807 + 1` is a large negative
//! number), a silent wrong answer. An analyzer rule, run after type
//! coercion, turns each integer `+`, `-`, `*`, unary `-` and `sum` into a
//! checked function with the same name in the result, so an overflow is an
//! error that says so, constant or not. (`sum(DISTINCT …)` and `sum` as a
//! window function still wrap.)
//!
//! DataFusion's memory pool sees operators, not scalar functions: `repeat`,
//! `lpad`, `array_repeat` or `range` with a large count build a value of any
//! size (and `repeat` over many rows panicked inside DataFusion). Each is
//! wrapped to work out, before it runs, how many bytes it would build, and to
//! refuse more than `--max-result-size`.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::kernels::{cast::cast, length::length, numeric};
use datafusion::arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::DFSchema;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};
use datafusion::logical_expr::{
    AggregateUDF, AggregateUDFImpl, BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion_functions_aggregate_common::aggregate::groups_accumulator::prim_op::PrimitiveGroupsAccumulator;
use std::sync::Arc;

/// Registers checked arithmetic and the bounded functions in `ctx`.
pub fn register(ctx: &SessionContext, max_value_bytes: usize) {
    ctx.add_analyzer_rule(Arc::new(CheckedArithmetic::default()));
    for (name, kind) in BOUNDED {
        if let Ok(inner) = ctx.udf(name) {
            let bounded = Bounded { inner: inner.as_ref().clone(), kind: *kind, max: max_value_bytes };
            ctx.register_udf(ScalarUDF::new_from_impl(bounded));
        }
    }
}

/// The integer operation a checked function performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Arithmetic {
    Add,
    Subtract,
    Multiply,
}

impl Arithmetic {
    fn of(op: Operator) -> Option<Arithmetic> {
        match op {
            Operator::Plus => Some(Arithmetic::Add),
            Operator::Minus => Some(Arithmetic::Subtract),
            Operator::Multiply => Some(Arithmetic::Multiply),
            _ => None,
        }
    }
}

/// `a + b`, `a - b`, `a * b` on integers, failing on overflow.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Checked {
    op: Arithmetic,
    name: &'static str,
    signature: Signature,
}

impl Checked {
    fn new(op: Arithmetic) -> Checked {
        let name = match op {
            Arithmetic::Add => "checked_add",
            Arithmetic::Subtract => "checked_subtract",
            Arithmetic::Multiply => "checked_multiply",
        };
        // The arguments are already coerced to one integer type.
        Checked { op, name, signature: Signature::any(2, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for Checked {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [left, right] = &args.args[..] else { return exec_err!("{} takes two arguments", self.name) };
        let datum = |value: &ColumnarValue| -> Result<Box<dyn datafusion::arrow::array::Datum>> {
            Ok(match value {
                ColumnarValue::Array(array) => Box::new(array.clone()),
                ColumnarValue::Scalar(scalar) => Box::new(scalar.to_scalar()?),
            })
        };
        let (l, r) = (datum(left)?, datum(right)?);
        let result = match self.op {
            Arithmetic::Add => numeric::add(l.as_ref(), r.as_ref()),
            Arithmetic::Subtract => numeric::sub(l.as_ref(), r.as_ref()),
            Arithmetic::Multiply => numeric::mul(l.as_ref(), r.as_ref()),
        };
        let result = match result {
            Ok(result) => result,
            Err(datafusion::arrow::error::ArrowError::ArithmeticOverflow(detail)) => {
                let what = detail.trim_start_matches("Overflow happened on: ");
                return exec_err!(
                    "integer overflow: {what} does not fit in {}; cast to DOUBLE or DECIMAL first to work with larger numbers",
                    left.data_type()
                );
            }
            Err(e) => return Err(e.into()),
        };
        match (left, right) {
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)) => Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?)),
            _ => Ok(ColumnarValue::Array(result)),
        }
    }
}

/// The analyzer rule that makes integer arithmetic checked.
#[derive(Debug)]
struct CheckedArithmetic {
    functions: [Arc<ScalarUDF>; 3],
    sum: Arc<AggregateUDF>,
}

impl Default for CheckedArithmetic {
    fn default() -> CheckedArithmetic {
        let function = |op| Arc::new(ScalarUDF::new_from_impl(Checked::new(op)));
        CheckedArithmetic {
            functions: [function(Arithmetic::Add), function(Arithmetic::Subtract), function(Arithmetic::Multiply)],
            sum: Arc::new(AggregateUDF::new_from_impl(CheckedSum {
                signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable),
            })),
        }
    }
}

impl AnalyzerRule for CheckedArithmetic {
    fn name(&self) -> &str {
        "checked_arithmetic"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let mut schema = merge_schema(&plan.inputs());
            if let LogicalPlan::TableScan(scan) = &plan {
                schema.merge(&datafusion::common::DFSchema::try_from_qualified_schema(scan.table_name.clone(), &scan.source.schema())?);
            }
            let names = NamePreserver::new(&plan);
            plan.map_expressions(|expr| {
                let name = names.save(&expr);
                // Top down, so each type is asked of the expression as the
                // user wrote it: the type of a nest of checked functions
                // renders its whole name at every level (cubic on a chain).
                expr.transform_down(|expr| self.rewrite(expr, &schema)).map(|rewritten| rewritten.update_data(|e| name.restore(e)))
            })?
            .map_data(|plan| plan.recompute_schema())
        })
        .map(|t| t.data)
    }
}

impl CheckedArithmetic {
    /// One expression, as the user wrote it: integer `+ - *`, unary minus
    /// and `sum` become their checked forms.
    fn rewrite(&self, expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
        let integer = |e: &Expr| e.get_type(schema).is_ok_and(|t| t.is_integer());
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => match Arithmetic::of(op) {
                Some(arithmetic) if integer(&left) && integer(&right) => {
                    let function = self.functions[arithmetic as usize].clone();
                    Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(function, vec![*left, *right]))))
                }
                _ => Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right }))),
            },
            Expr::Negative(inner) if integer(&inner) => {
                let zero = Expr::Literal(ScalarValue::new_zero(&inner.get_type(schema)?)?, None);
                let function = self.functions[Arithmetic::Subtract as usize].clone();
                Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(function, vec![zero, *inner]))))
            }
            Expr::AggregateFunction(mut aggregate)
                if aggregate.func.name() == "sum"
                    && !aggregate.params.distinct
                    && aggregate.params.args.len() == 1
                    && aggregate.params.args[0].get_type(schema).is_ok_and(|t| t == DataType::Int64) =>
            {
                aggregate.func = self.sum.clone();
                Ok(Transformed::yes(Expr::AggregateFunction(aggregate)))
            }
            expr => Ok(Transformed::no(expr)),
        }
    }
}

/// `sum` of `BIGINT`s, failing on overflow (DataFusion's wraps).
#[derive(Debug, PartialEq, Eq, Hash)]
struct CheckedSum {
    signature: Signature,
}

impl AggregateUDFImpl for CheckedSum {
    fn name(&self) -> &str {
        "checked_sum"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SumAccumulator { sum: None }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    /// `GROUP BY … sum(x)` keeps DataFusion's vectorised grouping: its own
    /// per-group state, with an add that notes an overflow instead of
    /// wrapping, checked after each batch.
    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        let overflowed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let noted = overflowed.clone();
        let add = move |sum: &mut i64, value: i64| match sum.checked_add(value) {
            Some(total) => *sum = total,
            None => noted.store(true, std::sync::atomic::Ordering::Relaxed),
        };
        Ok(Box::new(CheckedGroups { inner: PrimitiveGroupsAccumulator::<Int64Type, _>::new(&DataType::Int64, add), overflowed }))
    }
}

/// Per-group sums that fail once any overflowed.
struct CheckedGroups<F: Fn(&mut i64, i64) + Send + Sync + 'static> {
    inner: PrimitiveGroupsAccumulator<Int64Type, F>,
    overflowed: Arc<std::sync::atomic::AtomicBool>,
}

impl<F: Fn(&mut i64, i64) + Send + Sync + 'static> CheckedGroups<F> {
    fn checked(&self) -> Result<()> {
        if self.overflowed.load(std::sync::atomic::Ordering::Relaxed) {
            return overflow();
        }
        Ok(())
    }
}

impl<F: Fn(&mut i64, i64) + Send + Sync + 'static> GroupsAccumulator for CheckedGroups<F> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&datafusion::arrow::array::BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.inner.update_batch(values, group_indices, opt_filter, total_num_groups)?;
        self.checked()
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.inner.merge_batch(values, group_indices, total_num_groups)?;
        self.checked()
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        self.inner.evaluate(emit_to)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        self.inner.state(emit_to)
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&datafusion::arrow::array::BooleanArray>) -> Result<Vec<ArrayRef>> {
        self.inner.convert_to_state(values, opt_filter)
    }

    fn size(&self) -> usize {
        self.inner.size()
    }
}

fn overflow<T>() -> Result<T> {
    exec_err!("integer overflow: a sum does not fit in Int64; sum(CAST(x AS DECIMAL(38, 0))) or sum(CAST(x AS DOUBLE)) adds larger numbers")
}

#[derive(Debug)]
struct SumAccumulator {
    sum: Option<i64>,
}

impl SumAccumulator {
    fn add(&mut self, values: &ArrayRef) -> Result<()> {
        let Ok(part) = datafusion::arrow::compute::sum_checked(values.as_primitive::<Int64Type>()) else { return overflow() };
        self.sum = match (self.sum, part) {
            (Some(sum), Some(part)) => match sum.checked_add(part) {
                Some(total) => Some(total),
                None => return overflow(),
            },
            (sum, part) => sum.or(part),
        };
        Ok(())
    }
}

impl Accumulator for SumAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(&values[0])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.add(&states[0])
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(self.sum)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(self.sum))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

/// A function that builds one value from a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Builds {
    /// `repeat(text, n)`: the text's bytes × n.
    Repeat,
    /// `lpad` / `rpad(text, n [, fill])`: n characters, up to 4 bytes each.
    Pad,
    /// `array_repeat(element, n)`: the element's bytes × n.
    ArrayRepeat,
    /// `range` / `generate_series(start, stop [, step])` of integers: 8
    /// bytes an element.
    Series { inclusive: bool },
}

const BOUNDED: &[(&str, Builds)] = &[
    ("repeat", Builds::Repeat),
    ("lpad", Builds::Pad),
    ("rpad", Builds::Pad),
    ("array_repeat", Builds::ArrayRepeat),
    ("range", Builds::Series { inclusive: false }),
    ("generate_series", Builds::Series { inclusive: true }),
];

/// DataFusion's function, refusing a call that would build more than `max`
/// bytes (one value, or one call's values together).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: ScalarUDF,
    kind: Builds,
    max: usize,
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
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

    fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Text columns hold at most 2 GiB (32-bit offsets): past that
        // DataFusion's `repeat` panicked.
        let max = match self.kind {
            Builds::Repeat | Builds::Pad => self.max.min(i32::MAX as usize),
            _ => self.max,
        };
        let bytes = self.bytes(&args.args, args.number_rows)?;
        if bytes > max as i128 {
            return exec_err!(
                "{}() would build {} in one call, more than --max-result-size ({}) allows; use a smaller count, or raise the limit",
                self.inner.name(),
                crate::size::show(bytes.min(usize::MAX as i128) as usize),
                crate::size::show(max)
            );
        }
        self.inner.invoke_with_args(args)
    }
}

impl Bounded {
    /// The bytes the call would build over all its rows.
    fn bytes(&self, args: &[ColumnarValue], rows: usize) -> Result<i128> {
        let per_row = match (self.kind, args) {
            (Builds::Repeat, [text, count, ..]) => per_row(&[byte_lengths(text)?, integers(count)?], |v| v[0] * v[1].max(0)),
            (Builds::Pad, [_, count, ..]) => per_row(&[integers(count)?], |v| v[0].max(0) * 4),
            (Builds::ArrayRepeat, [element, count, ..]) => {
                per_row(&[element_bytes(element)?, integers(count)?], |v| v[0].max(1) * v[1].max(0))
            }
            (Builds::Series { inclusive }, [..]) if args.iter().all(|a| a.data_type().is_integer()) => {
                let values = args.iter().map(integers).collect::<Result<Vec<_>>>()?;
                per_row(&values, |v| {
                    let (start, stop, step) = match v {
                        [stop] => (0, *stop, 1),
                        [start, stop] => (*start, *stop, 1),
                        [start, stop, step, ..] => (*start, *stop, *step),
                        [] => (0, 0, 1),
                    };
                    if step == 0 {
                        return 0;
                    }
                    let count = (stop - start) / step + i128::from(inclusive);
                    count.max(0) * 8
                })
            }
            _ => return Ok(0),
        };
        Ok(match per_row {
            PerRow::Same(bytes) if args.iter().any(|a| matches!(a, ColumnarValue::Array(_))) => bytes.saturating_mul(rows as i128),
            PerRow::Same(bytes) => bytes,
            PerRow::Sum(bytes) => bytes,
        })
    }
}

/// One number per row of the call, or one for all rows.
enum Numbers {
    One(i128),
    Each(Int64Array),
}

enum PerRow {
    Same(i128),
    Sum(i128),
}

/// Applies `f` to each row's numbers: one result if every argument is one
/// value, else the sum over the rows.
fn per_row(args: &[Numbers], f: impl Fn(&[i128]) -> i128) -> PerRow {
    let rows = args.iter().find_map(|a| if let Numbers::Each(array) = a { Some(array.len()) } else { None });
    let value = |a: &Numbers, row: usize| match a {
        Numbers::One(v) => *v,
        Numbers::Each(array) if array.is_null(row) => 0,
        Numbers::Each(array) => i128::from(array.value(row)),
    };
    match rows {
        None => PerRow::Same(f(&args.iter().map(|a| value(a, 0)).collect::<Vec<_>>())),
        Some(rows) => {
            let mut sum = 0i128;
            let mut values = vec![0; args.len()];
            for row in 0..rows {
                for (slot, arg) in values.iter_mut().zip(args) {
                    *slot = value(arg, row);
                }
                sum = sum.saturating_add(f(&values));
            }
            PerRow::Sum(sum)
        }
    }
}

fn integers(value: &ColumnarValue) -> Result<Numbers> {
    Ok(match value {
        ColumnarValue::Scalar(scalar) => {
            let array = cast(&scalar.to_array()?, &DataType::Int64)?;
            let array = array.as_primitive::<Int64Type>();
            Numbers::One(if array.is_null(0) { 0 } else { i128::from(array.value(0)) })
        }
        ColumnarValue::Array(array) => Numbers::Each(cast(array, &DataType::Int64)?.as_primitive::<Int64Type>().clone()),
    })
}

/// Bytes of each text value.
fn byte_lengths(value: &ColumnarValue) -> Result<Numbers> {
    let of = |array: &ArrayRef| -> Result<Int64Array> { Ok(cast(&length(array)?, &DataType::Int64)?.as_primitive::<Int64Type>().clone()) };
    Ok(match value {
        ColumnarValue::Scalar(scalar) => {
            let lengths = of(&scalar.to_array()?)?;
            Numbers::One(if lengths.is_null(0) { 0 } else { i128::from(lengths.value(0)) })
        }
        ColumnarValue::Array(array) => Numbers::Each(of(array)?),
    })
}

/// Bytes of one element (the average over an array's rows).
fn element_bytes(value: &ColumnarValue) -> Result<Numbers> {
    let width = value.data_type().primitive_width();
    Ok(Numbers::One(match (value, width) {
        (_, Some(width)) => width as i128,
        (ColumnarValue::Scalar(scalar), None) => scalar.size() as i128,
        (ColumnarValue::Array(array), None) => (array.get_buffer_memory_size() / array.len().max(1)) as i128,
    }))
}
