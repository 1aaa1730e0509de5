//! Detection rules: the starter rules' inline tests, and `rules run` over a
//! lake — a first run over the whole window, a run with nothing new, and a
//! scheduled run after one more file arrives.
//!
//! `cargo bench --bench rules` generates (once, cached under the system temp
//! directory) TARN_BENCH_EVENTS CloudTrail events (default 1,000,000) and a
//! tenth as many Snyk events over 7 days, ingests them, and runs on a fresh
//! copy of that lake each time (a run moves the rules' state).

use std::path::Path;
use std::time::Instant;

const DAYS: u64 = 7;

fn main() {
    let events: u64 = std::env::var("TARN_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let root = std::env::temp_dir().join(format!("tarn-bench-rules-{events}"));
    let registry = tarn::schema::Registry::built_in();
    let start = "2026-11-14T00:00:00Z";
    if !root.join(".complete").exists() {
        let _ = std::fs::remove_dir_all(&root);
        let mut plan = tarn::generate::Plan::new(&root.join("corpus"));
        plan.cloudtrail_events = events;
        plan.events_per_file = 2_000;
        plan.snyk_events = events / 10;
        plan.hours = 24 * DAYS;
        plan.start = start.parse().unwrap();
        let generated = tarn::generate::generate(&plan).expect("generate the corpus");
        let lake = tarn::lake::Lake::open(&root.join("lake")).unwrap();
        for (files, log_type) in [
            (generated.cloudtrail_files, "AWS.CloudTrail"),
            (generated.snyk_group_files, "Snyk.GroupAudit"),
            (generated.snyk_org_files, "Snyk.OrgAudit"),
        ] {
            let options = tarn::sources::IngestOptions { log_type: Some(log_type.to_string()), ..Default::default() };
            tarn::sources::file::ingest_files(&lake, &registry, &files, &options).unwrap();
        }
        let _ = std::fs::remove_dir_all(root.join("corpus"));
        let mut extra = tarn::generate::Plan::new(&root.join("extra"));
        extra.cloudtrail_events = 2_000;
        extra.events_per_file = 2_000;
        extra.snyk_events = 0;
        extra.hours = 1;
        extra.seed = 7;
        extra.start = "2026-11-20T23:00:00Z".parse().unwrap();
        tarn::generate::generate(&extra).unwrap();
        std::fs::write(root.join(".complete"), "").unwrap();
    }
    let rules = tarn::rules::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"), &registry).unwrap_or_else(|e| panic!("{e:?}"));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());

    let mut best = f64::MAX;
    let mut tests = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let report = runtime.block_on(tarn::rules::test_rules(&rules, &registry, &[]));
        best = best.min(started.elapsed().as_secs_f64());
        assert_eq!(report.failed(), 0);
        tests = report.outcomes.len();
    }
    println!("rules test: {} rules, {tests} tests in {best:.3} s (best of 3; {cores} cores)", rules.len());

    let work = root.join("work");
    let _ = std::fs::remove_dir_all(&work);
    let copied = std::process::Command::new("cp").arg("-r").arg(root.join("lake")).arg(&work).status().unwrap();
    assert!(copied.success());
    let lake = tarn::lake::Lake::open(&work).unwrap();
    let rows: u64 = lake.snapshot().unwrap().summaries().iter().map(|s| s.rows).sum();
    let from = chrono::DateTime::parse_from_rfc3339(start).unwrap().timestamp_micros();
    let run = |label: &str| {
        let started = Instant::now();
        let report = runtime
            .block_on(tarn::rules::run_rules(
                &lake,
                &registry,
                &[],
                &rules,
                (from, tarn::now_micros()),
                tarn::rules::Mode::Scheduled { write: true },
                None,
            ))
            .unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        println!(
            "rules run, {label}: {:.2} s — {} matches, {} alerts raised, {} updated",
            started.elapsed().as_secs_f64(),
            report.matches,
            report.raised(),
            report.alerts.len() - report.raised()
        );
    };
    println!("lake: {rows} rows ({events} CloudTrail + {} Snyk events over {DAYS} days); {} rules", events / 10, rules.len());
    run("first, whole lake");
    run("again, nothing new");
    tarn::sources::file::ingest_files(&lake, &registry, &[root.join("extra")], &tarn::sources::IngestOptions::default()).unwrap();
    run("after one new file of 2,000 events");
    let _ = std::fs::remove_dir_all(&work);
}
