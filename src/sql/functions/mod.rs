//! The Trino functions CloudTrail Lake queries use, with Trino's semantics,
//! registered in every tarn session next to DataFusion's own. Where a name
//! exists in both (`element_at`, `contains`), tarn's takes its place:
//! `element_at` reads maps, arrays (1-based, negative from the end, NULL
//! past the end) and JSON text; `contains` takes an array or a string.
//! `arbitrary` is DataFusion's `any_value`; `count_if` is rewritten by the
//! dialect (see `dialect.rs`).

mod format;
mod json;
mod lenient;
mod maps;
mod patterns;
mod text;
mod time;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array, ListBuilder, MapBuilder, StringArray, StringBuilder,
    TimestampMicrosecondArray, UInt64Array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, ScalarValue, exec_err, internal_err, plan_err};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use serde_json::Value;
use std::sync::Arc;
use time::{Field, Unit};

pub use lenient::LENIENT_PREFIX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    ElementAt,
    Contains,
    ToStringMap,
    JsonExtractScalar,
    JsonExtract,
    JsonArrayGet,
    JsonArrayLength,
    JsonArrayContains,
    JsonSize,
    JsonParse,
    DateAdd,
    DateDiff,
    Field(Field),
    FromIso8601Timestamp,
    FromIso8601Date,
    FromUnixtime,
    ToUnixtime,
    ToIso8601,
    IpInCidr,
    Date,
    DateParse,
    DateFormat,
    FormatDatetime,
    LastDayOfMonth,
    RegexpExtract,
    RegexpExtractAll,
    Split,
    Codepoint,
    UrlExtractHost,
    UrlDecode,
    Slice,
    ToHex,
    Typeof,
    Sequence,
}

/// Every scalar function tarn adds, by name.
const FUNCTIONS: &[(&str, Kind)] = &[
    ("element_at", Kind::ElementAt),
    ("contains", Kind::Contains),
    ("to_string_map", Kind::ToStringMap),
    ("json_extract_scalar", Kind::JsonExtractScalar),
    ("json_extract", Kind::JsonExtract),
    ("json_array_get", Kind::JsonArrayGet),
    ("json_array_length", Kind::JsonArrayLength),
    ("json_array_contains", Kind::JsonArrayContains),
    ("json_size", Kind::JsonSize),
    ("json_parse", Kind::JsonParse),
    ("json_format", Kind::JsonParse),
    ("date_add", Kind::DateAdd),
    ("date_diff", Kind::DateDiff),
    ("year", Kind::Field(Field::Year)),
    ("quarter", Kind::Field(Field::Quarter)),
    ("month", Kind::Field(Field::Month)),
    ("week", Kind::Field(Field::Week)),
    ("week_of_year", Kind::Field(Field::Week)),
    ("day", Kind::Field(Field::Day)),
    ("day_of_month", Kind::Field(Field::Day)),
    ("day_of_week", Kind::Field(Field::DayOfWeek)),
    ("dow", Kind::Field(Field::DayOfWeek)),
    ("day_of_year", Kind::Field(Field::DayOfYear)),
    ("doy", Kind::Field(Field::DayOfYear)),
    ("hour", Kind::Field(Field::Hour)),
    ("minute", Kind::Field(Field::Minute)),
    ("second", Kind::Field(Field::Second)),
    ("millisecond", Kind::Field(Field::Millisecond)),
    ("from_iso8601_timestamp", Kind::FromIso8601Timestamp),
    ("from_iso8601_date", Kind::FromIso8601Date),
    ("from_unixtime", Kind::FromUnixtime),
    ("to_unixtime", Kind::ToUnixtime),
    ("to_iso8601", Kind::ToIso8601),
    ("ip_in_cidr", Kind::IpInCidr),
    ("date", Kind::Date),
    ("date_parse", Kind::DateParse),
    ("date_format", Kind::DateFormat),
    ("format_datetime", Kind::FormatDatetime),
    ("last_day_of_month", Kind::LastDayOfMonth),
    ("regexp_extract", Kind::RegexpExtract),
    ("regexp_extract_all", Kind::RegexpExtractAll),
    ("split", Kind::Split),
    ("codepoint", Kind::Codepoint),
    ("url_extract_host", Kind::UrlExtractHost),
    ("url_decode", Kind::UrlDecode),
    ("slice", Kind::Slice),
    ("to_hex", Kind::ToHex),
    ("typeof", Kind::Typeof),
    ("sequence", Kind::Sequence),
];

/// Trino's cap on the entries of one `sequence`: a list is built whole, so
/// an unbounded one could take all the memory there is.
const SEQUENCE_LIMIT: i64 = 10_000;

/// Registers tarn's functions in `ctx`.
pub fn register(ctx: &SessionContext) {
    for (name, kind) in FUNCTIONS {
        ctx.register_udf(ScalarUDF::new_from_impl(Trino { name, kind: *kind, signature: Signature::user_defined(Volatility::Immutable) }));
    }
    let any_value = datafusion::functions_aggregate::any_value::any_value_udaf();
    ctx.register_udaf(any_value.as_ref().clone().with_aliases(["arbitrary"]));
    ctx.register_udf(ScalarUDF::new_from_impl(format::Format::new()));
    for kind in [maps::MapKind::Histogram, maps::MapKind::MapAgg] {
        ctx.register_udaf(datafusion::logical_expr::AggregateUDF::new_from_impl(maps::MapAggregate::new(kind)));
    }
    lenient::register(ctx);
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Trino {
    name: &'static str,
    kind: Kind,
    signature: Signature,
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
}

/// A timestamp's type for the functions that read its fields (`hour`,
/// `date_format`, ...): one in a zone other than UTC keeps its zone, so
/// they read the time of day there, as Trino does after `at_timezone`.
fn zoned(t: &DataType) -> DataType {
    match t {
        DataType::Timestamp(_, Some(zone)) if !is_utc(zone) => DataType::Timestamp(TimeUnit::Microsecond, Some(zone.clone())),
        _ => utc_micros(),
    }
}

fn is_utc(zone: &str) -> bool {
    matches!(zone, "UTC" | "+00:00" | "Z" | "utc")
}

/// Instants in `zone` as the wall-clock times there, tagged UTC, for the
/// functions that read fields of a UTC time.
fn wall_clock(array: &ArrayRef, zone: &str) -> Result<ArrayRef> {
    use chrono::{Offset, TimeZone};
    let zone: datafusion::arrow::array::timezone::Tz = zone.parse()?;
    let local = times(array).map(|micros| {
        let micros = micros?;
        let instant = chrono::DateTime::from_timestamp_micros(micros)?.naive_utc();
        let offset = zone.offset_from_utc_datetime(&instant).fix().local_minus_utc();
        Some(micros + i64::from(offset) * 1_000_000)
    });
    Ok(timestamps(local))
}

/// The type `split` and `regexp_extract_all` return: `array(varchar)`.
fn string_list_type() -> DataType {
    DataType::List(Arc::new(datafusion::arrow::datatypes::Field::new_list_field(DataType::Utf8, true)))
}

/// A type as Trino names it (`typeof`).
fn trino_type(t: &DataType) -> String {
    use DataType::*;
    match t {
        Null => "unknown".into(),
        Boolean => "boolean".into(),
        Int8 => "tinyint".into(),
        Int16 => "smallint".into(),
        Int32 => "integer".into(),
        Int64 | UInt8 | UInt16 | UInt32 | UInt64 => "bigint".into(),
        Float16 | Float32 => "real".into(),
        Float64 => "double".into(),
        Decimal32(p, s) | Decimal64(p, s) => format!("decimal({p},{s})"),
        Decimal128(p, s) | Decimal256(p, s) => format!("decimal({p},{s})"),
        Utf8 | LargeUtf8 | Utf8View => "varchar".into(),
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => "varbinary".into(),
        Date32 | Date64 => "date".into(),
        Timestamp(unit, zone) => {
            let digits = match unit {
                TimeUnit::Second => 0,
                TimeUnit::Millisecond => 3,
                TimeUnit::Microsecond => 6,
                TimeUnit::Nanosecond => 9,
            };
            format!("timestamp({digits}){}", if zone.is_some() { " with time zone" } else { "" })
        }
        List(f) | LargeList(f) | FixedSizeList(f, _) | ListView(f) | LargeListView(f) => format!("array({})", trino_type(f.data_type())),
        Map(entries, _) => match entries.data_type() {
            Struct(kv) if kv.len() == 2 => format!("map({}, {})", trino_type(kv[0].data_type()), trino_type(kv[1].data_type())),
            other => trino_type(other),
        },
        Struct(fields) => {
            let members: Vec<String> = fields.iter().map(|f| format!("{} {}", f.name(), trino_type(f.data_type()))).collect();
            format!("row({})", members.join(", "))
        }
        Interval(_) | Duration(_) => "interval day to second".into(),
        other => other.to_string().to_lowercase(),
    }
}

/// The type `to_string_map` returns: `map<string, string>`.
pub fn string_map_type() -> DataType {
    MapBuilder::new(None, StringBuilder::new(), StringBuilder::new()).finish().data_type().clone()
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null)
}

impl ScalarUDFImpl for Trino {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        use DataType::{Boolean, Float64, Int64, Utf8};
        let (fewest, most) = match self.kind {
            Kind::DateAdd | Kind::DateDiff | Kind::Slice => (3, 3),
            Kind::ElementAt | Kind::Contains | Kind::JsonExtractScalar | Kind::JsonExtract | Kind::JsonArrayGet => (2, 2),
            Kind::JsonArrayContains | Kind::JsonSize | Kind::IpInCidr => (2, 2),
            Kind::DateParse | Kind::DateFormat | Kind::FormatDatetime => (2, 2),
            Kind::RegexpExtract | Kind::RegexpExtractAll | Kind::Split | Kind::Sequence => (2, 3),
            _ => (1, 1),
        };
        if types.len() < fewest || types.len() > most {
            let wanted = if fewest == most { fewest.to_string() } else { format!("{fewest} to {most}") };
            return plan_err!("{} takes {wanted} argument(s), not {}", self.name, types.len());
        }
        let index_or_key = |t: &DataType| if t.is_integer() { Int64 } else { Utf8 };
        Ok(match self.kind {
            Kind::ElementAt => match &types[0] {
                DataType::Map(..) => vec![types[0].clone(), Utf8],
                DataType::List(_) => vec![types[0].clone(), Int64],
                DataType::LargeList(f) | DataType::FixedSizeList(f, _) => vec![DataType::List(f.clone()), Int64],
                t if is_string(t) => vec![Utf8, index_or_key(&types[1])],
                other => return plan_err!("element_at takes a map, an array or JSON text, not {other}"),
            },
            Kind::Contains => match &types[0] {
                DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                    vec![DataType::List(f.clone()), f.data_type().clone()]
                }
                t if is_string(t) => vec![Utf8, Utf8],
                other => return plan_err!("contains takes an array (or a string), not {other}"),
            },
            Kind::ToStringMap | Kind::JsonArrayLength | Kind::JsonParse | Kind::FromIso8601Timestamp | Kind::FromIso8601Date => vec![Utf8],
            Kind::JsonExtractScalar | Kind::JsonExtract | Kind::JsonSize | Kind::IpInCidr => vec![Utf8, Utf8],
            Kind::JsonArrayGet => vec![Utf8, Int64],
            Kind::JsonArrayContains => {
                let needle = match &types[1] {
                    t if t.is_integer() => Int64,
                    t if t.is_floating() || matches!(t, DataType::Decimal128(..)) => Float64,
                    Boolean => Boolean,
                    _ => Utf8,
                };
                vec![Utf8, needle]
            }
            Kind::DateAdd => vec![Utf8, Int64, utc_micros()],
            Kind::DateDiff => vec![Utf8, utc_micros(), utc_micros()],
            Kind::Field(_) => vec![zoned(&types[0])],
            Kind::ToUnixtime | Kind::ToIso8601 => vec![utc_micros()],
            Kind::FromUnixtime => vec![Float64],
            Kind::Date => match &types[0] {
                DataType::Date32 => vec![DataType::Date32],
                t if is_string(t) => vec![Utf8],
                t => vec![zoned(t)],
            },
            Kind::LastDayOfMonth => match &types[0] {
                DataType::Date32 => vec![DataType::Date32],
                t => vec![zoned(t)],
            },
            Kind::DateParse => vec![Utf8, Utf8],
            Kind::DateFormat | Kind::FormatDatetime => vec![zoned(&types[0]), Utf8],
            Kind::RegexpExtract | Kind::RegexpExtractAll | Kind::Split => {
                let mut wanted = vec![Utf8, Utf8];
                wanted.extend(types.get(2).map(|_| Int64));
                wanted
            }
            Kind::Codepoint | Kind::UrlExtractHost | Kind::UrlDecode => vec![Utf8],
            Kind::Slice => match &types[0] {
                DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => vec![DataType::List(f.clone()), Int64, Int64],
                other => return plan_err!("slice takes an array, not {other}"),
            },
            Kind::ToHex => match &types[0] {
                t if t.is_integer() => vec![Int64],
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => vec![DataType::Binary],
                other => return plan_err!("to_hex takes varbinary (to_hex(sha256(to_utf8(x)))) or an integer, not {other}"),
            },
            Kind::Typeof => types.to_vec(),
            // Integers here; dates and timestamps as DataFusion's generate_series takes them.
            Kind::Sequence if types.iter().all(|t| t.is_integer() || *t == DataType::Null) => vec![Int64; types.len()],
            Kind::Sequence => types.to_vec(),
        })
    }

    fn return_type(&self, types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::ElementAt => match &types[0] {
                DataType::Map(entries, _) => match entries.data_type() {
                    DataType::Struct(fields) if fields.len() == 2 => fields[1].data_type().clone(),
                    other => return plan_err!("element_at: unexpected map layout {other}"),
                },
                DataType::List(f) => f.data_type().clone(),
                _ => DataType::Utf8,
            },
            Kind::Contains | Kind::JsonArrayContains | Kind::IpInCidr => DataType::Boolean,
            Kind::ToStringMap => string_map_type(),
            Kind::JsonExtractScalar | Kind::JsonExtract | Kind::JsonArrayGet | Kind::JsonParse | Kind::ToIso8601 => DataType::Utf8,
            Kind::JsonArrayLength | Kind::JsonSize | Kind::DateDiff | Kind::Field(_) => DataType::Int64,
            Kind::DateAdd | Kind::FromIso8601Timestamp | Kind::FromUnixtime => utc_micros(),
            Kind::FromIso8601Date | Kind::Date | Kind::LastDayOfMonth => DataType::Date32,
            Kind::ToUnixtime => DataType::Float64,
            Kind::DateParse => utc_micros(),
            Kind::DateFormat | Kind::FormatDatetime | Kind::RegexpExtract | Kind::UrlExtractHost | Kind::UrlDecode => DataType::Utf8,
            Kind::ToHex | Kind::Typeof => DataType::Utf8,
            Kind::RegexpExtractAll | Kind::Split => string_list_type(),
            Kind::Codepoint => DataType::Int64,
            Kind::Slice => types[0].clone(),
            Kind::Sequence if types.iter().all(|t| *t == DataType::Int64) => {
                DataType::List(Arc::new(datafusion::arrow::datatypes::Field::new_list_field(DataType::Int64, true)))
            }
            Kind::Sequence => datafusion::functions_nested::range::gen_series_udf().return_type(types)?,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if self.kind == Kind::Contains {
            // Trino's contains(cidr, address), with IPADDRESS values as text.
            if let ColumnarValue::Scalar(ScalarValue::Utf8(Some(range))) = &args.args[0]
                && range.contains('/')
                && parse_cidr(range).is_some()
            {
                let within = Trino { name: "contains", kind: Kind::IpInCidr, signature: self.signature.clone() };
                let swapped = ScalarFunctionArgs { args: vec![args.args[1].clone(), args.args[0].clone()], ..args };
                return within.invoke_with_args(swapped);
            }
            return match args.arg_fields[0].data_type() {
                DataType::List(_) => datafusion::functions_nested::array_has::array_has_udf().invoke_with_args(args),
                _ => datafusion::functions::string::contains().invoke_with_args(args),
            };
        }
        if self.kind == Kind::Typeof {
            let name = trino_type(args.arg_fields[0].data_type());
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))));
        }
        if self.kind == Kind::ToHex && args.arg_fields[0].data_type().is_integer() {
            return datafusion::functions::string::to_hex().invoke_with_args(args);
        }
        if self.kind == Kind::Sequence && args.arg_fields.iter().any(|f| *f.data_type() != DataType::Int64) {
            return datafusion::functions_nested::range::gen_series_udf().invoke_with_args(args);
        }
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let mut arrays = ColumnarValue::values_to_arrays(&args.args)?;
        if let DataType::Timestamp(TimeUnit::Microsecond, Some(zone)) = args.arg_fields[0].data_type()
            && !is_utc(zone)
        {
            arrays[0] = wall_clock(&arrays[0], zone)?;
        }
        let result = self.evaluate(&arrays)?;
        if all_scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?));
        }
        Ok(ColumnarValue::Array(result))
    }
}

/// A CIDR range (`10.0.0.0/8`, `2001:db8::/32`; a bare address is a /32 or
/// /128) as its network address and prefix length.
pub fn parse_cidr(text: &str) -> Option<(std::net::IpAddr, u8)> {
    let (address, bits) = match text.trim().split_once('/') {
        Some((address, bits)) => (address.parse::<std::net::IpAddr>().ok()?, Some(bits.parse::<u8>().ok()?)),
        None => (text.trim().parse().ok()?, None),
    };
    let max = if address.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((address, bits))
}

/// Whether `ip` is in the range; an IPv4 address is never in an IPv6 range.
fn ip_in_cidr(ip: std::net::IpAddr, (network, bits): (std::net::IpAddr, u8)) -> Option<bool> {
    use std::net::IpAddr::{V4, V6};
    let prefix = |a: u128, b: u128, width: u32| bits == 0 || (a ^ b) >> (width - bits as u32) == 0;
    Some(match (ip, network) {
        (V4(a), V4(b)) => prefix(u32::from(a) as u128, u32::from(b) as u128, 32),
        (V6(a), V6(b)) => prefix(u128::from(a), u128::from(b), 128),
        _ => false,
    })
}

/// JSON text, parsed; NULL for SQL NULL and for text that is not JSON.
fn parse_json(text: Option<&str>) -> Option<Value> {
    serde_json::from_str(text?).ok()
}

fn strings(array: &ArrayRef) -> &StringArray {
    array.as_string::<i32>()
}

fn times(array: &ArrayRef) -> impl Iterator<Item = Option<i64>> + '_ {
    array.as_primitive::<TimestampMicrosecondType>().iter()
}

fn timestamps(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(values.collect::<TimestampMicrosecondArray>().with_timezone("UTC"))
}

impl Trino {
    fn evaluate(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let name = self.name;
        Ok(match self.kind {
            Kind::ElementAt => element_at(&args[0], &args[1])?,
            // `invoke_with_args` hands it to DataFusion's array_has or contains.
            Kind::Contains => return internal_err!("{name} is evaluated by array_has or contains"),
            Kind::ToStringMap => to_string_map(strings(&args[0]))?,
            Kind::JsonExtractScalar | Kind::JsonExtract | Kind::JsonSize => {
                let mut paths = Compiled::default();
                let texts = strings(&args[0]).iter().zip(strings(&args[1]));
                let values = texts.map(|(text, path)| -> Result<Option<Value>> {
                    let (Some(value), Some(path)) = (parse_json(text), path) else { return Ok(None) };
                    Ok(json::follow(&value, paths.get(name, path, json::parse_path)?).cloned())
                });
                match self.kind {
                    Kind::JsonSize => Arc::new(values.map(|v| v.map(|v| v.as_ref().map(json::size))).collect::<Result<Int64Array>>()?),
                    Kind::JsonExtract => Arc::new(values.map(|v| v.map(|v| v.map(|v| v.to_string()))).collect::<Result<StringArray>>()?),
                    _ => Arc::new(values.map(|v| v.map(|v| v.as_ref().and_then(json::scalar_text))).collect::<Result<StringArray>>()?),
                }
            }
            Kind::JsonArrayGet => {
                let indexes = args[1].as_primitive::<Int64Type>();
                let texts = strings(&args[0]).iter().zip(indexes);
                Arc::new(texts.map(|(text, index)| json::array_get(&parse_json(text)?, index?)).collect::<StringArray>())
            }
            Kind::JsonArrayLength => {
                Arc::new(strings(&args[0]).iter().map(|text| parse_json(text)?.as_array().map(|a| a.len() as i64)).collect::<Int64Array>())
            }
            Kind::JsonArrayContains => {
                let mut out = Vec::with_capacity(args[0].len());
                for (row, text) in strings(&args[0]).iter().enumerate() {
                    let needle = match ScalarValue::try_from_array(&args[1], row)? {
                        ScalarValue::Utf8(Some(s)) => Value::String(s),
                        ScalarValue::Int64(Some(n)) => Value::from(n),
                        ScalarValue::Float64(Some(f)) => Value::from(f),
                        ScalarValue::Boolean(Some(b)) => Value::Bool(b),
                        _ => {
                            out.push(None);
                            continue;
                        }
                    };
                    out.push(parse_json(text).and_then(|v| json::array_contains(&v, &needle)));
                }
                Arc::new(BooleanArray::from(out))
            }
            Kind::JsonParse => {
                let mut out = StringBuilder::new();
                for text in strings(&args[0]) {
                    match text.map(serde_json::from_str::<Value>) {
                        None => out.append_null(),
                        Some(Ok(value)) => out.append_value(value.to_string()),
                        Some(Err(e)) => return exec_err!("{name}: '{}' is not JSON: {e}", text.unwrap_or_default()),
                    }
                }
                Arc::new(out.finish())
            }
            Kind::DateAdd | Kind::DateDiff => {
                let mut units = Compiled::default();
                let (unit_texts, ends) = (strings(&args[0]), args[2].as_primitive::<TimestampMicrosecondType>());
                let mut out = Vec::with_capacity(args[0].len());
                for row in 0..args[0].len() {
                    if unit_texts.is_null(row) || args[1].is_null(row) || ends.is_null(row) {
                        out.push(None);
                        continue;
                    }
                    let (unit, end) = (*units.get(name, unit_texts.value(row), Unit::parse)?, ends.value(row));
                    out.push(if self.kind == Kind::DateAdd {
                        time::add(unit, args[1].as_primitive::<Int64Type>().value(row), end)
                    } else {
                        time::diff(unit, args[1].as_primitive::<TimestampMicrosecondType>().value(row), end)
                    });
                }
                if self.kind == Kind::DateAdd { timestamps(out.into_iter()) } else { Arc::new(Int64Array::from(out)) }
            }
            Kind::Field(field) => Arc::new(times(&args[0]).map(|t| field.of(t?)).collect::<Int64Array>()),
            Kind::IpInCidr => {
                let pairs = strings(&args[0]).iter().zip(strings(&args[1]));
                Arc::new(pairs.map(|(ip, cidr)| ip_in_cidr(ip?.parse().ok()?, parse_cidr(cidr?)?)).collect::<BooleanArray>())
            }
            Kind::FromIso8601Timestamp => {
                let values = strings(&args[0]).iter().map(|text| text.map(time::parse_iso8601).transpose());
                let values = values.collect::<std::result::Result<Vec<_>, time::TimeError>>();
                timestamps(values.or_else(|e| exec_err!("{name}: {e}"))?.into_iter())
            }
            Kind::FromIso8601Date => {
                let values = strings(&args[0]).iter().map(|text| text.map(time::parse_iso8601_date).transpose());
                let values = values.collect::<std::result::Result<Vec<_>, time::TimeError>>();
                Arc::new(Date32Array::from(values.or_else(|e| exec_err!("{name}: {e}"))?))
            }
            Kind::FromUnixtime => timestamps(args[0].as_primitive::<Float64Type>().iter().map(|s| time::from_unixtime(s?))),
            Kind::ToUnixtime => Arc::new(times(&args[0]).map(|t| t.map(time::to_unixtime)).collect::<Float64Array>()),
            Kind::ToIso8601 => Arc::new(times(&args[0]).map(|t| time::to_iso8601(t?)).collect::<StringArray>()),
            Kind::Date | Kind::LastDayOfMonth | Kind::DateParse | Kind::DateFormat | Kind::FormatDatetime => self.evaluate_dates(args)?,
            Kind::RegexpExtract | Kind::RegexpExtractAll | Kind::Split | Kind::Codepoint | Kind::UrlExtractHost | Kind::UrlDecode => {
                self.evaluate_text(args)?
            }
            Kind::Slice => slice(&args[0], &args[1], &args[2])?,
            Kind::Sequence => sequence(args)?,
            Kind::ToHex => {
                let bytes = args[0].as_binary::<i32>();
                let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
                Arc::new(bytes.iter().map(|b| b.map(hex)).collect::<StringArray>())
            }
            // `invoke_with_args` answers from the argument's type.
            Kind::Typeof => return internal_err!("{name} is answered from the argument's type"),
        })
    }
}

impl Trino {
    /// `date`, `last_day_of_month`, `date_parse`, `date_format`, `format_datetime`.
    fn evaluate_dates(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let name = self.name;
        Ok(match self.kind {
            Kind::Date => match args[0].data_type() {
                DataType::Date32 => args[0].clone(),
                DataType::Utf8 => {
                    let days = strings(&args[0]).iter().map(|text| text.map(time::date_of_text).transpose());
                    Arc::new(Date32Array::from(days.collect::<std::result::Result<Vec<_>, _>>().or_else(|e| exec_err!("{e}"))?))
                }
                _ => Arc::new(times(&args[0]).map(|t| t.map(time::day_number)).collect::<Date32Array>()),
            },
            Kind::LastDayOfMonth => {
                let days: Vec<Option<i32>> = match args[0].data_type() {
                    DataType::Date32 => args[0].as_primitive::<datafusion::arrow::datatypes::Date32Type>().iter().collect(),
                    _ => times(&args[0]).map(|t| t.map(time::day_number)).collect(),
                };
                Arc::new(days.into_iter().map(|d| time::last_day_of_month(d?)).collect::<Date32Array>())
            }
            Kind::DateParse => {
                let pairs = strings(&args[0]).iter().zip(strings(&args[1]));
                let values = pairs.map(|(text, format)| match (text, format) {
                    (Some(text), Some(format)) => patterns::parse(text, format).map(Some),
                    _ => Ok(None),
                });
                timestamps(values.collect::<std::result::Result<Vec<_>, _>>().or_else(|e| exec_err!("{name}: {e}"))?.into_iter())
            }
            Kind::DateFormat | Kind::FormatDatetime => {
                let mut converted = Compiled::default();
                let convert = if self.kind == Kind::DateFormat { patterns::mysql_to_chrono } else { patterns::java_to_chrono };
                let mut out = StringBuilder::new();
                for (t, pattern) in times(&args[0]).zip(strings(&args[1])) {
                    let (Some(t), Some(pattern)) = (t, pattern) else {
                        out.append_null();
                        continue;
                    };
                    let chrono_pattern = converted.get(name, pattern, convert)?;
                    let Some(time) = time::from_micros(t) else { return exec_err!("{name}: timestamp out of range") };
                    out.append_value(patterns::format(&time.naive_utc(), chrono_pattern));
                }
                Arc::new(out.finish())
            }
            _ => return internal_err!("{name} is not a date function"),
        })
    }

    /// `regexp_extract(_all)`, `split`, `codepoint`, `url_extract_host`, `url_decode`.
    fn evaluate_text(&self, args: &[ArrayRef]) -> Result<ArrayRef> {
        let name = self.name;
        Ok(match self.kind {
            Kind::RegexpExtract | Kind::RegexpExtractAll => {
                let mut cache = Compiled::default();
                let groups: Vec<Option<i64>> = match args.get(2) {
                    Some(g) => g.as_primitive::<Int64Type>().iter().collect(),
                    None => vec![Some(0); args[0].len()],
                };
                let rows = strings(&args[0]).iter().zip(strings(&args[1])).zip(groups);
                if self.kind == Kind::RegexpExtract {
                    let mut out = StringBuilder::new();
                    for ((text, pattern), group) in rows {
                        let (Some(text), Some(pattern), Some(group)) = (text, pattern, group) else {
                            out.append_null();
                            continue;
                        };
                        let regex = cache.get(name, pattern, text::compile)?;
                        out.append_option(text::regexp_extract(regex, text, group).or_else(|e| exec_err!("{name}: {e}"))?);
                    }
                    Arc::new(out.finish())
                } else {
                    let mut out = ListBuilder::new(StringBuilder::new());
                    for ((text, pattern), group) in rows {
                        let (Some(text), Some(pattern), Some(group)) = (text, pattern, group) else {
                            out.append(false);
                            continue;
                        };
                        let regex = cache.get(name, pattern, text::compile)?;
                        for value in text::regexp_extract_all(regex, text, group).or_else(|e| exec_err!("{name}: {e}"))? {
                            out.values().append_option(value);
                        }
                        out.append(true);
                    }
                    Arc::new(out.finish())
                }
            }
            Kind::Split => {
                let limits: Vec<Option<i64>> = match args.get(2) {
                    Some(l) => l.as_primitive::<Int64Type>().iter().map(|v| v.or(Some(0))).collect(),
                    None => vec![None; args[0].len()],
                };
                let mut out = ListBuilder::new(StringBuilder::new());
                for ((text, delimiter), limit) in strings(&args[0]).iter().zip(strings(&args[1])).zip(limits) {
                    let (Some(text), Some(delimiter)) = (text, delimiter) else {
                        out.append(false);
                        continue;
                    };
                    for part in text::split(text, delimiter, limit).or_else(|e| exec_err!("{e}"))? {
                        out.values().append_value(part);
                    }
                    out.append(true);
                }
                Arc::new(out.finish())
            }
            Kind::Codepoint => {
                let values = strings(&args[0]).iter().map(|t| t.map(text::codepoint).transpose());
                Arc::new(Int64Array::from(values.collect::<std::result::Result<Vec<_>, _>>().or_else(|e| exec_err!("{e}"))?))
            }
            Kind::UrlExtractHost => Arc::new(strings(&args[0]).iter().map(|u| text::url_extract_host(u?)).collect::<StringArray>()),
            Kind::UrlDecode => {
                let values = strings(&args[0]).iter().map(|t| t.map(text::url_decode).transpose());
                Arc::new(StringArray::from(values.collect::<std::result::Result<Vec<_>, _>>().or_else(|e| exec_err!("{e}"))?))
            }
            _ => return internal_err!("{name} is not a text function"),
        })
    }
}

/// The argument text a batch last compiled (a JSON path, a time unit, a
/// date pattern, a regular expression) and what it compiled to: a batch
/// mostly repeats one, so each distinct text is compiled once in a row.
struct Compiled<T> {
    last: Option<(String, T)>,
}

impl<T> Default for Compiled<T> {
    fn default() -> Self {
        Compiled { last: None }
    }
}

impl<T> Compiled<T> {
    fn get<E: std::fmt::Display>(
        &mut self,
        function: &str,
        text: &str,
        compile: impl FnOnce(&str) -> std::result::Result<T, E>,
    ) -> Result<&T> {
        let last = match self.last.take() {
            Some((seen, value)) if seen == text => (seen, value),
            _ => (text.to_string(), compile(text).or_else(|e| exec_err!("{function}: {e}"))?),
        };
        Ok(&self.last.insert(last).1)
    }
}

/// `element_at(container, key)` over a map, an array or JSON text.
fn element_at(container: &ArrayRef, key: &ArrayRef) -> Result<ArrayRef> {
    let rows = container.len();
    match container.data_type() {
        DataType::Map(..) => {
            let map = container.as_map();
            let Some(keys) = map.keys().as_string_opt::<i32>() else { return exec_err!("element_at: map keys must be strings") };
            let wanted = strings(key);
            let offsets = map.value_offsets();
            let indexes: UInt64Array = (0..rows)
                .map(|row| {
                    if map.is_null(row) || wanted.is_null(row) {
                        return None;
                    }
                    let target = wanted.value(row);
                    (offsets[row] as usize..offsets[row + 1] as usize).find(|&j| keys.value(j) == target).map(|j| j as u64)
                })
                .collect();
            Ok(take(map.values().as_ref(), &indexes, None)?)
        }
        DataType::List(_) => {
            let list = container.as_list::<i32>();
            let positions = key.as_primitive::<Int64Type>();
            let offsets = list.value_offsets();
            let mut indexes = Vec::with_capacity(rows);
            for row in 0..rows {
                if list.is_null(row) || positions.is_null(row) {
                    indexes.push(None);
                    continue;
                }
                let (start, end) = (offsets[row] as i64, offsets[row + 1] as i64);
                let index = match positions.value(row) {
                    0 => return exec_err!("element_at: SQL array indices start at 1"),
                    i if i > 0 => start + i - 1,
                    i => end + i,
                };
                indexes.push((start..end).contains(&index).then_some(index as u64));
            }
            Ok(take(list.values().as_ref(), &UInt64Array::from(indexes), None)?)
        }
        _ => {
            let texts = strings(container);
            let values: StringArray = (0..rows)
                .map(|row| {
                    let value = parse_json(texts.is_valid(row).then(|| texts.value(row)))?;
                    let found = match (key.data_type(), &value) {
                        (DataType::Int64, Value::Array(items)) => {
                            let i = key.as_primitive::<Int64Type>();
                            let i = i.is_valid(row).then(|| i.value(row))?;
                            let position = if i > 0 { i - 1 } else { items.len() as i64 + i };
                            items.get(usize::try_from(position).ok()?)
                        }
                        (DataType::Utf8, Value::Object(members)) => {
                            members.get(strings(key).is_valid(row).then(|| strings(key).value(row))?)
                        }
                        _ => None,
                    }?;
                    (!found.is_null()).then(|| json::string_or_json(found))
                })
                .collect();
            Ok(Arc::new(values))
        }
    }
}

/// `sequence(start, stop[, step])` of integers, as Trino: both ends
/// included, the step 1 or -1 by the ends' order when absent, a step that
/// points away from `stop` or is 0 an error, at most [`SEQUENCE_LIMIT`] entries.
fn sequence(args: &[ArrayRef]) -> Result<ArrayRef> {
    use datafusion::arrow::array::Int64Builder;
    let column = |i: usize| args.get(i).map(|a| a.as_primitive::<Int64Type>());
    let (starts, stops, steps) = (column(0), column(1), column(2));
    let mut out = ListBuilder::new(Int64Builder::new());
    for row in 0..args[0].len() {
        let value = |c: Option<&datafusion::arrow::array::Int64Array>| c.and_then(|c| c.is_valid(row).then(|| c.value(row)));
        let (Some(start), Some(stop)) = (value(starts), value(stops)) else {
            out.append(false);
            continue;
        };
        let step = match (steps, value(steps)) {
            (None, _) => {
                if start <= stop {
                    1
                } else {
                    -1
                }
            }
            (Some(_), Some(step)) => step,
            (Some(_), None) => {
                out.append(false);
                continue;
            }
        };
        if step == 0 {
            return exec_err!("sequence: the step must not be zero");
        }
        if (step > 0 && stop < start) || (step < 0 && stop > start) {
            return exec_err!(
                "sequence: the stop value should be greater than or equal to the start value if the step is greater than zero, otherwise less than or equal to it"
            );
        }
        let entries = (stop as i128 - start as i128) / step as i128 + 1;
        if entries > SEQUENCE_LIMIT as i128 {
            return exec_err!("sequence: the result must not have more than {SEQUENCE_LIMIT} entries ({entries} asked)");
        }
        for i in 0..entries as i64 {
            out.values().append_value(start + i * step);
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

/// `slice(array, start, length)`: 1-based, a negative start counts from the end.
fn slice(arrays: &ArrayRef, starts: &ArrayRef, lengths: &ArrayRef) -> Result<ArrayRef> {
    use datafusion::arrow::array::ListArray;
    use datafusion::arrow::buffer::OffsetBuffer;
    let list = arrays.as_list::<i32>();
    let (starts, lengths) = (starts.as_primitive::<Int64Type>(), lengths.as_primitive::<Int64Type>());
    let offsets = list.value_offsets();
    let (mut picked, mut bounds, mut valid) = (Vec::new(), vec![0i32], Vec::with_capacity(list.len()));
    for row in 0..list.len() {
        let usable = list.is_valid(row) && starts.is_valid(row) && lengths.is_valid(row);
        valid.push(usable);
        if usable {
            let (first, end) = (offsets[row] as i64, offsets[row + 1] as i64);
            let (start, length) = (starts.value(row), lengths.value(row));
            if start == 0 {
                return exec_err!("slice: SQL array indices start at 1");
            }
            if length < 0 {
                return exec_err!("slice: the length must not be negative, not {length}");
            }
            let from = if start > 0 { first + start - 1 } else { end + start };
            if from >= first {
                picked.extend((from..end.min(from.saturating_add(length))).map(|i| i as u64));
            }
        }
        bounds.push(picked.len() as i32);
    }
    let values = take(list.values().as_ref(), &UInt64Array::from(picked), None)?;
    let field = match arrays.data_type() {
        DataType::List(f) => f.clone(),
        other => return internal_err!("slice of {other}"),
    };
    let nulls = Some(datafusion::arrow::buffer::NullBuffer::from(valid));
    Ok(Arc::new(ListArray::try_new(field, OffsetBuffer::new(bounds.into()), values, nulls)?))
}

/// JSON object text → `map<string, string>`: strings as themselves, other
/// values as JSON text (how CloudTrail Lake shows `requestparameters`);
/// NULL for NULL or anything that is not a JSON object.
fn to_string_map(texts: &StringArray) -> Result<ArrayRef> {
    let mut builder = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for text in texts {
        match parse_json(text) {
            Some(Value::Object(members)) => {
                for (key, value) in &members {
                    builder.keys().append_value(key);
                    match value {
                        Value::Null => builder.values().append_null(),
                        value => builder.values().append_value(json::string_or_json(value)),
                    }
                }
                builder.append(true)?;
            }
            _ => builder.append(false)?,
        }
    }
    Ok(Arc::new(builder.finish()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_reference_page_lists_every_function() {
        let page = include_str!("../../../docs/sql.md");
        for name in super::FUNCTIONS.iter().map(|(name, _)| *name).chain(["arbitrary", "count_if"]) {
            assert!(page.contains(&format!("`{name}")) || page.contains(&format!("{name}`")), "docs/sql.md does not list {name}");
        }
    }
}
