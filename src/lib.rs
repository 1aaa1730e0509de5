//! tarn: a local security data lake.
//!
//! A record flows down these modules: a source (`sources`: files, S3 + SQS,
//! Snyk) hands bytes to a reader (`formats`); `ingest` decodes each record
//! under its log type (`schema`) or quarantines it, and commits chunks to the
//! `lake` (Parquet partitions and the commit log) before the source is
//! acknowledged. `catalog` names views over the lake (event data stores) and
//! what they keep; `sql` answers queries with DataFusion; `rules` runs
//! detections; `daemon` runs every configured source (`tarn run`). `generate`
//! writes realistic sample logs for demos, tests and benchmarks.

// Errors here carry what the user needs to read (paths, fields, causes) and
// travel only on the cold path, so their size is not worth boxing for.
#![allow(clippy::result_large_err)]

pub mod catalog;
pub mod config;
pub mod daemon;
pub mod duration;
pub mod formats;
pub mod generate;
pub mod ingest;
pub mod lake;
pub mod metrics;
pub mod rules;
pub mod schema;
pub mod size;
pub mod sources;
pub mod sql;
pub mod walk;

/// An error and its causes as the one line a user reads: each cause that
/// adds something is joined with `: `, whitespace collapsed.
///
/// ```
/// let inner = std::io::Error::other("disk full");
/// let error = std::io::Error::new(inner.kind(), inner);
/// assert_eq!(tarn::error_line(&error), "disk full");
/// ```
pub fn error_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = if text.is_empty() { cause_text } else { format!("{text}: {cause_text}") };
        }
        next = cause.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A number that differs between processes and between calls, for names
/// and ids that must not collide (row ids, staging directories).
pub fn unique_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(CALLS.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    hasher.finish()
}

/// A UUID (version 4 layout) from 128 bits, e.g. two [`unique_seed`]s.
pub fn uuid_v4(a: u64, b: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// True for `8-4-4-4-12` hex digits.
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5 && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A new random (version 4) UUID.
pub fn new_id() -> String {
    uuid_v4(unique_seed(), unique_seed())
}

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
