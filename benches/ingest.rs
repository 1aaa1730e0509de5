//! Ingest throughput and peak memory on a generated CloudTrail corpus.
//!
//! `cargo bench --bench ingest` generates (once, cached under the system temp
//! directory) CloudTrail corpora of about 256 MB and 1 GB uncompressed, and
//! ingests each into a fresh lake in a child process of its own, so each
//! peak RSS (VmHWM) is that run's alone. Memory should not grow with the
//! input: files are streamed and rows flushed to Parquet as they come.
//!
//! Sizes: TARN_BENCH_MB=256,1024 (default). Output: one line per size.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const EVENTS_PER_FILE: u64 = 2_000;
/// Measured average uncompressed size of a generated record, bytes.
const BYTES_PER_EVENT: u64 = 1_330;

fn main() {
    if let Ok(spec) = std::env::var("TARN_BENCH_CHILD") {
        let (corpus, lake) = spec.split_once('|').expect("corpus|lake");
        child(Path::new(corpus), Path::new(lake));
        return;
    }
    let sizes = std::env::var("TARN_BENCH_MB").unwrap_or_else(|_| "256,1024".into());
    println!("tarn ingest benchmark: {} cores, {}", std::thread::available_parallelism().map_or(0, |n| n.get()), cpu_model());
    for mb in sizes.split(',').map(|s| s.trim().parse::<u64>().expect("sizes in MB")) {
        let corpus = corpus(mb);
        let lake = std::env::temp_dir().join(format!("tarn-bench-lake-{mb}"));
        let _ = std::fs::remove_dir_all(&lake);
        let output = Command::new(std::env::current_exe().expect("own path"))
            .env("TARN_BENCH_CHILD", format!("{}|{}", corpus.display(), lake.display()))
            .output()
            .expect("run the child");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        print!("{}", String::from_utf8_lossy(&output.stdout));
        let _ = std::fs::remove_dir_all(&lake);
    }
}

/// Generates (or reuses) a corpus of about `mb` MB uncompressed.
fn corpus(mb: u64) -> PathBuf {
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

fn child(corpus: &Path, lake_dir: &Path) {
    let marker = std::fs::read_to_string(corpus.join(".complete")).expect("corpus marker");
    let (events, bytes) = marker.split_once(' ').expect("events bytes");
    let (events, bytes): (u64, u64) = (events.parse().unwrap(), bytes.parse().unwrap());
    let compressed: u64 = walk(corpus).iter().map(|p| std::fs::metadata(p).map_or(0, |m| m.len())).sum();
    let registry = tarn::schema::Registry::built_in();
    let lake = tarn::lake::Lake::open(lake_dir).expect("open the lake");
    let options = tarn::sources::IngestOptions::default();
    let started = Instant::now();
    let report = tarn::sources::file::ingest_files(&lake, &registry, &[corpus.to_path_buf()], &options).expect("ingest");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(report.rows, events, "every event lands");
    let parquet: u64 = lake.snapshot().unwrap().files.values().map(|f| f.bytes).sum();
    println!(
        "{:>5.0} MB uncompressed ({:.0} MB gzip, {} events): {:.1} s, {:.0} events/s, {:.1} MB/s uncompressed, peak RSS {:.0} MiB, Parquet {:.0} MB in {} commits",
        bytes as f64 / 1e6,
        compressed as f64 / 1e6,
        events,
        seconds,
        events as f64 / seconds,
        bytes as f64 / 1e6 / seconds,
        peak_rss_kib() as f64 / 1024.0,
        parquet as f64 / 1e6,
        report.commits
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines().find_map(|l| l.strip_prefix("model name")).map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()).unwrap_or_default()
}
