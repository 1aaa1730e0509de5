//! `tarn rules test`: each inline test's records are decoded by the same
//! schema code as real ingest into in-memory tables, the rule's SQL runs over
//! them, and the result is compared with the test's expectation. No lake,
//! no network.

use super::Rule;
use super::matches::{MatchError, matches};
use crate::catalog::eds::EventDataStore;
use crate::schema::{Provenance, Refusal, Registry, RowBuilder, SchemaError};
use crate::sql::{Sql, SqlError};
use datafusion::arrow::error::ArrowError;
use std::time::Instant;

/// Why a test could not run.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error(transparent)]
    LogType(#[from] SchemaError),
    /// `record` counts from 1.
    #[error("record {record} does not pass the {log_type} schema: {refusal}")]
    Refused {
        record: usize,
        log_type: String,
        #[source]
        refusal: Refusal,
    },
    #[error("the records do not decode: {0}")]
    Decode(#[source] ArrowError),
    /// The in-memory session over the records could not be opened.
    #[error(transparent)]
    Session(SqlError),
    #[error("the rule's query failed: {0}")]
    Query(#[source] MatchError),
}

/// One test's result.
#[derive(Debug)]
pub struct Outcome {
    pub rule: String,
    pub test: String,
    pub expected: bool,
    /// Whether the rule matched; or why the test could not run (a record
    /// its schema refuses, a query that fails).
    pub actual: Result<bool, TestError>,
    pub seconds: f64,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.actual.as_ref().is_ok_and(|matched| *matched == self.expected)
    }

    /// What went wrong, in one line (None when it passed).
    pub fn failure(&self) -> Option<String> {
        match &self.actual {
            Ok(matched) if *matched == self.expected => None,
            Ok(matched) => Some(format!("expected {}, got {matched}", self.expected)),
            Err(error) => Some(format!("expected {}, but {error}", self.expected)),
        }
    }
}

/// Every test of every rule.
#[derive(Debug, Default)]
pub struct TestReport {
    pub outcomes: Vec<Outcome>,
    /// Rules without a test.
    pub untested: Vec<String>,
}

impl TestReport {
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| !o.passed()).count()
    }
}

/// Runs the inline tests of `rules`.
pub async fn test_rules(rules: &[Rule], registry: &Registry, stores: &[EventDataStore]) -> TestReport {
    let mut report = TestReport::default();
    for rule in rules {
        if rule.tests.is_empty() {
            report.untested.push(rule.id.clone());
        }
        for test in &rule.tests {
            let started = Instant::now();
            let actual = run_test(rule, test, registry, stores).await;
            report.outcomes.push(Outcome {
                rule: rule.id.clone(),
                test: test.name.clone(),
                expected: test.expected,
                actual,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
    }
    report
}

async fn run_test(rule: &Rule, test: &super::RuleTest, registry: &Registry, stores: &[EventDataStore]) -> Result<bool, TestError> {
    let log_type = registry.get(&test.log_type)?;
    let mut builder = RowBuilder::new(log_type.clone());
    let provenance = Provenance { source_id: format!("test:{}", rule.id), source_label: test.name.clone(), source_file: None };
    let now = crate::now_micros();
    for (i, record) in test.records.iter().enumerate() {
        let raw = record.to_string();
        let decoded = crate::ingest::Record { text: &raw, position: i as u64 + 1 };
        crate::ingest::decode_record(&mut builder, decoded, crate::sources::adapt, &provenance, now)
            .map_err(|refused| TestError::Refused { record: i + 1, log_type: log_type.name.clone(), refusal: Refusal(refused.reason) })?;
    }
    let batch = builder.finish().map_err(TestError::Decode)?;
    let rows = batch.into_iter().map(|b| (log_type.table.clone(), b)).collect();
    let sql = Sql::open_memory(rows, registry, stores).await.map_err(TestError::Session)?;
    let found = matches(&sql, rule).await.map_err(TestError::Query)?;
    Ok(!found.is_empty())
}

/// The report as JUnit XML: a suite per rule, a case per test.
pub fn junit_xml(report: &TestReport) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!("<testsuites name=\"tarn rules\" tests=\"{}\" failures=\"{}\">\n", report.outcomes.len(), report.failed()));
    let mut rules: Vec<&str> = report.outcomes.iter().map(|o| o.rule.as_str()).collect();
    rules.dedup();
    for rule in rules {
        let cases: Vec<&Outcome> = report.outcomes.iter().filter(|o| o.rule == rule).collect();
        let failures = cases.iter().filter(|o| !o.passed()).count();
        let seconds: f64 = cases.iter().map(|o| o.seconds).sum();
        out.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" time=\"{seconds:.3}\">\n",
            xml(rule),
            cases.len()
        ));
        for case in cases {
            out.push_str(&format!("    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"", xml(rule), xml(&case.test), case.seconds));
            match case.failure() {
                None => out.push_str("/>\n"),
                Some(failure) => out.push_str(&format!(">\n      <failure message=\"{}\"/>\n    </testcase>\n", xml(&failure))),
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
