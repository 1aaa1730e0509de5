//! Sigma rules (<https://sigmahq.io>) for `logsource: product: aws, service:
//! cloudtrail`, compiled to the same predicate tree as tarn's match
//! expressions. Search identifiers are maps (fields ANDed, list values ORed)
//! or lists of maps (ORed); values match case-insensitively with `*`/`?`
//! wildcards unless `cased`; modifiers `contains`, `startswith`, `endswith`,
//! `all`, `re` (with `i`, `m`, `s`), `cidr`, `exists`, `cased`, `lt`, `lte`,
//! `gt`, `gte`, `fieldref` (equal to another field); conditions with `and`,
//! `or`, `not`, parentheses, `1 of` / `all of` / `N of` a name, a `name*`
//! pattern or `them`. A field CloudTrail records do not have is absent, as
//! Sigma reads a missing field: the load warns that tests on it cannot
//! match. Anything else (keywords, aggregations, `timeframe`, other log
//! sources, other modifiers) fails the rule's load with the construct named.
//!
//! tarn reads two keys Sigma leaves to tools: `tests` (the same inline tests
//! as tarn's format) and nothing else; `level` gives the severity (Medium when
//! absent) and `attack.tNNNN` tags the MITRE ATT&CK ids.

use super::panther::{TestFile, match_queries, tests};
use super::predicate::{Predicate, Test};
use super::{FileProblem, Rule, RuleError, Severity, invalid, problem};
use crate::schema::Registry;
use serde_json::Value;
use serde_yaml::Value as Yaml;
use std::path::Path;

const LOG_TYPE: &str = "AWS.CloudTrail";

/// How deep `not` and parentheses may nest in a condition. Real rules nest a
/// few levels; the parser recurses once per level, so a hostile rule must
/// not choose the depth.
const MAX_CONDITION_DEPTH: usize = 64;

/// A Sigma `detection` that tarn cannot compile, with the construct named.
#[derive(Debug, thiserror::Error)]
pub enum SigmaError {
    #[error("expected string keys")]
    KeyNotString,
    #[error("timeframe: time windows are not supported (use a tarn rule with Threshold and DedupPeriodMinutes)")]
    Timeframe,
    #[error("condition: missing")]
    NoCondition,
    #[error("condition: expected a string or a list of strings")]
    ConditionType,
    /// A problem inside the search identifier `name`.
    #[error("{name}: {error}")]
    Search {
        name: String,
        #[source]
        error: Box<SigmaError>,
    },
    #[error("{name}: expected field names as keys")]
    FieldNames { name: String },
    /// A search (`name`) or a field key (`key|…`) without a field.
    #[error("{name}: keyword searches (values without a field) are not supported; name the field")]
    Keywords { name: String },
    #[error("{name}: expected a map of fields or a list of maps")]
    SearchType { name: String },
    #[error("{key}: the modifier {modifier} is not supported (supported: {MODIFIERS})")]
    Modifier { key: String, modifier: String },
    #[error("{key}: i, m and s modify re; add re")]
    RegexFlags { key: String },
    #[error("{key}: {source}")]
    Values { key: String, source: serde_json::Error },
    #[error("{key}: an empty list of values")]
    NoValues { key: String },
    #[error("{key}: exists takes true or false")]
    Exists { key: String },
    #[error("{key}: {value} is not a value to match")]
    NotMatchable { key: String, value: Value },
    #[error("condition: {text}: aggregations (`| count() …`) are not supported")]
    Aggregation { text: String },
    #[error("condition: {text}: unexpected {token}")]
    Unexpected { text: String, token: String },
    #[error("condition: ends where a search identifier was expected")]
    Ends,
    #[error("condition: a ( is not closed")]
    NotClosed,
    #[error(
        "condition: nests `not` and parentheses more than {MAX_CONDITION_DEPTH} deep; write it flatter (`1 of`, `all of` list many searches)"
    )]
    TooDeep,
    #[error("condition: {quantifier} of what?")]
    OfWhat { quantifier: String },
    #[error("condition: {quantifier} of: expected 1, all or a number")]
    Quantifier { quantifier: String },
    #[error("condition: {name} is not a search identifier of the detection")]
    UnknownSearch { name: String },
    #[error("condition: {target} matches no search identifier")]
    NoMatch { target: String },
}

pub(super) fn parse(file: &Path, value: &Yaml, registry: &Registry) -> Result<Rule, RuleError> {
    let fail = |message: String| invalid(file, message);
    let text = |key: &str| value.get(key).and_then(Yaml::as_str).map(str::to_string);
    let list = |key: &str| -> Result<Vec<String>, RuleError> {
        match value.get(key) {
            None => Ok(Vec::new()),
            Some(Yaml::Sequence(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string).ok_or_else(|| fail(format!("{key}: expected a list of strings"))))
                .collect(),
            Some(_) => Err(fail(format!("{key}: expected a list of strings"))),
        }
    };
    let title = text("title").ok_or_else(|| fail("title: missing; a Sigma rule needs a title".into()))?;
    let logsource = value.get("logsource").ok_or_else(|| fail("logsource: missing".into()))?;
    let source = |key: &str| logsource.get(key).and_then(Yaml::as_str).map(str::to_lowercase);
    if source("product").as_deref() != Some("aws") || source("service").as_deref() != Some("cloudtrail") {
        return Err(fail(format!(
            "logsource: product {} service {} is not supported; tarn runs Sigma rules with product: aws, service: cloudtrail",
            source("product").unwrap_or_else(|| "(none)".into()),
            source("service").unwrap_or_else(|| "(none)".into())
        )));
    }
    let severity = severity(file, text("level").as_deref())?;
    let detection =
        value.get("detection").and_then(Yaml::as_mapping).ok_or_else(|| fail("detection: missing; expected a mapping".into()))?;
    let predicate = compile_detection(detection).map_err(|e| problem(file, e))?;
    let schema = registry.get(LOG_TYPE).map_err(|e| fail(e.to_string()))?.arrow_schema.clone();
    let mut warnings = Vec::new();
    let predicate = super::predicate::without_missing_fields(predicate, &schema, &mut warnings);
    let log_types = vec![LOG_TYPE.to_string()];
    let queries = match_queries(&predicate, &log_types, &[], registry)
        .map_err(|error| problem(file, FileProblem::Queries { key: "detection", error: Box::new(error) }))?;
    let raw_tests: Vec<TestFile> = match value.get("tests") {
        None => Vec::new(),
        Some(tests) => serde_yaml::from_value(tests.clone()).map_err(|e| problem(file, FileProblem::SigmaTests(e)))?,
    };
    let tests = tests(raw_tests, &log_types).map_err(|e| problem(file, e))?;
    let tags = list("tags")?;
    let mitre = tags.iter().filter_map(|t| t.strip_prefix("attack.t")).map(|t| format!("T{}", t.to_uppercase())).collect();
    let id = text("id").unwrap_or_else(|| file.file_stem().unwrap_or_default().to_string_lossy().to_string());
    Ok(Rule {
        warnings,
        predicate: Some(predicate),
        name: text("name"),
        file: file.to_path_buf(),
        id,
        title,
        description: text("description").unwrap_or_default(),
        severity,
        enabled: text("status").as_deref() != Some("deprecated"),
        log_types,
        queries,
        dedup_minutes: 60,
        dedup_key: Vec::new(),
        threshold: 1,
        alert_title: None,
        references: list("references")?,
        tags,
        mitre,
        tests,
    })
}

/// A Sigma correlation rule over the rules already loaded. `event_count`
/// is the rules it names with a threshold: their matches, grouped by
/// `group-by`, alert once `condition` many fall within `timespan` (tarn's
/// `Threshold`, `DedupKey` and `DedupPeriodMinutes`). The named rules stop
/// alerting on their own unless `generate: true`. Other types are refused.
pub(super) fn correlation(file: &Path, value: &Yaml, loaded: &mut [Rule], registry: &Registry) -> Result<Rule, RuleError> {
    let fail = |message: String| invalid(file, message);
    let correlation = value.get("correlation").ok_or_else(|| fail("correlation: missing".into()))?;
    let kind = correlation.get("type").and_then(Yaml::as_str).unwrap_or("(none)");
    if kind != "event_count" {
        return Err(fail(format!(
            "correlation: type {kind} is not supported; tarn compiles event_count (value_count and temporal need a Query rule)"
        )));
    }
    let names: Vec<String> = match correlation.get("rules") {
        Some(Yaml::Sequence(items)) => items.iter().filter_map(Yaml::as_str).map(str::to_string).collect(),
        Some(Yaml::String(one)) => vec![one.clone()],
        _ => return Err(fail("correlation.rules: expected the names or ids of the rules it counts".into())),
    };
    let group_by: Vec<String> = match correlation.get("group-by") {
        None => Vec::new(),
        Some(Yaml::Sequence(items)) => items.iter().filter_map(Yaml::as_str).map(str::to_string).collect(),
        Some(Yaml::String(one)) => vec![one.clone()],
        Some(_) => return Err(fail("correlation.group-by: expected a list of fields".into())),
    };
    let timespan =
        correlation.get("timespan").and_then(Yaml::as_str).ok_or_else(|| fail("correlation.timespan: missing (like 1h)".into()))?;
    let minutes = crate::duration::parse(timespan).map_err(|e| fail(format!("correlation.timespan: {e}")))?.as_secs().div_ceil(60).max(1);
    let condition =
        correlation.get("condition").and_then(Yaml::as_mapping).ok_or_else(|| fail("correlation.condition: expected gte: N".into()))?;
    let count = |key: &str| condition.get(key).and_then(Yaml::as_u64);
    let threshold = match (count("gte"), count("gt")) {
        (Some(n), None) => n,
        (None, Some(n)) => n + 1,
        _ => return Err(fail("correlation.condition: tarn counts at least N events: write gte: N or gt: N".into())),
    };
    let generate = correlation.get("generate").and_then(Yaml::as_bool).unwrap_or(false);
    let mut queries = Vec::new();
    let mut log_types: Vec<String> = Vec::new();
    for name in &names {
        let rule = loaded
            .iter_mut()
            .find(|r| r.id == *name || r.name.as_deref() == Some(name.as_str()))
            .ok_or_else(|| fail(format!("correlation.rules: {name} is not a rule loaded beside it (give its id or name:)")))?;
        let Some(predicate) = &rule.predicate else {
            return Err(fail(format!("correlation.rules: {name} is not a Sigma rule; a correlation counts Sigma rules")));
        };
        let fields: Vec<&str> = group_by.iter().map(String::as_str).collect();
        let counted = match_queries(predicate, &rule.log_types, &fields, registry)
            .map_err(|error| problem(file, FileProblem::Queries { key: "correlation.group-by", error: Box::new(error) }))?;
        queries.extend(counted);
        log_types.extend(rule.log_types.iter().filter(|t| !log_types.contains(t)).cloned().collect::<Vec<_>>());
        if !generate {
            rule.enabled = false;
        }
    }
    let text = |key: &str| value.get(key).and_then(Yaml::as_str).map(str::to_string);
    let title = text("title").ok_or_else(|| fail("title: missing; a Sigma rule needs a title".into()))?;
    let tags: Vec<String> = value
        .get("tags")
        .and_then(Yaml::as_sequence)
        .map(|t| t.iter().filter_map(Yaml::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let mitre = tags.iter().filter_map(|t| t.strip_prefix("attack.t")).map(|t| format!("T{}", t.to_uppercase())).collect();
    Ok(Rule {
        warnings: Vec::new(),
        predicate: None,
        file: file.to_path_buf(),
        id: text("id").or_else(|| text("name")).unwrap_or_else(|| file.file_stem().unwrap_or_default().to_string_lossy().to_string()),
        name: text("name"),
        title,
        description: text("description").unwrap_or_default(),
        severity: severity(file, text("level").as_deref())?,
        enabled: text("status").as_deref() != Some("deprecated"),
        log_types,
        queries,
        dedup_minutes: minutes as i64,
        dedup_key: group_by,
        threshold,
        alert_title: None,
        references: Vec::new(),
        tags,
        mitre,
        tests: Vec::new(),
    })
}

/// A Sigma `level` as a severity (Medium when absent).
fn severity(file: &Path, level: Option<&str>) -> Result<Severity, RuleError> {
    Ok(match level {
        None => Severity::Medium,
        Some("informational") => Severity::Info,
        Some("low") => Severity::Low,
        Some("medium") => Severity::Medium,
        Some("high") => Severity::High,
        Some("critical") => Severity::Critical,
        Some(other) => {
            return Err(invalid(
                file,
                format!("level: {other} is not a Sigma level; expected informational, low, medium, high or critical"),
            ));
        }
    })
}

/// The `detection` section as one predicate.
fn compile_detection(detection: &serde_yaml::Mapping) -> Result<Predicate, SigmaError> {
    let mut searches: Vec<(String, Predicate)> = Vec::new();
    let mut condition = None;
    for (key, body) in detection {
        let name = key.as_str().ok_or(SigmaError::KeyNotString)?;
        match name {
            "condition" => condition = Some(body),
            "timeframe" => return Err(SigmaError::Timeframe),
            _ => searches.push((name.to_string(), search(name, body)?)),
        }
    }
    let condition = condition.ok_or(SigmaError::NoCondition)?;
    let conditions: Vec<&str> = match condition {
        Yaml::String(text) => vec![text.as_str()],
        Yaml::Sequence(items) => items.iter().map(|i| i.as_str().ok_or(SigmaError::ConditionType)).collect::<Result<_, _>>()?,
        _ => return Err(SigmaError::ConditionType),
    };
    let parts = conditions.into_iter().map(|c| Condition::parse(c, &searches)).collect::<Result<Vec<_>, _>>()?;
    Ok(one_or(parts, Predicate::Any))
}

/// The only part, or the parts combined.
fn one_or(mut parts: Vec<Predicate>, combine: fn(Vec<Predicate>) -> Predicate) -> Predicate {
    match parts.pop() {
        Some(only) if parts.is_empty() => only,
        Some(last) => {
            parts.push(last);
            combine(parts)
        }
        None => combine(parts),
    }
}

/// One search identifier: a map (every field matches) or a list of maps
/// (any of them matches).
fn search(name: &str, body: &Yaml) -> Result<Predicate, SigmaError> {
    match body {
        Yaml::Mapping(map) => {
            let parts = map
                .iter()
                .map(|(key, values)| field(key.as_str().ok_or_else(|| SigmaError::FieldNames { name: name.to_string() })?, values))
                .collect::<Result<_, SigmaError>>()
                .map_err(|error| SigmaError::Search { name: name.to_string(), error: Box::new(error) })?;
            Ok(Predicate::All(parts))
        }
        Yaml::Sequence(items) if items.iter().all(Yaml::is_mapping) => {
            Ok(Predicate::Any(items.iter().map(|item| search(name, item)).collect::<Result<_, _>>()?))
        }
        Yaml::Sequence(_) | Yaml::String(_) => Err(SigmaError::Keywords { name: name.to_string() }),
        _ => Err(SigmaError::SearchType { name: name.to_string() }),
    }
}

const MODIFIERS: &str = "contains, startswith, endswith, all, re (with i, m, s), cidr, exists, cased, lt, lte, gt, gte, fieldref";

/// `field|modifier|…: value or list of values`.
fn field(key: &str, values: &Yaml) -> Result<Predicate, SigmaError> {
    let mut parts = key.split('|');
    let path = parts.next().unwrap_or_default().to_string();
    if path.is_empty() {
        return Err(SigmaError::Keywords { name: key.to_string() });
    }
    let modifiers: Vec<&str> = parts.collect();
    let has = |m: &str| modifiers.contains(&m);
    for m in &modifiers {
        if !matches!(
            *m,
            "contains"
                | "startswith"
                | "endswith"
                | "all"
                | "re"
                | "i"
                | "m"
                | "s"
                | "cidr"
                | "exists"
                | "cased"
                | "lt"
                | "lte"
                | "gt"
                | "gte"
                | "fieldref"
        ) {
            return Err(SigmaError::Modifier { key: key.to_string(), modifier: m.to_string() });
        }
    }
    if (has("i") || has("m") || has("s")) && !has("re") {
        return Err(SigmaError::RegexFlags { key: key.to_string() });
    }
    let values: Vec<Value> = match serde_json::to_value(values).map_err(|source| SigmaError::Values { key: key.to_string(), source })? {
        Value::Array(items) => items,
        one => vec![one],
    };
    if values.is_empty() {
        return Err(SigmaError::NoValues { key: key.to_string() });
    }
    let one = |value: Value| -> Result<Predicate, SigmaError> {
        let test = |test: Test| Predicate::field(&path, test);
        if has("fieldref") {
            return match value {
                Value::String(other) if modifiers.len() == 1 => Ok(test(Test::EqualsField(other))),
                Value::String(_) => Err(SigmaError::Modifier { key: key.to_string(), modifier: "fieldref with another modifier".into() }),
                _ => Err(SigmaError::NotMatchable { key: key.to_string(), value }),
            };
        }
        if has("exists") {
            return match value {
                Value::Bool(true) => Ok(Predicate::Not(Box::new(test(Test::IsNull)))),
                Value::Bool(false) => Ok(test(Test::IsNull)),
                _ => Err(SigmaError::Exists { key: key.to_string() }),
            };
        }
        if value.is_null() {
            return Ok(test(Test::IsNull));
        }
        for (modifier, op) in [("lt", "<"), ("lte", "<="), ("gt", ">"), ("gte", ">=")] {
            if has(modifier) {
                return Ok(test(Test::Compare { op, value }));
            }
        }
        let text = match &value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => return Err(SigmaError::NotMatchable { key: key.to_string(), value: other.clone() }),
        };
        if has("re") {
            let flags: String = ["i", "m", "s"].into_iter().filter(|f| has(f)).collect();
            let pattern = if flags.is_empty() { text } else { format!("(?{flags}){text}") };
            return Ok(test(Test::Regex(pattern)));
        }
        if has("cidr") {
            return Ok(test(Test::InCidr(text)));
        }
        let case_insensitive = !has("cased");
        let (pattern, wild) = like_pattern(&text);
        let pattern = if has("contains") {
            format!("%{pattern}%")
        } else if has("startswith") {
            format!("{pattern}%")
        } else if has("endswith") {
            format!("%{pattern}")
        } else if wild {
            pattern
        } else if value.is_string() {
            return Ok(test(Test::Equals { value: Value::String(unescape(&text)), case_insensitive }));
        } else {
            return Ok(test(Test::Equals { value, case_insensitive }));
        };
        Ok(test(Test::Like { pattern, case_insensitive }))
    };
    let parts = values.into_iter().map(one).collect::<Result<Vec<_>, _>>()?;
    Ok(if has("all") { Predicate::All(parts) } else { Predicate::Any(parts) })
}

/// A Sigma string as a LIKE pattern: `*` and `?` are wildcards, `\*`, `\?`
/// and `\\` are the characters themselves. Also says whether it had a wildcard.
fn like_pattern(text: &str) -> (String, bool) {
    let mut out = String::new();
    let mut wild = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(next) = chars.next_if(|next| matches!(next, '*' | '?' | '\\'))
        {
            out.push_str(&super::predicate::like_escape(&next.to_string()));
            continue;
        }
        match c {
            '*' => {
                wild = true;
                out.push('%');
            }
            '?' => {
                wild = true;
                out.push('_');
            }
            other => out.push_str(&super::predicate::like_escape(&other.to_string())),
        }
    }
    (out, wild)
}

/// A Sigma string without wildcards, with its escapes removed.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match chars.next_if(|next| c == '\\' && matches!(next, '*' | '?' | '\\')) {
            Some(escaped) => out.push(escaped),
            None => out.push(c),
        }
    }
    out
}

/// A condition expression, parsed by recursive descent:
/// `or := and ("or" and)*`, `and := not ("and" not)*`,
/// `not := "not" not | "(" or ")" | quantifier "of" target | name`.
struct Condition<'a> {
    tokens: Vec<String>,
    at: usize,
    /// `not`s and parentheses open at this point.
    depth: usize,
    searches: &'a [(String, Predicate)],
}

impl<'a> Condition<'a> {
    fn parse(text: &str, searches: &'a [(String, Predicate)]) -> Result<Predicate, SigmaError> {
        if text.contains('|') {
            return Err(SigmaError::Aggregation { text: text.to_string() });
        }
        let tokens = text.replace('(', " ( ").replace(')', " ) ").split_whitespace().map(str::to_string).collect();
        let mut parser = Condition { tokens, at: 0, depth: 0, searches };
        let predicate = parser.or()?;
        match parser.tokens.get(parser.at) {
            None => Ok(predicate),
            Some(token) => Err(SigmaError::Unexpected { text: text.to_string(), token: token.clone() }),
        }
    }

    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Option<String> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn or(&mut self) -> Result<Predicate, SigmaError> {
        let mut parts = vec![self.and()?];
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("or")) {
            self.next();
            parts.push(self.and()?);
        }
        Ok(one_or(parts, Predicate::Any))
    }

    fn and(&mut self) -> Result<Predicate, SigmaError> {
        let mut parts = vec![self.not()?];
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("and")) {
            self.next();
            parts.push(self.not()?);
        }
        Ok(one_or(parts, Predicate::All))
    }

    fn not(&mut self) -> Result<Predicate, SigmaError> {
        let token = self.next().ok_or(SigmaError::Ends)?;
        if token.eq_ignore_ascii_case("not") {
            return self.nested(Self::not).map(|inner| Predicate::Not(Box::new(inner)));
        }
        if token == "(" {
            let inner = self.nested(Self::or)?;
            return match self.next().as_deref() {
                Some(")") => Ok(inner),
                _ => Err(SigmaError::NotClosed),
            };
        }
        if self.peek().is_some_and(|t| t.eq_ignore_ascii_case("of")) {
            self.next();
            let target = self.next().ok_or_else(|| SigmaError::OfWhat { quantifier: token.clone() })?;
            let parts: Vec<Predicate> = self.matching(&target)?.into_iter().cloned().collect();
            return Ok(match token.to_lowercase().as_str() {
                "all" => Predicate::All(parts),
                "1" | "any" => Predicate::Any(parts),
                n => match n.parse::<usize>() {
                    Ok(min) => Predicate::Count { parts, min, max: None },
                    Err(_) => return Err(SigmaError::Quantifier { quantifier: token }),
                },
            });
        }
        let (_, predicate) =
            self.searches.iter().find(|(name, _)| *name == token).ok_or_else(|| SigmaError::UnknownSearch { name: token.clone() })?;
        Ok(predicate.clone())
    }

    /// Parses one level deeper with `parse`, refusing past [`MAX_CONDITION_DEPTH`].
    fn nested(&mut self, parse: fn(&mut Self) -> Result<Predicate, SigmaError>) -> Result<Predicate, SigmaError> {
        if self.depth == MAX_CONDITION_DEPTH {
            return Err(SigmaError::TooDeep);
        }
        self.depth += 1;
        let inner = parse(self);
        self.depth -= 1;
        inner
    }

    /// Searches named by `them`, a name, or a `prefix*` pattern.
    fn matching(&self, target: &str) -> Result<Vec<&'a Predicate>, SigmaError> {
        let found: Vec<&Predicate> = self
            .searches
            .iter()
            .filter(|(name, _)| match target {
                "them" => !name.starts_with('_'),
                t => match t.strip_suffix('*') {
                    Some(prefix) => name.starts_with(prefix),
                    None => name == t,
                },
            })
            .map(|(_, p)| p)
            .collect();
        if found.is_empty() {
            return Err(SigmaError::NoMatch { target: target.to_string() });
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_become_like_patterns_and_escapes_stay_literal() {
        assert_eq!(like_pattern("Delete*"), ("Delete%".to_string(), true));
        assert_eq!(like_pattern(r"a\*b?_"), (r"a*b_\_".to_string(), true));
        assert_eq!(like_pattern("50%"), (r"50\%".to_string(), false));
        assert_eq!(unescape(r"a\*b"), "a*b");
    }

    #[test]
    fn conditions_parse_with_precedence() {
        let s = |n: &str| (n.to_string(), Predicate::field(n, Test::IsNull));
        let searches = vec![s("sel_a"), s("sel_b"), s("filter")];
        let p = |text: &str| Condition::parse(text, &searches).map_err(|e| e.to_string());
        let get = |n: &str| searches.iter().find(|(name, _)| name == n).unwrap().1.clone();
        assert_eq!(
            p("sel_a or sel_b and not filter").unwrap(),
            Predicate::Any(vec![get("sel_a"), Predicate::All(vec![get("sel_b"), Predicate::Not(Box::new(get("filter")))])])
        );
        assert_eq!(
            p("1 of sel_* and not filter").unwrap(),
            Predicate::All(vec![Predicate::Any(vec![get("sel_a"), get("sel_b")]), Predicate::Not(Box::new(get("filter")))])
        );
        assert!(p("all of them").is_ok());
        assert!(p("sel_a | count() > 5").unwrap_err().contains("aggregations"));
        assert!(p("(sel_a or sel_b").unwrap_err().contains("not closed"));
        assert!(p("nope").unwrap_err().contains("not a search identifier"));
    }

    /// Issue 14: `not` nested 20,000 deep, or `(` 200,000 times, overflowed
    /// the stack (the parser recursed once per level without a bound).
    #[test]
    fn regression_deep_conditions_are_refused_in_one_line() {
        let searches = vec![("sel".to_string(), Predicate::field("eventName", Test::IsNull))];
        let p = |text: &str| Condition::parse(text, &searches).map_err(|e| e.to_string());
        let nots = format!("{}sel", "not ".repeat(20_000));
        assert!(p(&nots).unwrap_err().contains("more than 64 deep"));
        let parens = "(".repeat(200_000);
        assert!(p(&parens).unwrap_err().contains("more than 64 deep"));
        let fine = format!("{}sel{}", "( not ".repeat(32), ")".repeat(32));
        assert!(p(&fine).is_ok(), "{:?}", p(&fine));
    }
}
