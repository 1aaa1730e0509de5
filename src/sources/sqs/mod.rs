//! The SQS intake (Sekoia-style): S3 objects announced on a queue are
//! downloaded, decoded and committed in chunks; each message is deleted only
//! after everything it announced is committed. A message whose object cannot
//! be read comes back (the queue's visibility timeout) and is retried; after
//! `max_receives` tries it is quarantined with the reason and deleted, so
//! nothing blocks the queue and nothing is silently lost.

pub mod message;

use super::aws::{AwsOptions, error_text};
use super::s3::{Downloads, fetch, input_id, skip_reason};
use crate::ingest::{Chunk, CommitStep, IngestError, IngestOptions};
use crate::lake::{Lake, QuarantineRow};
use crate::schema::Registry;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use message::Notice;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// A queue to pull, as `tarn pull sqs` flags or a `tarn.yml` source.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsConfig {
    pub queue_url: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Records gathered before a commit.
    #[serde(default = "default_chunk_size")]
    pub chunk_size: u64,
    /// Seconds between polls when the queue was empty.
    #[serde(default = "default_frequency")]
    pub frequency: u64,
    #[serde(default = "default_true")]
    pub delete_consumed_messages: bool,
    /// The log type of objects whose keys are not CloudTrail's.
    #[serde(default)]
    pub log_type: Option<String>,
    /// Receives of a message whose object cannot be read before it is quarantined.
    #[serde(default = "default_max_receives")]
    pub max_receives: u32,
    /// Seconds a received message stays hidden (extended while it is worked on).
    #[serde(default = "default_visibility")]
    pub visibility_timeout: u32,
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

/// Pulls the queue until `stop` turns true (or, with `once`, until it is
/// empty), committing a chunk at a time.
pub async fn pull(
    lake: &Lake,
    registry: &Registry,
    config: &SqsConfig,
    once: bool,
    mut stop: watch::Receiver<bool>,
    on_event: &mut (dyn FnMut(&str, &PullReport) + Send),
) -> Result<PullReport, IngestError> {
    let (s3, sqs) = super::aws::clients(&AwsOptions { region: config.region.clone(), endpoint_url: config.endpoint_url.clone() }).await;
    if let Some(name) = &config.log_type {
        registry.get(name)?;
    }
    let options = IngestOptions {
        log_type: config.log_type.clone(),
        force: false,
        chunk_records: config.chunk_size.max(1),
        source_id: format!("sqs:{}", config.queue_url),
        source_label: config.queue_url.rsplit('/').next().unwrap_or("sqs").to_string(),
    };
    let mut report = PullReport::default();
    let downloads = Downloads::new(lake).map_err(|e| IngestError::Source(format!("cannot create a download folder: {e}")))?;
    loop {
        if *stop.borrow() {
            break;
        }
        let chunk = Chunk::new(lake, lake.snapshot()?.inputs)?;
        let held: Arc<Mutex<Inflight>> = Arc::default();
        let keepalive = tokio::spawn(keep_hidden(sqs.clone(), config.queue_url.clone(), held.clone(), config.visibility_timeout));
        let gathered =
            gather(&chunk, &held, &s3, &sqs, config, &options, registry, &downloads, once, &mut stop, &mut report, on_event).await;
        keepalive.abort();
        gathered?;
        let mut inflight = std::mem::take(&mut *held.lock().expect("not poisoned"));
        let received_any = !inflight.messages.is_empty();
        let mut decoded = chunk.finish();
        for (job, problem) in &decoded.failed {
            inflight.object_failed(&job.source_file, problem);
        }
        for job in &decoded.left {
            inflight.object_failed(&job.source_file, "not decoded in this chunk");
        }
        // Objects that could not be read keep their message on the queue, until
        // it has come back `max_receives` times: then it is quarantined.
        let mut to_delete = Vec::new();
        for (_, message) in inflight.messages {
            if message.problems.is_empty() {
                to_delete.push(message.receipt);
            } else if message.receives >= config.max_receives {
                decoded.tx.quarantine(QuarantineRow {
                    log_type: config.log_type.clone().unwrap_or_else(|| "AWS.CloudTrail".into()),
                    reason: format!("given up after {} receives: {}", message.receives, message.problems.join("; ")),
                    raw: message.body,
                    source_id: options.source_id.clone(),
                    source_label: options.source_label.clone(),
                    source_file: None,
                    position: 0,
                    parse_time: crate::now_micros(),
                });
                report.quarantined += 1;
                to_delete.push(message.receipt);
            } else {
                report.retried += 1;
                on_event(
                    &format!(
                        "will retry a message (receive {} of {}): {}",
                        message.receives,
                        config.max_receives,
                        message.problems.join("; ")
                    ),
                    &report,
                );
            }
        }
        report.already_ingested += decoded.already.len() as u64;
        let (objects, quarantined) = (decoded.inputs.len() as u64, decoded.quarantined);
        match crate::ingest::commit(decoded, "pull sqs", false)? {
            CommitStep::Committed { rows } => {
                report.commits += 1;
                report.rows += rows;
                report.objects += objects;
                report.quarantined += quarantined;
                on_event(&format!("committed {rows} rows from {objects} objects"), &report);
            }
            CommitStep::Empty => {}
            CommitStep::Raced { .. } => {
                // Another writer committed some of these objects first. Nothing
                // of this chunk is in the lake; the messages come back and the
                // ledger skips what is already there.
                on_event("another tarn committed some of these objects first; their messages will come back", &report);
                continue;
            }
        }
        if std::env::var_os("TARN_FAIL_AFTER_COMMIT").is_some() {
            // For tests: a crash between the commit and the deletes.
            std::process::abort();
        }
        if config.delete_consumed_messages {
            report.deleted += delete(&sqs, &config.queue_url, to_delete).await?;
        }
        if !received_any {
            if once {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(config.frequency)) => {}
                _ = stop.changed() => {}
            }
        }
    }
    Ok(report)
}

/// Receives messages into the chunk until it is full, the queue runs dry or
/// `stop` turns true.
#[allow(clippy::too_many_arguments)]
async fn gather(
    chunk: &Chunk,
    held: &Mutex<Inflight>,
    s3: &aws_sdk_s3::Client,
    sqs: &aws_sdk_sqs::Client,
    config: &SqsConfig,
    options: &IngestOptions,
    registry: &Registry,
    downloads: &Downloads,
    once: bool,
    stop: &mut watch::Receiver<bool>,
    report: &mut PullReport,
    on_event: &mut (dyn FnMut(&str, &PullReport) + Send),
) -> Result<(), IngestError> {
    while chunk.records() < options.chunk_records && !*stop.borrow() {
        let nothing_yet = held.lock().expect("not poisoned").messages.is_empty();
        let wait = if nothing_yet && !once { LONG_POLL } else { 1 };
        let receive = sqs
            .receive_message()
            .queue_url(&config.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait)
            .visibility_timeout(config.visibility_timeout as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send();
        let received = tokio::select! {
            received = receive => received.map_err(|e| IngestError::Source(format!("receiving from {}: {} (check the queue URL, region and credentials)", config.queue_url, error_text(&e))))?,
            _ = stop.changed() => break,
        };
        let messages = received.messages();
        if messages.is_empty() {
            break;
        }
        let mut objects = Vec::new();
        for message in messages {
            report.messages += 1;
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
                Ok(Notice::Nothing(_)) => report.empty_messages += 1,
                Ok(Notice::Objects(announced)) => {
                    for object in announced {
                        if let Some(reason) = skip_reason(&object, config.log_type.is_some()) {
                            report.skipped += 1;
                            on_event(&format!("s3://{}/{}: left alone: {reason}", object.bucket, object.key), report);
                        } else if object.etag.as_ref().is_some_and(|e| chunk.has_seen(&input_id(&object.bucket, &object.key, e))) {
                            report.already_ingested += 1;
                        } else {
                            let source_file = format!("s3://{}/{}", object.bucket, object.key);
                            held.lock().expect("not poisoned").by_object.entry(source_file).or_default().push(id.clone());
                            objects.push(object);
                        }
                    }
                }
                Err(reason) => {
                    // A message tarn cannot read will never become readable.
                    entry.problems.push(reason);
                    entry.receives = entry.receives.max(config.max_receives);
                }
            }
            held.lock().expect("not poisoned").messages.insert(id, entry);
        }
        let mut jobs = Vec::new();
        for (object, fetched) in fetch(s3, objects, &downloads.0, DOWNLOADS).await {
            match fetched {
                Ok(job) => jobs.push(job),
                Err(problem) => {
                    held.lock().expect("not poisoned").object_failed(&format!("s3://{}/{}", object.bucket, object.key), &problem)
                }
            }
        }
        let paths: Vec<_> = jobs.iter().map(|j| j.path.clone()).collect();
        // Every fetched object is decoded: the chunk limit is checked between receives.
        let whole = IngestOptions { chunk_records: u64::MAX, ..options.clone() };
        tokio::task::block_in_place(|| chunk.decode(jobs, registry, &whole))?;
        for path in paths {
            let _ = std::fs::remove_file(path);
        }
        on_event("", report);
    }
    Ok(())
}

/// Keeps the held messages hidden while their chunk is worked on.
async fn keep_hidden(sqs: aws_sdk_sqs::Client, queue_url: String, held: Arc<Mutex<Inflight>>, visibility: u32) {
    let every = Duration::from_secs((visibility as u64 / 2).max(1));
    loop {
        tokio::time::sleep(every).await;
        let receipts: Vec<String> = held.lock().expect("not poisoned").messages.values().map(|m| m.receipt.clone()).collect();
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
                .map(|(id, receipt)| {
                    DeleteMessageBatchRequestEntry::builder().id(id).receipt_handle(receipt).build().expect("id and receipt are set")
                })
                .collect();
            let output = match sqs.delete_message_batch().queue_url(queue_url).set_entries(Some(entries)).send().await {
                Ok(output) => output,
                Err(_) if attempt < 3 => continue,
                Err(e) => return Err(IngestError::Source(format!("deleting messages from {queue_url}: {}", error_text(&e)))),
            };
            let failed: HashSet<&str> = output.failed().iter().map(|f| f.id()).collect();
            deleted += (pending.len() - failed.len()) as u64;
            pending.retain(|(id, _)| failed.contains(id.as_str()));
        }
    }
    Ok(deleted)
}
