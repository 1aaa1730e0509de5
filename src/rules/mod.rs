//! Detection rules as code: rule files (tarn's Panther-style YAML, or Sigma),
//! their inline tests (`tarn rules test`), and runs over the lake that raise
//! alerts into the `alerts` table (`tarn rules run`).
//!
//! Every rule becomes SQL over its log types' tables: a `Query` as written,
//! a `Detection` match expression or a Sigma `detection` compiled to a
//! `WHERE` clause. So a rule's test, its run and an analyst's query all go
//! through the same planner and functions.

mod matches;
mod panther;
mod predicate;
mod rule_tests;
mod run;
mod sigma;
mod skeleton;

pub use crate::lake::{ALERTS_TABLE, AlertRow, alerts_batch, alerts_schema};
pub use rule_tests::{Outcome, TestReport, junit_xml, test_rules};
pub use run::{RunReport, run_rules};
pub use skeleton::skeleton;

use crate::lake::LakeError;
use crate::schema::Registry;
use std::path::{Path, PathBuf};

/// What went wrong with rules: a rule file, a rule's SQL, or the lake.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// A rule file that cannot be used, with the key at fault.
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("rule {rule}: {message}")]
    Rule { rule: String, message: String },
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// Rule files that cannot be read.
    #[error("{0}")]
    Read(String),
    /// A run that could not commit its alerts.
    #[error("{0}")]
    Run(String),
}

/// How bad an alert is (Panther's five levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const NAMES: &str = "Info, Low, Medium, High, Critical";

    pub fn parse(name: &str) -> Option<Severity> {
        Some(match name {
            "Info" => Severity::Info,
            "Low" => Severity::Low,
            "Medium" => Severity::Medium,
            "High" => Severity::High,
            "Critical" => Severity::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "Info",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }
}

/// One loaded rule, whatever its file format.
#[derive(Debug, Clone)]
pub struct Rule {
    pub file: PathBuf,
    pub id: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub enabled: bool,
    /// Panther log type names (`AWS.CloudTrail`).
    pub log_types: Vec<String>,
    /// The detection: one SELECT per table for a match expression, the
    /// rule's own SQL for a `Query`. Each returns the matching rows,
    /// including `p_row_id` and `p_event_time`.
    pub queries: Vec<String>,
    pub dedup_minutes: i64,
    /// Field paths whose values make the dedup key; empty: the alert title.
    pub dedup_key: Vec<String>,
    pub threshold: u64,
    /// `{field.path}` placeholders are filled from the first matching row.
    pub alert_title: Option<String>,
    pub references: Vec<String>,
    pub tags: Vec<String>,
    /// MITRE ATT&CK ids (`TA0005:T1562.008`, `T1078`).
    pub mitre: Vec<String>,
    pub tests: Vec<RuleTest>,
}

/// One inline test: records as the source sends them, and whether the rule
/// must match them.
#[derive(Debug, Clone)]
pub struct RuleTest {
    pub name: String,
    pub expected: bool,
    pub log_type: String,
    pub records: Vec<serde_json::Value>,
}

/// Loads every rule under `path` (a rule file or a directory, searched
/// recursively for `.yml`/`.yaml` files, in name order). Every file's
/// problems are gathered; any problem fails the load.
pub fn load(path: &Path, registry: &Registry) -> Result<Vec<Rule>, Vec<RuleError>> {
    let mut files = Vec::new();
    if let Err(error) = rule_files(path, &mut files) {
        return Err(vec![error]);
    }
    files.sort();
    let mut rules: Vec<Rule> = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        match load_file(&file, registry) {
            Ok(rule) => match rules.iter().find(|r| r.id == rule.id) {
                Some(other) => errors.push(invalid(
                    &file,
                    format!("RuleID: {} is also the id of {}; rule ids must be unique", rule.id, other.file.display()),
                )),
                None => rules.push(rule),
            },
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() { Ok(rules) } else { Err(errors) }
}

fn rule_files(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), RuleError> {
    let io = |e: std::io::Error| RuleError::Read(format!("cannot read {}: {e}", path.display()));
    if path.is_file() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    if !path.exists() {
        return Err(RuleError::Read(format!("{}: no such file or directory (give a rule file or a directory of rules)", path.display())));
    }
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?.path();
        if entry.is_dir() {
            rule_files(&entry, files)?;
        } else if entry.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            files.push(entry);
        }
    }
    Ok(())
}

/// Loads one rule file: Sigma if it has a `logsource`, tarn's format otherwise.
pub fn load_file(file: &Path, registry: &Registry) -> Result<Rule, RuleError> {
    let text = std::fs::read_to_string(file).map_err(|e| invalid(file, format!("cannot read: {e}")))?;
    let value: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| invalid(file, format!("not valid YAML: {e}")))?;
    if value.get("logsource").is_some() { sigma::parse(file, &value, registry) } else { panther::parse(file, &text, registry) }
}

fn invalid(file: &Path, message: String) -> RuleError {
    RuleError::Invalid { file: file.display().to_string(), message }
}
