//! Trino's `format(format, args...)`, which formats as Java's
//! `String.format` does: `%[index$][flags][width][.precision]conversion`
//! with the conversions `s S d x X o f e E b B c % n`, the flags
//! `- 0 + , (space)` and argument indexes (`%2$s`). Date conversions
//! (`%t…`) are refused with one line.

use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};
use std::sync::Arc;

/// Why a format cannot be applied, as Java's exceptions say it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormatError {
    #[error("format: '{0}' is not a conversion tarn knows (use s, d, x, o, f, e, b, c, % or n)")]
    Conversion(String),
    #[error("format: '{spec}' needs argument {index}, but {given} were given")]
    MissingArgument { spec: String, index: usize, given: usize },
    #[error("format: '{spec}' cannot format {value}")]
    Mismatch { spec: String, value: String },
}

/// One `%…` specifier.
struct Spec {
    text: String,
    index: Option<usize>,
    flags: String,
    width: Option<usize>,
    precision: Option<usize>,
    conversion: char,
}

/// Formats `args` under `format`.
///
/// ```text
/// format('%s%%', 123)            → 123%
/// format('%.4f', 3.14159265)     → 3.1416
/// format('%03d', 8)              → 008
/// format('%-7s,%7s', 'hello', 'world') → hello  ,  world
/// format('%2$s %1$s', 'a', 'b')  → b a
/// ```
pub fn format(format: &str, args: &[ScalarValue]) -> Result<String, FormatError> {
    let mut out = String::new();
    let mut next = 0;
    let mut rest = format;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let (spec, after) = parse_spec(&rest[at..])?;
        rest = after;
        match spec.conversion {
            '%' => out.push_str(&pad(&spec, "%".to_string())),
            'n' => out.push('\n'),
            _ => {
                let index = match spec.index {
                    Some(index) => index,
                    None => {
                        next += 1;
                        next
                    }
                };
                let value = args.get(index - 1).ok_or_else(|| FormatError::MissingArgument {
                    spec: spec.text.clone(),
                    index,
                    given: args.len(),
                })?;
                out.push_str(&pad(&spec, convert(&spec, value)?));
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn parse_spec(text: &str) -> Result<(Spec, &str), FormatError> {
    let bytes = text.as_bytes();
    let mut i = 1;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
        text[start..*i].parse::<usize>().ok()
    };
    let mut index = None;
    let save = i;
    if let Some(n) = digits(&mut i) {
        if bytes.get(i) == Some(&b'$') && n > 0 {
            index = Some(n);
            i += 1;
        } else {
            i = save;
        }
    }
    let flags_start = i;
    while i < bytes.len() && b"-0+, (#".contains(&bytes[i]) {
        i += 1;
    }
    let flags = text[flags_start..i].to_string();
    let width = digits(&mut i);
    let precision = if bytes.get(i) == Some(&b'.') {
        i += 1;
        digits(&mut i)
    } else {
        None
    };
    let Some(conversion) = text[i..].chars().next() else { return Err(FormatError::Conversion(text.to_string())) };
    let end = i + conversion.len_utf8();
    if !"sSdxXofeEbBc%n".contains(conversion) {
        return Err(FormatError::Conversion(text[..end].to_string()));
    }
    Ok((Spec { text: text[..end].to_string(), index, flags, width, precision, conversion }, &text[end..]))
}

/// The value under one conversion, before padding.
fn convert(spec: &Spec, value: &ScalarValue) -> Result<String, FormatError> {
    let mismatch = || FormatError::Mismatch { spec: spec.text.clone(), value: value.data_type().to_string() };
    let integer = || -> Result<Option<i64>, FormatError> {
        match value.cast_to(&DataType::Int64) {
            Ok(ScalarValue::Int64(v)) if value.data_type().is_integer() || value.is_null() => Ok(v),
            _ => Err(mismatch()),
        }
    };
    let float = || -> Result<Option<f64>, FormatError> {
        match value.cast_to(&DataType::Float64) {
            Ok(ScalarValue::Float64(v)) if value.data_type().is_numeric() || value.is_null() => Ok(v),
            _ => Err(mismatch()),
        }
    };
    let null = "null".to_string();
    Ok(match spec.conversion {
        's' | 'S' => {
            let text = if value.is_null() { null } else { text_of(value) };
            let text = match spec.precision {
                Some(p) => text.chars().take(p).collect(),
                None => text,
            };
            if spec.conversion == 'S' { text.to_uppercase() } else { text }
        }
        'b' | 'B' => {
            let truth = match value {
                ScalarValue::Boolean(b) => b.unwrap_or(false),
                v => !v.is_null(),
            };
            let text = truth.to_string();
            if spec.conversion == 'B' { text.to_uppercase() } else { text }
        }
        'd' => match integer()? {
            None => null,
            Some(n) => signed(spec, n.unsigned_abs().to_string(), n < 0),
        },
        'x' | 'X' | 'o' => match integer()? {
            None => null,
            Some(n) => {
                let text = match spec.conversion {
                    'o' => format!("{:o}", n as u64),
                    'X' => format!("{:X}", n as u64),
                    _ => format!("{:x}", n as u64),
                };
                if spec.flags.contains('#') { format!("{}{text}", if spec.conversion == 'o' { "0" } else { "0x" }) } else { text }
            }
        },
        'f' => match float()? {
            None => null,
            Some(f) => signed(spec, half_up(f.abs(), spec.precision.unwrap_or(6)), f.is_sign_negative() && f != 0.0),
        },
        'e' | 'E' => match float()? {
            None => null,
            Some(f) => {
                let text = java_exponent(f.abs(), spec.precision.unwrap_or(6));
                let text = if spec.conversion == 'E' { text.to_uppercase() } else { text };
                signed(spec, text, f.is_sign_negative() && f != 0.0)
            }
        },
        'c' => match value {
            ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) if s.chars().count() == 1 => {
                s.clone()
            }
            v if v.is_null() => null,
            _ => match integer()?.and_then(|n| u32::try_from(n).ok()).and_then(char::from_u32) {
                Some(c) => c.to_string(),
                None => return Err(mismatch()),
            },
        },
        _ => return Err(FormatError::Conversion(spec.text.clone())),
    })
}

/// Digits with the sign, grouping and zero-padding flags applied.
fn signed(spec: &Spec, digits: String, negative: bool) -> String {
    let digits = if spec.flags.contains(',') { group(&digits) } else { digits };
    let sign = match (negative, spec.flags.contains('(')) {
        (true, true) => return format!("({digits})"),
        (true, false) => "-",
        (false, _) if spec.flags.contains('+') => "+",
        (false, _) if spec.flags.contains(' ') => " ",
        _ => "",
    };
    match spec.width {
        Some(width) if spec.flags.contains('0') && !spec.flags.contains('-') => {
            let zeros = width.saturating_sub(sign.len() + digits.chars().count());
            format!("{sign}{}{digits}", "0".repeat(zeros))
        }
        _ => format!("{sign}{digits}"),
    }
}

/// `f` with `precision` decimals, rounded half up from its shortest decimal
/// form, as Java's `Formatter` rounds (`%.1f` of 2.25 is 2.3).
fn half_up(f: f64, precision: usize) -> String {
    if !f.is_finite() {
        return if f.is_nan() { "NaN".into() } else { "Infinity".into() };
    }
    let shortest = format!("{f}");
    let (whole, fraction) = shortest.split_once('.').unwrap_or((&shortest, ""));
    if fraction.len() <= precision {
        let zeros = "0".repeat(precision - fraction.len());
        return if precision == 0 { whole.to_string() } else { format!("{whole}.{fraction}{zeros}") };
    }
    let mut digits: Vec<u8> = format!("{whole}{}", &fraction[..precision]).into_bytes();
    if fraction.as_bytes()[precision] >= b'5' {
        let mut i = digits.len();
        loop {
            if i == 0 {
                digits.insert(0, b'1');
                break;
            }
            i -= 1;
            if digits[i] == b'9' {
                digits[i] = b'0';
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    let text = String::from_utf8(digits).unwrap_or_default();
    let split = text.len() - precision;
    if precision == 0 { text } else { format!("{}.{}", &text[..split], &text[split..]) }
}

/// Thousands separators in the integer part.
fn group(digits: &str) -> String {
    let (whole, fraction) = digits.split_once('.').map_or((digits, None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match fraction {
        Some(f) => format!("{grouped}.{f}"),
        None => grouped,
    }
}

/// `1.234560e+01`, as Java writes `%e` (a sign and at least two exponent digits).
fn java_exponent(f: f64, precision: usize) -> String {
    let text = format!("{f:.precision$e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    format!("{mantissa}e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs())
}

/// Pads to the width, on the left unless the `-` flag says right.
fn pad(spec: &Spec, text: String) -> String {
    let Some(width) = spec.width else { return text };
    let fill = width.saturating_sub(text.chars().count());
    if spec.flags.contains('-') { format!("{text}{}", " ".repeat(fill)) } else { format!("{}{text}", " ".repeat(fill)) }
}

/// A value as `%s` shows it.
fn text_of(value: &ScalarValue) -> String {
    match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => s.clone(),
        other => other.to_string(),
    }
}

/// The `format` function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Format {
    signature: Signature,
}

impl Format {
    pub fn new() -> Format {
        Format { signature: Signature::variadic_any(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for Format {
    fn name(&self) -> &str {
        "format"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, types: &[DataType]) -> Result<DataType> {
        match types.first() {
            Some(DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null) => Ok(DataType::Utf8),
            Some(other) => plan_err!("format takes a format text first, not {other}: format('%s: %d', name, n)"),
            None => plan_err!("format takes a format text and its arguments: format('%s: %d', name, n)"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let rows = if all_scalar { 1 } else { args.number_rows };
        let mut out = StringBuilder::new();
        for row in 0..rows {
            let values = arrays.iter().map(|a| ScalarValue::try_from_array(a, row)).collect::<Result<Vec<_>>>()?;
            let Some((first, rest)) = values.split_first() else { return exec_err!("format takes a format text") };
            let spec = match first {
                ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => s,
                _ => {
                    out.append_null();
                    continue;
                }
            };
            match format(spec, rest) {
                Ok(text) => out.append_value(text),
                Err(e) => return exec_err!("{e}"),
            }
        }
        let result: ArrayRef = Arc::new(out.finish());
        if all_scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?));
        }
        Ok(ColumnarValue::Array(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> ScalarValue {
        ScalarValue::Utf8(Some(text.into()))
    }

    #[test]
    fn javas_examples() {
        assert_eq!(format("%s%%", &[ScalarValue::Int64(Some(123))]).unwrap(), "123%");
        assert_eq!(format("%.4f", &[ScalarValue::Float64(Some(std::f64::consts::PI))]).unwrap(), "3.1416");
        assert_eq!(format("%03d", &[ScalarValue::Int64(Some(8))]).unwrap(), "008");
        assert_eq!(format("%-7s,%7s", &[s("hello"), s("world")]).unwrap(), "hello  ,  world");
        assert_eq!(format("%2$s %3$s %1$s", &[s("a"), s("b"), s("c")]).unwrap(), "b c a");
        assert_eq!(format("%,d", &[ScalarValue::Int64(Some(-1234567))]).unwrap(), "-1,234,567");
        assert_eq!(
            format("%x %X %o", &[ScalarValue::Int64(Some(255)), ScalarValue::Int64(Some(255)), ScalarValue::Int64(Some(8))]).unwrap(),
            "ff FF 10"
        );
        assert_eq!(format("%e", &[ScalarValue::Float64(Some(12.3456))]).unwrap(), "1.234560e+01");
        assert_eq!(format("%+.1f|%b|%S", &[ScalarValue::Float64(Some(2.25)), ScalarValue::Utf8(None), s("ab")]).unwrap(), "+2.3|false|AB");
        assert_eq!(format("%s", &[ScalarValue::Utf8(None)]).unwrap(), "null");
        assert_eq!(
            format(
                "%.2f|%.0f|%.1f",
                &[ScalarValue::Float64(Some(9.995)), ScalarValue::Float64(Some(0.5)), ScalarValue::Float64(Some(99.96))]
            )
            .unwrap(),
            "10.00|1|100.0"
        );
    }

    #[test]
    fn a_wrong_format_says_which() {
        assert_eq!(format("%d", &[s("x")]).unwrap_err().to_string(), "format: '%d' cannot format Utf8");
        assert!(matches!(format("%s %s", &[s("x")]), Err(FormatError::MissingArgument { index: 2, given: 1, .. })));
        assert!(matches!(format("%tY", &[s("x")]), Err(FormatError::Conversion(c)) if c == "%t"));
    }
}
