//! Channels as a source: events that callers put with CloudTrail Data's
//! `PutAuditEvents` (`tarn serve`). A call is checked ([`api`], the
//! channel, its external id, each event against Lake's integration schema
//! in [`event`]); its good events go to the [`ChannelSource`], which the
//! one ingest driver runs like any other source: it gathers the calls that
//! arrive within a commit interval into one chunk, the driver commits it,
//! and only then is each call answered. So many small calls share a
//! commit, and no caller hears "successful" for an event the lake does not
//! hold. An event's `(channel, id)` is an input of the lake's ledger,
//! remembered for the dedupe window: a client that resends it within the
//! window hears the same `eventID` and adds no row.

pub mod api;
mod config;
mod event;
pub mod sigv4;

pub use config::ServeConfig;
pub use event::{Refused, checksum, event_id};

use crate::catalog::channels::Channel;
use crate::catalog::eds::{Catalog, EdsError, EventDataStore};
use crate::ingest::{Chunk, Committed, Fill, IngestError, Record, Settled, Source};
use crate::lake::Lake;
use crate::schema::{LogType, Provenance, Registry};
use api::{Answer, ApiError, Failure, PutAuditEvents, Success};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// The log type channel events are stored under.
pub const LOG_TYPE: &str = "AWS.ActivityAuditLog";

/// The operation channel commits are recorded as.
pub const OPERATION: &str = "serve";

/// How the channels take events in.
#[derive(Debug, Clone)]
pub struct ChannelSettings {
    /// How long a `(channel, id)` is remembered, so a resent event adds nothing.
    pub dedupe_window: Duration,
    /// How long calls gather before their commit at most (the latency a
    /// call adds); a tenth of it without a new call closes it sooner.
    pub commit_interval: Duration,
    /// Events that close a commit early.
    pub commit_events: usize,
}

impl Default for ChannelSettings {
    fn default() -> ChannelSettings {
        ChannelSettings {
            dedupe_window: Duration::from_secs(24 * 3600),
            commit_interval: Duration::from_millis(200),
            commit_events: 10_000,
        }
    }
}

/// What became of one good event.
#[derive(Debug, Clone)]
enum Landed {
    /// In this commit.
    Stored,
    /// The lake (or this commit) already holds it.
    Again,
    /// The decoder refused it (and quarantined it, with the reason).
    Refused(String),
}

/// A good event on its way to the lake.
struct Pending {
    id: String,
    event_id: String,
    record: String,
}

/// A call's good events and where to say what became of them.
struct Put {
    channel: Channel,
    events: Vec<Pending>,
    reply: oneshot::Sender<Vec<Landed>>,
}

/// Takes calls in: checks them and hands their good events to the source.
pub struct Intake {
    lake: Lake,
    configured: Vec<EventDataStore>,
    /// The catalog as last read, and when.
    catalog: Mutex<Option<(Instant, Catalog)>>,
    puts: mpsc::Sender<Put>,
}

/// How long a catalog read serves calls before it is read again.
const CATALOG_FRESH: Duration = Duration::from_secs(5);

/// The intake and the source it feeds, for a lake.
pub fn open(
    lake: &Lake,
    registry: &Registry,
    configured: &[EventDataStore],
    settings: ChannelSettings,
) -> Result<(Intake, ChannelSource), IngestError> {
    let log_type = registry.get(LOG_TYPE).map_err(IngestError::source)?;
    let (puts, received) = mpsc::channel(1024);
    let intake = Intake { lake: lake.clone(), configured: configured.to_vec(), catalog: Mutex::new(None), puts };
    let source = ChannelSource { received, log_type, settings, waiting: Vec::new(), redo: Vec::new() };
    Ok((intake, source))
}

impl Intake {
    /// The channel a call names, from a catalog at most [`CATALOG_FRESH`]
    /// old (read again at once if the channel is not in it).
    fn channel(&self, key: &str) -> Result<Channel, ApiError> {
        let Some(id) = crate::catalog::channels::parse_channel(key) else {
            return Err(ApiError::client("InvalidChannelARN", format!("The specified channel ARN is not a valid channel ARN: {key}")));
        };
        let mut cached = self.catalog.lock().unwrap_or_else(|p| p.into_inner());
        for attempt in 0..2 {
            let stale = cached.as_ref().is_none_or(|(read, _)| attempt > 0 || read.elapsed() > CATALOG_FRESH);
            if stale {
                let catalog = Catalog::load(&self.lake, &self.configured).map_err(|e: EdsError| ApiError {
                    code: "InternalFailure",
                    status: 500,
                    message: format!("cannot read the channel catalog: {}", crate::error_line(&e)),
                })?;
                *cached = Some((Instant::now(), catalog));
            }
            if let Some((_, catalog)) = cached.as_ref()
                && let Ok(channel) = catalog.channel(&id)
            {
                return Ok(channel.clone());
            }
        }
        Err(ApiError::client("ChannelNotFound", format!("The channel could not be found: {key}")))
    }

    /// Answers one `PutAuditEvents` call (its query string and body), once
    /// its good events are committed.
    pub async fn put_audit_events(&self, query: &str, body: &[u8]) -> Result<Answer, ApiError> {
        let call: PutAuditEvents = api::parse(query, body)?;
        let channel = self.channel(&call.channel)?;
        if let Some(wanted) = &channel.external_id
            && call.external_id.as_deref() != Some(wanted.as_str())
        {
            let given = if call.external_id.is_some() { "a different external id" } else { "no external id" };
            return Err(ApiError::client(
                "ChannelInsufficientPermission",
                format!("channel {} requires its external id; the call gave {given}", channel.name),
            ));
        }
        let mut answer = Answer::default();
        let mut good = Vec::new();
        let ingested = crate::now_micros();
        for sent in call.events {
            let checked = event::check(&sent.event_data, sent.event_data_checksum.as_deref(), &channel);
            let event_id = event_id(&channel, &sent.id);
            match checked.and_then(|time| event::record(&sent.event_data, &event_id, time, &channel, ingested)) {
                Ok(record) => good.push(Pending { id: sent.id, event_id, record }),
                Err(refused) => answer.failed.push(failure(sent.id, refused.code, refused.message)),
            }
        }
        if !good.is_empty() {
            let (reply, landed) = oneshot::channel();
            let ids: Vec<(String, String)> = good.iter().map(|p| (p.id.clone(), p.event_id.clone())).collect();
            let unavailable =
                || ApiError { code: "InternalFailure", status: 500, message: "tarn could not commit the events; send them again".into() };
            self.puts.send(Put { channel, events: good, reply }).await.map_err(|_| unavailable())?;
            let landed = landed.await.map_err(|_| unavailable())?;
            for ((id, event_id), landed) in ids.into_iter().zip(landed) {
                match landed {
                    Landed::Stored | Landed::Again => answer.successful.push(Success { id, event_id }),
                    Landed::Refused(reason) => answer.failed.push(failure(id, "InvalidData", reason)),
                }
            }
        }
        let metrics = crate::metrics::global();
        metrics.accepted(OPERATION, answer.successful.len() as u64);
        answer.failed.iter().for_each(|f| metrics.failed(&f.error_code));
        Ok(answer)
    }
}

fn failure(id: String, code: &str, message: String) -> Failure {
    // The model wants 1 to 1024 characters.
    let message: String = message.chars().take(1024).collect();
    Failure { id, error_code: code.to_string(), error_message: message }
}

/// The source the driver runs: calls gathered into chunks.
pub struct ChannelSource {
    received: mpsc::Receiver<Put>,
    log_type: Arc<LogType>,
    settings: ChannelSettings,
    /// Calls in the chunk being committed, with what became of their events.
    waiting: Vec<(Put, Vec<Landed>)>,
    /// Calls for the next chunk: the first that came, or those of a chunk
    /// that lost a race.
    redo: Vec<Put>,
}

impl ChannelSource {
    /// Gathers calls: those [`Source::ready`] waited for (or those to
    /// redo), then those that come within the commit interval, up to the
    /// event limit.
    async fn gather(&mut self) -> Vec<Put> {
        let mut puts = std::mem::take(&mut self.redo);
        let deadline = tokio::time::Instant::now() + self.settings.commit_interval;
        // A lull closes the gathering early, so a lone caller does not wait
        // the whole interval (Kafka's linger, bounded by the interval).
        let lull = self.settings.commit_interval / 10;
        let mut events: usize = puts.iter().map(|p| p.events.len()).sum();
        while events > 0 && events < self.settings.commit_events {
            let until = deadline.min(tokio::time::Instant::now() + lull);
            tokio::select! {
                put = self.received.recv() => match put {
                    Some(put) => {
                        events += put.events.len();
                        puts.push(put);
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(until) => break,
            }
        }
        puts
    }

    /// Puts one event in the chunk, unless the lake already holds it.
    fn land(&self, chunk: &Chunk, channel: &Channel, event: &Pending, position: u64) -> Result<Landed, IngestError> {
        let input = format!("channel:{}:{}", channel.id, event.id);
        if chunk.has_seen(&input) {
            return Ok(Landed::Again);
        }
        let provenance = Provenance {
            source_id: channel.arn(),
            source_label: channel.name.clone(),
            source_file: Some(format!("channel:{}", channel.name)),
        };
        let record = Record { text: &event.record, position };
        if let Some(reason) = chunk.push(&self.log_type, record, crate::ingest::unchanged, &provenance, crate::now_micros())? {
            return Ok(Landed::Refused(reason));
        }
        let until = crate::now_micros().saturating_add(self.settings.dedupe_window.as_micros().min(i64::MAX as u128) as i64);
        chunk.claim(&input, Some(until));
        Ok(Landed::Stored)
    }

    /// Drops the calls of a chunk that was not committed: their callers
    /// hear an internal failure and send again.
    pub fn abandon(&mut self) {
        self.waiting.clear();
        self.redo.clear();
    }
}

#[async_trait::async_trait]
impl Source for ChannelSource {
    fn operation(&self) -> &'static str {
        OPERATION
    }

    async fn ready(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        if self.redo.is_empty() {
            tokio::select! {
                put = self.received.recv() => self.redo.extend(put),
                _ = stop.changed() => {}
            }
        }
        !self.redo.is_empty()
    }

    async fn fill(&mut self, chunk: &Chunk, _stop: &mut watch::Receiver<bool>) -> Result<Fill, IngestError> {
        let puts = self.gather().await;
        if puts.is_empty() {
            return Ok(Fill::Done);
        }
        for put in puts {
            let mut landed = Vec::with_capacity(put.events.len());
            for (i, event) in put.events.iter().enumerate() {
                landed.push(self.land(chunk, &put.channel, event, i as u64 + 1)?);
            }
            self.waiting.push((put, landed));
        }
        Ok(Fill::More)
    }

    async fn settle(&mut self, settled: Settled) -> Result<(), IngestError> {
        if let Committed::Raced { .. } = settled.outcome {
            // Another writer took some of these events first: take the
            // calls again; the ledger now says which are there.
            self.redo.extend(self.waiting.drain(..).map(|(put, _)| put));
            return Ok(());
        }
        #[cfg(feature = "fault-injection")]
        if std::env::var_os("TARN_FAIL_AFTER_COMMIT").is_some() {
            // For tests: a crash between the commit and the answers.
            std::process::abort();
        }
        for (put, landed) in self.waiting.drain(..) {
            let _ = put.reply.send(landed);
        }
        Ok(())
    }
}
