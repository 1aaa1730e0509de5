//! Rules on a schedule: `rules:` in tarn.yml names rule folders that `tarn
//! run` runs every so often (after each drain of its sources with
//! `--once`), with their alerts sent to the configured destinations. A run
//! is `tarn rules run <path> --since <since>`: each rule judges only rows it
//! has not judged, so the interval and the window may overlap freely.

use super::deliver::{Destination, deliver};
use super::{Mode, RuleError, load_lenient, run_rules};
use crate::lake::Lake;
use crate::schema::Registry;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// One entry of `rules:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSchedule {
    /// A rule file or folder (relative to tarn.yml).
    pub path: PathBuf,
    /// How often (`15m`).
    #[serde(default = "default_every")]
    pub every: String,
    /// How far back each run looks (`24h`).
    #[serde(default = "default_since")]
    pub since: String,
}

fn default_every() -> String {
    "15m".into()
}

fn default_since() -> String {
    "24h".into()
}

impl RuleSchedule {
    pub fn every(&self) -> Result<Duration, crate::duration::DurationError> {
        crate::duration::parse(&self.every)
    }

    pub fn since(&self) -> Result<Duration, crate::duration::DurationError> {
        crate::duration::parse(&self.since)
    }

    /// Runs the rules once, then sends their alerts; the summary line.
    pub async fn run_once(&self, lake: &Lake, registry: &Registry, destinations: &[(String, Destination)]) -> Result<String, RuleError> {
        let (rules, skipped) = load_lenient(&self.path, registry).map_err(|mut errors| errors.remove(0))?;
        for error in &skipped {
            tracing::warn!("{error}; skipped");
        }
        for rule in &rules {
            for warning in &rule.warnings {
                tracing::warn!("{}: {warning}", rule.file.display());
            }
        }
        let since = self.since().map_err(|e| RuleError::Deliver(super::DeliveryError::Setup(format!("rules.since: {e}"))))?;
        let now = crate::now_micros();
        let from = now - since.as_micros() as i64;
        let report =
            run_rules(lake, registry, &[], &rules, (from, now), Mode::Scheduled { write: true }, Some(Duration::from_secs(600))).await?;
        for error in &report.errors {
            tracing::error!("{error}");
        }
        let delivery = deliver(lake, registry, destinations).await?;
        for failure in &delivery.failed {
            tracing::error!("alerts: {failure}; the next run sends it again");
        }
        let sent: usize = delivery.sent.iter().map(|(_, n)| n).sum();
        Ok(format!(
            "{} rules run, {} new matches, {} alerts raised, {} updated, {sent} alert rows sent",
            report.rules_run,
            report.matches,
            report.raised(),
            report.alerts.len() - report.raised()
        ))
    }
}
