//! Sources turn the outside world into raw records with a position, for the
//! decoder. One submodule per source; each owns its reading and its errors.

pub mod aws;
pub mod file;
pub mod s3;
pub mod snyk;
pub mod sqs;

use serde_json::Value;

/// One record as the source holds it.
#[derive(Debug)]
pub struct RawRecord {
    /// The record's original text, stored as the row's `eventjson`.
    pub text: String,
    /// The record to check against the schema, or why it is not JSON.
    pub value: Result<Value, String>,
    /// Where it sits in its input: the record number (from 1) in a JSON
    /// array or `Records`, or the line number in NDJSON.
    pub position: u64,
}
