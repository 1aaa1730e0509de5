//! Detection rules as code: rule files (tarn's Panther-style YAML, or Sigma),
//! their inline tests (`tarn rules test`), and runs over the lake that raise
//! alerts into the `alerts` table (`tarn rules run`).
//!
//! Every rule becomes SQL over its log types' tables: a `Query` as written,
//! a `Detection` match expression or a Sigma `detection` compiled to a
//! `WHERE` clause. So a rule's test, its run and an analyst's query all go
//! through the same planner and functions.

mod coverage;
pub mod deliver;
mod load;
mod matches;
mod panther;
mod predicate;
mod rule_tests;
mod run;
pub mod schedule;
mod sigma;
mod skeleton;

pub use crate::lake::{ALERTS_TABLE, AlertRow, alerts_batch, alerts_schema};
pub use coverage::coverage_markdown;
pub use load::{load, load_file, load_lenient, parse_rule};
pub use matches::MatchError;
pub use panther::{ExpressionError, QueryError};
pub use predicate::PredicateError;
pub use rule_tests::{Outcome, TestError, TestReport, junit_xml, test_rules};
pub use run::{Mode, RunReport, backtest_summary, run_rules};
pub use sigma::SigmaError;
pub use skeleton::skeleton;

use crate::lake::LakeError;
use crate::sql::SqlError;
use datafusion::arrow::error::ArrowError;
use std::path::{Path, PathBuf};

/// What went wrong with rules: a rule file, a rule's run, or the lake.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// A rule file that cannot be used, with the key at fault.
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    /// A rule file whose text, detection or tests cannot be used.
    #[error("{file}: {problem}")]
    File {
        file: String,
        #[source]
        problem: Box<FileProblem>,
    },
    /// A rule whose run failed (its state did not move).
    #[error("rule {rule}: {error}")]
    Rule {
        rule: String,
        #[source]
        error: Box<RunError>,
    },
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("alerts: {0}")]
    Deliver(DeliveryError),
    #[error(transparent)]
    Commit(#[from] crate::ingest::IngestError),
    #[error("{}: no such file or directory (give a rule file or a directory of rules)", path.display())]
    Missing { path: PathBuf },
    /// An entry of a rules directory that cannot be read as a file.
    #[error("{}: {why}; rules load all or nothing: fix or remove it", path.display())]
    Walk { path: PathBuf, why: String },
    #[error("cannot build the alert rows: {0}")]
    AlertRows(#[source] ArrowError),
    /// Another run moved the state of these rules first; this one wrote nothing.
    #[error("another rules run committed first for {rules}; nothing was written: run again")]
    Raced { rules: String },
}

/// What is wrong in a rule file beyond one key's value.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    #[error("cannot read: {0}")]
    Read(#[source] std::io::Error),
    #[error("not valid YAML: {0}")]
    Yaml(#[source] serde_yaml::Error),
    /// tarn's format: a key missing, unknown or of the wrong type
    /// (serde_yaml's message names the key and the line).
    #[error("{}", yaml_message(.0))]
    Keys(#[source] serde_yaml::Error),
    /// Sigma's `tests`, which are not tarn's test list.
    #[error("tests: {0}")]
    SigmaTests(#[source] serde_yaml::Error),
    #[error("detection: {0}")]
    Sigma(#[from] SigmaError),
    #[error(transparent)]
    Expression(#[from] ExpressionError),
    /// The detection as SQL over a log type's table (`key` is the rule
    /// format's name of the detection).
    #[error("{key}: {error}")]
    Queries {
        key: &'static str,
        #[source]
        error: Box<QueryError>,
    },
    #[error("LogTypes: a rule needs at least one log type, like AWS.CloudTrail")]
    NoLogTypes,
    #[error("LogTypes: {name} is not a known log type; expected one of {known}")]
    UnknownLogType { name: String, known: String },
    #[error("{at}.LogType: {name} is not one of the rule's LogTypes ({log_types})")]
    TestLogType { at: String, name: String, log_types: String },
    #[error("{at}.LogType: the rule has several log types; expected the one of this test's records")]
    TestLogTypeMissing { at: String },
    #[error("{at}: expected Log (one record) or Logs (a list of records), not both")]
    TestRecords { at: String },
    #[error("{at}.Log: the text is not JSON: {source}")]
    TestRecordText { at: String, source: serde_json::Error },
}

/// Why one rule's run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("its saved state in the lake cannot be read ({0}); it was not run")]
    ReadState(#[source] serde_json::Error),
    #[error("its new state cannot be saved ({0}); its alerts were not written")]
    SaveState(#[source] serde_json::Error),
    /// The session over the lake could not be opened.
    #[error(transparent)]
    Open(SqlError),
    #[error(transparent)]
    Match(#[from] MatchError),
    #[error("it ran longer than {} (--timeout) and was stopped; nothing of it was saved, so the next run judges the same rows", crate::duration::show(*limit))]
    TimedOut { limit: std::time::Duration },
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
    /// Sigma's `name:`, by which correlation rules name the rules they count.
    pub name: Option<String>,
    /// A Sigma rule's detection, which a correlation over it compiles again
    /// with the fields it groups by.
    pub predicate: Option<predicate::Predicate>,
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
    /// What the load noticed that does not stop the rule (a Sigma field the
    /// table lacks), each a line for the user.
    pub warnings: Vec<String>,
}

/// Why a destination cannot be used, or a send failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    #[error("{0}")]
    Setup(String),
    #[error("{destination}: {reason}")]
    Send { destination: String, reason: String },
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

/// serde_yaml's message, which names the key (`Tests[0].Name: …`) and the line.
fn yaml_message(error: &serde_yaml::Error) -> String {
    let text = error.to_string();
    match text.strip_prefix(".: ") {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

pub(super) fn invalid(file: &Path, message: String) -> RuleError {
    RuleError::Invalid { file: file.display().to_string(), message }
}

pub(super) fn problem(file: &Path, problem: impl Into<FileProblem>) -> RuleError {
    RuleError::File { file: file.display().to_string(), problem: Box::new(problem.into()) }
}
