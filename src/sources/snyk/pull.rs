//! The Snyk puller: reads each audit log (a group's, its orgs', an org's)
//! oldest first from its checkpoint, decodes the records under
//! `Snyk.GroupAudit` / `Snyk.OrgAudit`, and commits them a chunk at a time
//! together with the checkpoint that covers them. Then it waits and polls
//! again, or with `once` exits. A source quiet for longer than `alarm_after`
//! raises a drop-off alarm.

use super::client::{Client, SnykError, Target};
use super::config::{Api, SnykConfig};
use super::cursor::{Checkpoint, Cursor, fingerprint, parse_time, rfc3339};
use crate::ingest::{BATCH_ROWS, IngestError};
use crate::lake::{ALARMS_TABLE, AlarmRow, CommitOutcome, Lake, QuarantineRow, Transaction, alarms_batch};
use crate::schema::{LogType, Provenance, Registry, RowBuilder};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The REST API version tarn speaks.
pub const REST_VERSION: &str = "2024-04-29";
/// Records a page holds (the API's maximum).
const PAGE_SIZE: &str = "100";
/// How far back a source with no checkpoint starts, unless told.
const DEFAULT_REACH: Duration = Duration::from_secs(7 * 86_400);
/// How far back Snyk keeps audit logs.
const SNYK_KEEPS: Duration = Duration::from_secs(90 * 86_400);
const MICROS: i64 = 1_000_000;

/// What a pull did, over all its polls.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SnykReport {
    /// Audit logs read (a group, its orgs).
    pub logs: u64,
    pub pages: u64,
    /// Records served, including those already in the lake.
    pub records: u64,
    /// Records the lake already held (served again from the checkpoint's instant).
    pub already_ingested: u64,
    pub rows: u64,
    pub quarantined: u64,
    pub commits: u64,
    /// Audit logs silent past `alarm_after` at the last poll.
    pub silent: u64,
    /// Drop-off alarms written to the `alarms` table.
    pub alarms_raised: u64,
}

/// How loud a line of the puller's is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Progress: the line may be empty (only the counts changed).
    Info,
    Warning,
    /// A drop-off alarm.
    Error,
}

/// One audit log: a group's or an org's, its ordinary events or its
/// `api.access` events (which Snyk serves only when asked by name, so they
/// are a log of their own with their own checkpoint).
#[derive(Debug, Clone)]
struct Log {
    kind: &'static str,
    id: String,
    label: String,
    api_access: bool,
    /// A child org of the configured group: a 403 or 404 on it is a warning.
    child: bool,
}

impl Log {
    fn key(&self) -> String {
        let key = format!("snyk:{}:{}", self.kind, self.id);
        if self.api_access { format!("{key}:api.access") } else { key }
    }

    fn log_type(&self) -> &'static str {
        if self.kind == "group" { "Snyk.GroupAudit" } else { "Snyk.OrgAudit" }
    }

    fn what(&self) -> String {
        let what = format!("{} {}", self.kind, self.id);
        if self.api_access { format!("{what} (api.access events)") } else { what }
    }
}

/// Pulls the configured audit logs until `stop` turns true (or, with
/// `once`, until each is caught up). `name` labels the rows.
pub async fn pull(
    lake: &Lake,
    registry: &Registry,
    config: &SnykConfig,
    name: &str,
    once: bool,
    mut stop: watch::Receiver<bool>,
    on_event: &mut (dyn FnMut(Level, &str, &SnykReport) + Send),
) -> Result<SnykReport, IngestError> {
    config.check().map_err(IngestError::Source)?;
    let token = config.token().map_err(IngestError::Source)?;
    let token_source = match &config.token_file {
        Some(path) => format!("the token file {}", path.display()),
        None => config.token_env.clone(),
    };
    let client = Client::new(&config.api_url, token, token_source)?;
    let mut report = SnykReport::default();
    loop {
        let logs = match logs(&client, config, name, &mut report, on_event).await {
            Ok(logs) => logs,
            Err(e) if !once && passing(&e) => {
                on_event(Level::Warning, &format!("{e}; trying again at the next poll"), &report);
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        report.silent = 0;
        // This puller is the only one to move these checkpoints (a commit
        // says so if not), so one read of the lake serves the whole poll.
        let checkpoints = if logs.is_empty() { Default::default() } else { lake.snapshot()?.checkpoints };
        for log in &logs {
            if *stop.borrow() {
                break;
            }
            let log_type = registry.get(log.log_type())?;
            let stored = checkpoints.get(&log.key()).cloned();
            match pull_log(lake, &client, config, log, log_type, stored, &mut stop, &mut report, on_event).await {
                Ok(()) => {}
                Err(IngestError::Snyk(e @ (SnykError::NotFound { .. } | SnykError::Refused { status: 403, .. }))) if log.child => {
                    on_event(Level::Warning, &format!("skipped: {e}"), &report);
                }
                Err(e) if !once && passing(&e) => {
                    on_event(Level::Warning, &format!("{e}; trying again at the next poll"), &report);
                }
                Err(e) => return Err(e),
            }
        }
        if once || *stop.borrow() {
            break;
        }
        on_event(Level::Info, "", &report);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(config.frequency.max(1))) => {}
            Ok(()) = stop.changed() => {}
        }
    }
    Ok(report)
}

/// Whether a failure may pass by itself (an outage, a bad page), so a
/// long-running puller tries again at its next poll instead of stopping.
fn passing(error: &IngestError) -> bool {
    matches!(error, IngestError::Snyk(SnykError::GaveUp { .. } | SnykError::Malformed { .. }))
}

/// The audit logs to read this poll: the org, or the group and (with
/// `include_orgs`) each org the group has now.
async fn logs(
    client: &Client,
    config: &SnykConfig,
    name: &str,
    report: &mut SnykReport,
    on_event: &mut (dyn FnMut(Level, &str, &SnykReport) + Send),
) -> Result<Vec<Log>, IngestError> {
    let mut logs = Vec::new();
    let top = match (&config.org, &config.group) {
        (Some(org), _) => Log { kind: "org", id: org.clone(), label: name.to_string(), api_access: false, child: false },
        (None, Some(group)) => Log { kind: "group", id: group.clone(), label: name.to_string(), api_access: false, child: false },
        (None, None) => unreachable!("checked by SnykConfig::check"),
    };
    logs.push(top.clone());
    if config.include_orgs {
        for (id, org_name) in group_orgs(client, &top.id, report, on_event).await? {
            logs.push(Log { kind: "org", id, label: format!("{name}/{org_name}"), api_access: false, child: true });
        }
    }
    if config.include_api_access {
        let access: Vec<Log> = logs.iter().map(|l| Log { api_access: true, ..l.clone() }).collect();
        logs.extend(access);
    }
    report.logs = logs.len() as u64;
    Ok(logs)
}

#[derive(Deserialize)]
struct OrgList {
    data: Vec<OrgEntry>,
    #[serde(default)]
    links: Option<Links>,
}

#[derive(Deserialize)]
struct OrgEntry {
    id: String,
    #[serde(default)]
    attributes: Option<OrgAttributes>,
}

#[derive(Deserialize)]
struct OrgAttributes {
    #[serde(default)]
    slug: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize, Default)]
struct Links {
    #[serde(default)]
    next: Option<String>,
}

/// The group's orgs (id, slug or name), through the REST API.
async fn group_orgs(
    client: &Client,
    group: &str,
    report: &mut SnykReport,
    on_event: &mut (dyn FnMut(Level, &str, &SnykReport) + Send),
) -> Result<Vec<(String, String)>, IngestError> {
    let what = format!("the orgs of group {group} (this needs the `View Organizations` permission too)");
    let target = Target { what: &what, kind: "group" };
    let mut url = client.url(&format!("rest/groups/{group}/orgs"))?;
    url.query_pairs_mut().append_pair("version", REST_VERSION).append_pair("limit", PAGE_SIZE);
    let mut orgs = Vec::new();
    loop {
        let page = client
            .fetch(
                Method::GET,
                url,
                None,
                &target,
                |body| serde_json::from_slice::<OrgList>(body).map_err(|e| e.to_string()),
                &mut |line| on_event(Level::Warning, line, report),
            )
            .await?;
        for org in page.value.data {
            let attributes = org.attributes.unwrap_or(OrgAttributes { slug: None, name: None });
            let shown = attributes.slug.or(attributes.name).unwrap_or_else(|| org.id.clone());
            orgs.push((org.id, shown));
        }
        match page.value.links.unwrap_or_default().next {
            Some(next) => url = client.url(&next)?,
            None => return Ok(orgs),
        }
    }
}

#[derive(Deserialize)]
struct RestPage {
    data: RestData,
    #[serde(default)]
    links: Option<Links>,
}

#[derive(Deserialize)]
struct RestData {
    items: Vec<Box<RawValue>>,
}

/// Where the next page comes from.
enum Paging {
    Rest(Option<reqwest::Url>),
    V1 { page: u32, done: bool },
}

/// A chunk being gathered for one commit.
struct Gathered {
    tx: Transaction,
    builder: RowBuilder,
    records: u64,
    quarantined: u64,
}

impl Gathered {
    fn new(lake: &Lake, log_type: &Arc<LogType>) -> Result<Gathered, IngestError> {
        Ok(Gathered { tx: lake.begin()?, builder: RowBuilder::new(log_type.clone()), records: 0, quarantined: 0 })
    }

    fn flush(&mut self) -> Result<(), IngestError> {
        Ok(crate::ingest::flush(&mut self.tx, &mut self.builder)?)
    }
}

/// Reads one audit log from its checkpoint (`stored`, as the lake holds it)
/// to the newest record, a commit per chunk; what was gathered before a failure is committed first.
#[allow(clippy::too_many_arguments)]
async fn pull_log(
    lake: &Lake,
    client: &Client,
    config: &SnykConfig,
    log: &Log,
    log_type: Arc<LogType>,
    mut stored: Option<Value>,
    stop: &mut watch::Receiver<bool>,
    report: &mut SnykReport,
    on_event: &mut (dyn FnMut(Level, &str, &SnykReport) + Send),
) -> Result<(), IngestError> {
    let key = log.key();
    let what = log.what();
    let checkpoint: Option<Checkpoint> = stored.clone().map(serde_json::from_value).transpose().map_err(|e| {
        IngestError::Source(format!("the lake's checkpoint of {what} is damaged ({e}); remove its line from _tarn/log.jsonl"))
    })?;
    let now = crate::now_micros();
    let since = checkpoint.as_ref().map_or_else(|| rfc3339(now), |c| c.since.clone());
    let mut alarmed = checkpoint.as_ref().and_then(|c| c.alarmed.clone());
    let mut cursor = Cursor::new(checkpoint.as_ref());
    let oldest = now - SNYK_KEEPS.as_micros() as i64 + 60 * MICROS;
    let from = config.from().map_err(IngestError::Source)?;
    let start = match (cursor.last(), from) {
        (Some(last), Some(_)) => {
            on_event(
                Level::Info,
                &format!("{what}: the lake holds it up to {}; --from applies only to a log never pulled", rfc3339(last)),
                report,
            );
            last
        }
        (Some(last), None) => last,
        (None, Some(from)) if from < oldest => {
            on_event(Level::Warning, &format!("{what}: Snyk keeps 90 days of audit logs; starting at {}", rfc3339(oldest)), report);
            oldest
        }
        (None, Some(from)) => from,
        (None, None) => now - DEFAULT_REACH.as_micros() as i64,
    };
    let provenance = |shown: &str| Provenance {
        source_id: key.trim_end_matches(":api.access").to_string(),
        source_label: log.label.clone(),
        source_file: Some(shown.to_string()),
    };
    let target = Target { what: &what, kind: log.kind };
    let mut paging = match config.api {
        Api::Rest => {
            let mut url = client.url(&format!("rest/{}s/{}/audit_logs/search", log.kind, log.id))?;
            url.query_pairs_mut()
                .append_pair("version", REST_VERSION)
                .append_pair("from", &rfc3339(start))
                .append_pair("size", PAGE_SIZE)
                .append_pair("sort_order", "ASC");
            if log.api_access {
                url.query_pairs_mut().append_pair("events", "api.access");
            }
            Paging::Rest(Some(url))
        }
        Api::V1 => Paging::V1 { page: 1, done: false },
    };
    let v1_filters = if log.api_access {
        serde_json::json!({"filters": {"event": "api.access"}})
    } else {
        serde_json::json!({"filters": {"excludeEvent": "api.access"}})
    };
    let day = |micros: i64| chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default().format("%Y-%m-%d").to_string();
    let (v1_from, v1_to) = (day(start), day(now));
    let mut gathered = Gathered::new(lake, &log_type)?;
    let mut failure = None;
    loop {
        if *stop.borrow() {
            break;
        }
        let (method, url, body) = match &paging {
            Paging::Rest(None) | Paging::V1 { done: true, .. } => break,
            Paging::Rest(Some(url)) => (Method::GET, url.clone(), None),
            Paging::V1 { page, .. } => {
                let mut url = client.url(&format!("v1/{}/{}/audit", log.kind, log.id))?;
                url.query_pairs_mut()
                    .append_pair("from", &v1_from)
                    .append_pair("to", &v1_to)
                    .append_pair("page", &page.to_string())
                    .append_pair("sortOrder", "ASC");
                (Method::POST, url, Some(&v1_filters))
            }
        };
        let read = match config.api {
            Api::Rest => parse_rest_page,
            Api::V1 => parse_v1_page,
        };
        let mut on_retry = |line: &str| on_event(Level::Warning, &format!("{what}: {line}"), report);
        let fetch = client.fetch(method, url, body, &target, read, &mut on_retry);
        // A stop does not wait for retries or a 429's wait: what is gathered is committed.
        let fetched = tokio::select! {
            fetched = fetch => fetched.map(|page| (page.value.0, page.value.1, page.shown)),
            Ok(()) = stop.changed() => break,
        };
        let (items, next, shown) = match fetched {
            Ok(fetched) => fetched,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        match &mut paging {
            Paging::Rest(url) => *url = next.map(|n| client.url(&n)).transpose()?,
            Paging::V1 { page, done } => {
                *done = items.is_empty();
                *page += 1;
            }
        }
        report.pages += 1;
        let provenance = provenance(&shown);
        let parsed_at = crate::now_micros();
        for (index, item) in items.iter().enumerate() {
            report.records += 1;
            let text = item.get();
            let value: Value = serde_json::from_str(text).expect("a RawValue is JSON");
            let value = super::to_schema_names(&log_type.name, value);
            if let Some(created) = value.get("created").and_then(Value::as_str).and_then(parse_time)
                && !cursor.admit(created, &fingerprint(&value))
            {
                report.already_ingested += 1;
                continue;
            }
            gathered.records += 1;
            if let Err(refusal) = gathered.builder.push(text, value, &provenance, parsed_at) {
                gathered.quarantined += 1;
                gathered.tx.quarantine(QuarantineRow {
                    log_type: log_type.name.clone(),
                    reason: refusal.0,
                    raw: text.to_string(),
                    source_id: provenance.source_id.clone(),
                    source_label: provenance.source_label.clone(),
                    source_file: provenance.source_file.clone(),
                    position: index as u64 + 1,
                    parse_time: parsed_at,
                });
            }
            if gathered.builder.len() >= BATCH_ROWS {
                gathered.flush()?;
            }
        }
        if gathered.records >= config.chunk_size.max(1) {
            let value = serde_json::to_value(cursor.checkpoint(&since, alarmed.clone())).expect("a checkpoint serialises");
            commit(std::mem::replace(&mut gathered, Gathered::new(lake, &log_type)?), &key, stored.clone(), value.clone(), &what, report)?;
            stored = Some(value);
            on_event(Level::Info, "", report);
        }
    }
    // The drop-off alarm looks at the ordinary events only.
    let mut alarm = None;
    if let (Some(after), false, None) = (config.alarm_after().map_err(IngestError::Source)?, log.api_access, &failure) {
        let quiet_from = cursor.last().unwrap_or_else(|| parse_time(&since).unwrap_or(now));
        let now = crate::now_micros();
        let silent = Duration::from_micros((now - quiet_from).max(0) as u64);
        if silent >= after {
            report.silent += 1;
            let newest = cursor.last().map_or_else(|| format!("none since tarn started pulling it at {since}"), rfc3339);
            let message = format!(
                "log drop-off: no events from Snyk {} ({}) for {} (alarm after {}); newest event: {newest}",
                log.what(),
                log.label,
                crate::duration::show(silent),
                crate::duration::show(after)
            );
            on_event(Level::Error, &message, report);
            // One alarm row a silence: none yet, or the last was raised before the newest event.
            let raised_before = alarmed.as_deref().and_then(parse_time);
            if raised_before.is_none_or(|raised| raised < quiet_from) {
                alarm = Some(AlarmRow {
                    alarm: "log drop-off".into(),
                    source_id: key.clone(),
                    source_label: log.label.clone(),
                    log_type: log_type.name.clone(),
                    message,
                    last_event_time: cursor.last(),
                    silent_seconds: silent.as_secs() as i64,
                    threshold_seconds: after.as_secs() as i64,
                    raised_at: now,
                });
                alarmed = Some(rfc3339(now));
            }
        } else {
            alarmed = None;
        }
    }
    let value = serde_json::to_value(cursor.checkpoint(&since, alarmed)).expect("a checkpoint serialises");
    if stored.as_ref() != Some(&value) || alarm.is_some() {
        if let Some(alarm) = alarm {
            gathered.tx.write(ALARMS_TABLE, &alarms_batch(&[alarm]).map_err(crate::lake::LakeError::from)?)?;
            report.alarms_raised += 1;
        }
        commit(gathered, &key, stored, value, &what, report)?;
    }
    on_event(Level::Info, "", report);
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Commits a chunk with the checkpoint that covers it.
fn commit(
    mut gathered: Gathered,
    key: &str,
    expected: Option<Value>,
    checkpoint: Value,
    what: &str,
    report: &mut SnykReport,
) -> Result<(), IngestError> {
    gathered.flush()?;
    gathered.tx.checkpoint(key, expected, checkpoint);
    match gathered.tx.commit("pull snyk", false)? {
        CommitOutcome::Committed { rows, .. } => {
            report.commits += 1;
            report.rows += rows;
            report.quarantined += gathered.quarantined;
            Ok(())
        }
        CommitOutcome::Empty => Ok(()),
        CommitOutcome::AlreadyConsumed(_) => Err(IngestError::Source(format!(
            "another tarn moved the checkpoint of Snyk {what} while this one was pulling it; this chunk was not committed (run one puller per source)"
        ))),
    }
}

/// A REST search page: its items and the next page's path.
fn parse_rest_page(body: &[u8]) -> Result<(Vec<Box<RawValue>>, Option<String>), String> {
    let page: RestPage = serde_json::from_slice(body).map_err(|e| format!("not an audit-log search page: {e}"))?;
    Ok((page.data.items, page.links.unwrap_or_default().next))
}

/// A v1 page: a bare array of records (the next page is the next number).
fn parse_v1_page(body: &[u8]) -> Result<(Vec<Box<RawValue>>, Option<String>), String> {
    let items = serde_json::from_slice(body).map_err(|e| format!("not a JSON array of audit records: {e}"))?;
    Ok((items, None))
}
