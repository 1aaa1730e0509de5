//! Ingest throughput and peak memory on a generated CloudTrail corpus, tarn
//! beside DuckDB doing the same job.
//!
//! `cargo bench --bench ingest` generates (once, cached under the system temp
//! directory) CloudTrail corpora of about 256 MB and 1 GB uncompressed, and
//! for each runs, as a user would, each in a process of its own:
//! - tarn: the release binary, `tarn --lake <fresh lake> ingest file <corpus>`;
//! - DuckDB: `benches/ingest_duckdb.py job` under `./.venv/bin/python` —
//!   `read_json` over the corpus's `*.json.gz`, unnest `Records`, `COPY` to
//!   zstd Parquet partitioned by year/month/day/hour of eventTime, with
//!   `SET threads` to the number of cores.
//!
//! Each time is the wall clock from spawning the process to reaping it (the
//! Python interpreter's start and `import duckdb` included; the COPY's own
//! time, taken inside Python, is shown beside it); each peak RSS is that
//! process's own (`wait4`'s `ru_maxrss`). Both must land every generated
//! event: tarn's count is its ingest report, DuckDB's is its Parquet read
//! back; the bench fails if they differ. tarn's memory should not grow with
//! the input: files are streamed and rows flushed to Parquet as they come.
//!
//! Without duckdb in ./.venv (scripts/test.sh installs it) the bench prints
//! the command that installs it and runs tarn alone.
//!
//! Sizes: TARN_BENCH_MB=256,1024 (default); runs of each side per size:
//! TARN_BENCH_RUNS=3 (default; the median is shown). Output: one line per size.

#[path = "common/corpus.rs"]
mod corpus;

use corpus::corpus;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The duckdb scripts/test.sh installs: the release PyPI's duckdb-ext-delta is built for.
const DUCKDB_VERSION: &str = "1.4.4";
const TARN: &str = env!("CARGO_BIN_EXE_tarn");
const PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
const DUCKDB_JOB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/ingest_duckdb.py");

fn main() {
    let sizes = std::env::var("TARN_BENCH_MB").unwrap_or_else(|_| "256,1024".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("tarn ingest benchmark: {cores} cores, {}", cpu_model());
    let duckdb = duckdb_version();
    match &duckdb {
        Some(version) if version == DUCKDB_VERSION => println!("DuckDB {version} ({PYTHON})"),
        Some(version) => println!("DuckDB {version} ({PYTHON}; scripts/test.sh pins {DUCKDB_VERSION})"),
        None => println!(
            "DuckDB: not run, {PYTHON} cannot import duckdb; install it with\n  cd {} && python3 -m venv .venv && .venv/bin/pip install duckdb=={DUCKDB_VERSION}\n(or ./scripts/test.sh, which installs it with the other Python test tools)",
            env!("CARGO_MANIFEST_DIR")
        ),
    }
    for mb in sizes.split(',').map(|s| s.trim().parse::<u64>().expect("sizes in MB")) {
        let corpus = corpus(mb);
        let marker = std::fs::read_to_string(corpus.join(".complete")).expect("corpus marker");
        let (events, bytes) = marker.split_once(' ').expect("events bytes");
        let (events, bytes): (u64, u64) = (events.parse().unwrap(), bytes.parse().unwrap());
        // Read every file once, so neither side pays for a cold page cache.
        let compressed: u64 = walk(&corpus).iter().map(|p| std::fs::read(p).map_or(0, |b| b.len() as u64)).sum();
        let mut line = format!("{:>5.0} MB uncompressed ({:.0} MB gzip, {events} events)", bytes as f64 / 1e6, compressed as f64 / 1e6);

        // Each side runs `runs` times, alternating, on a machine others may
        // share: the median wall time is reported, with the largest peak RSS.
        let runs: usize = std::env::var("TARN_BENCH_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
        let (mut tarn_runs, mut duck_runs, mut copy_seconds, mut sizes) = (Vec::new(), Vec::new(), Vec::new(), (0, 0));
        for _ in 0..runs {
            let lake = std::env::temp_dir().join(format!("tarn-bench-lake-{mb}"));
            let _ = std::fs::remove_dir_all(&lake);
            let mut command = Command::new(TARN);
            command.arg("--lake").arg(&lake).args(["ingest", "file"]).arg(&corpus);
            let tarn = run(command, "tarn");
            let tarn_rows: u64 = tarn
                .stdout
                .lines()
                .find_map(|l| l.strip_prefix("ingested ")?.split_whitespace().next()?.parse().ok())
                .unwrap_or_else(|| panic!("no `ingested N rows` line from tarn:\n{}", tarn.stdout));
            assert_eq!(tarn_rows, events, "tarn lands every event");
            sizes.0 = parquet_bytes(&lake);
            let _ = std::fs::remove_dir_all(&lake);
            tarn_runs.push(tarn);

            if duckdb.is_some() {
                let out = std::env::temp_dir().join(format!("tarn-bench-duckdb-{mb}"));
                let _ = std::fs::remove_dir_all(&out);
                let mut command = Command::new(PYTHON);
                command.arg(DUCKDB_JOB).arg("job").arg(&corpus).arg(&out).arg(cores.to_string());
                let duck = run(command, "duckdb");
                let report: serde_json::Value = serde_json::from_str(duck.stdout.trim()).expect("the DuckDB job's JSON line");
                copy_seconds.push(report["seconds"].as_f64().expect("seconds"));
                let mut command = Command::new(PYTHON);
                command.arg(DUCKDB_JOB).arg("count").arg(&out);
                let duck_rows: u64 = run(command, "duckdb-count").stdout.trim().parse().expect("DuckDB's row count");
                assert_eq!(duck_rows, events, "DuckDB landed {duck_rows} records of {events}");
                sizes.1 = parquet_bytes(&out);
                let _ = std::fs::remove_dir_all(&out);
                duck_runs.push(duck);
            }
        }
        let tarn = Run::median(tarn_runs);
        line += &format!(" | tarn: {}, Parquet {:.0} MB", tarn.figures(events, ""), sizes.0 as f64 / 1e6);
        if let Some(version) = &duckdb {
            let duck = Run::median(duck_runs);
            copy_seconds.sort_by(f64::total_cmp);
            line += &format!(
                " | DuckDB {version}: {}, Parquet {:.0} MB | tarn/DuckDB events/s {:.2}x",
                duck.figures(events, &format!(" (COPY {:.1} s)", copy_seconds[copy_seconds.len() / 2])),
                sizes.1 as f64 / 1e6,
                duck.seconds / tarn.seconds
            );
        }
        line += &format!(" (median of {runs} runs each)");
        println!("{line}");
    }
}

/// A finished child process: its wall time, its peak RSS and what it printed.
struct Run {
    seconds: f64,
    peak_rss_kib: u64,
    stdout: String,
}

impl Run {
    /// The run of median wall time, with the largest peak RSS of all.
    fn median(mut runs: Vec<Run>) -> Run {
        let peak_rss_kib = runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
        runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
        let middle = runs.len() / 2;
        let mut run = runs.swap_remove(middle);
        run.peak_rss_kib = peak_rss_kib;
        run
    }

    /// Wall time (and `note` on it), events/s, peak RSS.
    fn figures(&self, events: u64, note: &str) -> String {
        format!(
            "{:.1} s{note}, {:.0} events/s, peak RSS {:.0} MiB",
            self.seconds,
            events as f64 / self.seconds,
            self.peak_rss_kib as f64 / 1024.0
        )
    }
}

/// Runs `command` from the temp directory (no ./tarn.yml) to its end; fails
/// the bench if it fails.
#[expect(clippy::zombie_processes, reason = "wait4 reaps the child, which Child::wait cannot do with its rusage")]
fn run(mut command: Command, name: &str) -> Run {
    let output = |stream: &str| std::env::temp_dir().join(format!("tarn-bench-{name}.{stream}"));
    let (stdout_path, stderr_path) = (output("stdout"), output("stderr"));
    command
        .current_dir(std::env::temp_dir())
        .env_remove("TARN_CONFIG")
        .env_remove("TARN_LAKE")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"));
    let started = Instant::now();
    let child = command.spawn().unwrap_or_else(|e| panic!("start {name}: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it and reaps our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    while unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } != pid {
        let error = std::io::Error::last_os_error();
        assert_eq!(error.kind(), std::io::ErrorKind::Interrupted, "wait for {name}: {error}");
    }
    let seconds = started.elapsed().as_secs_f64();
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let _ = std::fs::remove_file(&stdout_path);
    let _ = std::fs::remove_file(&stderr_path);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{name} failed (wait status {status}):\n{stdout}{stderr}");
    Run { seconds, peak_rss_kib: usage.ru_maxrss as u64, stdout }
}

/// The duckdb version ./.venv/bin/python imports, if it does.
fn duckdb_version() -> Option<String> {
    let output = Command::new(PYTHON).args(["-c", "import duckdb; print(duckdb.__version__)"]).stderr(Stdio::null()).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The corpus's files (the .complete marker left out).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if path.file_name().is_some_and(|n| n != ".complete") {
            files.push(path);
        }
    }
    files
}

fn parquet_bytes(dir: &Path) -> u64 {
    walk(dir).iter().filter(|p| p.extension().is_some_and(|e| e == "parquet")).map(|p| std::fs::metadata(p).map_or(0, |m| m.len())).sum()
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines().find_map(|l| l.strip_prefix("model name")).map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()).unwrap_or_default()
}
