//! tarn's rule format: Panther's rule YAML (`RuleID`, `LogTypes`, `Severity`,
//! `DedupPeriodMinutes`, `Threshold`, `Tests`, ...) with the detection as a
//! Panther simple-detection match expression (`Detection`) or as SQL
//! (`Query`), plus `DedupKey`. Python rules (`Filename`) are not run.

use super::matches::Template;
use super::predicate::{Predicate, PredicateError, Test, like_escape};
use super::{FileProblem, Rule, RuleError, RuleTest, Severity, invalid, problem};
use crate::schema::{Registry, SchemaError};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// A detection that cannot become SQL over one of the rule's tables.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    LogType(#[from] SchemaError),
    #[error("{log_type}: {error}")]
    Predicate {
        log_type: String,
        #[source]
        error: Box<PredicateError>,
    },
    /// A field of the alert title or dedup key that is not a column.
    #[error("{log_type}: {path} names no column ({first} is not one)")]
    NoColumn { log_type: String, path: String, first: String },
}

/// An item of a `Detection` list that is not a match expression; `at` is
/// its place in the list (`Detection[0].Any[1]`).
#[derive(Debug, thiserror::Error)]
pub enum ExpressionError {
    #[error("{at}: expected a mapping with Key/KeyPath and Condition, or Any/All/OnlyOne/None")]
    NotMapping { at: String },
    #[error("{at}.{group}: expected a list of match expressions")]
    GroupNotList { at: String, group: &'static str },
    #[error("{at}: unknown key {key}; expected Key or KeyPath, Condition, Value or Values (or Any, All, OnlyOne, None)")]
    UnknownKey { at: String, key: String },
    #[error("{at}.KeyPath: {path}: list indexes are not supported; use a Query")]
    ListIndex { at: String, path: String },
    #[error("{at}: expected Key (a field) or KeyPath (a dotted path), one of them")]
    NoKey { at: String },
    #[error("{at}.Condition: missing; expected one of {CONDITIONS}")]
    NoCondition { at: String },
    #[error("{at}.Condition: {condition} is not a condition; expected one of {CONDITIONS}")]
    UnknownCondition { at: String, condition: String },
    #[error("{at}.Value: {condition} needs a Value")]
    NoValue { at: String, condition: String },
    #[error("{at}.Value: {source}")]
    Value { at: String, source: serde_json::Error },
    #[error("{at}.Values: expected a list")]
    ValuesNotList { at: String },
    #[error("{at}.Values: {condition} needs Values (a list)")]
    NoValues { at: String, condition: String },
    #[error("{at}.Value: {condition} needs text, not {value}")]
    NotText { at: String, condition: String, value: Value },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(rename = "AnalysisType")]
    analysis_type: Option<String>,
    #[serde(rename = "Filename")]
    filename: Option<String>,
    #[serde(rename = "RuleID")]
    rule_id: String,
    #[serde(rename = "DisplayName")]
    display_name: Option<String>,
    #[serde(rename = "Description", default)]
    description: String,
    #[serde(rename = "Severity")]
    severity: String,
    #[serde(rename = "Enabled", default = "enabled")]
    enabled: bool,
    #[serde(rename = "LogTypes", default)]
    log_types: Vec<String>,
    #[serde(rename = "Detection")]
    detection: Option<Vec<serde_yaml::Value>>,
    #[serde(rename = "Query")]
    query: Option<String>,
    #[serde(rename = "DedupPeriodMinutes", default = "dedup_minutes")]
    dedup_minutes: i64,
    #[serde(rename = "DedupKey", default)]
    dedup_key: Vec<String>,
    #[serde(rename = "Threshold", default = "threshold")]
    threshold: u64,
    #[serde(rename = "AlertTitle")]
    alert_title: Option<String>,
    #[serde(rename = "Reference", default)]
    reference: References,
    #[serde(rename = "Runbook")]
    runbook: Option<String>,
    #[serde(rename = "Tags", default)]
    tags: Vec<String>,
    #[serde(rename = "Reports", default)]
    reports: BTreeMap<String, Vec<String>>,
    #[serde(rename = "Tests", default)]
    tests: Vec<TestFile>,
}

fn enabled() -> bool {
    true
}
/// The longest deduplication period: a year. Periods are added to event
/// times in microseconds; a larger one would overflow them.
const MAX_DEDUP_MINUTES: i64 = 366 * 24 * 60;
/// The largest threshold: more matches than a lake holds in a period.
const MAX_THRESHOLD: u64 = 1_000_000_000;

fn dedup_minutes() -> i64 {
    60
}
fn threshold() -> u64 {
    1
}

/// `Reference: url` or a list of them.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum References {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

/// A test as written: Panther's `Name`, `ExpectedResult`, `Log`; or `Logs`
/// for several records, and `LogType` when the rule has several.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TestFile {
    #[serde(rename = "Name", alias = "name")]
    name: String,
    #[serde(rename = "ExpectedResult", alias = "expected_result")]
    expected: bool,
    #[serde(rename = "LogType", alias = "log_type")]
    log_type: Option<String>,
    #[serde(rename = "Log", alias = "log")]
    log: Option<Value>,
    #[serde(rename = "Logs", alias = "logs")]
    logs: Option<Vec<Value>>,
}

pub(super) fn parse(file: &Path, text: &str, registry: &Registry) -> Result<Rule, RuleError> {
    let raw: RuleFile = serde_yaml::from_str(text).map_err(|e| problem(file, FileProblem::Keys(e)))?;
    let fail = |message: String| invalid(file, message);
    if raw.filename.is_some() {
        return Err(fail(
            "Filename: Python rules are not run by tarn; write the detection as `Detection` (a match expression) or `Query` (SQL)".into(),
        ));
    }
    if let Some(kind) = &raw.analysis_type
        && !matches!(kind.as_str(), "rule" | "scheduled_rule")
    {
        return Err(fail(format!("AnalysisType: {kind} is not a rule; expected rule or scheduled_rule")));
    }
    if raw.rule_id.trim().is_empty() || raw.rule_id.chars().any(char::is_whitespace) {
        return Err(fail(format!(
            "RuleID: {:?} is not an id; expected a name without spaces, like AWS.CloudTrail.RootActivity",
            raw.rule_id
        )));
    }
    let severity = Severity::parse(&raw.severity)
        .ok_or_else(|| fail(format!("Severity: {} is not a severity; expected one of {}", raw.severity, Severity::NAMES)))?;
    let log_types = check_log_types(&raw.log_types, registry).map_err(|e| problem(file, e))?;
    if !(1..=MAX_DEDUP_MINUTES).contains(&raw.dedup_minutes) {
        return Err(fail(format!(
            "DedupPeriodMinutes: {} is not a period tarn keeps; expected whole minutes from 1 to {MAX_DEDUP_MINUTES} (a year)",
            raw.dedup_minutes
        )));
    }
    if raw.threshold < 1 {
        return Err(fail("Threshold: 0 would alert without events; expected 1 or more".into()));
    }
    if raw.threshold > MAX_THRESHOLD {
        return Err(fail(format!("Threshold: {} is not a count tarn alerts at; expected 1 to {MAX_THRESHOLD}", raw.threshold)));
    }
    let queries = match (&raw.detection, &raw.query) {
        (Some(detection), None) => {
            let predicate = Predicate::All(
                detection
                    .iter()
                    .enumerate()
                    .map(|(i, item)| expression(item, &format!("Detection[{i}]")))
                    .collect::<Result<_, _>>()
                    .map_err(|e| problem(file, e))?,
            );
            let title = raw.alert_title.as_deref().map(Template::parse);
            let mut fields: Vec<&str> = title.iter().flat_map(Template::fields).collect();
            fields.extend(raw.dedup_key.iter().map(String::as_str));
            match_queries(&predicate, &log_types, &fields, registry)
                .map_err(|error| problem(file, FileProblem::Queries { key: "Detection", error: Box::new(error) }))?
        }
        (None, Some(query)) => {
            let start = query.trim_start().to_lowercase();
            if !(start.starts_with("select") || start.starts_with("with")) {
                return Err(fail("Query: expected a SELECT (or WITH … SELECT) returning the matching rows".into()));
            }
            vec![query.trim().trim_end_matches(';').to_string()]
        }
        _ => {
            return Err(fail(
                "Detection or Query: a rule has exactly one; expected a match expression (Detection) or a SELECT (Query)".into(),
            ));
        }
    };
    let tests = tests(raw.tests, &log_types).map_err(|e| problem(file, e))?;
    let mut references = match raw.reference {
        References::None => Vec::new(),
        References::One(r) => vec![r],
        References::Many(r) => r,
    };
    references.extend(raw.runbook.map(|r| format!("runbook: {r}")));
    let mut tags = raw.tags;
    let mut mitre = Vec::new();
    for (framework, ids) in raw.reports {
        if framework == "MITRE ATT&CK" {
            mitre.extend(ids);
        } else {
            tags.extend(ids.into_iter().map(|id| format!("{framework}:{id}")));
        }
    }
    Ok(Rule {
        warnings: Vec::new(),
        name: None,
        predicate: None,
        file: file.to_path_buf(),
        title: raw.display_name.unwrap_or_else(|| raw.rule_id.clone()),
        id: raw.rule_id,
        description: raw.description,
        severity,
        enabled: raw.enabled,
        log_types,
        queries,
        dedup_minutes: raw.dedup_minutes,
        dedup_key: raw.dedup_key,
        threshold: raw.threshold,
        alert_title: raw.alert_title,
        references,
        tags,
        mitre,
        tests,
    })
}

fn check_log_types(log_types: &[String], registry: &Registry) -> Result<Vec<String>, FileProblem> {
    if log_types.is_empty() {
        return Err(FileProblem::NoLogTypes);
    }
    for name in log_types {
        if registry.get(name).is_err() {
            let known: Vec<&str> = registry.iter().map(|t| t.name.as_str()).collect();
            return Err(FileProblem::UnknownLogType { name: name.clone(), known: known.join(", ") });
        }
    }
    Ok(log_types.to_vec())
}

/// One SELECT per log type's table, with the predicate as its WHERE clause.
/// It returns only what alerts need: the row id, the event time, and the
/// columns `fields` (the alert title's and dedup key's paths) start with.
pub(super) fn match_queries(
    predicate: &Predicate,
    log_types: &[String],
    fields: &[&str],
    registry: &Registry,
) -> Result<Vec<String>, QueryError> {
    log_types
        .iter()
        .map(|name| {
            let log_type = registry.get(name)?;
            let schema = &log_type.arrow_schema;
            let filter =
                predicate.to_sql(schema).map_err(|error| QueryError::Predicate { log_type: name.clone(), error: Box::new(error) })?;
            let mut columns = vec!["p_row_id".to_string(), "p_event_time".to_string()];
            for path in fields {
                let first = path.split('.').next().unwrap_or_default();
                let column = schema.fields().iter().find(|f| f.name().eq_ignore_ascii_case(first)).ok_or_else(|| QueryError::NoColumn {
                    log_type: name.clone(),
                    path: path.to_string(),
                    first: first.to_string(),
                })?;
                if !columns.contains(column.name()) {
                    columns.push(column.name().clone());
                }
            }
            let columns: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
            Ok(format!("SELECT {} FROM \"{}\" WHERE {filter}", columns.join(", "), log_type.table))
        })
        .collect()
}

pub(super) fn tests(raw: Vec<TestFile>, log_types: &[String]) -> Result<Vec<RuleTest>, FileProblem> {
    raw.into_iter()
        .enumerate()
        .map(|(i, test)| {
            let at = format!("Tests[{i}] ({})", test.name);
            let log_type = match (test.log_type, log_types) {
                (Some(name), _) if log_types.contains(&name) => name,
                (Some(name), _) => return Err(FileProblem::TestLogType { at, name, log_types: log_types.join(", ") }),
                (None, [only]) => only.clone(),
                (None, _) => return Err(FileProblem::TestLogTypeMissing { at }),
            };
            let records = match (test.log, test.logs) {
                (Some(log), None) => vec![log],
                (None, Some(logs)) if !logs.is_empty() => logs,
                _ => return Err(FileProblem::TestRecords { at }),
            };
            let records = records
                .into_iter()
                .map(|record| match record {
                    // A record pasted as JSON text.
                    Value::String(text) => {
                        serde_json::from_str(&text).map_err(|source| FileProblem::TestRecordText { at: at.clone(), source })
                    }
                    other => Ok(other),
                })
                .collect::<Result<_, _>>()?;
            Ok(RuleTest { name: test.name, expected: test.expected, log_type, records })
        })
        .collect()
}

/// One item of a `Detection` list.
fn expression(item: &serde_yaml::Value, at: &str) -> Result<Predicate, ExpressionError> {
    let map = item.as_mapping().ok_or_else(|| ExpressionError::NotMapping { at: at.to_string() })?;
    let get = |key: &str| map.get(key);
    for group in ["All", "Any", "OnlyOne", "None"] {
        if let Some(items) = get(group) {
            let items = items.as_sequence().ok_or_else(|| ExpressionError::GroupNotList { at: at.to_string(), group })?;
            let parts: Vec<Predicate> =
                items.iter().enumerate().map(|(i, item)| expression(item, &format!("{at}.{group}[{i}]"))).collect::<Result<_, _>>()?;
            return Ok(match group {
                "All" => Predicate::All(parts),
                "Any" => Predicate::Any(parts),
                "OnlyOne" => Predicate::Count { parts, min: 1, max: Some(1) },
                _ => Predicate::Not(Box::new(Predicate::Any(parts))),
            });
        }
    }
    for key in map.keys() {
        let key = key.as_str().unwrap_or_default();
        if !matches!(key, "Key" | "KeyPath" | "Condition" | "Value" | "Values") {
            return Err(ExpressionError::UnknownKey { at: at.to_string(), key: key.to_string() });
        }
    }
    let path = match (get("Key").and_then(|k| k.as_str()), get("KeyPath").and_then(|k| k.as_str())) {
        (Some(key), None) => key.to_string(),
        (None, Some(path)) if path.contains('[') => {
            return Err(ExpressionError::ListIndex { at: at.to_string(), path: path.to_string() });
        }
        (None, Some(path)) => path.to_string(),
        _ => return Err(ExpressionError::NoKey { at: at.to_string() }),
    };
    let condition = get("Condition").and_then(|c| c.as_str()).ok_or_else(|| ExpressionError::NoCondition { at: at.to_string() })?;
    let value = || -> Result<Value, ExpressionError> {
        let value = get("Value").ok_or_else(|| ExpressionError::NoValue { at: at.to_string(), condition: condition.to_string() })?;
        serde_json::to_value(value).map_err(|source| ExpressionError::Value { at: at.to_string(), source })
    };
    let values = || -> Result<Vec<Value>, ExpressionError> {
        match (get("Values"), get("Value")) {
            (Some(values), _) => match serde_json::to_value(values) {
                Ok(Value::Array(items)) => Ok(items),
                _ => Err(ExpressionError::ValuesNotList { at: at.to_string() }),
            },
            (None, Some(_)) => Ok(vec![value()?]),
            (None, None) => Err(ExpressionError::NoValues { at: at.to_string(), condition: condition.to_string() }),
        }
    };
    let text = |v: Value| -> Result<String, ExpressionError> {
        match v {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(ExpressionError::NotText { at: at.to_string(), condition: condition.to_string(), value: other }),
        }
    };
    let field = |test: Test| Predicate::field(&path, test);
    let like = |pattern: String| field(Test::Like { pattern, case_insensitive: false });
    let not = |p: Predicate| Predicate::Not(Box::new(p));
    let equals = |value: Value| field(Test::Equals { value, case_insensitive: false });
    let compare = |op: &'static str| -> Result<Predicate, ExpressionError> { Ok(field(Test::Compare { op, value: value()? })) };
    let cidrs = || -> Result<Predicate, ExpressionError> {
        Ok(Predicate::Any(values()?.into_iter().map(|v| Ok(field(Test::InCidr(text(v)?)))).collect::<Result<_, ExpressionError>>()?))
    };
    let private = || Predicate::Any(PRIVATE_RANGES.iter().map(|r| field(Test::InCidr(r.to_string()))).collect());
    Ok(match condition {
        "Equals" => equals(value()?),
        "DoesNotEqual" => not(equals(value()?)),
        "IsGreaterThan" => compare(">")?,
        "IsGreaterThanOrEquals" => compare(">=")?,
        "IsLessThan" => compare("<")?,
        "IsLessThanOrEquals" => compare("<=")?,
        "Contains" => like(format!("%{}%", like_escape(&text(value()?)?))),
        "DoesNotContain" => not(like(format!("%{}%", like_escape(&text(value()?)?)))),
        "StartsWith" => like(format!("{}%", like_escape(&text(value()?)?))),
        "DoesNotStartWith" => not(like(format!("{}%", like_escape(&text(value()?)?)))),
        "EndsWith" => like(format!("%{}", like_escape(&text(value()?)?))),
        "DoesNotEndWith" => not(like(format!("%{}", like_escape(&text(value()?)?)))),
        "IsIn" => Predicate::Any(values()?.into_iter().map(equals).collect()),
        "IsNotIn" => not(Predicate::Any(values()?.into_iter().map(equals).collect())),
        "IsNull" | "DoesNotExist" => field(Test::IsNull),
        "IsNotNull" | "Exists" => not(field(Test::IsNull)),
        "IsNullOrEmpty" => field(Test::NullOrEmpty),
        "IsNotNullOrEmpty" => not(field(Test::NullOrEmpty)),
        "IsIPAddressInCIDR" => cidrs()?,
        "IsIPAddressNotInCIDR" => Predicate::All(vec![not(field(Test::IsNull)), not(cidrs()?)]),
        "IsIPAddressPrivate" => private(),
        "IsIPAddressPublic" => Predicate::All(vec![field(Test::InCidr("::/0".into())).or_v4(&path), not(private())]),
        other => return Err(ExpressionError::UnknownCondition { at: at.to_string(), condition: other.to_string() }),
    })
}

const CONDITIONS: &str = "Equals, DoesNotEqual, IsGreaterThan, IsGreaterThanOrEquals, IsLessThan, IsLessThanOrEquals, Contains, \
DoesNotContain, StartsWith, DoesNotStartWith, EndsWith, DoesNotEndWith, IsIn, IsNotIn, IsNull, IsNotNull, IsNullOrEmpty, \
IsNotNullOrEmpty, Exists, DoesNotExist, IsIPAddressInCIDR, IsIPAddressNotInCIDR, IsIPAddressPrivate, IsIPAddressPublic";

/// RFC 1918, loopback, link-local and their IPv6 counterparts.
const PRIVATE_RANGES: &[&str] =
    &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "fc00::/7", "fe80::/10", "::1/128"];

impl Predicate {
    /// "Is any IP address": an IPv6 range test, or the IPv4 one.
    fn or_v4(self, path: &str) -> Predicate {
        Predicate::Any(vec![self, Predicate::field(path, Test::InCidr("0.0.0.0/0".into()))])
    }
}
