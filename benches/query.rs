//! Query time over a large lake, whole versus bounded in time, to show what
//! pruning from the commit log saves.
//!
//! `cargo bench --bench query` generates (once, cached under the system temp
//! directory) TARN_BENCH_EVENTS CloudTrail events (default 10,000,000) spread
//! over 30 days, ingests them (once, cached), then runs each query three
//! times and reports the best: over the whole lake, and over one day of it.

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
            tarn::ingest::ingest_files(&lake, &registry, &[root.join("corpus")], &tarn::ingest::IngestOptions::default(), &mut |p| {
                panic!("{p}")
            })
            .unwrap();
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
    let sql = tarn::sql::Sql::open(&lake, &registry).unwrap();
    let day = "eventtime >= '2026-11-20 00:00:00' and eventtime < '2026-11-21 00:00:00'";
    let queries = [
        ("events by name", "select eventname, count(*) from aws_cloudtrail {where} group by 1 order by 2 desc limit 10"),
        (
            "console logins without MFA",
            "select useridentity.arn, sourceipaddress, count(*) from aws_cloudtrail where eventname = 'ConsoleLogin' and useridentity.sessioncontext.attributes.mfaauthenticated = false {and} group by 1, 2 order by 3 desc limit 10",
        ),
        (
            "top error codes",
            "select errorcode, count(*) from aws_cloudtrail where errorcode is not null {and} group by 1 order by 2 desc limit 10",
        ),
    ];
    for (name, template) in queries {
        let whole = template.replace("{where}", "").replace("{and}", "");
        let bounded = template.replace("{where}", &format!("where {day}")).replace("{and}", &format!("and {day}"));
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
