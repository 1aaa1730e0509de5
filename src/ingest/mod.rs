//! Ingest: from a source's raw records to lake commits, one way for every
//! source. [`driver::drive`] runs a [`Source`]: it fills a [`Chunk`], which
//! decodes each record under its log type or quarantines it
//! ([`decode::decode_record`]), commits the chunk with the inputs and
//! checkpoints it consumed, and only then lets the source acknowledge them.
//! An input already in the lake is skipped (unless forced), and a crash
//! before the commit leaves nothing behind. `replay` retries quarantined
//! records under today's schemas.

mod chunk;
pub mod decode;
mod driver;
mod progress;
mod replay;

pub use chunk::{Chunk, DecodeSettings, Decoded, Job};
pub use decode::{Record, RecordAdapter, decode_record, quarantine_row, unchanged};
pub use driver::{Committed, Fill, Maintenance, Settled, Source, drive};
pub use progress::{FileDone, Progress, ProgressSnapshot};
pub use replay::{ReplayReport, replay_quarantine};

use crate::lake::LakeError;
use crate::schema::SchemaError;

/// Why an ingest run stopped.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The source failed (a listing, a queue call, the API): its own error
    /// says what happened and what to do.
    #[error(transparent)]
    Source(Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot run tarn's async runtime")]
    Runtime(#[source] std::io::Error),
}

impl IngestError {
    /// A source's failure.
    pub fn source(error: impl std::error::Error + Send + Sync + 'static) -> IngestError {
        IngestError::Source(Box::new(error))
    }
}
