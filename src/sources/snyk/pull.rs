//! The Snyk puller: reads each audit log (a group's, its orgs', an org's)
//! oldest first from its checkpoint, decodes the records under
//! `Snyk.GroupAudit` / `Snyk.OrgAudit`, and commits them a chunk at a time
//! together with the checkpoint that covers them. Then it waits and polls
//! again, or with `once` exits. A source quiet for longer than `alarm_after`
//! raises a drop-off alarm.

use super::client::{Client, Target};
use super::config::{Api, SnykConfig};
use super::cursor::{Checkpoint, Cursor, FROM_API, FROM_EVENTBRIDGE, audit_key, fingerprint, parse_time, rfc3339};
use super::error::SnykError;
use crate::ingest::{Chunk, Committed, Fill, IngestError, Record, Settled, Source, drive};
use crate::lake::{ALARMS_TABLE, AlarmRow, Lake, alarms_batch};
use crate::schema::{LogType, Provenance, Registry};
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

impl SnykReport {
    /// The counts a progress line shows.
    pub fn counts(&self) -> String {
        format!("{} pages, {} rows, {} quarantined", self.pages, self.rows, self.quarantined)
    }
}

impl std::fmt::Display for SnykReport {
    /// The summary line of a pull.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} audit logs, {} pages, {} records: {} rows in {} commits; {} already in the lake; {} quarantined; {} silent past the alarm ({} alarms raised)",
            self.logs,
            self.pages,
            self.records,
            self.rows,
            self.commits,
            self.already_ingested,
            self.quarantined,
            self.silent,
            self.alarms_raised
        )
    }
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

/// The Snyk puller as a source of the ingest driver: a poll reads every
/// audit log in turn, a page at a time; a chunk closes when it is full or a
/// log is caught up, and carries that log's checkpoint.
struct Puller<'a> {
    registry: &'a Registry,
    config: &'a SnykConfig,
    name: &'a str,
    client: Client,
    once: bool,
    /// The logs of this poll not read yet, and the lake's checkpoints at its start.
    logs: std::collections::VecDeque<Log>,
    checkpoints: std::collections::HashMap<String, Value>,
    /// The log being read.
    current: Option<LogRead>,
    /// The checkpoint the chunk in flight moves the current log to, and the
    /// log (as messages name it).
    moving: Option<(Value, String)>,
    /// Whether a poll is under way (its logs are being read).
    in_poll: bool,
    /// The log the chunk in flight read from.
    chunk_log: Option<Log>,
    lake: &'a Lake,
    report: SnykReport,
}

/// Pulls the configured audit logs until `stop` turns true (or, with
/// `once`, until each is caught up). `name` labels the rows.
pub async fn pull(
    lake: &Lake,
    registry: &Registry,
    config: &SnykConfig,
    name: &str,
    once: bool,
    stop: watch::Receiver<bool>,
) -> Result<SnykReport, IngestError> {
    config.check().map_err(IngestError::source)?;
    let token = config.token().map_err(IngestError::source)?;
    let token_source = match &config.token_file {
        Some(path) => format!("the token file {}", path.display()),
        None => config.token_env.clone(),
    };
    let client = Client::new(&config.api_url, token, token_source).map_err(IngestError::source)?;
    let mut puller = Puller {
        registry,
        config,
        name,
        client,
        once,
        logs: Default::default(),
        checkpoints: Default::default(),
        current: None,
        moving: None,
        in_poll: false,
        chunk_log: None,
        lake,
        report: SnykReport::default(),
    };
    drive(lake, &mut puller, once, stop).await?;
    Ok(puller.report)
}

#[async_trait::async_trait]
impl Source for Puller<'_> {
    fn operation(&self) -> &'static str {
        "pull snyk"
    }

    fn idle_wait(&self) -> Duration {
        Duration::from_secs(self.config.frequency.max(1))
    }

    async fn fill(&mut self, chunk: &Chunk, stop: &mut watch::Receiver<bool>) -> Result<Fill, IngestError> {
        if self.current.is_none() {
            if self.logs.is_empty() && std::mem::take(&mut self.in_poll) {
                return Ok(Fill::Idle); // the poll is over
            }
            if self.logs.is_empty() && !self.start_poll().await? {
                return Ok(Fill::Idle);
            }
            let Some(log) = self.logs.pop_front() else { return Ok(Fill::Idle) };
            let log_type = self.registry.get(log.log_type())?;
            let stored = self.checkpoints.get(&log.key()).cloned();
            self.current = Some(LogRead::start(&self.client, self.config, log, log_type, stored, &mut self.report)?);
        }
        let Some(read) = self.current.as_mut() else { return Ok(Fill::Idle) };
        self.chunk_log = Some(read.log.clone());
        let failure = match read.pages(&self.client, self.config, chunk, stop, &mut self.report).await? {
            Paged::Full => {
                self.moving = read.checkpoint_move(chunk, None, &mut self.report)?;
                return Ok(Fill::More);
            }
            Paged::End(failure) => failure,
        };
        let alarm = if failure.is_none() { read.drop_off(self.config, &mut self.report)? } else { None };
        self.moving = read.checkpoint_move(chunk, alarm, &mut self.report)?;
        let log = read.log.clone();
        self.current = None;
        match failure {
            None => Ok(Fill::More),
            Some(e @ (SnykError::NotFound { .. } | SnykError::Refused { status: 403, .. })) if log.child => {
                tracing::warn!("skipped: {e}");
                Ok(Fill::More)
            }
            Some(e) if !self.once && passing(&e) => {
                tracing::warn!("{e}; trying again at the next poll");
                Ok(Fill::More)
            }
            Some(e) => Ok(Fill::Failed(IngestError::source(e))),
        }
    }

    async fn settle(&mut self, settled: Settled) -> Result<(), IngestError> {
        let moving = self.moving.take();
        match settled.outcome {
            Committed::Rows(rows) => {
                self.report.commits += 1;
                self.report.rows += rows;
                self.report.quarantined += settled.quarantined;
            }
            Committed::Empty => {}
            Committed::Raced { lost, .. } if lost.iter().all(|l| l.starts_with(FROM_API) || l.starts_with(FROM_EVENTBRIDGE)) => {
                // `pull sqs` landed some of these records from EventBridge
                // first: nothing of the chunk is in the lake. Read the log
                // again from its checkpoint; the ledger now skips those.
                let log = self.current.take().map(|read| read.log).or_else(|| self.chunk_log.clone());
                if let Some(log) = log {
                    tracing::info!(counts = %self.report.counts(), "{}: some records came through EventBridge meanwhile; reading it again", log.what());
                    self.logs.push_front(log);
                }
                self.checkpoints = self.lake.snapshot()?.checkpoints;
                return Ok(());
            }
            Committed::Raced { .. } => {
                let what = moving.map_or_else(|| "an audit log".to_string(), |(_, what)| what);
                return Err(IngestError::source(SnykError::Setup(format!(
                    "another tarn moved the checkpoint of Snyk {what} while this one was pulling it; this chunk was not committed (run one puller per source)"
                ))));
            }
        }
        tracing::info!(counts = %self.report.counts(), "");
        if let (Some(read), Some((moved, _))) = (self.current.as_mut(), moving) {
            read.stored = Some(moved);
        }
        Ok(())
    }

    fn uses_ledger(&self) -> bool {
        // Records carried by EventBridge are in the ledger (the puller
        // itself resumes from its checkpoint).
        true
    }
}

impl Puller<'_> {
    /// Starts a poll: lists the logs and reads the lake's checkpoints. False
    /// when the poll has nothing to read.
    async fn start_poll(&mut self) -> Result<bool, IngestError> {
        let logs = match logs(&self.client, self.config, self.name, &mut self.report).await {
            Ok(logs) => logs,
            Err(e) if !self.once && passing(&e) => {
                tracing::warn!("{e}; trying again at the next poll");
                Vec::new()
            }
            Err(e) => return Err(IngestError::source(e)),
        };
        self.report.silent = 0;
        // This puller is the only one to move these checkpoints (a commit
        // says so if not), so one read of the lake serves the whole poll.
        if !logs.is_empty() {
            self.checkpoints = self.lake.snapshot()?.checkpoints;
        }
        self.logs = logs.into();
        self.in_poll = !self.logs.is_empty();
        Ok(self.in_poll)
    }
}

/// Whether a failure may pass by itself (an outage, a bad page), so a
/// long-running puller tries again at its next poll instead of stopping.
fn passing(error: &SnykError) -> bool {
    matches!(error, SnykError::GaveUp { .. } | SnykError::Malformed { .. })
}

/// The audit logs to read this poll: the org, or the group and (with
/// `include_orgs`) each org the group has now.
async fn logs(client: &Client, config: &SnykConfig, name: &str, report: &mut SnykReport) -> Result<Vec<Log>, SnykError> {
    let mut logs = Vec::new();
    let top = match (&config.org, &config.group) {
        (Some(org), _) => Log { kind: "org", id: org.clone(), label: name.to_string(), api_access: false, child: false },
        (None, Some(group)) => Log { kind: "group", id: group.clone(), label: name.to_string(), api_access: false, child: false },
        (None, None) => return Err(SnykError::Setup("give the org or group whose audit log to pull (--org ID or --group ID)".into())),
    };
    logs.push(top.clone());
    if config.include_orgs {
        for (id, org_name) in group_orgs(client, &top.id).await? {
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
async fn group_orgs(client: &Client, group: &str) -> Result<Vec<(String, String)>, SnykError> {
    let what = format!("the orgs of group {group} (this needs the `View Organizations` permission too)");
    let target = Target { what: &what, kind: "group" };
    let mut url = client.url(&format!("rest/groups/{group}/orgs"))?;
    url.query_pairs_mut().append_pair("version", REST_VERSION).append_pair("limit", PAGE_SIZE);
    let mut orgs = Vec::new();
    loop {
        let page = client
            .fetch(Method::GET, url, None, &target, |body| serde_json::from_slice::<OrgList>(body).map_err(|e| e.to_string()))
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

/// How reading pages ended.
enum Paged {
    /// The chunk is full; the log goes on in the next chunk.
    Full,
    /// The log is caught up, stopped, or failed (the error).
    End(Option<SnykError>),
}

/// One audit log being read from its checkpoint to the newest record.
struct LogRead {
    log: Log,
    log_type: Arc<LogType>,
    key: String,
    what: String,
    /// The checkpoint as the lake holds it (what a commit expects to move).
    stored: Option<Value>,
    since: String,
    alarmed: Option<String>,
    cursor: Cursor,
    paging: Paging,
    v1_window: (String, String),
    /// When the read started, microseconds.
    now: i64,
    /// Until when the ledger remembers the records it lands.
    remember_until: i64,
}

impl LogRead {
    /// Starts reading `log` from its checkpoint (`stored`, as the lake holds it).
    fn start(
        client: &Client,
        config: &SnykConfig,
        log: Log,
        log_type: Arc<LogType>,
        stored: Option<Value>,
        report: &mut SnykReport,
    ) -> Result<LogRead, IngestError> {
        let key = log.key();
        let what = log.what();
        let checkpoint: Option<Checkpoint> = stored.clone().map(serde_json::from_value).transpose().map_err(|e| {
            IngestError::source(SnykError::Setup(format!(
                "the lake's checkpoint of {what} is damaged ({e}); remove its line from _tarn/log.jsonl"
            )))
        })?;
        let now = crate::now_micros();
        let since = checkpoint.as_ref().map_or_else(|| rfc3339(now), |c| c.since.clone());
        let alarmed = checkpoint.as_ref().and_then(|c| c.alarmed.clone());
        let cursor = Cursor::new(checkpoint.as_ref());
        let oldest = now - SNYK_KEEPS.as_micros() as i64 + 60 * MICROS;
        let from = config.from().map_err(IngestError::source)?;
        let start = match (cursor.last(), from) {
            (Some(last), Some(_)) => {
                tracing::info!(
                    counts = %report.counts(),
                    "{what}: the lake holds it up to {}; --from applies only to a log never pulled",
                    rfc3339(last)
                );
                last
            }
            (Some(last), None) => last,
            (None, Some(from)) if from < oldest => {
                tracing::warn!("{what}: Snyk keeps 90 days of audit logs; starting at {}", rfc3339(oldest));
                oldest
            }
            (None, Some(from)) => from,
            (None, None) => now - DEFAULT_REACH.as_micros() as i64,
        };
        let paging = match config.api {
            Api::Rest => {
                let mut url = client.url(&format!("rest/{}s/{}/audit_logs/search", log.kind, log.id)).map_err(IngestError::source)?;
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
        let day = |micros: i64| chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default().format("%Y-%m-%d").to_string();
        let v1_window = (day(start), day(now));
        let window = config.dedupe_window().map_err(IngestError::source)?;
        let remember_until = now.saturating_add(window.as_micros().min(i64::MAX as u128) as i64);
        Ok(LogRead { log, log_type, key, what, stored, since, alarmed, cursor, paging, v1_window, now, remember_until })
    }

    /// Reads pages into `chunk` until it is full, the log is caught up, a
    /// page fails or `stop` turns true.
    async fn pages(
        &mut self,
        client: &Client,
        config: &SnykConfig,
        chunk: &Chunk,
        stop: &mut watch::Receiver<bool>,
        report: &mut SnykReport,
    ) -> Result<Paged, IngestError> {
        let v1_filters = if self.log.api_access {
            serde_json::json!({"filters": {"event": "api.access"}})
        } else {
            serde_json::json!({"filters": {"excludeEvent": "api.access"}})
        };
        let what = self.what.clone();
        let target = Target { what: &what, kind: self.log.kind };
        loop {
            if *stop.borrow() {
                return Ok(Paged::End(None));
            }
            let (method, url, body) = match &self.paging {
                Paging::Rest(None) | Paging::V1 { done: true, .. } => return Ok(Paged::End(None)),
                Paging::Rest(Some(url)) => (Method::GET, url.clone(), None),
                Paging::V1 { page, .. } => {
                    let mut url = client.url(&format!("v1/{}/{}/audit", self.log.kind, self.log.id)).map_err(IngestError::source)?;
                    url.query_pairs_mut()
                        .append_pair("from", &self.v1_window.0)
                        .append_pair("to", &self.v1_window.1)
                        .append_pair("page", &page.to_string())
                        .append_pair("sortOrder", "ASC");
                    (Method::POST, url, Some(&v1_filters))
                }
            };
            let read = match config.api {
                Api::Rest => parse_rest_page,
                Api::V1 => parse_v1_page,
            };
            let fetch = client.fetch(method, url, body, &target, read);
            // A stop does not wait for retries or a 429's wait: what is gathered is committed.
            let fetched = tokio::select! {
                fetched = fetch => fetched.map(|page| (page.value.0, page.value.1, page.shown)),
                Ok(()) = stop.changed() => return Ok(Paged::End(None)),
            };
            let (items, next, shown) = match fetched {
                Ok(fetched) => fetched,
                Err(e) => return Ok(Paged::End(Some(e))),
            };
            match &mut self.paging {
                Paging::Rest(url) => *url = next.map(|n| client.url(&n)).transpose().map_err(IngestError::source)?,
                Paging::V1 { page, done } => {
                    *done = items.is_empty();
                    *page += 1;
                }
            }
            report.pages += 1;
            self.push_page(chunk, &items, &shown, report)?;
            // A chunk holds one log's records (a fill reads one log).
            if chunk.records() >= config.chunk_size.max(1) {
                return Ok(Paged::Full);
            }
        }
    }

    /// Decodes a page's new records into the chunk.
    fn push_page(&mut self, chunk: &Chunk, items: &[Box<RawValue>], shown: &str, report: &mut SnykReport) -> Result<(), IngestError> {
        let provenance = Provenance {
            source_id: self.key.trim_end_matches(":api.access").to_string(),
            source_label: self.log.label.clone(),
            source_file: Some(shown.to_string()),
        };
        let parsed_at = crate::now_micros();
        for (index, item) in items.iter().enumerate() {
            report.records += 1;
            let text = item.get();
            let value = serde_json::from_str::<Value>(text).map(|v| super::to_schema_names(&self.log_type.name, v));
            if let Ok(value) = &value
                && let Some(created) = value.get("created").and_then(Value::as_str).and_then(parse_time)
                && !self.cursor.admit(created, &fingerprint(value))
            {
                report.already_ingested += 1;
                continue;
            }
            // The same record carried by EventBridge (`pull sqs`) is in the lake already.
            let value = value.ok();
            if let Some(carried) = value.as_ref().and_then(|v| audit_key(FROM_EVENTBRIDGE, v))
                && chunk.has_seen(&carried)
            {
                report.already_ingested += 1;
                continue;
            }
            let record = Record { text, position: index as u64 + 1 };
            let refused = chunk.push(&self.log_type, record, super::schema_names, &provenance, parsed_at)?;
            if refused.is_none()
                && let Some(pulled) = value.as_ref().and_then(|v| audit_key(FROM_API, v))
            {
                // Identical records both land (the cursor counts them); the
                // key only tells the EventBridge path this one is here.
                chunk.claim(&pulled, Some(self.remember_until));
            }
        }
        Ok(())
    }

    /// The drop-off alarm (ordinary events only): the alarm row to write,
    /// if the log has been silent past `alarm_after` and not alarmed yet.
    fn drop_off(&mut self, config: &SnykConfig, report: &mut SnykReport) -> Result<Option<AlarmRow>, IngestError> {
        let Some(after) = config.alarm_after().map_err(IngestError::source)? else { return Ok(None) };
        if self.log.api_access {
            return Ok(None);
        }
        let quiet_from = self.cursor.last().unwrap_or_else(|| parse_time(&self.since).unwrap_or(self.now));
        let now = crate::now_micros();
        let silent = Duration::from_micros((now - quiet_from).max(0) as u64);
        if silent < after {
            self.alarmed = None;
            return Ok(None);
        }
        report.silent += 1;
        let newest = self.cursor.last().map_or_else(|| format!("none since tarn started pulling it at {}", self.since), rfc3339);
        let message = format!(
            "log drop-off: no events from Snyk {} ({}) for {} (alarm after {}); newest event: {newest}",
            self.log.what(),
            self.log.label,
            crate::duration::show(silent),
            crate::duration::show(after)
        );
        tracing::error!("{message}");
        // One alarm row a silence: none yet, or the last was raised before the newest event.
        let raised_before = self.alarmed.as_deref().and_then(parse_time);
        if raised_before.is_some_and(|raised| raised >= quiet_from) {
            return Ok(None);
        }
        self.alarmed = Some(rfc3339(now));
        Ok(Some(AlarmRow {
            alarm: "log drop-off".into(),
            source_id: self.key.clone(),
            source_label: self.log.label.clone(),
            log_type: self.log_type.name.clone(),
            message,
            last_event_time: self.cursor.last(),
            silent_seconds: silent.as_secs() as i64,
            threshold_seconds: after.as_secs() as i64,
            raised_at: now,
        }))
    }

    /// Puts the log's checkpoint (and an alarm row) in the chunk when it
    /// moved; returns the checkpoint the chunk moves it to.
    fn checkpoint_move(
        &mut self,
        chunk: &Chunk,
        alarm: Option<AlarmRow>,
        report: &mut SnykReport,
    ) -> Result<Option<(Value, String)>, IngestError> {
        let checkpoint = self.cursor.checkpoint(&self.since, self.alarmed.clone());
        let value = serde_json::to_value(checkpoint)
            .map_err(|e| IngestError::source(SnykError::Setup(format!("cannot write the checkpoint of {}: {e}", self.what))))?;
        if self.stored.as_ref() == Some(&value) && alarm.is_none() && chunk.records() == 0 {
            return Ok(None);
        }
        if let Some(alarm) = alarm {
            chunk.write(ALARMS_TABLE, &alarms_batch(&[alarm]).map_err(crate::lake::LakeError::from)?)?;
            report.alarms_raised += 1;
        }
        chunk.checkpoint(&self.key, self.stored.clone(), value.clone());
        Ok(Some((value, self.what.clone())))
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
