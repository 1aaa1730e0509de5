//! Sources turn the outside world into chunks for the ingest driver: each
//! implements [`crate::ingest::Source`] (fill a chunk, acknowledge after the
//! commit) and owns its config, its errors and the record adapter of its log
//! types. One folder per source family.
//!
//! - `file`: local files and directories (`tarn ingest file`).
//!
//! - `batch`: what files and S3 objects are ingested with, and the report.
//!
//! Here: the record adapter of every source's log types ([`adapt`]).
//! - `aws`: AWS clients, the CloudTrail key rule, S3 backfill, the SQS intake.
//! - `snyk`: Snyk audit logs from the REST or v1 API.
//! - `channel`: events put through CloudTrail Lake channels (`tarn serve`).

pub mod aws;
pub mod batch;
pub mod channel;
pub mod file;
pub mod snyk;

pub use batch::{IngestOptions, IngestReport};

/// The record adapter of every source's log types: a Snyk REST item's keys
/// get the v1 names its schema uses; other records pass unchanged. File
/// ingest, quarantine replay and rule tests decode with it.
pub fn adapt(log_type: &str, key: &str) -> Option<&'static str> {
    snyk::schema_names(log_type, key)
}
