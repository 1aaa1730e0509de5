//! The match logic of `Detection` rules and Sigma rules, as one small tree
//! of field tests, and its translation into a SQL `WHERE` clause over a
//! table's columns.
//!
//! Field paths are resolved against the table's schema when the rule loads:
//! names case-insensitively, dots into nested columns, and into the JSON text
//! of `json` columns (`requestParameters.bucketName`). A path that names no
//! column is an error of the rule, not a silent non-match.

use datafusion::arrow::datatypes::{DataType, Schema};
use serde_json::Value;

/// A field test that cannot become SQL over a table, with the field's path.
#[derive(Debug, thiserror::Error)]
pub enum PredicateError {
    #[error("field {path}: {first} is not a column of the table (its columns: {columns})")]
    UnknownColumn { path: String, first: String, columns: String },
    #[error("field {path}: {segment} is not a field of {parent} (its fields: {fields})")]
    UnknownField { path: String, segment: String, parent: String, fields: String },
    #[error("field {path}: {parent} is {data_type}, which has no field {segment}")]
    NotNested { path: String, parent: String, data_type: DataType, segment: String },
    #[error("field {path}: {test} needs a text field")]
    NeedsText { path: String, test: &'static str },
    #[error("field {path}: {pattern} is not a valid regular expression: {}", crate::sql::one_line(&source.to_string()))]
    Regex { path: String, pattern: String, source: regex::Error },
    #[error("field {path}: {cidr} is not a CIDR range (like 10.0.0.0/8)")]
    Cidr { path: String, cidr: String },
    #[error("field {path}: {value} is not a value to compare with (give a string, number or boolean)")]
    NotAValue { path: String, value: Value },
    #[error("field {path} is a boolean; {text} is not true or false")]
    NotBoolean { path: String, text: String },
    #[error("field {path} is a number; {text} is not")]
    NotNumber { path: String, text: String },
    #[error("field {path} holds nested values; only a null test applies to it (name a field inside it)")]
    Nested { path: String },
}

/// A condition on one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    All(Vec<Predicate>),
    Any(Vec<Predicate>),
    Not(Box<Predicate>),
    /// Between `min` and `max` (inclusive) of the parts hold.
    Count {
        parts: Vec<Predicate>,
        min: usize,
        max: Option<usize>,
    },
    Field {
        path: String,
        test: Test,
    },
}

/// A test of one field's value. A missing field (NULL) fails every test
/// but `IsNull` and `NullOrEmpty`.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// Equal to the value (a JSON null means "is null").
    Equals {
        value: Value,
        case_insensitive: bool,
    },
    /// `>`, `>=`, `<` or `<=` the value.
    Compare {
        op: &'static str,
        value: Value,
    },
    /// A SQL LIKE pattern (`\` escapes `%`, `_` and itself).
    Like {
        pattern: String,
        case_insensitive: bool,
    },
    Regex(String),
    InCidr(String),
    IsNull,
    NullOrEmpty,
}

impl Predicate {
    pub fn field(path: &str, test: Test) -> Predicate {
        Predicate::Field { path: path.to_string(), test }
    }

    /// The predicate as a SQL boolean expression over `schema`'s columns;
    /// never NULL, so `NOT` means "does not match".
    pub fn to_sql(&self, schema: &Schema) -> Result<String, PredicateError> {
        let join = |parts: &[Predicate], word: &str, empty: &str| -> Result<String, PredicateError> {
            if parts.is_empty() {
                return Ok(empty.to_string());
            }
            let parts: Vec<String> = parts.iter().map(|p| p.to_sql(schema)).collect::<Result<_, _>>()?;
            Ok(format!("({})", parts.join(&format!(" {word} "))))
        };
        match self {
            Predicate::All(parts) => join(parts, "AND", "true"),
            Predicate::Any(parts) => join(parts, "OR", "false"),
            Predicate::Not(inner) => Ok(format!("NOT {}", inner.to_sql(schema)?)),
            Predicate::Count { parts, min, max } => {
                let cases: Vec<String> = parts
                    .iter()
                    .map(|p| Ok(format!("CASE WHEN {} THEN 1 ELSE 0 END", p.to_sql(schema)?)))
                    .collect::<Result<_, PredicateError>>()?;
                let sum = format!("({})", cases.join(" + "));
                Ok(match max {
                    Some(max) => format!("({sum} >= {min} AND {sum} <= {max})"),
                    None => format!("{sum} >= {min}"),
                })
            }
            Predicate::Field { path, test } => {
                let field = resolve(schema, path)?;
                Ok(format!("coalesce({}, false)", test.to_sql(&field, path)?))
            }
        }
    }
}

/// What a resolved field holds, for choosing literals.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Bool,
    Number,
    Time,
    /// A struct, list or map: only null tests apply.
    Nested,
}

/// A field path resolved to a SQL expression.
struct Resolved {
    sql: String,
    kind: Kind,
}

/// Resolves a dotted path against a table's columns.
fn resolve(schema: &Schema, path: &str) -> Result<Resolved, PredicateError> {
    let mut segments = path.split('.');
    let first = segments.next().unwrap_or_default();
    let field = schema.fields().iter().find(|f| f.name().eq_ignore_ascii_case(first)).ok_or_else(|| PredicateError::UnknownColumn {
        path: path.to_string(),
        first: first.to_string(),
        columns: column_list(schema),
    })?;
    let mut sql = format!("\"{}\"", field.name());
    let mut data_type = field.data_type().clone();
    let rest: Vec<&str> = segments.collect();
    for (i, segment) in rest.iter().enumerate() {
        match &data_type {
            DataType::Struct(children) => {
                let child = children.iter().find(|f| f.name().eq_ignore_ascii_case(segment)).ok_or_else(|| {
                    let names: Vec<&str> = children.iter().map(|f| f.name().as_str()).collect();
                    PredicateError::UnknownField {
                        path: path.to_string(),
                        segment: segment.to_string(),
                        parent: sql.clone(),
                        fields: names.join(", "),
                    }
                })?;
                sql = format!("{sql}['{}']", child.name());
                data_type = child.data_type().clone();
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                // A `json` column: the rest of the path is a JSON path, as written.
                let json_path: String = rest[i..].iter().map(|s| format!(".{s}")).collect();
                return Ok(Resolved { sql: format!("json_extract_scalar({sql}, '${}')", escape(&json_path)), kind: Kind::Text });
            }
            other => {
                return Err(PredicateError::NotNested {
                    path: path.to_string(),
                    parent: sql,
                    data_type: other.clone(),
                    segment: segment.to_string(),
                });
            }
        }
    }
    let kind = match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Kind::Text,
        DataType::Boolean => Kind::Bool,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => Kind::Time,
        t if t.is_numeric() => Kind::Number,
        _ => Kind::Nested,
    };
    Ok(Resolved { sql, kind })
}

fn column_list(schema: &Schema) -> String {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).filter(|n| !n.starts_with("p_")).collect();
    names.join(", ")
}

impl Test {
    fn to_sql(&self, field: &Resolved, path: &str) -> Result<String, PredicateError> {
        let x = &field.sql;
        let needs_text = |test: &'static str| -> Result<(), PredicateError> {
            if field.kind == Kind::Text { Ok(()) } else { Err(PredicateError::NeedsText { path: path.to_string(), test }) }
        };
        Ok(match self {
            Test::IsNull => format!("{x} IS NULL"),
            Test::NullOrEmpty => {
                needs_text("an empty test")?;
                format!("({x} IS NULL OR {x} = '')")
            }
            Test::Equals { value: Value::Null, .. } => format!("{x} IS NULL"),
            Test::Equals { value, case_insensitive: true } if field.kind == Kind::Text => {
                format!("lower({x}) = {}", literal(field.kind, value, path)?.to_lowercase())
            }
            Test::Equals { value, .. } => format!("{x} = {}", literal(field.kind, value, path)?),
            // A number against text (JSON values are text) compares as numbers.
            Test::Compare { op, value: value @ Value::Number(_) } if field.kind == Kind::Text => {
                format!("TRY_CAST({x} AS DOUBLE) {op} {}", literal(Kind::Number, value, path)?)
            }
            Test::Compare { op, value } => format!("{x} {op} {}", literal(field.kind, value, path)?),
            Test::Like { pattern, case_insensitive } => {
                needs_text("a text match")?;
                match case_insensitive {
                    true => format!("lower({x}) LIKE '{}'", escape(&pattern.to_lowercase())),
                    false => format!("{x} LIKE '{}'", escape(pattern)),
                }
            }
            Test::Regex(pattern) => {
                needs_text("a regular expression")?;
                regex_check(pattern, path)?;
                format!("regexp_like({x}, '{}')", escape(pattern))
            }
            Test::InCidr(cidr) => {
                needs_text("a CIDR match")?;
                crate::sql::parse_cidr(cidr).ok_or_else(|| PredicateError::Cidr { path: path.to_string(), cidr: cidr.clone() })?;
                format!("ip_in_cidr({x}, '{}')", escape(cidr))
            }
        })
    }
}

fn regex_check(pattern: &str, path: &str) -> Result<(), PredicateError> {
    regex::Regex::new(pattern).map(|_| ()).map_err(|source| PredicateError::Regex {
        path: path.to_string(),
        pattern: pattern.to_string(),
        source,
    })
}

/// A rule's value as a SQL literal for a field of `kind`.
fn literal(kind: Kind, value: &Value, path: &str) -> Result<String, PredicateError> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => return Err(PredicateError::NotAValue { path: path.to_string(), value: other.clone() }),
    };
    match kind {
        Kind::Text => Ok(format!("'{}'", escape(&text))),
        Kind::Bool => match text.to_lowercase().as_str() {
            "true" | "false" => Ok(text.to_lowercase()),
            _ => Err(PredicateError::NotBoolean { path: path.to_string(), text }),
        },
        Kind::Number => match text.parse::<f64>() {
            Ok(_) => Ok(text),
            Err(_) => Err(PredicateError::NotNumber { path: path.to_string(), text }),
        },
        Kind::Time => Ok(format!("CAST('{}' AS TIMESTAMP)", escape(&text))),
        Kind::Nested => Err(PredicateError::Nested { path: path.to_string() }),
    }
}

/// Doubles single quotes for a SQL string literal.
fn escape(text: &str) -> String {
    text.replace('\'', "''")
}

/// `text` as a LIKE pattern matching it literally.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, Fields};

    fn schema() -> Schema {
        let identity = Fields::from(vec![Field::new("type", DataType::Utf8, true), Field::new("arn", DataType::Utf8, true)]);
        Schema::new(vec![
            Field::new("eventname", DataType::Utf8, true),
            Field::new("useridentity", DataType::Struct(identity), true),
            Field::new("requestparameters", DataType::Utf8, true),
            Field::new("readonly", DataType::Boolean, true),
        ])
    }

    #[test]
    fn paths_resolve_case_insensitively_into_structs_and_json() {
        let schema = schema();
        let equals = |path: &str| {
            Predicate::field(path, Test::Equals { value: Value::from("x"), case_insensitive: false })
                .to_sql(&schema)
                .map_err(|e| e.to_string())
        };
        assert_eq!(equals("eventName").unwrap(), "coalesce(\"eventname\" = 'x', false)");
        assert_eq!(equals("userIdentity.Type").unwrap(), "coalesce(\"useridentity\"['type'] = 'x', false)");
        assert_eq!(
            equals("requestParameters.bucketPolicy.Statement").unwrap(),
            "coalesce(json_extract_scalar(\"requestparameters\", '$.bucketPolicy.Statement') = 'x', false)"
        );
        let error = equals("userIdentity.nope").unwrap_err();
        assert!(error.contains("nope is not a field of \"useridentity\" (its fields: type, arn)"), "{error}");
        assert!(equals("eventNme").unwrap_err().contains("eventNme is not a column"));
    }

    #[test]
    fn literals_follow_the_column_type() {
        let schema = schema();
        let equals = |value: Value| {
            Predicate::field("readOnly", Test::Equals { value, case_insensitive: false }).to_sql(&schema).map_err(|e| e.to_string())
        };
        assert_eq!(equals(Value::Bool(false)).unwrap(), "coalesce(\"readonly\" = false, false)");
        assert_eq!(equals(Value::from("True")).unwrap(), "coalesce(\"readonly\" = true, false)");
        assert!(equals(Value::from("maybe")).unwrap_err().contains("is a boolean"));
        let quote = Predicate::field("eventName", Test::Equals { value: Value::from("it's"), case_insensitive: true });
        assert_eq!(quote.to_sql(&schema).unwrap(), "coalesce(lower(\"eventname\") = 'it''s', false)");
    }

    #[test]
    fn like_escape_keeps_wildcards_literal() {
        assert_eq!(like_escape(r"50%_a\b"), r"50\%\_a\\b");
    }
}
