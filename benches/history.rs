//! Opening a lake with a long history: 100,000 commits (TARN_BENCH_COMMITS),
//! read whole versus from the commit log's checkpoint. Shows that `tarn
//! tables` and a query's start do not grow with the history once a
//! checkpoint is saved (issue 15, part 3).
//!
//! The history is written as commit lines directly after one real ingest
//! (each line consumes an input, as an SQS message with nothing new does),
//! then one real commit through tarn saves the checkpoint. Each command is
//! timed as a user runs it: the release binary, median of 3.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

fn main() {
    let commits: u64 = std::env::var("TARN_BENCH_COMMITS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let root = std::env::temp_dir().join(format!("tarn-bench-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let tarn = env!("CARGO_BIN_EXE_tarn");
    let run = |args: &[&str]| {
        let started = Instant::now();
        let output = Command::new(tarn).current_dir(&root).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        started.elapsed().as_secs_f64()
    };
    let mut plan = tarn::generate::Plan::new(&root.join("sample"));
    plan.cloudtrail_events = 2_000;
    plan.events_per_file = 100;
    plan.snyk_events = 0;
    plan.hours = 4;
    let generated = tarn::generate::generate(&plan).unwrap();
    std::fs::create_dir_all(&root).unwrap();
    let first = generated.cloudtrail_files[0].to_str().unwrap().to_string();
    run(&["ingest", "file", &first, "--log-type", "AWS.CloudTrail"]);

    // The history: commit lines as tarn writes them.
    let log_path = root.join("lake/_tarn/log.jsonl");
    let first_line = std::fs::read_to_string(&log_path).unwrap();
    let added: serde_json::Value = serde_json::from_str(first_line.lines().next().unwrap()).unwrap();
    let mut log = std::io::BufWriter::new(std::fs::OpenOptions::new().append(true).open(&log_path).unwrap());
    for id in 2..=commits {
        let line = serde_json::json!({
            "id": id,
            "time": "2026-12-01T00:00:00+00:00",
            "operation": "pull sqs",
            "add": [],
            "remove": [],
            "inputs": [format!("sqs:message-{id:08}")],
        });
        writeln!(log, "{line}").unwrap();
    }
    drop(log);
    let bytes = std::fs::metadata(&log_path).unwrap().len();
    let files = added["add"].as_array().unwrap().len();
    println!("history: {commits} commits, {:.1} MB of log, {files} live files", bytes as f64 / 1e6);

    let median = |args: &[&str]| {
        let mut times: Vec<f64> = (0..3).map(|_| run(args)).collect();
        times.sort_by(f64::total_cmp);
        times[1]
    };
    let query = ["query", "select count(*) from aws_cloudtrail"];
    let (tables_whole, query_whole) = (median(&["tables"]), median(&query));
    // One real commit saves the checkpoint.
    let second = generated.cloudtrail_files[1].to_str().unwrap().to_string();
    let commit = run(&["ingest", "file", &second, "--log-type", "AWS.CloudTrail"]);
    assert!(root.join("lake/_tarn/checkpoint.json").is_file(), "the commit saved a checkpoint");
    let (tables_checkpoint, query_checkpoint) = (median(&["tables"]), median(&query));
    println!("| command | log read whole | from the checkpoint |");
    println!("|---|---|---|");
    println!("| tarn tables | {tables_whole:.3} s | {tables_checkpoint:.3} s |");
    println!("| tarn query count(*) | {query_whole:.3} s | {query_checkpoint:.3} s |");
    println!("the commit that saved the checkpoint took {commit:.3} s");
    let _ = std::fs::remove_dir_all(&root);
}
