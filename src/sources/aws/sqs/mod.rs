//! The SQS intake (Sekoia-style): S3 objects announced on a queue are
//! downloaded, decoded and committed in chunks; each message is deleted only
//! after everything it announced is committed. A message whose object cannot
//! be read comes back (the queue's visibility timeout) and is retried; after
//! `max_receives` tries it is quarantined with the reason and deleted, so
//! nothing blocks the queue and nothing is silently lost.

pub mod message;

use super::cloudtrail::log_type_for;
use super::s3::ObjectRef;
use super::s3::{Downloads, fetch, input_id, skip_reason};
use super::{AwsError, AwsOptions};
use crate::ingest::{Chunk, Committed, DecodeSettings, Decoded, Fill, IngestError, Job, Settled, Source, drive, quarantine_row};
use crate::lake::Lake;
use crate::schema::{LogType, Provenance, Registry};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use message::Notice;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// A queue to pull: `tarn pull sqs`'s flags and a `type: sqs` source's keys,
/// with one set of defaults.
#[derive(Debug, Clone, PartialEq, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct SqsConfig {
    #[arg(long)]
    pub queue_url: String,
    /// AWS region (default: the standard AWS resolution).
    #[serde(default)]
    #[arg(long)]
    pub region: Option<String>,
    /// An S3/SQS-compatible endpoint (also AWS_ENDPOINT_URL); uses path-style S3 addressing.
    #[serde(default)]
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// Records gathered before a commit.
    #[serde(default = "default_chunk_size")]
    #[arg(long, default_value_t = default_chunk_size())]
    pub chunk_size: u64,
    /// Seconds between polls when the queue was empty.
    #[serde(default = "default_frequency")]
    #[arg(long, default_value_t = default_frequency())]
    pub frequency: u64,
    #[serde(default = "default_true")]
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub delete_consumed_messages: bool,
    /// The log type of objects whose keys are not CloudTrail's.
    #[serde(default)]
    #[arg(long)]
    pub log_type: Option<String>,
    /// Receives of a message whose object cannot be read before it is quarantined.
    #[serde(default = "default_max_receives")]
    #[arg(long, default_value_t = default_max_receives())]
    pub max_receives: u32,
    /// Seconds a received message stays hidden (extended while it is worked on).
    #[serde(default = "default_visibility")]
    #[arg(long, default_value_t = default_visibility())]
    pub visibility_timeout: u32,
    /// Records larger than this are quarantined with their size and first
    /// bytes (bytes, or a number with KB, MB or GB).
    #[serde(default = "default_max_record_size")]
    #[arg(long, default_value = "16MB", value_parser = crate::formats::json::parse_record_size)]
    pub max_record_size: usize,
    /// How long an EventBridge event id (and a Snyk audit record it
    /// carries) is remembered, so a redelivery, or the same record pulled
    /// from the Snyk API, adds no second row (`24h`).
    #[serde(default = "default_dedupe_window")]
    #[arg(long, default_value = "24h")]
    pub dedupe_window: String,
}

fn default_dedupe_window() -> String {
    "24h".into()
}

fn default_max_record_size() -> usize {
    crate::formats::json::DEFAULT_MAX_RECORD
}

fn default_chunk_size() -> u64 {
    10_000
}
fn default_frequency() -> u64 {
    10
}
fn default_true() -> bool {
    true
}
fn default_max_receives() -> u32 {
    5
}
fn default_visibility() -> u32 {
    300
}

/// Downloads at once.
const DOWNLOADS: usize = 8;
/// Long-poll wait when nothing is gathered yet (the SQS maximum).
const LONG_POLL: i32 = 20;

/// What a pull did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PullReport {
    pub messages: u64,
    /// Test events and validation messages, dropped.
    pub empty_messages: u64,
    pub objects: u64,
    pub already_ingested: u64,
    pub skipped: u64,
    pub rows: u64,
    pub quarantined: u64,
    pub commits: u64,
    pub deleted: u64,
    /// Messages left on the queue to be tried again.
    pub retried: u64,
}

impl PullReport {
    /// The counts a progress line shows.
    pub fn counts(&self) -> String {
        format!("{} messages, {} objects, {} rows, {} quarantined", self.messages, self.objects, self.rows, self.quarantined)
    }
}

impl std::fmt::Display for PullReport {
    /// The summary line of a pull.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} messages ({} empty, {} deleted, {} left to retry); {} objects, {} rows in {} commits; {} already in the lake; {} skipped; {} quarantined",
            self.messages,
            self.empty_messages,
            self.deleted,
            self.retried,
            self.objects,
            self.rows,
            self.commits,
            self.already_ingested,
            self.skipped,
            self.quarantined
        )
    }
}

/// The messages of the chunk being built, and which announced which object.
#[derive(Default)]
struct Inflight {
    messages: BTreeMap<String, Held>,
    /// `s3://bucket/key` → ids of the messages that announced it.
    by_object: BTreeMap<String, Vec<String>>,
}

impl Inflight {
    /// Notes a problem with an object on every message that announced it.
    fn object_failed(&mut self, source_file: &str, problem: &str) {
        for id in self.by_object.get(source_file).into_iter().flatten() {
            if let Some(message) = self.messages.get_mut(id) {
                message.problems.push(problem.to_string());
            }
        }
    }
}

/// What becomes of one received message once its chunk is committed.
struct Held {
    receipt: String,
    body: String,
    receives: u32,
    /// Why it cannot be acknowledged yet (objects that could not be read).
    problems: Vec<String>,
}

/// The SQS intake as a source of the ingest driver.
struct Intake<'a> {
    config: &'a SqsConfig,
    registry: &'a Registry,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    settings: DecodeSettings,
    downloads: Downloads,
    once: bool,
    /// The messages of the chunk being built.
    held: Arc<Mutex<Inflight>>,
    /// Receipts to delete once the chunk is committed.
    to_delete: Vec<String>,
    report: PullReport,
    /// How long carried events are remembered.
    dedupe_window: Duration,
}

/// Pulls the queue until `stop` turns true (or, with `once`, until it is
/// empty), committing a chunk at a time.
pub async fn pull(
    lake: &Lake,
    registry: &Registry,
    config: &SqsConfig,
    once: bool,
    stop: watch::Receiver<bool>,
) -> Result<PullReport, IngestError> {
    let (s3, sqs) = super::clients(&AwsOptions { region: config.region.clone(), endpoint_url: config.endpoint_url.clone() }).await;
    if let Some(name) = &config.log_type {
        registry.get(name)?;
    }
    let settings = DecodeSettings {
        source_id: format!("sqs:{}", config.queue_url),
        source_label: label(config),
        adapt: crate::sources::adapt,
        max_record: config.max_record_size,
        accept_partial: false,
        progress: None,
    };
    let downloads = Downloads::new(lake)
        .map_err(|source| IngestError::source(AwsError::Local { path: "cannot create a download folder".into(), source }))?;
    let mut intake = Intake {
        config,
        registry,
        s3,
        sqs,
        settings,
        downloads,
        once,
        held: Arc::default(),
        to_delete: Vec::new(),
        report: PullReport::default(),
        dedupe_window: crate::duration::parse(&config.dedupe_window)
            .map_err(|e| IngestError::source(AwsError::Call { what: "dedupe_window".into(), answer: e.to_string() }))?,
    };
    drive(lake, &mut intake, once, stop).await?;
    Ok(intake.report)
}

/// The rows' `p_source_label`: the queue's name.
fn label(config: &SqsConfig) -> String {
    config.queue_url.rsplit('/').next().unwrap_or("sqs").to_string()
}

#[async_trait::async_trait]
impl Source for Intake<'_> {
    fn operation(&self) -> &'static str {
        "pull sqs"
    }

    fn idle_wait(&self) -> Duration {
        Duration::from_secs(self.config.frequency)
    }

    async fn fill(&mut self, chunk: &Chunk, stop: &mut watch::Receiver<bool>) -> Result<Fill, IngestError> {
        self.held = Arc::default();
        let keepalive =
            tokio::spawn(keep_hidden(self.sqs.clone(), self.config.queue_url.clone(), self.held.clone(), self.config.visibility_timeout));
        let gathered = self.gather(chunk, stop).await;
        keepalive.abort();
        gathered?;
        Ok(if held(&self.held).messages.is_empty() { Fill::Idle } else { Fill::More })
    }

    fn seal(&mut self, decoded: &mut Decoded) {
        let mut inflight = std::mem::take(&mut *held(&self.held));
        for (job, problem) in &decoded.failed {
            inflight.object_failed(&job.source_file, problem);
        }
        for job in &decoded.left {
            inflight.object_failed(&job.source_file, "not decoded in this chunk");
        }
        // Objects that could not be read keep their message on the queue, until
        // it has come back `max_receives` times: then it is quarantined.
        let config = self.config;
        for (_, message) in inflight.messages {
            if message.problems.is_empty() {
                self.to_delete.push(message.receipt);
            } else if message.receives >= config.max_receives {
                let provenance = Provenance {
                    source_id: self.settings.source_id.clone(),
                    source_label: self.settings.source_label.clone(),
                    source_file: None,
                };
                let log_type = config.log_type.clone().unwrap_or_else(|| "AWS.CloudTrail".into());
                let reason = format!("given up after {} receives: {}", message.receives, message.problems.join("; "));
                decoded.quarantine(quarantine_row(&log_type, reason, message.body, &provenance, 0, crate::now_micros()));
                self.to_delete.push(message.receipt);
            } else {
                self.report.retried += 1;
                let problems = message.problems.join("; ");
                tracing::info!(counts = %self.report.counts(), "will retry a message (receive {} of {}): {problems}", message.receives, config.max_receives);
            }
        }
        self.report.already_ingested += decoded.already.len() as u64;
    }

    async fn settle(&mut self, settled: Settled) -> Result<(), IngestError> {
        let to_delete = std::mem::take(&mut self.to_delete);
        match settled.outcome {
            Committed::Rows(rows) => {
                let objects = settled.inputs.len() as u64;
                self.report.commits += 1;
                self.report.rows += rows;
                self.report.objects += objects;
                self.report.quarantined += settled.quarantined;
                tracing::info!(counts = %self.report.counts(), "committed {rows} rows from {objects} objects");
            }
            Committed::Empty => {}
            Committed::Raced { .. } => {
                // Another writer committed some of these objects first. Nothing
                // of this chunk is in the lake; the messages come back and the
                // ledger skips what is already there.
                tracing::info!(counts = %self.report.counts(), "another tarn committed some of these objects first; their messages will come back");
                return Ok(());
            }
        }
        #[cfg(feature = "fault-injection")]
        if std::env::var_os("TARN_FAIL_AFTER_COMMIT").is_some() {
            // For tests: a crash between the commit and the deletes.
            std::process::abort();
        }
        if self.config.delete_consumed_messages {
            self.report.deleted += delete(&self.sqs, &self.config.queue_url, to_delete).await?;
        }
        Ok(())
    }
}

fn held(inflight: &Mutex<Inflight>) -> std::sync::MutexGuard<'_, Inflight> {
    inflight.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Intake<'_> {
    /// Receives messages into the chunk until it is full, the queue runs dry
    /// or `stop` turns true.
    async fn gather(&mut self, chunk: &Chunk, stop: &mut watch::Receiver<bool>) -> Result<(), IngestError> {
        let config = self.config;
        while chunk.records() < config.chunk_size.max(1) && !*stop.borrow() {
            let nothing_yet = held(&self.held).messages.is_empty();
            let wait = if nothing_yet && !self.once { LONG_POLL } else { 1 };
            let receive = self
                .sqs
                .receive_message()
                .queue_url(&config.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(wait)
                .visibility_timeout(config.visibility_timeout as i32)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send();
            let received = tokio::select! {
                received = receive => received.map_err(|e| IngestError::source(AwsError::Call {
                    what: format!("receiving from {}", config.queue_url),
                    answer: format!("{} (check the queue URL, region and credentials)", crate::error_line(&e)),
                }))?,
                _ = stop.changed() => break,
            };
            let messages = received.messages();
            if messages.is_empty() {
                break;
            }
            let (objects, mut jobs) = self.take_messages(chunk, messages);
            for (object, fetched) in fetch(&self.s3, objects, &self.downloads.0, DOWNLOADS).await {
                match fetched {
                    Ok(job) => jobs.push(job),
                    Err(problem) => {
                        let shown = format!("s3://{}/{}", object.bucket, object.key);
                        held(&self.held).object_failed(&shown, &crate::error_line(&problem))
                    }
                }
            }
            let paths: Vec<_> = jobs.iter().map(|j| j.path.clone()).collect();
            // Every fetched object is decoded: the chunk limit is checked between receives.
            chunk.decode_files(jobs, &self.settings, u64::MAX).await?;
            for path in paths {
                let _ = std::fs::remove_file(path);
            }
            tracing::info!(counts = %self.report.counts(), "");
        }
        Ok(())
    }

    /// Holds received messages for the chunk; returns the objects to fetch
    /// and the jobs of the records messages carry themselves.
    fn take_messages(&mut self, chunk: &Chunk, messages: &[aws_sdk_sqs::types::Message]) -> (Vec<(ObjectRef, Arc<LogType>)>, Vec<Job>) {
        let config = self.config;
        let (mut objects, mut carried) = (Vec::new(), Vec::new());
        for message in messages {
            self.report.messages += 1;
            let receipt = message.receipt_handle().unwrap_or_default().to_string();
            let body = message.body().unwrap_or_default().to_string();
            let receives = message
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let id = message.message_id().unwrap_or(&receipt).to_string();
            let mut entry = Held { receipt: receipt.clone(), body: body.clone(), receives, problems: Vec::new() };
            match message::parse(&body) {
                Ok(Notice::Nothing(_)) => self.report.empty_messages += 1,
                Ok(Notice::Objects(announced)) => {
                    for object in announced {
                        let shown = format!("s3://{}/{}", object.bucket, object.key);
                        if let Some(reason) = skip_reason(&object, config.log_type.is_some()) {
                            self.report.skipped += 1;
                            tracing::info!(counts = %self.report.counts(), "{shown}: left alone: {reason}");
                        } else if object.etag.as_ref().is_some_and(|e| chunk.has_seen(&input_id(&object.bucket, &object.key, e))) {
                            self.report.already_ingested += 1;
                        } else {
                            match log_type_for(self.registry, Path::new(&shown), config.log_type.as_deref()) {
                                Ok(log_type) => {
                                    held(&self.held).by_object.entry(shown).or_default().push(id.clone());
                                    objects.push((object, log_type));
                                }
                                Err(problem) => entry.problems.push(problem.to_string()),
                            }
                        }
                    }
                }
                Ok(Notice::Record(record)) => match self.carried_job(chunk, &record) {
                    Ok(None) => self.report.already_ingested += 1,
                    Ok(Some(job)) => {
                        held(&self.held).by_object.entry(job.source_file.clone()).or_default().push(id.clone());
                        carried.push(job);
                    }
                    Err(problem) => entry.problems.push(problem),
                },
                Err(reason) => {
                    // A message tarn cannot read will never become readable.
                    entry.problems.push(reason);
                    entry.receives = entry.receives.max(config.max_receives);
                }
            }
            held(&self.held).messages.insert(id, entry);
        }
        (objects, carried)
    }

    /// A job for a record carried in a message (its file in the download
    /// folder), or None when the lake already holds that event.
    fn carried_job(&self, chunk: &Chunk, carried: &message::Carried) -> Result<Option<Job>, String> {
        let input = format!("eventbridge:{}", carried.event_id);
        if chunk.has_seen(&input) {
            return Ok(None);
        }
        let until = crate::now_micros().saturating_add(self.dedupe_window.as_micros().min(i64::MAX as u128) as i64);
        // A Snyk audit record the Snyk puller already landed is not landed
        // again; one this path lands, the puller skips.
        if carried.log_type.starts_with("Snyk.") && carried.log_type != "Snyk.Issue" {
            let key = |path| crate::sources::snyk::audit_key(path, &carried.record);
            if let Some(pulled) = key(crate::sources::snyk::FROM_API)
                && chunk.has_seen(&pulled)
            {
                return Ok(None);
            }
            if let Some(carried_key) = key(crate::sources::snyk::FROM_EVENTBRIDGE) {
                chunk.claim(&carried_key, Some(until));
            }
        }
        let log_type = self.registry.get(carried.log_type).map_err(|e| e.to_string())?;
        let file_name: String = carried.event_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(100).collect();
        let path = self.downloads.0.join(format!("event-{file_name}-{:x}.json", crate::unique_seed()));
        let bytes = serde_json::to_vec(&carried.record).map_err(|e| e.to_string())?;
        std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(Some(Job {
            path,
            input: Some(input.clone()),
            until: Some(until),
            source_file: input.clone(),
            name: input,
            log_type: Ok(log_type),
        }))
    }
}

/// Keeps the held messages hidden while their chunk is worked on.
async fn keep_hidden(sqs: aws_sdk_sqs::Client, queue_url: String, held: Arc<Mutex<Inflight>>, visibility: u32) {
    let every = Duration::from_secs((visibility as u64 / 2).max(1));
    loop {
        tokio::time::sleep(every).await;
        let receipts: Vec<String> = self::held(&held).messages.values().map(|m| m.receipt.clone()).collect();
        for receipt in receipts {
            let _ = sqs
                .change_message_visibility()
                .queue_url(&queue_url)
                .receipt_handle(receipt)
                .visibility_timeout(visibility as i32)
                .send()
                .await;
        }
    }
}

/// Deletes messages in batches of ten, retrying entries that fail.
async fn delete(sqs: &aws_sdk_sqs::Client, queue_url: &str, receipts: Vec<String>) -> Result<u64, IngestError> {
    let mut deleted = 0;
    for batch in receipts.chunks(10) {
        let mut pending: Vec<(String, String)> = batch.iter().enumerate().map(|(i, r)| (i.to_string(), r.clone())).collect();
        for attempt in 0..4 {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            let entries = pending
                .iter()
                .filter_map(|(id, receipt)| DeleteMessageBatchRequestEntry::builder().id(id).receipt_handle(receipt).build().ok())
                .collect();
            let output = match sqs.delete_message_batch().queue_url(queue_url).set_entries(Some(entries)).send().await {
                Ok(output) => output,
                Err(_) if attempt < 3 => continue,
                Err(e) => {
                    return Err(IngestError::source(AwsError::Call {
                        what: format!("deleting messages from {queue_url}"),
                        answer: crate::error_line(&e),
                    }));
                }
            };
            let failed: HashSet<&str> = output.failed().iter().map(|f| f.id()).collect();
            deleted += (pending.len() - failed.len()) as u64;
            pending.retain(|(id, _)| failed.contains(id.as_str()));
        }
    }
    Ok(deleted)
}
