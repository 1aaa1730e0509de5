//! Trino's JSON functions over JSON text (tarn stores `json` fields and the
//! CloudTrail Lake map values as JSON text): `json_extract_scalar`,
//! `json_extract`, `json_array_get`, `json_array_length`,
//! `json_array_contains`, `json_size`, `json_parse`, `json_format`, with the
//! JSON path subset Trino documents (`$`, `.key`, `["key"]`, `[n]`).

use serde_json::Value;

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A JSON path outside the subset Trino documents.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("'{path}' is not a JSON path ({problem}); write it like '$.a.b[0]' or '$[\"a b\"]'")]
pub struct PathError {
    pub path: String,
    pub problem: PathProblem,
}

/// What is wrong with a JSON path.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum PathProblem {
    #[error("it must start with $")]
    NoRoot,
    #[error("a key is missing or is a wildcard")]
    Key,
    #[error("a [ is not closed")]
    Unclosed,
    #[error("an index is not a number")]
    Index,
    #[error("expected . or [")]
    Step,
}

/// Parses a JSON path such as `$.a.b[0]` or `$["a b"].c`.
pub fn parse_path(path: &str) -> Result<Vec<Step>, PathError> {
    let bad = |problem: PathProblem| PathError { path: path.to_string(), problem };
    let mut rest = path.trim().strip_prefix('$').ok_or_else(|| bad(PathProblem::NoRoot))?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let key = &after[..end];
            if key.is_empty() || key == "*" {
                return Err(bad(PathProblem::Key));
            }
            steps.push(Step::Key(key.to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']').ok_or_else(|| bad(PathProblem::Unclosed))?;
            let inside = after[..end].trim();
            let quoted = inside.len() >= 2
                && (inside.starts_with('"') && inside.ends_with('"') || inside.starts_with('\'') && inside.ends_with('\''));
            if quoted {
                steps.push(Step::Key(inside[1..inside.len() - 1].to_string()));
            } else {
                let index = inside.parse::<usize>().map_err(|_| bad(PathProblem::Index))?;
                steps.push(Step::Index(index));
            }
            rest = &after[end + 1..];
        } else {
            return Err(bad(PathProblem::Step));
        }
    }
    Ok(steps)
}

/// The value at `steps` in `value`.
pub fn follow<'a>(value: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(value, |value, step| match (step, value) {
        (Step::Key(key), Value::Object(map)) => map.get(key),
        (Step::Index(index), Value::Array(items)) => items.get(*index),
        _ => None,
    })
}

/// Trino's text of a scalar: a string without quotes, a number or boolean
/// as written; NULL for null, objects and arrays.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null | Value::Object(_) | Value::Array(_) => None,
    }
}

/// A string as itself, anything else as compact JSON text (how CloudTrail
/// Lake fills its string maps, and `json_array_get`'s result).
pub fn string_or_json(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `json_array_get(json, index)`: 0-based, negative from the end.
pub fn array_get(value: &Value, index: i64) -> Option<String> {
    let items = value.as_array()?;
    let position = if index < 0 { items.len().checked_sub(index.unsigned_abs() as usize)? } else { index as usize };
    items.get(position).map(string_or_json)
}

/// `json_size(json, path)`: members of an object, items of an array, 0 for a scalar.
pub fn size(value: &Value) -> i64 {
    match value {
        Value::Object(map) => map.len() as i64,
        Value::Array(items) => items.len() as i64,
        _ => 0,
    }
}

/// Whether a JSON array holds `needle` (a string, number or boolean).
pub fn array_contains(value: &Value, needle: &Value) -> Option<bool> {
    let items = value.as_array()?;
    Some(items.iter().any(|item| match (item, needle) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_keys_and_indexes() {
        let value: Value = serde_json::from_str(r#"{"a":{"b":[10,{"c d":"x"}]}}"#).unwrap();
        let at = |path: &str| follow(&value, &parse_path(path).unwrap()).cloned();
        assert_eq!(at("$.a.b[0]"), Some(serde_json::json!(10)));
        assert_eq!(at("$.a.b[1][\"c d\"]"), Some(serde_json::json!("x")));
        assert_eq!(at("$['a'].b[1]['c d']"), Some(serde_json::json!("x")));
        assert_eq!(at("$.a.b[2]"), None);
        assert_eq!(at("$.a.x"), None);
        assert_eq!(at("$"), Some(value.clone()));
        assert!(parse_path("a.b").unwrap_err().to_string().contains("must start with $"));
        assert!(parse_path("$.a[*]").unwrap_err().to_string().contains("not a number"));
    }

    #[test]
    fn array_get_counts_from_zero_and_from_the_end() {
        let value: Value = serde_json::from_str(r#"["a",[3,9],"c"]"#).unwrap();
        assert_eq!(array_get(&value, 0).as_deref(), Some("a"));
        assert_eq!(array_get(&value, 1).as_deref(), Some("[3,9]"));
        assert_eq!(array_get(&value, -1).as_deref(), Some("c"));
        assert_eq!(array_get(&value, 3), None);
        assert_eq!(array_get(&value, -4), None);
    }
}
