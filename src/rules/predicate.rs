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
    /// Equal to another field of the same record (Sigma's `fieldref`).
    EqualsField(String),
}

impl Predicate {
    pub fn field(path: &str, test: Test) -> Predicate {
        Predicate::Field { path: path.to_string(), test }
    }

    /// The predicate as a SQL boolean expression over `schema`'s columns;
    /// never NULL, so `NOT` means "does not match". Long lists stay shallow:
    /// equality tests of one field become one `IN` list, and other parts
    /// are joined as a balanced tree, so an IOC list of thousands of values
    /// nests a dozen levels deep, not thousands.
    pub fn to_sql(&self, schema: &Schema) -> Result<String, PredicateError> {
        let join = |parts: &[Predicate], word: &str, empty: &str| -> Result<String, PredicateError> {
            let mut sql = Vec::with_capacity(parts.len());
            if word == "OR" {
                for (path, case_insensitive, values) in equal_lists(parts) {
                    sql.push(in_list(schema, path, case_insensitive, &values)?);
                }
            }
            for part in parts.iter().filter(|p| word != "OR" || !p.is_listable()) {
                sql.push(part.to_sql(schema)?);
            }
            Ok(if sql.is_empty() { empty.to_string() } else { balanced(&sql, &format!(" {word} ")) })
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
                let sum = if cases.is_empty() { "0".to_string() } else { balanced(&cases, " + ") };
                Ok(match max {
                    Some(max) => format!("({sum} >= {min} AND {sum} <= {max})"),
                    None => format!("{sum} >= {min}"),
                })
            }
            Predicate::Field { path, test: Test::EqualsField(other) } => {
                let (field, other) = (resolve(schema, path)?, resolve(schema, other)?);
                Ok(format!("coalesce(CAST({} AS VARCHAR) = CAST({} AS VARCHAR), false)", field.sql, other.sql))
            }
            Predicate::Field { path, test } => {
                let field = resolve(schema, path)?;
                Ok(format!("coalesce({}, false)", test.to_sql(&field, path)?))
            }
        }
    }

    /// An equality test with a value, which an `IN` list can hold.
    fn is_listable(&self) -> bool {
        matches!(self, Predicate::Field { test: Test::Equals { value, .. }, .. } if !value.is_null())
    }
}

/// Parts joined by `word` (` OR `, ` + `) as a balanced tree of
/// parenthesised groups of at most 8, so the depth grows with the log of
/// their number.
fn balanced(parts: &[String], word: &str) -> String {
    const GROUP: usize = 8;
    if parts.len() <= GROUP {
        return format!("({})", parts.join(word));
    }
    let size = parts.len().div_ceil(GROUP);
    let groups: Vec<String> = parts.chunks(size).map(|chunk| balanced(chunk, word)).collect();
    format!("({})", groups.join(word))
}

/// The listable equality tests among `parts`, by field and case
/// sensitivity, in first-seen order.
fn equal_lists(parts: &[Predicate]) -> Vec<(&str, bool, Vec<&Value>)> {
    let mut lists: Vec<(&str, bool, Vec<&Value>)> = Vec::new();
    for part in parts.iter().filter(|p| p.is_listable()) {
        if let Predicate::Field { path, test: Test::Equals { value, case_insensitive } } = part {
            match lists.iter_mut().find(|(p, c, _)| *p == path && c == case_insensitive) {
                Some((_, _, values)) => values.push(value),
                None => lists.push((path, *case_insensitive, vec![value])),
            }
        }
    }
    lists
}

/// `field IN (values)`: the same answer as the equality tests ORed.
fn in_list(schema: &Schema, path: &str, case_insensitive: bool, values: &[&Value]) -> Result<String, PredicateError> {
    if let [value] = values {
        let test = Test::Equals { value: (*value).clone(), case_insensitive };
        return Predicate::field(path, test).to_sql(schema);
    }
    let field = resolve(schema, path)?;
    let lower = case_insensitive && field.kind == Kind::Text;
    let literals = values
        .iter()
        .map(|value| {
            let literal = literal(field.kind, value, path)?;
            Ok(if lower { literal.to_lowercase() } else { literal })
        })
        .collect::<Result<Vec<_>, PredicateError>>()?;
    let x = if lower { format!("lower({})", field.sql) } else { field.sql };
    Ok(format!("coalesce({x} IN ({}), false)", literals.join(", ")))
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

/// Whether `path` names a column (or a field in one) of `schema`: an
/// unknown name is the error, anything else resolves.
pub fn check_path(schema: &Schema, path: &str) -> Result<(), PredicateError> {
    match resolve(schema, path) {
        Err(e @ (PredicateError::UnknownColumn { .. } | PredicateError::UnknownField { .. })) => Err(e),
        _ => Ok(()),
    }
}

/// The predicate with every test of a field `schema` lacks replaced by
/// what it gives on a record without that field (a null test holds,
/// every other test fails), and a warning for each such field.
pub fn without_missing_fields(predicate: Predicate, schema: &Schema, warnings: &mut Vec<String>) -> Predicate {
    let mut missing = |path: &str| match check_path(schema, path) {
        Ok(()) => false,
        Err(e) => {
            let line = format!("{e}; Sigma treats it as absent, so only a null test on it can match");
            if !warnings.contains(&line) {
                warnings.push(line);
            }
            true
        }
    };
    fn walk(predicate: Predicate, missing: &mut dyn FnMut(&str) -> bool) -> Predicate {
        match predicate {
            Predicate::All(parts) => Predicate::All(parts.into_iter().map(|p| walk(p, missing)).collect()),
            Predicate::Any(parts) => Predicate::Any(parts.into_iter().map(|p| walk(p, missing)).collect()),
            Predicate::Not(inner) => Predicate::Not(Box::new(walk(*inner, missing))),
            Predicate::Count { parts, min, max } => {
                Predicate::Count { parts: parts.into_iter().map(|p| walk(p, missing)).collect(), min, max }
            }
            Predicate::Field { path, test } => {
                let other_missing = matches!(&test, Test::EqualsField(other) if missing(other));
                if !missing(&path) && !other_missing {
                    return Predicate::Field { path, test };
                }
                // All([]) is true, Any([]) is false.
                match test {
                    Test::IsNull | Test::NullOrEmpty | Test::Equals { value: Value::Null, .. } if !other_missing => {
                        Predicate::All(Vec::new())
                    }
                    _ => Predicate::Any(Vec::new()),
                }
            }
        }
    }
    walk(predicate, &mut missing)
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
            // Two fields: `Predicate::to_sql` resolves the other one.
            Test::EqualsField(_) => "false".to_string(),
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

    /// Deepest parenthesis nesting of a SQL text.
    fn depth(sql: &str) -> usize {
        let mut depth: usize = 0;
        let mut deepest = 0;
        for c in sql.chars() {
            match c {
                '(' => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        deepest
    }

    /// Issue 14: a Sigma field listing 3,000 values (an IOC list) built a
    /// 3,000-deep OR chain, which overflowed the stack when planned.
    #[test]
    fn regression_long_value_lists_stay_shallow() {
        let schema = schema();
        let equals =
            (0..3000).map(|i| Predicate::field("eventName", Test::Equals { value: Value::from(format!("E{i}")), case_insensitive: true }));
        let sql = Predicate::Any(equals.collect()).to_sql(&schema).unwrap();
        assert!(sql.starts_with("(coalesce(lower(\"eventname\") IN ('e0', 'e1', "), "{}", &sql[..80]);
        assert_eq!(sql.matches(" OR ").count(), 0);
        let likes = (0..3000).map(|i| Predicate::field("eventName", Test::Like { pattern: format!("%{i}%"), case_insensitive: false }));
        let sql = Predicate::Any(likes.collect()).to_sql(&schema).unwrap();
        assert_eq!(sql.matches(" OR ").count(), 2999);
        assert!(depth(&sql) <= 8, "nests {} deep", depth(&sql));
        let cases = (0..3000).map(|i| Predicate::field("eventName", Test::Like { pattern: format!("%{i}"), case_insensitive: false }));
        let sql = Predicate::Count { parts: cases.collect(), min: 2, max: None }.to_sql(&schema).unwrap();
        assert_eq!(sql.matches(" + ").count(), 2999);
        assert!(depth(&sql) <= 10, "nests {} deep", depth(&sql));
    }

    #[test]
    fn equality_lists_keep_each_field_and_case_apart() {
        let schema = schema();
        let eq = |path: &str, value: &str, case_insensitive| {
            Predicate::field(path, Test::Equals { value: Value::from(value), case_insensitive })
        };
        let any = Predicate::Any(vec![
            eq("eventName", "A", true),
            eq("eventName", "B", false),
            eq("eventName", "C", true),
            eq("readOnly", "true", false),
        ]);
        assert_eq!(
            any.to_sql(&schema).unwrap(),
            "(coalesce(lower(\"eventname\") IN ('a', 'c'), false) OR coalesce(\"eventname\" = 'B', false) OR coalesce(\"readonly\" = true, false))"
        );
    }

    #[test]
    fn like_escape_keeps_wildcards_literal() {
        assert_eq!(like_escape(r"50%_a\b"), r"50\%\_a\\b");
    }
}
