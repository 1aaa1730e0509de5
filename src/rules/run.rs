//! `tarn rules run`: rules over a time window of the lake, with Panther's
//! dedup and threshold carried across runs.
//!
//! Each rule keeps its state in the lake as a checkpoint (`rule:<id>`): the
//! last commit it judged, and its open dedup groups. A run reads only rows
//! committed after that commit, so a scheduled job never judges a row twice
//! however its windows overlap; the alert rows and the new state land in one
//! commit, and a run that finds the state moved by another run commits
//! nothing.
//!
//! Dedup follows Panther: matches with the same dedup key whose event times
//! lie within the dedup period of the group's first event form one group;
//! the group raises one alert once it holds `Threshold` matches, and later
//! matches in the period are added to that alert (an `updated` row), never a
//! second alert.

use super::matches::{Match, matches};
use super::{Rule, RuleError, RunError};
use crate::catalog::eds::EventDataStore;
use crate::ingest::Maintenance;
use crate::lake::{ALERTS_TABLE, AlertRow, alerts_batch};
use crate::lake::{CommitOutcome, Lake};
use crate::schema::Registry;
use crate::sql::{LakePart, Sql};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// What one run did.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Alert rows written (raised and updated).
    pub alerts: Vec<AlertRow>,
    /// Rules run, and enabled rules' matches judged for the first time.
    pub rules_run: usize,
    pub disabled: usize,
    pub matches: usize,
    /// Rules that failed (their state did not move).
    pub errors: Vec<RuleError>,
    pub commit: Option<u64>,
}

impl RunReport {
    pub fn raised(&self) -> usize {
        self.alerts.iter().filter(|a| a.kind == "raised").count()
    }
}

/// A rule's state between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// The last lake commit whose rows the rule judged.
    pub commit: u64,
    /// Open dedup groups by dedup key.
    pub groups: BTreeMap<String, Group>,
}

/// Matches sharing a dedup key within one dedup period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub first: i64,
    pub last: i64,
    pub count: u64,
    pub title: String,
    /// Set once the group reached the threshold.
    pub alert_id: Option<String>,
    /// Row ids of matches not yet in an alert (below the threshold).
    pub pending: Vec<String>,
}

fn state_key(rule: &Rule) -> String {
    format!("rule:{}", rule.id)
}

/// Which rows a run judges, and what it writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// The rows each rule has not judged (from its watermark), with
    /// `p_event_time >= from`; alerts and the moved watermarks are
    /// committed, unless `write` is false (a dry run).
    Scheduled { write: bool },
    /// Every row with `from <= p_event_time < to`, judged afresh (no dedup
    /// state before it), leaving every watermark where it is: an incident
    /// window or a backtest. With `write` false nothing is committed.
    Window { to: i64, write: bool },
}

/// Runs the enabled `rules` over the rows `mode` names (`window` is `from`
/// and now), and commits what it says. A rule that runs longer than
/// `timeout` is stopped and reported; the others go on.
pub async fn run_rules(
    lake: &Lake,
    registry: &Registry,
    stores: &[EventDataStore],
    rules: &[Rule],
    window: (i64, i64),
    mode: Mode,
    timeout: Option<std::time::Duration>,
) -> Result<RunReport, RuleError> {
    let (from, now) = window;
    let (to, write, scheduled) = match mode {
        Mode::Scheduled { write } => (i64::MAX, write, true),
        Mode::Window { to, write } => (to, write, false),
    };
    let snapshot = lake.snapshot()?;
    let mut report = RunReport::default();
    let mut sessions: HashMap<u64, Sql> = HashMap::new();
    let mut moves = Vec::new();
    for rule in rules {
        if !rule.enabled {
            report.disabled += 1;
            continue;
        }
        let key = state_key(rule);
        let before = if scheduled { snapshot.checkpoints.get(&key).cloned() } else { None };
        let state: RuleState = match &before {
            None => RuleState::default(),
            Some(value) => match serde_json::from_value(value.clone()) {
                Ok(state) => state,
                Err(e) => {
                    report.errors.push(rule_error(rule, RunError::ReadState(e)));
                    continue;
                }
            },
        };
        let sql = match sessions.entry(state.commit) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let part = LakePart { after_commit: state.commit, from, to };
                entry.insert(
                    Sql::open_part(lake, snapshot.clone(), part, registry, stores)
                        .await
                        .map_err(|e| rule_error(rule, RunError::Open(e)))?,
                )
            }
        };
        let found = match timeout {
            Some(limit) => crate::sql::within(limit, matches(sql, rule)).await.ok_or(RunError::TimedOut { limit }),
            None => Ok(matches(sql, rule).await),
        };
        let found = match found.and_then(|found| found.map_err(RunError::Match)) {
            Ok(found) => found,
            Err(e) => {
                report.errors.push(rule_error(rule, e));
                continue;
            }
        };
        report.rules_run += 1;
        report.matches += found.len();
        // Commits since the last run that added no rows (other rule runs)
        // need no new state: the run leaves no trace.
        let new_rows = snapshot.files.values().any(|f| f.commit > state.commit && f.table != ALERTS_TABLE);
        let (mut next, alerts) = fold(rule, state.clone(), found, from, now);
        if !scheduled {
            report.alerts.extend(alerts);
            continue;
        }
        if !new_rows && next == state {
            continue;
        }
        next.commit = snapshot.last_commit;
        let after = match serde_json::to_value(&next) {
            Ok(after) => after,
            Err(e) => {
                report.errors.push(rule_error(rule, RunError::SaveState(e)));
                continue;
            }
        };
        report.alerts.extend(alerts);
        moves.push((key, before, after));
    }
    if !write {
        return Ok(report);
    }
    // Alerts land in the commit that moves the rules' state, through ingest's commit.
    let run = Maintenance::begin(lake, "rules run")?;
    if !report.alerts.is_empty() {
        let batch = alerts_batch(&report.alerts).map_err(RuleError::AlertRows)?;
        run.chunk().write(ALERTS_TABLE, &batch)?;
    }
    for (key, before, after) in moves {
        if before.as_ref() != Some(&after) {
            run.chunk().checkpoint(&key, before, after);
        }
    }
    match run.commit()? {
        CommitOutcome::Committed { id, .. } => report.commit = Some(id),
        CommitOutcome::Empty => {}
        CommitOutcome::AlreadyConsumed(keys) => {
            let rules = keys.iter().map(|k| k.trim_start_matches("rule:")).collect::<Vec<_>>().join(", ");
            return Err(RuleError::Raced { rules });
        }
    }
    Ok(report)
}

/// A backtest's table: for each rule, its severity, the alerts it would
/// have raised and the rows they hold, noisiest first.
pub fn backtest_summary(rules: &[Rule], report: &RunReport) -> String {
    let mut rows: Vec<(usize, usize, &Rule)> = rules
        .iter()
        .filter(|r| r.enabled)
        .map(|rule| {
            let raised: Vec<&AlertRow> = report.alerts.iter().filter(|a| a.rule_id == rule.id && a.kind == "raised").collect();
            let matched = report.alerts.iter().filter(|a| a.rule_id == rule.id).map(|a| a.row_ids.len()).sum();
            (raised.len(), matched, rule)
        })
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.id.cmp(&b.2.id)));
    let width = rows.iter().map(|(_, _, r)| r.id.len()).max().unwrap_or(4).max(4);
    let mut out = format!("{:<width$}  {:<8}  {:>6}  {:>7}\n", "rule", "severity", "alerts", "matches");
    for (raised, matched, rule) in rows {
        out.push_str(&format!("{:<width$}  {:<8}  {raised:>6}  {matched:>7}\n", rule.id, rule.severity.as_str()));
    }
    out
}

fn rule_error(rule: &Rule, error: RunError) -> RuleError {
    RuleError::Rule { rule: rule.id.clone(), error: Box::new(error) }
}

/// Adds one run's new matches to a rule's groups: returns the new state and
/// the alert rows to write.
pub fn fold(rule: &Rule, mut state: RuleState, mut found: Vec<Match>, from: i64, now: i64) -> (RuleState, Vec<AlertRow>) {
    let period = rule.dedup_minutes * 60_000_000;
    found.sort_by(|a, b| (a.time, &a.row_id).cmp(&(b.time, &b.row_id)));
    let mut out = Vec::new();
    let mut fresh: HashMap<String, Vec<String>> = HashMap::new();
    for m in found {
        let joins = state.groups.get(&m.dedup_key).is_some_and(|g| (m.time - g.first).abs() < period);
        if !joins && let Some(mut old) = state.groups.remove(&m.dedup_key) {
            let rows = fresh.remove(&m.dedup_key).unwrap_or_default();
            settle(rule, &m.dedup_key, &mut old, rows, now, &mut out);
        }
        let group = state.groups.entry(m.dedup_key.clone()).or_insert_with(|| Group {
            first: m.time,
            last: m.time,
            count: 0,
            title: m.title.clone(),
            alert_id: None,
            pending: Vec::new(),
        });
        group.count += 1;
        group.first = group.first.min(m.time);
        group.last = group.last.max(m.time);
        fresh.entry(m.dedup_key).or_default().push(m.row_id);
    }
    let mut keys: Vec<String> = fresh.keys().cloned().collect();
    keys.sort();
    for key in keys {
        let rows = fresh.remove(&key).unwrap_or_default();
        // Every fresh key has its group: the loop above made it.
        if let Some(group) = state.groups.get_mut(&key) {
            settle(rule, &key, group, rows, now, &mut out);
        }
    }
    // No row the next runs judge (p_event_time >= from) can join these.
    state.groups.retain(|_, g| g.first + period > from);
    (state, out)
}

/// Raises the group's alert once it reaches the threshold, or adds the new
/// rows to the alert it raised before.
fn settle(rule: &Rule, key: &str, group: &mut Group, rows: Vec<String>, now: i64, out: &mut Vec<AlertRow>) {
    if rows.is_empty() {
        return;
    }
    let (kind, alert_id, row_ids) = match &group.alert_id {
        Some(alert_id) => ("updated", alert_id.clone(), rows),
        None => {
            group.pending.extend(rows);
            if group.count < rule.threshold {
                return;
            }
            let alert_id = format!("{:016x}", crate::unique_seed());
            group.alert_id = Some(alert_id.clone());
            ("raised", alert_id, std::mem::take(&mut group.pending))
        }
    };
    out.push(AlertRow {
        alert_id,
        rule_id: rule.id.clone(),
        severity: rule.severity.as_str().to_string(),
        title: group.title.clone(),
        dedup_key: key.to_string(),
        kind,
        first_seen: group.first,
        last_seen: group.last,
        count: group.count,
        row_ids,
        written_at: now,
    });
}
