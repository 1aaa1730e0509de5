//! tarn: a local security data lake.
//!
//! Records flow `sources` → `schema` (decode and check) → `lake` (Parquet
//! partitions and the commit log) → `sql` (DataFusion). `ingest` ties one
//! source run to one or more lake commits; `rules` runs detections over the
//! lake and their tests offline; `generate` writes realistic sample logs for
//! demos, tests and benchmarks.

pub mod config;
pub mod duration;
pub mod eds;
pub mod generate;
pub mod ingest;
pub mod lake;
pub mod rules;
pub mod schema;
pub mod sources;
pub mod sql;

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

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
