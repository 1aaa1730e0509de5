//! `tarn run`: every configured source at once, each in a task of its own
//! (its decoding on blocking threads, so a source that decodes does not hold
//! up the others), until SIGINT/SIGTERM or, with `once`, until each is
//! drained. The chunk in flight is committed and acknowledged before a source
//! stops. With `apply_retention`, retention runs at the start and hourly.
//! What sources report while they run goes out as `tracing` events inside a
//! `source` span that names them. With a [`serve::Server`] it also serves
//! PutAuditEvents, `/healthz` and `/metrics` until stopped (`tarn serve`
//! is a run with no sources and a server).

pub mod serve;

use crate::catalog::eds::EventDataStore;
use crate::catalog::retention;
use crate::config::Source;
use crate::ingest::IngestError;
use crate::lake::{Lake, LakeError};

use crate::schema::Registry;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;

/// Exit code of a `--once` run in which a source raised a drop-off alarm.
pub const EXIT_ALARM: u8 = 3;

/// How often retention runs while `tarn run` goes on.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// How one source's run ended.
#[derive(Debug)]
pub struct SourceOutcome {
    pub name: String,
    /// The summary line of what it did, or why it stopped.
    pub result: Result<String, IngestError>,
    /// Its audit logs silent past their alarm at the last poll.
    pub silent: u64,
}

/// How a whole run ended.
#[derive(Debug)]
pub struct RunOutcome {
    pub sources: Vec<SourceOutcome>,
    pub once: bool,
}

impl RunOutcome {
    /// 1 if a source failed; with `once`, 3 if a log was silent past its
    /// alarm; else 0.
    pub fn exit_code(&self) -> u8 {
        if self.sources.iter().any(|s| s.result.is_err()) {
            1
        } else if self.once && self.sources.iter().any(|s| s.silent > 0) {
            EXIT_ALARM
        } else {
            0
        }
    }
}

/// What `tarn run` needs.
pub struct Daemon {
    pub lake: Lake,
    pub registry: Arc<Registry>,
    pub sources: Vec<(String, Source)>,
    pub once: bool,
    /// The stores whose retention to apply as the run goes; None to apply none.
    pub retention: Option<Vec<EventDataStore>>,
    /// A bound listener to serve, with the stores of the config.
    pub server: Option<(serve::Server, Vec<EventDataStore>)>,
    /// Rules to run on a schedule, and where their alerts go.
    pub detections: Vec<crate::rules::schedule::RuleSchedule>,
    pub destinations: Vec<(String, crate::rules::deliver::Destination)>,
}

impl Daemon {
    /// Runs the sources until they end; SIGINT and SIGTERM stop them after
    /// the chunk in flight.
    pub async fn run(self) -> Result<RunOutcome, IngestError> {
        let (stop_tx, stop) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!(stopping = true, "stopping: finishing the chunk in flight");
            let _ = stop_tx.send(true);
        });
        if let Some(stores) = &self.retention {
            apply_retention(&self.lake, stores)?;
            if !self.once {
                tokio::spawn(keep_retention(self.lake.clone(), stores.clone(), stop.clone()));
            }
        }
        let tasks: Vec<_> = self
            .sources
            .into_iter()
            .map(|(name, source)| {
                let (lake, registry, stop) = (self.lake.clone(), self.registry.clone(), stop.clone());
                let span = tracing::info_span!("source", source = %name);
                let once = self.once;
                tokio::spawn(async move { pull(&lake, &registry, &name, source, once, stop).await }.instrument(span))
            })
            .collect();
        let detections: Vec<_> = if self.once {
            Vec::new()
        } else {
            self.detections
                .iter()
                .map(|schedule| spawn_detections(&self.lake, &self.registry, schedule, &self.destinations, stop.clone()))
                .collect()
        };
        let server = self.server.map(|(server, stores)| {
            let (lake, registry) = (self.lake.clone(), self.registry.clone());
            tokio::spawn(async move { server.run(lake, registry, stores, stop).await })
        });
        let mut sources = Vec::new();
        if let Some(server) = server {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(IngestError::source(e)),
                Err(e) => return Err(LakeError::Task(e.to_string()).into()),
            }
        }
        for task in tasks {
            match task.await {
                Ok(outcome) => sources.push(outcome),
                Err(e) => return Err(LakeError::Task(e.to_string()).into()),
            }
        }
        // With --once the rules run after the sources drained, on what they brought.
        if self.once {
            for schedule in &self.detections {
                sources.push(detect_once(&self.lake, &self.registry, schedule, &self.destinations).await);
            }
        }
        for task in detections {
            match task.await {
                Ok(outcome) => sources.push(outcome),
                Err(e) => return Err(LakeError::Task(e.to_string()).into()),
            }
        }
        Ok(RunOutcome { sources, once: self.once })
    }
}

/// One run of scheduled rules, as an outcome of the run.
async fn detect_once(
    lake: &Lake,
    registry: &Registry,
    schedule: &crate::rules::schedule::RuleSchedule,
    destinations: &[(String, crate::rules::deliver::Destination)],
) -> SourceOutcome {
    let name = format!("rules {}", schedule.path.display());
    let result = schedule.run_once(lake, registry, destinations).await.map_err(IngestError::source);
    SourceOutcome { name, result, silent: 0 }
}

/// Runs scheduled rules every `every` until stopped; a failed run is
/// logged and the next one comes on time.
fn spawn_detections(
    lake: &Lake,
    registry: &Arc<Registry>,
    schedule: &crate::rules::schedule::RuleSchedule,
    destinations: &[(String, crate::rules::deliver::Destination)],
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<SourceOutcome> {
    let (lake, registry, schedule, destinations) = (lake.clone(), registry.clone(), schedule.clone(), destinations.to_vec());
    let every = schedule.every().unwrap_or(Duration::from_secs(900));
    let span = tracing::info_span!("rules", path = %schedule.path.display());
    tokio::spawn(
        async move {
            let mut last = detect_once(&lake, &registry, &schedule, &destinations).await;
            loop {
                match &last.result {
                    Ok(summary) => tracing::info!("{summary}"),
                    Err(e) => tracing::error!("{}", crate::error_line(e)),
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.changed() => return last,
                }
                last = detect_once(&lake, &registry, &schedule, &destinations).await;
            }
        }
        .instrument(span),
    )
}

/// Runs one source to its end.
async fn pull(lake: &Lake, registry: &Registry, name: &str, source: Source, once: bool, stop: watch::Receiver<bool>) -> SourceOutcome {
    let (result, silent) = match source {
        Source::Sqs(sqs) => (crate::sources::aws::sqs::pull(lake, registry, &sqs, once, stop).await.map(|r| r.to_string()), 0),
        Source::Snyk(snyk) => match crate::sources::snyk::pull(lake, registry, &snyk, name, once, stop).await {
            Ok(report) => (Ok(report.to_string()), report.silent),
            Err(e) => (Err(e), 0),
        },
    };
    SourceOutcome { name: name.to_string(), result, silent }
}

async fn wait_for_signal() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Applies the stores' retention now.
fn apply_retention(lake: &Lake, stores: &[EventDataStore]) -> Result<(), IngestError> {
    let report = retention::apply(lake, stores, crate::now_micros(), false)?;
    for line in report.lines() {
        tracing::info!(retention = true, "retention: {line}");
    }
    Ok(())
}

/// Applies retention every hour until the run stops.
async fn keep_retention(lake: Lake, stores: Vec<EventDataStore>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RETENTION_EVERY) => {}
            _ = stop.changed() => return,
        }
        let (lake, stores) = (lake.clone(), stores.clone());
        match tokio::task::spawn_blocking(move || apply_retention(&lake, &stores)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("retention: {e}"),
            Err(e) => tracing::warn!("retention: {e}"),
        }
    }
}
