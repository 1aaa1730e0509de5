//! End-to-end tests of the `tarn` binary: ingest generated logs, query them,
//! and compare with what was generated.

mod common;

use common::{Scratch, cloudtrail_records, count_by, sample};
use std::collections::BTreeMap;

#[test]
fn ingested_cloudtrail_matches_the_generated_files() {
    let s = Scratch::new("cloudtrail");
    let generated = sample(&s.dir, 3_000, 200, 0);
    let out = s.ok(&["ingest", "file", "sample/AWSLogs", "--log-type", "AWS.CloudTrail"]);
    assert!(out.contains("ingested 3000 rows from 15 files"), "{out}");

    let records = cloudtrail_records(&generated.cloudtrail_files);
    assert_eq!(records.len(), 3_000);
    let expected = count_by(&records, "eventName");
    let rows = s.rows("select eventname, count(*) from aws_cloudtrail group by 1 order by 1");
    let actual: BTreeMap<String, u64> = rows.iter().map(|r| (r[0].clone(), r[1].parse().unwrap())).collect();
    assert_eq!(actual, expected);

    // Values survive: one record's fields, nested ones included, and its original JSON.
    let first = &records[0];
    let id = first["eventID"].as_str().unwrap();
    let row = &s.rows(&format!(
        "select useridentity.type, awsregion, recipientaccountid, eventjson = '{}' from aws_cloudtrail where eventid = '{id}'",
        serde_json::to_string(first).unwrap().replace('\'', "''")
    ))[0];
    assert_eq!(
        row,
        &vec![
            first["userIdentity"]["type"].as_str().unwrap().to_string(),
            first["awsRegion"].as_str().unwrap().to_string(),
            first["recipientAccountId"].as_str().unwrap().to_string(),
            "true".to_string()
        ]
    );

    // Errors counted from the files and from the lake agree.
    let errors = records.iter().filter(|r| r.get("errorCode").is_some()).count() as u64;
    assert_eq!(s.count("select count(*) from aws_cloudtrail where errorcode is not null"), errors);
    // Partitions are by the UTC hour of the event time.
    assert_eq!(s.count("select count(*) from aws_cloudtrail where hour <> date_part('hour', p_event_time)"), 0);
    let layout: Vec<String> =
        std::fs::read_dir(s.path("lake/aws_cloudtrail")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(layout.len(), 2, "one year directory and the Delta log: {layout:?}");
    assert!(layout.contains(&"_delta_log".to_string()));
    assert!(s.path("lake/aws_cloudtrail/year=2026/month=11/day=17/hour=00").is_dir());

    let tables = s.ok(&["tables"]);
    assert!(tables.lines().any(|l| l.starts_with("aws_cloudtrail") && l.contains(" 3000 ") && l.contains("2026-11-17 00:")), "{tables}");
}

#[test]
fn mixed_case_identifiers_resolve() {
    let s = Scratch::new("mixed-case");
    let generated = sample(&s.dir, 500, 100, 0);
    s.ok(&["ingest", "file", "sample"]);
    let records = cloudtrail_records(&generated.cloudtrail_files);
    let iam = records.iter().filter(|r| r["eventSource"] == "iam.amazonaws.com").count();
    assert!(iam > 0);
    let rows = s.rows("select eventName from aws_cloudtrail where EventSource = 'iam.amazonaws.com'");
    assert_eq!(rows.len(), iam);
    assert_eq!(
        s.count("SELECT COUNT(*) FROM AWS_CloudTrail WHERE userIdentity.sessionContext.sessionIssuer.userName IS NOT NULL"),
        records.iter().filter(|r| r["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"].is_string()).count() as u64
    );
}

#[test]
fn re_ingest_adds_nothing_unless_forced() {
    let s = Scratch::new("reingest");
    sample(&s.dir, 400, 100, 0);
    s.ok(&["ingest", "file", "sample"]);
    let again = s.ok(&["ingest", "file", "sample"]);
    assert!(again.contains("ingested 0 rows") && again.contains("4 files already in the lake"), "{again}");
    // A copy of a file under another name is the same content: still nothing new.
    let file =
        std::fs::read_dir(s.path("sample/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/17")).unwrap().next().unwrap().unwrap().path();
    std::fs::copy(&file, s.path("copy.json.gz")).unwrap();
    s.ok(&["ingest", "file", "copy.json.gz", "--log-type", "AWS.CloudTrail"]);
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 400);
    assert_eq!(s.count("select count(distinct eventid) from aws_cloudtrail"), 400);
    s.ok(&["ingest", "file", "sample", "--force"]);
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 800);
}

#[test]
fn snyk_files_in_both_api_shapes() {
    let s = Scratch::new("snyk");
    let generated = sample(&s.dir, 0, 100, 700);
    s.ok(&["ingest", "file", "sample/snyk/group", "--log-type", "Snyk.GroupAudit"]);
    s.ok(&["ingest", "file", "sample/snyk/org", "--log-type", "Snyk.OrgAudit"]);
    assert_eq!(s.count("select count(*) from snyk_groupaudit") + s.count("select count(*) from snyk_orgaudit"), generated.snyk_events);
    // REST items (org_id, user_id) land in the v1 columns.
    assert_eq!(s.count("select count(*) from snyk_orgaudit where orgid is null"), 0);
    let users_in_rest: u64 = generated
        .snyk_org_files
        .iter()
        .map(|f| {
            let page: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            page["data"]["items"].as_array().unwrap().iter().filter(|i| i.get("user_id").is_some()).count() as u64
        })
        .sum();
    assert_eq!(s.count("select count(userid) from snyk_orgaudit"), users_in_rest);
    assert_eq!(s.count("select count(*) from snyk_orgaudit where cardinality(p_any_usernames) = 1"), users_in_rest);
    // The original REST item is kept as sent.
    assert_eq!(s.count("select count(*) from snyk_orgaudit where eventjson like '%\"org_id\"%'"), 350);
    // NDJSON of REST items (as a script saving the API's items would write them).
    std::fs::write(
        s.path("items.ndjson"),
        "{\"created\":\"2026-11-20T10:00:00.000Z\",\"event\":\"org.user.add\",\"org_id\":\"o-1\",\"user_id\":\"u-1\"}\n{\"created\":\"2026-11-20T10:00:01.000Z\",\"event\":\"api.access\",\"org_id\":\"o-1\"}\n",
    )
    .unwrap();
    s.ok(&["ingest", "file", "items.ndjson", "--log-type", "Snyk.OrgAudit"]);
    assert_eq!(
        s.rows("select event, userid from snyk_orgaudit where orgid = 'o-1' order by created"),
        vec![vec!["org.user.add".to_string(), "u-1".to_string()], vec!["api.access".to_string(), "".to_string()]]
    );
    // content is JSON text, readable with JSON functions.
    assert!(s.count("select count(*) from snyk_groupaudit where content like '{%'") > 0);
}

#[test]
fn bad_records_are_quarantined_beside_the_good_ones() {
    let s = Scratch::new("quarantine");
    let good = r#"{"eventTime":"2026-11-20T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","eventID":"good-1"}"#;
    let good2 = r#"{"eventTime":"2026-11-20T11:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"good-2"}"#;
    let lines = [
        good,
        r#"{"eventTime":"yesterday","eventSource":"iam.amazonaws.com","eventName":"X"}"#,
        r#"{"eventSource":"iam.amazonaws.com","eventName":"NoTime"}"#,
        "{this is not json",
        r#"{"eventTime":"2026-11-20T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"Y","readOnly":"maybe"}"#,
        good2,
    ];
    std::fs::write(s.path("mixed.ndjson"), lines.join("\n")).unwrap();
    std::fs::write(s.path("garbage.json.gz"), b"\x1f\x8b\x08\x00 not really gzip").unwrap();
    std::fs::write(s.path("binary.log"), [0u8, 159, 146, 150, 1, 2]).unwrap();
    let output =
        s.tarn(&["ingest", "file", "garbage.json.gz", "mixed.ndjson", "binary.log", "--log-type", "AWS.CloudTrail"]).output().unwrap();
    let stderr = common::text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "failed files give exit code 2: {stderr}");
    assert!(stderr.lines().any(|l| l.starts_with("warning: ") && l.contains("garbage.json.gz: skipped")), "{stderr}");
    assert!(stderr.lines().any(|l| l.contains("binary.log: skipped: it is not JSON")), "{stderr}");
    assert!(common::text(&output.stdout).contains("ingested 2 rows from 1 files in 1 commits; 4 records quarantined"));

    let rows = s.rows("select eventid from aws_cloudtrail order by 1");
    assert_eq!(rows, vec![vec!["good-1".to_string()], vec!["good-2".to_string()]]);
    let quarantined = s.ok(&["query", "select p_source_position, reason, raw from quarantine order by 1", "--format", "json"]);
    let quarantined: Vec<serde_json::Value> = serde_json::from_str(&quarantined).unwrap();
    let reasons: Vec<(u64, &str)> =
        quarantined.iter().map(|r| (r["p_source_position"].as_u64().unwrap(), r["reason"].as_str().unwrap())).collect();
    assert_eq!(reasons[0], (2, "field 'eventTime' has a timestamp that does not match rfc3339: string \"yesterday\""));
    assert_eq!(reasons[1], (3, "required field 'eventTime' is missing"));
    assert!(reasons[2].0 == 4 && reasons[2].1.starts_with("not JSON: key must be a string"), "{reasons:?}");
    assert_eq!(reasons[3], (5, "field 'readOnly' should be true or false, got string \"maybe\""));
    assert_eq!(quarantined[3]["raw"].as_str().unwrap(), lines[4], "the original bytes are kept");
}

#[test]
fn quarantine_replay_after_a_schema_fix() {
    let s = Scratch::new("replay");
    let generated = sample(&s.dir, 0, 100, 400);
    // Panther's own Snyk schema, unchanged, requires userId and orgId; group-level
    // and system events lack them.
    std::fs::create_dir_all(s.path("schemas")).unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/panther_snyk_groupaudit.yml"), s.path("schemas/snyk.yml")).unwrap();
    std::fs::write(s.path("tarn.yml"), "lake: lake\nschema_dirs: [schemas]\n").unwrap();
    let list = s.ok(&["schema", "list"]);
    assert!(list.lines().any(|l| l.starts_with("Snyk.GroupAudit") && l.contains("schemas/snyk.yml")), "{list}");
    s.ok(&["ingest", "file", "sample/snyk/group", "--log-type", "Snyk.GroupAudit"]);
    let landed = s.count("select count(*) from snyk_groupaudit");
    let quarantined = s.count("select count(*) from quarantine");
    assert_eq!(landed + quarantined, 200);
    assert!(quarantined > 0 && landed > 0);
    let missing_user = generated
        .snyk_group_files
        .iter()
        .flat_map(|f| serde_json::from_slice::<Vec<serde_json::Value>>(&std::fs::read(f).unwrap()).unwrap())
        .filter(|r| r["userId"].is_null() || r.get("orgId").is_none())
        .count() as u64;
    assert_eq!(quarantined, missing_user);

    // The fix: drop the strict copy so the built-in (relaxed) schema applies.
    std::fs::remove_file(s.path("schemas/snyk.yml")).unwrap();
    let out = s.ok(&["quarantine", "replay"]);
    assert_eq!(out.trim(), format!("{quarantined} records landed in their tables; 0 are still quarantined"));
    assert_eq!(s.count("select count(*) from snyk_groupaudit"), 200);
    assert_eq!(s.count("select count(*) from quarantine"), 0);
    // Replaying again changes nothing.
    s.ok(&["quarantine", "replay"]);
    assert_eq!(s.count("select count(*) from snyk_groupaudit"), 200);
}

#[test]
fn sql_is_read_only_and_errors_are_one_line() {
    let s = Scratch::new("readonly");
    sample(&s.dir, 100, 100, 0);
    s.ok(&["ingest", "file", "sample"]);
    for statement in [
        "create table t as select 1",
        "insert into aws_cloudtrail select * from aws_cloudtrail",
        "copy (select 1) to '/tmp/x.csv'",
        "create external table t stored as csv location '/tmp'",
        "drop table aws_cloudtrail",
    ] {
        let (code, stderr) = s.fails(&["query", statement]);
        assert_eq!(code, 1);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: tarn's SQL is read-only:"), "{statement}: {stderr}");
    }
    let (_, stderr) = s.fails(&["query", "select nope from aws_cloudtrail"]);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("nope"), "{stderr}");
    // Regression: parser errors used to print as a Rust debug dump (ParserError("...")).
    let (_, stderr) = s.fails(&["query", "selec 1"]);
    assert_eq!(stderr, "error: syntax error: Expected: an SQL statement, found: selec at Line: 1, Column: 1\n");
    let (_, stderr) = s.fails(&["query", "select * from cloudtrail"]);
    assert!(stderr.contains("tables: aws_activityauditlog, aws_cloudtrail,"), "{stderr}");
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 100);
}

#[test]
fn output_formats() {
    let s = Scratch::new("formats");
    sample(&s.dir, 100, 100, 0);
    s.ok(&["ingest", "file", "sample"]);
    let sql = "select eventname, count(*) as n from aws_cloudtrail group by 1 order by 2 desc, 1";
    let json: Vec<serde_json::Value> = serde_json::from_str(&s.ok(&["query", sql, "--format", "json"])).unwrap();
    let ndjson: Vec<serde_json::Value> =
        s.ok(&["query", sql, "--format", "ndjson"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let csv = s.ok(&["query", sql, "--format", "csv"]);
    let table = s.ok(&["query", sql]);
    assert_eq!(json, ndjson);
    assert_eq!(json.iter().map(|r| r["n"].as_u64().unwrap()).sum::<u64>(), 100);
    assert_eq!(csv.lines().next(), Some("eventname,n"));
    assert_eq!(csv.lines().count(), json.len() + 1);
    assert!(table.starts_with("+") && table.contains("| eventname"), "{table}");
    let empty: Vec<serde_json::Value> =
        serde_json::from_str(&s.ok(&["query", "select eventname from aws_cloudtrail where 1 = 0", "--format", "json"])).unwrap();
    assert!(empty.is_empty());
}

#[test]
fn schema_commands() {
    let s = Scratch::new("schema");
    let check = s.ok(&["schema", "check", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/panther_snyk_groupaudit.yml")]);
    assert!(check.contains("ok (Snyk.GroupAudit → table snyk_groupaudit)"), "{check}");
    std::fs::write(s.path("bad.yml"), "schema: Custom.Bad\nfields:\n  - name: when\n    type: timestamp\n    timeFormat: iso\n").unwrap();
    let (code, stderr) = s.fails(&["schema", "check", "bad.yml"]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("error: bad.yml: field 'when': unknown time format 'iso'"), "{stderr}");
    let show = s.ok(&["schema", "show", "aws.cloudtrail"]);
    assert!(show.starts_with("# AWS CloudTrail") && show.contains("#   useridentity") && show.contains("#   p_any_aws_arns"), "{show}");
    let list = s.ok(&["schema", "list"]);
    assert_eq!(list.lines().count(), 7, "{list}");
    assert!(list.contains("Snyk.Issue") && list.contains("AWS.ActivityAuditLog"), "{list}");
    // A bad config file gets one line naming it.
    std::fs::write(s.path("tarn.yml"), "lake: [1, 2]\n").unwrap();
    let (_, stderr) = s.fails(&["tables"]);
    assert_eq!(stderr.lines().count(), 1);
    assert!(stderr.starts_with("error: tarn.yml: lake: invalid type"), "{stderr}");
}

#[test]
fn the_shell_reads_statements_from_a_pipe() {
    use std::io::Write;
    let s = Scratch::new("shell");
    sample(&s.dir, 200, 100, 0);
    s.ok(&["ingest", "file", "sample"]);
    let mut child = s
        .tarn(&["sql"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = "\\d\n\\d aws_cloudtrail\nselect count(*)\n  as n\n  from aws_cloudtrail;\nselect bogus from nowhere;\n\\format csv\nselect 1 as one;\n\\q\nselect 2;\n";
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = common::text(&output.stdout);
    let stderr = common::text(&output.stderr);
    assert!(stdout.contains("aws_cloudtrail  ("), "{stdout}");
    assert!(stdout.contains("  useridentity") && stdout.contains("struct<type: string"), "{stdout}");
    assert!(stdout.contains("| 200 |"), "{stdout}");
    assert!(stdout.contains("one\n1\n"), "{stdout}");
    assert!(!stdout.contains("2\n+"), "nothing runs after \\q");
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    assert!(stderr.starts_with("error: ") && stderr.contains("nowhere"), "{stderr}");
    assert!(stderr.ends_with("error: 1 statement(s) failed\n"), "{stderr}");
    assert_eq!(output.status.code(), Some(1), "a script with a failed statement fails");
}

#[test]
fn digest_and_insight_files_go_to_their_own_tables() {
    use std::io::Write;
    let s = Scratch::new("digest");
    let gzip = |path: &str, text: &str| {
        let path = s.path(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut encoder = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::default());
        encoder.write_all(text.as_bytes()).unwrap();
        encoder.finish().unwrap();
    };
    gzip(
        "logs/AWSLogs/o-abc123/111122223333/CloudTrail-Digest/us-east-1/2026/11/17/111122223333_CloudTrail-Digest_us-east-1_org-trail_us-east-1_20261117T020000Z.json.gz",
        r#"{"awsAccountId":"111122223333","digestStartTime":"2026-11-17T01:00:00Z","digestEndTime":"2026-11-17T02:00:00Z","digestS3Bucket":"trail","digestS3Object":"x","newestEventTime":"2026-11-17T01:59:00Z","oldestEventTime":"2026-11-17T01:00:10Z","previousDigestS3Bucket":"trail","previousDigestS3Object":"y","previousDigestHashValue":"aa","previousDigestHashAlgorithm":"SHA-256","previousDigestSignature":"bb","digestPublicKeyFingerprint":"cc","digestSignatureAlgorithm":"SHA256withRSA","logFiles":[{"s3Bucket":"trail","s3Object":"AWSLogs/a.json.gz","hashValue":"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08","hashAlgorithm":"SHA-256","newestEventTime":"2026-11-17T01:59:00Z","oldestEventTime":"2026-11-17T01:00:10Z"}]}"#,
    );
    gzip(
        "logs/AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2026/11/17/111122223333_CloudTrail-Insight_us-east-1_20261117T0305Z_abcdefghijklmnop.json.gz",
        r#"{"Records":[{"eventVersion":"1.08","eventTime":"2026-11-17T03:00:00Z","awsRegion":"us-east-1","eventID":"i-1","eventType":"AwsCloudTrailInsight","recipientAccountId":"111122223333","sharedEventID":"s-1","insightDetails":{"state":"Start","eventSource":"iam.amazonaws.com","eventName":"DeleteUser","insightType":"ApiCallRateInsight","insightContext":{"statistics":{"baseline":{"average":0.01},"insight":{"average":5.0}}}},"eventCategory":"Insight"},{"eventVersion":"1.08","eventTime":"2026-11-17T03:30:00Z","awsRegion":"us-east-1","eventID":"i-2","eventType":"AwsCloudTrailInsight","recipientAccountId":"111122223333","sharedEventID":"s-1","insightDetails":{"state":"End","eventSource":"iam.amazonaws.com","eventName":"DeleteUser","insightType":"ApiCallRateInsight","insightContext":{}},"eventCategory":"Insight"}]}"#,
    );
    s.ok(&["ingest", "file", "logs"]);
    assert_eq!(
        s.rows("select hour, p_any_sha256_hashes from aws_cloudtraildigest"),
        vec![vec!["2".to_string(), "[9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08]".to_string()]]
    );
    assert_eq!(
        s.rows("select insightdetails.state from aws_cloudtrailinsight order by eventtime"),
        vec![vec!["Start".to_string()], vec!["End".to_string()]]
    );
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 0);
}

#[test]
fn the_same_content_twice_in_one_run_lands_once() {
    let s = Scratch::new("same-run");
    let generated = sample(&s.dir, 600, 100, 0);
    for (i, file) in generated.cloudtrail_files.iter().enumerate() {
        std::fs::copy(file, s.path(&format!("sample/copy-{i}.json.gz"))).unwrap();
    }
    let out = s.ok(&["ingest", "file", "sample", "--log-type", "AWS.CloudTrail", "--chunk-size", "150"]);
    assert!(out.contains("ingested 600 rows from 6 files") && out.contains("6 files already in the lake"), "{out}");
    assert_eq!(s.count("select count(distinct eventid) from aws_cloudtrail"), 600);
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 600);
}

#[test]
fn ctrl_c_cancels_the_running_query_not_the_shell() {
    use std::io::Write;
    let s = Scratch::new("cancel");
    // An empty lake: `sql` refuses a lake that does not exist.
    std::fs::write(s.path("empty.json"), "\n").unwrap();
    s.ok(&["ingest", "file", "empty.json", "--log-type", "AWS.CloudTrail"]);
    let mut child = s
        .tarn(&["sql"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A query that would run for hours.
    stdin.write_all(b"select count(*) from generate_series(1, 100000000000);\n").unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(child.try_wait().unwrap().is_none(), "the query is still running");
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    stdin.write_all(b"select 42 as answer;\n").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert_eq!(common::text(&output.stderr).trim(), "query cancelled");
    assert!(common::text(&output.stdout).contains("| 42     |"), "{}", common::text(&output.stdout));
}

#[test]
fn an_open_shell_sees_commits_made_after_it_started() {
    use std::io::{BufRead, BufReader, Write};
    let s = Scratch::new("shell-refresh");
    let generated = sample(&s.dir, 300, 100, 0);
    s.ok(&["ingest", "file", &generated.cloudtrail_files[0].display().to_string()]);
    let mut child =
        s.tarn(&["sql", "--format", "csv"]).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ask = |sql: &str| -> String {
        writeln!(stdin, "{sql};").unwrap();
        stdin.flush().unwrap();
        let (mut header, mut value) = (String::new(), String::new());
        stdout.read_line(&mut header).unwrap();
        stdout.read_line(&mut value).unwrap();
        value.trim().to_string()
    };
    assert_eq!(ask("select count(*) as n from aws_cloudtrail"), "100");
    s.ok(&["ingest", "file", "sample"]);
    assert_eq!(ask("select count(*) as n from aws_cloudtrail"), "300");
    drop(stdin);
    assert!(child.wait().unwrap().success());
}
