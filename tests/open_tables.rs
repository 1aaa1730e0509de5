//! Issue 15: every lake table is a Delta table that engines other than tarn
//! read — delta-rs and DuckDB's `delta` extension, real ones from PyPI —
//! with the same rows as tarn's SQL, through ingests, removals and a schema
//! that gains a field.

mod common;

use common::engines::{Engine, count, query};
use common::{Scratch, sample};

fn location(s: &Scratch, table: &str) -> String {
    s.table(table)
}

#[test]
fn delta_rs_and_duckdb_read_the_rows_tarn_counts() {
    engines_read_what_tarn_counts(&Scratch::new("delta-read"));
}

#[test]
fn delta_rs_and_duckdb_read_an_s3_lake_as_tarn_counts() {
    engines_read_what_tarn_counts(&Scratch::on_s3("delta-read-s3"));
}

fn engines_read_what_tarn_counts(s: &Scratch) {
    sample(&s.dir, 1_200, 100, 90);
    s.ok(&["ingest", "file", "sample/AWSLogs", "--log-type", "AWS.CloudTrail"]);
    s.ok(&["ingest", "file", "sample/snyk/org", "--log-type", "Snyk.OrgAudit"]);
    std::fs::write(s.path("bad.json"), "{\"eventVersion\": \"1.08\", \"eventTime\": \"not a time\"}\n").unwrap();
    s.ok(&["ingest", "file", "bad.json", "--log-type", "AWS.CloudTrail"]);

    let trail = location(s, "aws_cloudtrail");
    let (rows, protocol) = query(Engine::DeltaRs, &trail, "select count(*), count(distinct eventid) from t", &[]);
    assert_eq!(rows[0], [serde_json::json!(1_200), serde_json::json!(1_200)]);
    assert_eq!(protocol, serde_json::json!([1, 2, null, null]), "reader 1 / writer 2, no table features: Athena v3 reads it");
    assert_eq!(count(Engine::DuckDb, &trail, "select count(distinct eventid) from t"), 1_200);

    // The same answer as tarn's SQL for a time window, a struct field and a partition.
    let from = s.rows("select cast(min(p_event_time) + interval '3' hour as varchar) from aws_cloudtrail")[0][0]
        .replace(' ', "T")
        .trim_end_matches('Z')
        .to_string();
    let window = format!("p_event_time >= timestamp '{from}Z'");
    let tarn = s.count(&format!("select count(*) from aws_cloudtrail where {window} and useridentity.type = 'AssumedRole'"));
    assert!(tarn > 0 && tarn < 1_200, "{tarn}");
    let sql = format!("select count(*) from t where p_event_time >= timestamp '{from}Z' and useridentity['type'] = 'AssumedRole'");
    assert_eq!(count(Engine::DeltaRs, &trail, &sql), tarn);
    let day = s.rows("select day from aws_cloudtrail group by day order by day limit 1")[0][0].clone();
    assert_eq!(
        count(Engine::DuckDb, &trail, &format!("select count(*) from t where day = {day}")),
        s.count(&format!("select count(*) from aws_cloudtrail where day = {day}"))
    );

    for table in ["snyk_orgaudit", "quarantine"] {
        let tarn = s.count(&format!("select count(*) from {table}"));
        assert!(tarn > 0, "{table}");
        assert_eq!(count(Engine::DeltaRs, &location(s, table), "select count(*) from t"), tarn, "{table}");
    }
    if s.s3_lake.is_some() {
        return; // `doctor --repair` works on a local lake only
    }

    // A file taken out of the lake (doctor's repair) is taken out of the Delta table.
    let log = std::fs::read_to_string(s.path("lake/_tarn/log.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    std::fs::remove_file(s.path("lake").join(first["add"][0]["path"].as_str().unwrap())).unwrap();
    s.ok(&["doctor", "--repair"]);
    let left = s.count("select count(*) from aws_cloudtrail");
    assert!(left < 1_200);
    assert_eq!(count(Engine::DeltaRs, &trail, "select count(*) from t"), left);
    assert_eq!(count(Engine::DuckDb, &trail, "select count(*) from t"), left);
}

#[test]
fn a_schema_that_gains_a_field_evolves_the_delta_table() {
    let s = Scratch::new("delta-evolve");
    std::fs::create_dir_all(s.path("schemas")).unwrap();
    let schema = |extra: &str| {
        format!(
            "schema: T.Evolve\nfields:\n  - name: t\n    required: true\n    type: timestamp\n    timeFormat: rfc3339\n    isEventTime: true\n  - name: a\n    type: string\n{extra}"
        )
    };
    std::fs::write(s.path("schemas/evolve.yml"), schema("")).unwrap();
    std::fs::write(s.path("tarn.yml"), "schema_dirs: [schemas]\n").unwrap();
    std::fs::write(s.path("one.ndjson"), "{\"t\": \"2026-11-17T10:00:00Z\", \"a\": \"x\"}\n").unwrap();
    s.ok(&["ingest", "file", "one.ndjson", "--log-type", "T.Evolve"]);
    std::fs::write(s.path("schemas/evolve.yml"), schema("  - name: b\n    type: bigint\n")).unwrap();
    std::fs::write(s.path("two.ndjson"), "{\"t\": \"2026-11-17T11:00:00Z\", \"a\": \"y\", \"b\": 7}\n").unwrap();
    s.ok(&["ingest", "file", "two.ndjson", "--log-type", "T.Evolve"]);

    let table = location(&s, "t_evolve");
    let (rows, _) = query(Engine::DeltaRs, &table, "select a, b from t order by a", &[]);
    assert_eq!(rows, vec![vec![serde_json::json!("x"), serde_json::Value::Null], vec![serde_json::json!("y"), serde_json::json!(7)]]);
    let (rows, _) = query(Engine::DuckDb, &table, "select a, b from t order by a", &[]);
    assert_eq!(rows[1], vec![serde_json::json!("y"), serde_json::json!(7)]);
    let second = std::fs::read_to_string(s.path("lake/t_evolve/_delta_log/00000000000000000001.json")).unwrap();
    assert!(second.contains("\"metaData\"") && second.contains("\\\"name\\\":\\\"b\\\""), "the schema evolves in a commit: {second}");
}

#[test]
/// A lake from before Delta (or whose Delta logs a crash left behind) is
/// brought level by one command, `tarn doctor --repair`.
fn a_lake_without_delta_logs_is_upgraded_in_place_by_doctor_repair() {
    let s = Scratch::new("delta-upgrade");
    sample(&s.dir, 600, 100, 0);
    s.ok(&["ingest", "file", "sample/AWSLogs", "--log-type", "AWS.CloudTrail"]);
    std::fs::remove_dir_all(s.path("lake/aws_cloudtrail/_delta_log")).unwrap();
    let report = s.ok(&["doctor"]);
    assert!(report.contains("table aws_cloudtrail's Delta log lags tarn's"), "{report}");
    let repaired = s.ok(&["doctor", "--repair"]);
    assert!(repaired.contains("the Delta logs of aws_cloudtrail now show tarn's live files"), "{repaired}");
    assert_eq!(count(Engine::DeltaRs, &location(&s, "aws_cloudtrail"), "select count(distinct eventid) from t"), 600);
    assert!(!s.ok(&["doctor"]).contains("lags"));
}

#[test]
fn a_lake_written_by_a_newer_tarn_is_refused_in_one_line() {
    let s = Scratch::new("delta-newer");
    sample(&s.dir, 100, 100, 0);
    s.ok(&["ingest", "file", "sample/AWSLogs", "--log-type", "AWS.CloudTrail"]);
    assert_eq!(std::fs::read_to_string(s.path("lake/_tarn/format")).unwrap(), "1\n");
    std::fs::write(s.path("lake/_tarn/format"), "2\n").unwrap();
    for args in [&["tables"][..], &["ingest", "file", "sample/AWSLogs"]] {
        let (code, stderr) = s.fails(args);
        assert_eq!(code, 1);
        assert!(stderr.contains("is in format 2, newer than this tarn's (1)") && stderr.lines().count() == 1, "{stderr}");
    }
    // A Delta log that needs a newer protocol than tarn writes is not written to.
    std::fs::write(s.path("lake/_tarn/format"), "1\n").unwrap();
    let log = s.path("lake/aws_cloudtrail/_delta_log/00000000000000000001.json");
    std::fs::write(&log, "{\"protocol\":{\"minReaderVersion\":3,\"minWriterVersion\":7}}\n").unwrap();
    let report = s.ok(&["doctor"]);
    assert!(report.contains("aws_cloudtrail's Delta log lags"), "{report}");
    let (_, stderr) = s.fails(&["doctor", "--repair"]);
    assert!(stderr.contains("needs reader 3 / writer 7"), "{stderr}");
}

#[test]
/// `tarn ddl duckdb` is run by DuckDB over the lake; the other engines'
/// scripts are checked against golden files (`tests/ddl/*.sql`).
fn ddl_registers_the_tables_in_duckdb_and_matches_the_golden_files() {
    let s = Scratch::new("ddl");
    sample(&s.dir, 300, 100, 30);
    s.ok(&["ingest", "file", "sample/AWSLogs", "--log-type", "AWS.CloudTrail"]);
    s.ok(&["ingest", "file", "sample/snyk/org", "--log-type", "Snyk.OrgAudit"]);
    let script = s.ok(&["ddl", "duckdb"]);
    assert!(script.contains("CREATE OR REPLACE VIEW aws_cloudtrail AS SELECT * FROM delta_scan("), "{script}");
    // The extension from PyPI's duckdb-ext-delta instead of a download.
    let statements: Vec<&str> =
        script.lines().filter(|l| !l.starts_with("--") && !l.starts_with("INSTALL") && !l.starts_with("LOAD")).collect();
    let sql = format!(
        "{}; select (select count(*) from aws_cloudtrail) * 1000 + (select count(*) from snyk_orgaudit)",
        statements.join(" ").trim_end_matches(';')
    );
    let (rows, _) = query(Engine::DuckDb, &location(&s, "aws_cloudtrail"), &sql, &[]);
    assert_eq!(rows[0][0], serde_json::json!(300 * 1000 + s.count("select count(*) from snyk_orgaudit")));

    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ddl");
    for engine in ["athena", "trino", "spark"] {
        let printed = s.ok(&["ddl", engine, "--location", "s3://tarn-lake/prod/", "--database", "security"]);
        let path = golden.join(format!("{engine}.sql"));
        if std::env::var_os("TARN_BLESS").is_some() {
            std::fs::write(&path, &printed).unwrap();
        }
        assert_eq!(printed, std::fs::read_to_string(&path).unwrap(), "{engine}: rerun with TARN_BLESS=1 if the change is meant");
    }
    let (code, stderr) = s.fails(&["ddl", "spark", "--database", "x; drop"]);
    assert_eq!((code, stderr.contains("is not a plain name")), (1, true), "{stderr}");
}

/// Live files of `table` by tarn's log.
fn live_files(s: &Scratch, table: &str) -> usize {
    let mut live = std::collections::BTreeSet::new();
    for commit in s.commits() {
        for removed in commit["remove"].as_array().unwrap() {
            live.remove(removed.as_str().unwrap());
        }
        for added in commit["add"].as_array().unwrap().iter().filter(|a| a["table"] == table) {
            live.insert(added["path"].as_str().unwrap().to_string());
        }
    }
    live.len()
}

#[test]
fn optimize_compacts_one_file_ingests_and_vacuum_deletes_what_it_replaced() {
    optimize_and_vacuum(&Scratch::new("optimize"));
}

#[test]
fn optimize_and_vacuum_work_on_an_s3_lake() {
    optimize_and_vacuum(&Scratch::on_s3("optimize-s3"));
}

fn optimize_and_vacuum(s: &Scratch) {
    let generated = sample(&s.dir, 1_000, 25, 0);
    for file in &generated.cloudtrail_files {
        s.ok(&["ingest", "file", file.to_str().unwrap(), "--log-type", "AWS.CloudTrail"]);
    }
    let before = live_files(s, "aws_cloudtrail");
    let trail = location(s, "aws_cloudtrail");
    let ids = "select count(*), count(distinct eventid) from t";
    let out = s.ok(&["optimize"]);
    assert!(out.contains("optimized") && out.contains("the old files stay"), "{out}");
    let after = live_files(s, "aws_cloudtrail");
    let partitions = s.count("select count(*) from (select distinct year, month, day, hour from aws_cloudtrail)");
    assert!(after < before, "{before} files became {after}");
    assert_eq!(after as u64, partitions, "one file a partition");
    assert_eq!(s.count("select count(distinct eventid) from aws_cloudtrail"), 1_000);
    let (rows, _) = query(Engine::DeltaRs, &trail, ids, &[]);
    assert_eq!(rows[0], [serde_json::json!(1_000), serde_json::json!(1_000)]);
    let delta_files = query(Engine::DeltaRs, &trail, "select count(distinct p_source_file) from t", &[]).0;
    assert!(delta_files[0][0].as_u64().unwrap() > 1);
    // The replaced files stay (a query that started before still reads
    // them) until vacuum; then only the live ones are left.
    let on_disk = || data_files(s, "aws_cloudtrail");
    assert_eq!(on_disk(), before + after);
    assert!(s.ok(&["vacuum"]).contains("deleted 0 file(s)"), "younger than 7 days: kept");
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let out = s.ok(&["vacuum", "--retain", "1s"]);
    assert!(out.contains(&format!("deleted {before} file(s)")), "{out}");
    assert_eq!(on_disk(), after);
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 1_000);
    assert_eq!(count(Engine::DuckDb, &trail, "select count(distinct eventid) from t"), 1_000);
    assert!(s.ok(&["optimize"]).contains("nothing to optimize"));
    assert!(s.ok(&["doctor"]).contains("the lake is healthy"));
}

/// A table's data files on disk or in the bucket (the Delta log's Parquet
/// checkpoints are not rows).
fn data_files(s: &Scratch, table: &str) -> usize {
    s.lake_files(&format!("{table}/")).keys().filter(|k| k.ends_with(".parquet") && !k.contains("/_delta_log/")).count()
}

#[test]
/// Every 10th Delta version has a Parquet checkpoint that engines start
/// from: with the JSON commits it covers deleted, delta-rs and DuckDB still
/// read every row (so they use it, rather than replay from version 0).
fn delta_checkpoints_are_written_and_read_by_other_engines() {
    delta_checkpoints(&Scratch::new("delta-checkpoint"));
}

#[test]
fn delta_checkpoints_of_an_s3_lake_are_read_by_other_engines() {
    delta_checkpoints(&Scratch::on_s3("delta-checkpoint-s3"));
}

fn delta_checkpoints(s: &Scratch) {
    let generated = sample(&s.dir, 1_200, 100, 0);
    for file in &generated.cloudtrail_files {
        s.ok(&["ingest", "file", file.to_str().unwrap(), "--log-type", "AWS.CloudTrail"]);
    }
    let log = s.lake_files("aws_cloudtrail/_delta_log/");
    assert!(log.contains_key("aws_cloudtrail/_delta_log/00000000000000000010.checkpoint.parquet"), "{:?}", log.keys());
    let last: serde_json::Value = serde_json::from_slice(&log["aws_cloudtrail/_delta_log/_last_checkpoint"]).unwrap();
    assert_eq!(last["version"], 10);
    // The checkpoint is Parquet in the table's folder, but no data file:
    // doctor does not list it as unlisted, vacuum does not delete it.
    assert!(s.ok(&["doctor"]).contains("the lake is healthy"));
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    assert!(s.ok(&["vacuum", "--retain", "1s"]).contains("deleted 0 file(s)"));
    assert!(s.lake_files("aws_cloudtrail/_delta_log/").contains_key("aws_cloudtrail/_delta_log/00000000000000000010.checkpoint.parquet"));
    for version in 0..=10 {
        s.delete_lake_file(&format!("aws_cloudtrail/_delta_log/{version:020}.json"));
    }
    let trail = location(s, "aws_cloudtrail");
    let (rows, protocol) = query(Engine::DeltaRs, &trail, "select count(*), count(distinct eventid) from t", &[]);
    assert_eq!(rows[0], [serde_json::json!(1_200), serde_json::json!(1_200)]);
    assert_eq!(protocol, serde_json::json!([1, 2, null, null]));
    assert_eq!(count(Engine::DuckDb, &trail, "select count(distinct eventid) from t"), 1_200);
}
