//! CloudTrail Lake-style queries over the same files, tarn beside DuckDB
//! (issue 15, part 7): tarn's lake of the benchmark corpus
//! (TARN_BENCH_MB, default 1024), queried by tarn's SQL (in process, the
//! machine's cores as target partitions) and by DuckDB's `read_parquet` with
//! hive partitioning (`benches/lake_queries_duckdb.py` under ./.venv's
//! python, as many threads), each query 3 times in one process per engine;
//! medians are shown, with the rows each returned (they must agree).

#[path = "common/corpus.rs"]
mod corpus;

use std::process::Command;
use std::time::Instant;

const PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
const DUCKDB_HALF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/lake_queries_duckdb.py");

fn main() {
    let mb: u64 = std::env::var("TARN_BENCH_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let runs = 3;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let corpus = corpus::corpus(mb);
    let root = std::env::temp_dir().join(format!("tarn-bench-lake-queries-{mb}"));
    let lake_dir = root.join("lake");
    let registry = tarn::schema::Registry::built_in();
    if !root.join(".complete").exists() {
        let _ = std::fs::remove_dir_all(&root);
        let lake = tarn::lake::Lake::open(&lake_dir).unwrap();
        let options = tarn::sources::IngestOptions { log_type: Some("AWS.CloudTrail".into()), ..Default::default() };
        let report = tarn::sources::file::ingest_files(&lake, &registry, &[corpus], &options).unwrap();
        eprintln!("ingested {} rows", report.rows);
        std::fs::write(root.join(".complete"), "").unwrap();
    }
    let lake = tarn::lake::Lake::open(&lake_dir).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let sql = runtime.block_on(tarn::sql::Sql::open(&lake, &registry, &[])).unwrap();
    let first = runtime.block_on(sql.query("select cast(min(p_event_time) as varchar) from aws_cloudtrail")).unwrap();
    let first = tarn::sql::lake_value(first.1[0].column(0), 0).unwrap().expect("the lake has rows");
    // The second day of the corpus, 10:00 UTC.
    let day = chrono::NaiveDate::parse_from_str(&first[..10], "%Y-%m-%d").unwrap().succ_opt().unwrap();
    let hour = format!("{day} 10:00:00");
    let queries: Vec<(&str, String)> = vec![
        ("count by event name", "SELECT eventname, count(*) AS n FROM aws_cloudtrail GROUP BY eventname ORDER BY n DESC".into()),
        (
            "top error codes",
            "SELECT errorcode, count(*) AS n FROM aws_cloudtrail WHERE errorcode IS NOT NULL GROUP BY errorcode ORDER BY n DESC LIMIT 10".into(),
        ),
        ("distinct source IPs", "SELECT count(DISTINCT sourceipaddress) FROM aws_cloudtrail".into()),
        (
            "AssumeRole by account",
            "SELECT recipientaccountid, count(*) AS n FROM aws_cloudtrail WHERE eventname = 'AssumeRole' GROUP BY recipientaccountid ORDER BY n DESC".into(),
        ),
        (
            "one hour",
            format!(
                "SELECT eventname, count(*) FROM aws_cloudtrail WHERE p_event_time >= TIMESTAMP '{hour}' AND p_event_time < TIMESTAMP '{hour}' + INTERVAL '1' HOUR GROUP BY 1"
            ),
        ),
        ("by identity type", "SELECT useridentity.type, count(*) AS n FROM aws_cloudtrail GROUP BY 1 ORDER BY n DESC".into()),
        (
            "denied principals",
            "SELECT useridentity.arn, count(*) AS n FROM aws_cloudtrail WHERE errorcode = 'AccessDenied' GROUP BY 1 ORDER BY n DESC LIMIT 10".into(),
        ),
    ];
    let mut tarn = Vec::new();
    for (name, query) in &queries {
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..runs {
            let started = Instant::now();
            let (_, batches) = runtime.block_on(sql.query(query)).unwrap_or_else(|e| panic!("{name}: {e}"));
            times.push(started.elapsed().as_secs_f64());
            rows = batches.iter().map(|b| b.num_rows()).sum::<usize>();
        }
        times.sort_by(f64::total_cmp);
        tarn.push((times[runs / 2], rows));
    }
    let json: Vec<(&str, &str)> = queries.iter().map(|(n, q)| (*n, q.as_str())).collect();
    let output = Command::new(PYTHON)
        .args([DUCKDB_HALF, &lake.location(), &threads.to_string(), &runs.to_string(), &serde_json::to_string(&json).unwrap()])
        .output();
    let duck: Option<serde_json::Value> = match output {
        Ok(output) if output.status.success() => serde_json::from_slice(&output.stdout).ok(),
        Ok(output) => {
            eprintln!("DuckDB failed: {}", String::from_utf8_lossy(&output.stderr));
            None
        }
        Err(e) => {
            eprintln!("DuckDB not run ({PYTHON}: {e}); scripts/test.sh installs it");
            None
        }
    };
    let summary = lake.snapshot().unwrap().summaries();
    let trail = summary.iter().find(|s| s.table == "aws_cloudtrail").unwrap();
    println!(
        "{} events, {} files, {:.0} MB of Parquet; {threads} threads each; medians of {runs}",
        trail.rows,
        trail.files,
        trail.bytes as f64 / 1e6
    );
    println!("| query | tarn | DuckDB | tarn ÷ DuckDB | rows |");
    println!("|---|---|---|---|---|");
    for ((name, _), (seconds, rows)) in queries.iter().zip(&tarn) {
        let theirs = duck.as_ref().map(|d| (d[name]["seconds"].as_f64().unwrap_or(f64::NAN), d[name]["rows"].as_u64().unwrap_or(0)));
        match theirs {
            Some((duck_seconds, duck_rows)) => {
                assert_eq!(*rows as u64, duck_rows, "{name}: both engines return the same rows");
                println!("| {name} | {seconds:.3} s | {duck_seconds:.3} s | {:.2} | {rows} |", seconds / duck_seconds);
            }
            None => println!("| {name} | {seconds:.3} s | – | – | {rows} |"),
        }
    }
}
