//! The ingest driver: the one loop every source runs in. It starts a chunk,
//! lets the source fill it, commits it to the lake, and only then lets the
//! source acknowledge what the chunk consumed (delete SQS messages, count
//! files). A crash before the commit leaves nothing; a crash after it and
//! before the acknowledgement leaves inputs that the ledger skips when they
//! come again.

use super::IngestError;
use super::chunk::{Chunk, Decoded, Job};
use crate::lake::{CommitOutcome, Lake};
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::watch;

/// What a source says after filling a chunk.
#[derive(Debug)]
pub enum Fill {
    /// Commit, then fill the next chunk at once.
    More,
    /// Commit; nothing more is waiting now: with `once` stop, else wait
    /// [`Source::idle_wait`] (or until stopped) and fill again.
    Idle,
    /// Commit and stop: the source is done.
    Done,
    /// Commit what the chunk holds, then stop with this error.
    Failed(IngestError),
}

/// How a chunk's commit went, handed back to the source.
#[derive(Debug)]
pub enum Committed {
    /// The chunk is in the lake, with this many rows.
    Rows(u64),
    /// The chunk held nothing to commit.
    Empty,
    /// Another writer committed `taken` of the chunk's inputs first; nothing
    /// was committed. `redo` are the chunk's other inputs, to decode again.
    Raced { redo: Vec<Job>, taken: u64, lost: Vec<String> },
}

/// What the source learns after the commit: the chunk's accounting and the
/// commit's outcome.
pub struct Settled {
    pub outcome: Committed,
    /// Jobs not taken because the chunk was full.
    pub left: Vec<Job>,
    pub inputs: Vec<(Job, String)>,
    pub failed: Vec<(Job, String)>,
    pub already: u64,
    pub quarantined: u64,
    pub bytes: u64,
}

/// A source of records for the driver.
#[async_trait::async_trait]
pub trait Source: Send {
    /// The operation its commits are recorded as (`ingest`, `pull sqs`, ...).
    fn operation(&self) -> &'static str;

    /// Whether inputs the lake already holds are ingested again.
    fn force(&self) -> bool {
        false
    }

    /// Whether its inputs are in the lake's ledger (files, S3 objects), so a
    /// chunk skips those the lake holds. Sources that resume from a
    /// checkpoint instead (Snyk) say no, and the ledger is not read for them.
    fn uses_ledger(&self) -> bool {
        true
    }

    /// How long to wait after an idle fill before the next.
    fn idle_wait(&self) -> Duration {
        Duration::from_secs(10)
    }

    /// Waits until there is something to fill a chunk with, so the chunk
    /// (its transaction and its view of the ledger) starts when the work
    /// does; false when stopped first. Sources that poll are always ready.
    async fn ready(&mut self, _stop: &mut watch::Receiver<bool>) -> bool {
        true
    }

    /// Fills `chunk` with what comes next. `stop` turns true when the user
    /// asks tarn to stop: a fill that waits on the outside world returns then.
    async fn fill(&mut self, chunk: &Chunk, stop: &mut watch::Receiver<bool>) -> Result<Fill, IngestError>;

    /// Last changes before the commit, once decoding is over (quarantine
    /// what cannot be read, decide what to acknowledge).
    fn seal(&mut self, _chunk: &mut Decoded) {}

    /// After the commit: acknowledge upstream what it consumed, count.
    async fn settle(&mut self, settled: Settled) -> Result<(), IngestError>;
}

/// Runs `source` until it is done, stopped, or (with `once`) idle: fill a
/// chunk, commit it, settle it.
pub async fn drive(lake: &Lake, source: &mut dyn Source, once: bool, mut stop: watch::Receiver<bool>) -> Result<(), IngestError> {
    let force = source.force();
    // With `force` the ledger is not consulted, but an input is still taken
    // once a run: these are the ones this run committed.
    let mut taken: HashSet<String> = HashSet::new();
    loop {
        if *stop.borrow() || !source.ready(&mut stop).await {
            return Ok(());
        }
        let seen = match (force, source.uses_ledger()) {
            (true, _) => taken.clone(),
            (false, true) => lake.snapshot()?.inputs,
            (false, false) => HashSet::new(),
        };
        let chunk = Chunk::new(lake, seen)?;
        let filled = source.fill(&chunk, &mut stop).await;
        let decoded = chunk.finish();
        let filled = filled?;
        let mut decoded = decoded?;
        source.seal(&mut decoded);
        let settled = commit(decoded, source.operation(), force)?;
        if force && let Committed::Rows(_) = settled.outcome {
            taken.extend(settled.inputs.iter().map(|(_, input)| input.clone()));
        }
        source.settle(settled).await?;
        match filled {
            Fill::More => {}
            Fill::Done => return Ok(()),
            Fill::Failed(e) => return Err(e),
            Fill::Idle if once => return Ok(()),
            Fill::Idle => {
                tokio::select! {
                    _ = tokio::time::sleep(source.idle_wait()) => {}
                    Ok(()) = stop.changed() => {}
                }
            }
        }
    }
}

/// Commits a filled chunk: the one place rows reach the lake.
fn commit(chunk: Decoded, operation: &str, force: bool) -> Result<Settled, IngestError> {
    let Decoded { tx, left, inputs, failed, already, quarantined, bytes } = chunk;
    let started = std::time::Instant::now();
    let outcome = match tx.commit(operation, force)? {
        CommitOutcome::Committed { rows, .. } => {
            crate::metrics::global().commit(operation, rows, started.elapsed());
            Committed::Rows(rows)
        }
        CommitOutcome::Empty => Committed::Empty,
        CommitOutcome::AlreadyConsumed(lost) => {
            let redo = inputs
                .iter()
                .filter(|(_, input)| !lost.contains(input))
                .map(|(job, input)| Job { input: Some(input.clone()), ..job.clone() })
                .collect();
            Committed::Raced { redo, taken: lost.len() as u64, lost }
        }
    };
    Ok(Settled { outcome, left: left.into(), inputs, failed, already: already.len() as u64, quarantined, bytes })
}

/// Commits a chunk that no source fills: tarn's own rows and removals (rule
/// alerts with their state, retention, quarantine replay), through the same
/// commit as every source.
pub struct Maintenance {
    chunk: Chunk,
    operation: &'static str,
}

impl Maintenance {
    pub fn begin(lake: &Lake, operation: &'static str) -> Result<Maintenance, IngestError> {
        Ok(Maintenance { chunk: Chunk::new(lake, HashSet::new())?, operation })
    }

    /// The chunk to write into.
    pub fn chunk(&self) -> &Chunk {
        &self.chunk
    }

    /// Commits: the lake's commit id, or None when there was nothing to commit
    /// or another writer moved a checkpoint the chunk expected.
    pub fn commit(self) -> Result<CommitOutcome, IngestError> {
        Ok(self.chunk.finish()?.tx.commit(self.operation, true)?)
    }
}
