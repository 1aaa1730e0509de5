//! CloudTrail Lake-style queries (`tests/lake/samples.sql`) over a large
//! lake through an event data store, whole versus bounded in time, to show
//! what pruning from the commit log saves.
//!
//! `cargo bench --bench query` generates (once, cached under the system temp
//! directory) TARN_BENCH_EVENTS CloudTrail events (default 10,000,000) spread
//! over 30 days, ingests them (once, cached), then runs each query three
//! times and reports the best: over the whole lake, and over one day of it.

#[path = "../tests/lake/samples.rs"]
mod lake_samples;

use lake_samples::samples;
use std::time::{Duration, Instant};

const DAYS: u64 = 30;

fn main() {
    let events: u64 = std::env::var("TARN_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let root = std::env::temp_dir().join(format!("tarn-bench-query-{events}"));
    let lake_dir = root.join("lake");
    let done = root.join(".complete");
    let registry = tarn::schema::Registry::built_in();
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&root);
        let mut plan = tarn::generate::Plan::new(&root.join("corpus"));
        plan.cloudtrail_events = events;
        plan.events_per_file = 2_000;
        plan.snyk_events = 0;
        plan.hours = 24 * DAYS;
        let started = Instant::now();
        let generated = tarn::generate::generate(&plan).expect("generate the corpus");
        eprintln!(
            "generated {} events ({:.0} MB) in {:.0} s",
            generated.cloudtrail_events,
            generated.cloudtrail_bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let lake = tarn::lake::Lake::open(&lake_dir).unwrap();
        let report =
            tarn::sources::file::ingest_files(&lake, &registry, &[root.join("corpus")], &tarn::sources::IngestOptions::default()).unwrap();
        eprintln!("ingested {} rows in {:.0} s", report.rows, started.elapsed().as_secs_f64());
        let _ = std::fs::remove_dir_all(root.join("corpus"));
        std::fs::write(&done, "").unwrap();
    }
    let lake = tarn::lake::Lake::open(&lake_dir).unwrap();
    let summary = lake.snapshot().unwrap().summaries().into_iter().find(|s| s.table == "aws_cloudtrail").unwrap();
    println!(
        "lake: {} events, {} files in {} partitions, {:.0} MB of Parquet; {} cores",
        summary.rows,
        summary.files,
        summary.partitions,
        summary.bytes as f64 / 1e6,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let store = tarn::catalog::eds::EventDataStore {
        id: "5e2676f8-9fce-46ef-8142-3e36a94e6691".to_string(),
        retention_days: 3653,
        ..tarn::catalog::eds::EventDataStore::new("trail", tarn::catalog::eds::Category::Management, &["aws_cloudtrail"])
    };
    let sql = runtime.block_on(tarn::sql::Sql::open(&lake, &registry, std::slice::from_ref(&store))).unwrap();
    let day = "eventTime >= '2026-11-20 00:00:00' AND eventTime < '2026-11-21 00:00:00'";
    for (name, template) in samples() {
        let template = template.replace("<EDS ID>", &store.id);
        let whole = template.replace("{TIME}", "1 = 1");
        let bounded = template.replace("{TIME}", day);
        let time = |query: &str| -> Duration {
            (0..3)
                .map(|_| {
                    let started = Instant::now();
                    runtime.block_on(sql.query(query)).unwrap();
                    started.elapsed()
                })
                .min()
                .unwrap()
        };
        let (all, one_day) = (time(&whole), time(&bounded));
        println!(
            "{name}: whole lake {:.3} s, one day of {DAYS} {:.3} s ({:.1}x faster)",
            all.as_secs_f64(),
            one_day.as_secs_f64(),
            all.as_secs_f64() / one_day.as_secs_f64()
        );
    }
}
