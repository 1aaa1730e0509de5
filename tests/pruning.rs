//! Queries bounded in time read only the partitions they can match: shown
//! with EXPLAIN (the files the scan lists) and EXPLAIN ANALYZE (bytes read),
//! with results equal to counts taken from the source files themselves.

mod common;

use common::{Scratch, cloudtrail_records, sample};

/// The Parquet files a query's scan lists, from its EXPLAIN.
fn scanned_files(scratch: &Scratch, sql: &str) -> Vec<String> {
    let plan = scratch.ok(&["query", &format!("explain {sql}"), "--format", "csv"]);
    plan.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|word| word.contains(".parquet"))
        .map(|word| word.split(".parquet").next().unwrap().to_string())
        .collect()
}

fn bytes_scanned(scratch: &Scratch, sql: &str) -> f64 {
    let plan = scratch.ok(&["query", &format!("explain analyze {sql}"), "--format", "csv"]);
    let at = plan.find("bytes_scanned=").expect("bytes_scanned in EXPLAIN ANALYZE") + "bytes_scanned=".len();
    let text: String = plan[at..].chars().take_while(|c| !matches!(c, ',' | '\n' | '"')).collect();
    let (number, unit) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
    number.parse::<f64>().unwrap()
        * match unit {
            "K" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            _ => 1.0,
        }
}

#[test]
fn a_time_bounded_query_reads_only_its_partitions() {
    let scratch = Scratch::new("pruning");
    let generated = sample(&scratch.dir, 6_000, 100, 400);
    scratch.ok(&["ingest", "file", "sample/AWSLogs"]);
    scratch.ok(&["ingest", "file", "sample/snyk/org", "--log-type", "Snyk.OrgAudit"]);

    // Counted from the gzip files, not by tarn.
    let records = cloudtrail_records(&generated.cloudtrail_files);
    let expected = records
        .iter()
        .filter(|r| {
            let time = r["eventTime"].as_str().unwrap();
            ("2026-11-17T03:00:00Z".."2026-11-17T05:00:00Z").contains(&time)
        })
        .count() as u64;
    assert!(expected > 0);
    let bounded = "select count(*) from aws_cloudtrail where eventtime >= '2026-11-17 03:00:00' and eventtime < '2026-11-17 05:00:00'";
    assert_eq!(scratch.count(bounded), expected);

    let files = scanned_files(&scratch, bounded);
    assert!(!files.is_empty() && files.iter().all(|f| f.contains("/day=17/hour=03/") || f.contains("/day=17/hour=04/")), "{files:?}");
    // The commit log says which files those hours hold.
    let log = std::fs::read_to_string(scratch.path("lake/_tarn/log.jsonl")).unwrap();
    let in_partitions = log
        .lines()
        .flat_map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["add"].as_array().cloned().unwrap_or_default())
        .filter(|file| {
            file["table"] == "aws_cloudtrail"
                && [[2026, 11, 17, 3], [2026, 11, 17, 4]].iter().any(|p| file["partition"] == serde_json::json!(p))
        })
        .count();
    assert_eq!(files.len(), in_partitions, "every file of those hours, and no other");
    let (pruned, whole) =
        (bytes_scanned(&scratch, bounded), bytes_scanned(&scratch, "select count(*) from aws_cloudtrail where eventtime is not null"));
    assert!(pruned * 3.0 < whole, "bytes read: {pruned} bounded, {whole} in all");

    // The same through p_event_time, the partition columns, and Snyk's `created`.
    let by_p = "select count(*) from aws_cloudtrail where p_event_time between timestamp '2026-11-17 03:00:00' and timestamp '2026-11-17 04:59:59.999999'";
    assert_eq!(scratch.count(by_p), expected);
    assert_eq!(scanned_files(&scratch, by_p), files);
    let by_partition = "select count(*) from aws_cloudtrail where year = 2026 and month = 11 and day = 17 and hour in (3, 4)";
    assert_eq!(scratch.count(by_partition), expected);
    let by_hour = "select count(*) from aws_cloudtrail where day = 17 and hour >= 3 and hour <= 4";
    assert_eq!(scratch.count(by_hour), expected);
    assert_eq!(scanned_files(&scratch, by_hour), files);
    let snyk_hour = scanned_files(&scratch, "select count(*) from snyk_orgaudit where created >= '2026-11-17 10:00:00'");
    assert!(!snyk_hour.is_empty(), "{snyk_hour:?}");
    assert!(snyk_hour.iter().all(|f| f.contains("/hour=10/") || f.contains("/hour=11/")), "{snyk_hour:?}");

    // A range with nothing in it reads nothing and still answers.
    let empty = "select count(*) from aws_cloudtrail where eventtime > '2027-01-01 00:00:00'";
    assert_eq!(scratch.count(empty), 0);
    assert!(scanned_files(&scratch, empty).is_empty());
}
