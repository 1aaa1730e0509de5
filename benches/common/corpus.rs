//! The benchmarks' CloudTrail corpus: generated once per size and cached
//! under the system temp directory (`tarn-bench-corpus-<mb>mb`), so the
//! ingest and query benchmarks measure the same files.

use std::path::PathBuf;
use std::time::Instant;

const EVENTS_PER_FILE: u64 = 2_000;
/// Measured average uncompressed size of a generated record, bytes.
const BYTES_PER_EVENT: u64 = 1_330;

/// Generates (or reuses) a corpus of about `mb` MB uncompressed.
pub fn corpus(mb: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tarn-bench-corpus-{mb}mb"));
    let done = dir.join(".complete");
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let mut plan = tarn::generate::Plan::new(&dir);
        plan.cloudtrail_events = mb * 1_000_000 / BYTES_PER_EVENT;
        plan.events_per_file = EVENTS_PER_FILE;
        plan.snyk_events = 0;
        plan.hours = 24 * 7;
        let started = Instant::now();
        let generated = tarn::generate::generate(&plan).expect("generate the corpus");
        std::fs::write(&done, format!("{} {}", generated.cloudtrail_events, generated.cloudtrail_bytes)).expect("mark the corpus");
        eprintln!(
            "generated {} events ({:.0} MB) in {:.1} s",
            generated.cloudtrail_events,
            generated.cloudtrail_bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
    }
    dir
}
