//! The CloudTrail Lake-style queries of `tests/lake/samples.sql`, run as a
//! user runs them (`tarn query --format lake` against a store id from
//! `tarn.yml`) over a generated sample, each compared with the answer worked
//! out here from the generated CloudTrail files read directly, over the whole
//! sample and over a six-hour window.

mod common;
#[path = "lake/samples.rs"]
mod lake;

use common::{Scratch, cloudtrail_records};
use serde_json::Value;
use std::collections::BTreeMap;

const STORE: &str = "5e2676f8-9fce-46ef-8142-3e36a94e6691";

/// A string field at a JSON pointer.
fn field(record: &Value, pointer: &str) -> Option<String> {
    record.pointer(pointer).and_then(Value::as_str).map(str::to_string)
}

/// `2026-11-17T03:00:00Z` as Lake prints it.
fn lake_time(text: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(text).unwrap().format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// A JSON field of a JSON field, as `json_extract_scalar` gives it.
fn scalar(record: &Value, pointer: &str) -> Option<String> {
    match record.pointer(pointer)? {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// SQL's ascending order with NULLs last.
fn nulls_last(value: &Option<String>) -> (bool, String) {
    (value.is_none(), value.clone().unwrap_or_default())
}

type Row = Vec<Option<String>>;

/// Counts rows by key.
fn count_by<K: Ord>(records: &[&Value], key: impl Fn(&Value) -> K) -> BTreeMap<K, u64> {
    let mut counts = BTreeMap::new();
    for record in records {
        *counts.entry(key(record)).or_default() += 1;
    }
    counts
}

fn expected(name: &str, records: &[&Value]) -> Vec<Row> {
    let count = |n: u64| Some(n.to_string());
    let mut rows: Vec<(Vec<(bool, String)>, Row)> = match name {
        "console logins without MFA" => {
            let logins: Vec<&Value> = records
                .iter()
                .copied()
                .filter(|r| {
                    field(r, "/eventName").as_deref() == Some("ConsoleLogin")
                        && field(r, "/additionalEventData/MFAUsed").as_deref() == Some("No")
                        && field(r, "/responseElements/ConsoleLogin").as_deref() == Some("Success")
                })
                .collect();
            count_by(&logins, |r| (field(r, "/userIdentity/arn"), field(r, "/sourceIPAddress")))
                .into_iter()
                .map(|((arn, ip), n)| (vec![descending(n), nulls_last(&arn), nulls_last(&ip)], vec![arn, ip, count(n)]))
                .collect()
        }
        "top error codes" => {
            let failed: Vec<&Value> = records.iter().copied().filter(|r| field(r, "/errorCode").is_some()).collect();
            count_by(&failed, |r| (field(r, "/errorCode"), field(r, "/errorMessage")))
                .into_iter()
                .map(|((code, message), n)| (vec![descending(n), nulls_last(&code)], vec![code, message, count(n)]))
                .collect()
        }
        "API calls by principal" => {
            let mut groups: BTreeMap<[Option<String>; 3], (u64, u64)> = BTreeMap::new();
            for r in records {
                let key = [field(r, "/userIdentity/principalId"), field(r, "/userIdentity/arn"), field(r, "/eventSource")];
                let entry = groups.entry(key).or_default();
                entry.0 += 1;
                entry.1 += u64::from(field(r, "/errorCode").is_some());
            }
            groups
                .into_iter()
                .map(|([principal, arn, source], (n, failed))| {
                    (
                        vec![descending(n), nulls_last(&principal), nulls_last(&source), nulls_last(&arn)],
                        vec![principal, arn, source, count(n), count(failed)],
                    )
                })
                .collect()
        }
        "cross-account role assumptions" => {
            let role_account = |r: &Value| field(r, "/requestParameters/roleArn").and_then(|a| a.split(':').nth(4).map(str::to_string));
            let assumed: Vec<&Value> = records
                .iter()
                .copied()
                .filter(|r| {
                    field(r, "/eventName").as_deref() == Some("AssumeRole")
                        && field(r, "/eventSource").as_deref() == Some("sts.amazonaws.com")
                        && role_account(r).is_some()
                        && role_account(r) != field(r, "/recipientAccountId")
                })
                .collect();
            count_by(&assumed, |r| (field(r, "/recipientAccountId"), role_account(r), field(r, "/requestParameters/roleArn")))
                .into_iter()
                .map(|((recipient, account, arn), n)| {
                    (vec![descending(n), nulls_last(&arn), nulls_last(&recipient)], vec![recipient, account, arn, count(n)])
                })
                .collect()
        }
        "security group changes" => records
            .iter()
            .filter(|r| {
                let name = field(r, "/eventName").unwrap_or_default();
                name.ends_with("SecurityGroupIngress") || name.ends_with("SecurityGroupEgress")
            })
            .filter(|r| field(r, "/errorCode").is_none())
            .map(|r| {
                let time = lake_time(&field(r, "/eventTime").unwrap());
                let group = field(r, "/requestParameters/groupId");
                let row = vec![
                    Some(time.clone()),
                    field(r, "/eventName"),
                    field(r, "/userIdentity/arn"),
                    group.clone(),
                    scalar(r, "/requestParameters/ipPermissions/items/0/ipRanges/items/0/cidrIp"),
                    scalar(r, "/requestParameters/ipPermissions/items/0/fromPort"),
                ];
                (vec![descending_text(&time), nulls_last(&group)], row)
            })
            .collect(),
        "TLS versions" => {
            let with_tls: Vec<&Value> = records.iter().copied().filter(|r| field(r, "/tlsDetails/tlsVersion").is_some()).collect();
            count_by(&with_tls, |r| (field(r, "/tlsDetails/tlsVersion"), field(r, "/eventSource")))
                .into_iter()
                .map(|((version, source), n)| {
                    (vec![nulls_last(&version), descending(n), nulls_last(&source)], vec![version, source, count(n)])
                })
                .collect()
        }
        "activity by IP" => {
            let mut groups: BTreeMap<Option<String>, Vec<&Value>> = BTreeMap::new();
            for r in records {
                groups.entry(field(r, "/sourceIPAddress")).or_default().push(r);
            }
            groups
                .into_iter()
                .map(|(ip, rs)| {
                    let names: std::collections::BTreeSet<_> = rs.iter().filter_map(|r| field(r, "/eventName")).collect();
                    let times: Vec<String> = rs.iter().map(|r| lake_time(&field(r, "/eventTime").unwrap())).collect();
                    let has_agent = rs.iter().any(|r| field(r, "/userAgent").is_some());
                    let row = vec![
                        ip.clone(),
                        count(rs.len() as u64),
                        count(names.len() as u64),
                        Some(has_agent.to_string()),
                        times.iter().min().cloned(),
                        times.iter().max().cloned(),
                    ];
                    (vec![descending(rs.len() as u64), nulls_last(&ip)], row)
                })
                .collect()
        }
        "S3 public access changes" => records
            .iter()
            .filter(|r| {
                field(r, "/eventSource").as_deref() == Some("s3.amazonaws.com")
                    && ["PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock", "PutBucketPolicy", "PutBucketAcl"]
                        .contains(&field(r, "/eventName").unwrap_or_default().as_str())
            })
            .map(|r| {
                let time = lake_time(&field(r, "/eventTime").unwrap());
                let bucket = field(r, "/requestParameters/bucketName");
                let row = vec![
                    Some(time.clone()),
                    field(r, "/eventName"),
                    bucket.clone(),
                    scalar(r, "/requestParameters/PublicAccessBlockConfiguration/BlockPublicPolicy"),
                    field(r, "/userIdentity/arn"),
                ];
                (vec![descending_text(&time), nulls_last(&bucket)], row)
            })
            .collect(),
        other => panic!("no expected answer for sample query '{other}'"),
    };
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let limit = if name == "security group changes" || name == "TLS versions" || name == "S3 public access changes" { 20 } else { 10 };
    rows.into_iter().take(limit).map(|(_, row)| row).collect()
}

/// A sort key that orders counts from the largest.
fn descending(n: u64) -> (bool, String) {
    (false, format!("{:020}", u64::MAX - n))
}

/// A sort key that orders fixed-width time text from the latest.
fn descending_text(text: &str) -> (bool, String) {
    (false, text.bytes().map(|b| (b'0' + b'9' - b) as char).collect())
}

/// `QueryResultRows` of `--format lake` output, as rows of values.
fn lake_rows(output: &str) -> Vec<Row> {
    output
        .lines()
        .filter(|l| l.starts_with("  [") || l.starts_with(", ["))
        .map(|l| {
            let row: Vec<BTreeMap<String, Value>> = serde_json::from_str(&l[2..]).unwrap();
            row.into_iter().map(|cell| cell.into_values().next().unwrap().as_str().map(str::to_string)).collect()
        })
        .collect()
}

#[test]
fn lake_sample_queries_return_what_the_data_says() {
    let scratch = Scratch::new("lake-samples");
    let generated = common::sample(&scratch.dir, 30_000, 500, 0);
    scratch.ok(&["ingest", "file", "sample/AWSLogs"]);
    std::fs::write(
        scratch.path("tarn.yml"),
        format!("event_data_stores:\n  trail:\n    id: {STORE}\n    category: Management\n    tables: [aws_cloudtrail]\n"),
    )
    .unwrap();
    let records = cloudtrail_records(&generated.cloudtrail_files);
    assert_eq!(records.len(), 30_000);
    let window = ("2026-11-17T03:00:00Z", "2026-11-17T09:00:00Z");
    let in_window = |r: &&Value| {
        let t = field(r, "/eventTime").unwrap();
        t.as_str() >= window.0 && t.as_str() < window.1
    };
    let all: Vec<&Value> = records.iter().collect();
    let windowed: Vec<&Value> = records.iter().filter(in_window).collect();
    assert!(windowed.len() > 10_000 && windowed.len() < 20_000, "the window holds about half: {}", windowed.len());
    let queries = lake::samples();
    assert_eq!(queries.len(), 8);
    for (name, template) in queries {
        let template = template.replace("<EDS ID>", STORE);
        let bounded = format!("eventTime >= '{}' AND eventTime < '{}'", lake_time(window.0), lake_time(window.1));
        for (time, records) in [("1 = 1", &all), (bounded.as_str(), &windowed)] {
            let query = template.replace("{TIME}", time);
            let actual = lake_rows(&scratch.ok(&["query", "--format", "lake", &query]));
            let expected = expected(&name, records);
            assert!(!expected.is_empty(), "{name}: the sample has rows for it");
            assert_eq!(actual, expected, "{name} ({time})");
        }
    }
}
