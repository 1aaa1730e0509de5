//! Detection rules end to end through the `tarn` binary: the loader's errors,
//! inline tests (the starter rules, failures, JUnit), Sigma's modifiers and
//! conditions, `rules new`, and `rules run` with dedup and threshold across
//! runs over a real lake.

mod common;

use common::{Scratch, text};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;

fn write(scratch: &Scratch, relative: &str, body: &str) {
    let path = scratch.path(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

/// `tarn rules test <dir> --strict` on a directory holding only `body`:
/// exit code, stdout, stderr.
fn test_one(scratch: &Scratch, name: &str, body: &str) -> (i32, String, String) {
    let dir = format!("one-{name}");
    write(scratch, &format!("{dir}/{name}.yml"), body);
    let output = scratch.tarn(&["rules", "test", &dir, "--strict"]).output().unwrap();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

const GOOD: &str = "RuleID: Test.Good
Severity: Low
LogTypes: [AWS.CloudTrail]
Detection:
  - Key: eventName
    Condition: Equals
    Value: StopLogging
Tests:
  - Name: match
    ExpectedResult: true
    Log: {\"eventTime\": \"2026-11-20T10:00:00Z\", \"eventSource\": \"cloudtrail.amazonaws.com\", \"eventName\": \"StopLogging\"}
";

#[test]
fn malformed_rules_are_refused_naming_file_key_and_what_is_expected() {
    let scratch = Scratch::new("rules-loader");
    let cases: Vec<(&str, String, &str)> = vec![
        ("typo", GOOD.replace("Severity:", "Severty:"), "unknown field `Severty`, expected one of"),
        (
            "severity",
            GOOD.replace("Severity: Low", "Severity: Severe"),
            "Severity: Severe is not a severity; expected one of Info, Low, Medium, High, Critical",
        ),
        ("both", format!("{GOOD}Query: SELECT * FROM aws_cloudtrail\n"), "Detection or Query: a rule has exactly one"),
        (
            "logtype",
            GOOD.replace("[AWS.CloudTrail]", "[AWS.CloudTrial]"),
            "LogTypes: AWS.CloudTrial is not a known log type; expected one of",
        ),
        (
            "condition",
            GOOD.replace("Condition: Equals", "Condition: Is"),
            "Detection[0].Condition: Is is not a condition; expected one of Equals",
        ),
        (
            "field",
            GOOD.replace("Key: eventName", "Key: eventNme"),
            "Detection: AWS.CloudTrail: field eventNme: eventNme is not a column of the table",
        ),
        ("threshold", format!("{GOOD}Threshold: 0\n"), "Threshold: 0 would alert without events; expected 1 or more"),
        ("title", format!("{GOOD}AlertTitle: \"from {{sourceIP}}\"\n"), "Detection: AWS.CloudTrail: sourceIP names no column"),
        (
            "expected",
            GOOD.replace("ExpectedResult: true", "ExpectedResult: maybe"),
            "Tests[0].ExpectedResult: invalid type: string \"maybe\", expected a boolean",
        ),
        ("python", format!("{GOOD}Filename: rule.py\n"), "Filename: Python rules are not run by tarn"),
        (
            "select",
            GOOD.replace(
                "Detection:\n  - Key: eventName\n    Condition: Equals\n    Value: StopLogging\n",
                "Query: DELETE FROM aws_cloudtrail\n",
            ),
            "Query: expected a SELECT",
        ),
        (
            "logtypes",
            GOOD.replace("[AWS.CloudTrail]", "[AWS.CloudTrail, Snyk.OrgAudit]").replace("Key: eventName", "Key: p_log_type"),
            "Tests[0] (match).LogType: the rule has several log types; expected the one of this test's records",
        ),
    ];
    for (name, body, expected) in &cases {
        let (code, _, stderr) = test_one(&scratch, name, body);
        assert_eq!(code, 1, "{name}: {stderr}");
        let file = format!("one-{name}/{name}.yml");
        assert!(stderr.contains(&file) && stderr.contains(expected), "{name}: expected «{file}: …{expected}…», got: {stderr}");
        assert_eq!(stderr.lines().count(), 2, "{name}: one line per bad file, then the count: {stderr}");
    }
    // Every bad file is reported, not just the first; duplicate ids too.
    write(&scratch, "many/a.yml", GOOD);
    write(&scratch, "many/b.yml", GOOD);
    write(&scratch, "many/c.yml", &GOOD.replace("Severity: Low", "Severity: low"));
    let (code, stderr) = scratch.fails(&["rules", "test", "many", "--strict"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("many/b.yml: RuleID: Test.Good is also the id of") && stderr.contains("many/c.yml: Severity: low"), "{stderr}");
    assert!(stderr.contains("2 rule file(s) could not be loaded"), "{stderr}");
    let (_, stderr) = scratch.fails(&["rules", "test", "nowhere"]);
    assert!(stderr.contains("nowhere: no such file or directory"), "{stderr}");
}

#[test]
fn sigma_constructs_tarn_does_not_run_are_reported_per_rule() {
    let scratch = Scratch::new("rules-sigma-unsupported");
    let sigma = |detection: &str, extra: &str| {
        format!("title: t\nlogsource:\n  product: aws\n  service: cloudtrail\n{extra}detection:\n{detection}\nlevel: low\n")
    };
    let cases = [
        (
            "modifier",
            sigma("  sel:\n    eventName|base64: x\n  condition: sel", ""),
            "sel: eventName|base64: the modifier base64 is not supported",
        ),
        (
            "keywords",
            sigma("  sel:\n    - StopLogging\n  condition: sel", ""),
            "sel: keyword searches (values without a field) are not supported",
        ),
        (
            "timeframe",
            sigma("  sel:\n    eventName: x\n  timeframe: 5m\n  condition: sel", ""),
            "timeframe: time windows are not supported",
        ),
        (
            "count",
            sigma("  sel:\n    eventName: x\n  condition: sel | count() by sourceIPAddress > 5", ""),
            "aggregations (`| count() …`) are not supported",
        ),
        (
            "source",
            sigma("  sel:\n    eventName: x\n  condition: sel", "").replace("service: cloudtrail", "service: s3"),
            "logsource: product aws service s3 is not supported",
        ),
        ("undefined", sigma("  sel:\n    eventName: x\n  condition: sel and filter", ""), "condition: filter is not a search identifier"),
        (
            "level",
            sigma("  sel:\n    eventName: x\n  condition: sel", "").replace("level: low", "level: severe"),
            "level: severe is not a Sigma level",
        ),
    ];
    for (name, body, expected) in &cases {
        let (code, _, stderr) = test_one(&scratch, name, body);
        assert_eq!(code, 1, "{name}: {stderr}");
        assert!(stderr.contains(&format!("{name}.yml: ")) && stderr.contains(expected), "{name}: expected «{expected}», got: {stderr}");
    }
}

/// Issue 17: a field CloudTrail records lack is absent, as Sigma reads it:
/// the rule loads with a warning that says so, a test on the field never
/// matches and a null test always does.
#[test]
fn a_sigma_field_the_table_lacks_is_a_warning_not_a_failure() {
    let scratch = Scratch::new("rules-sigma-missing-field");
    let body = "title: t\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n    eventName: StopLogging\n    eventNom: x\n  absent:\n    eventNom: null\n  condition: sel or (absent and eventName)\n  eventName:\n    eventName: DeleteTrail\nlevel: low\ntests:\n  - {name: never by the missing field, expected_result: false, log: {\"eventTime\": \"2026-11-20T10:00:00Z\", \"eventSource\": \"cloudtrail.amazonaws.com\", \"eventName\": \"StopLogging\"}}\n  - {name: a null test holds, expected_result: true, log: {\"eventTime\": \"2026-11-20T10:00:00Z\", \"eventSource\": \"cloudtrail.amazonaws.com\", \"eventName\": \"DeleteTrail\"}}\n";
    let (code, stdout, stderr) = test_one(&scratch, "field", body);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("2 tests: 2 passed"), "{stdout}");
    assert!(
        stderr.contains("field.yml: field eventNom: eventNom is not a column") && stderr.contains("Sigma treats it as absent"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one warning for the field, however often it is named: {stderr}");
}

/// Issue 17: a directory of rules from elsewhere runs what it can; --strict
/// keeps the all-or-nothing load for CI.
#[test]
fn a_rule_that_cannot_load_is_skipped_unless_strict() {
    let scratch = Scratch::new("rules-skip");
    write(&scratch, "mixed/good.yml", GOOD);
    write(
        &scratch,
        "mixed/bad.yml",
        "title: t\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    eventName|base64: x\n  condition: sel\n",
    );
    let output = scratch.tarn(&["rules", "test", "mixed"]).output().unwrap();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "a skipped file fails `rules test`");
    assert!(stdout.contains("1 rules, 1 tests: 1 passed, 0 failed") && stdout.contains("1 rule file(s) skipped"), "{stdout}");
    assert!(
        stderr.contains("warning: mixed/bad.yml: ")
            && stderr.contains("the modifier base64 is not supported")
            && stderr.contains("skipped"),
        "{stderr}"
    );
    let strict = scratch.tarn(&["rules", "test", "mixed", "--strict"]).output().unwrap();
    assert_eq!(strict.status.code(), Some(1));
    assert!(!text(&strict.stdout).contains("tests:"), "nothing is tested: {}", text(&strict.stdout));
    assert!(text(&strict.stderr).contains("error: mixed/bad.yml:"), "{}", text(&strict.stderr));
    ingest(&scratch, "logs.json", vec![root_call(5)]);
    let run = scratch.tarn(&["rules", "run", "mixed", "--format", "ndjson"]).output().unwrap();
    assert_eq!(run.status.code(), Some(0), "the good rule runs: {}", text(&run.stderr));
    assert!(text(&run.stderr).contains("1 rules run"), "{}", text(&run.stderr));
    let strict_run = scratch.tarn(&["rules", "run", "mixed", "--strict"]).output().unwrap();
    assert_eq!(strict_run.status.code(), Some(1));
}

/// Issue 17: `rules run --from/--to` judges an incident window afresh and
/// writes its alerts without moving the scheduled runs' watermarks;
/// `--dry-run` and `rules backtest` write nothing.
#[test]
fn an_incident_window_and_a_backtest_leave_the_schedule_alone() {
    let scratch = Scratch::new("rules-window");
    starter_rules(&scratch, &["console_login_failures.yml", "root_activity.yml"]);
    // Three days ago: a root call. Within the hour: six failed logins and a root call.
    let mut records: Vec<Value> = (0..6).map(|i| failed_login(50 - i * 5)).collect();
    records.extend([root_call(30), root_call(3 * 24 * 60)]);
    ingest(&scratch, "logs.json", records);
    let commits = scratch.commits().len();
    let day = |days_ago: i64| (chrono::Utc::now() - chrono::Duration::days(days_ago)).format("%Y-%m-%d").to_string();
    let at = |hours_ago: i64| (chrono::Utc::now() - chrono::Duration::hours(hours_ago)).to_rfc3339();

    // The backtest: what each rule would have raised over a week.
    let backtest = scratch.ok(&["rules", "backtest", "detections", "--days", "7"]);
    let lines: Vec<Vec<&str>> = backtest.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        lines,
        vec![vec!["AWS.CloudTrail.RootActivity", "High", "2", "2"], vec!["AWS.CloudTrail.ConsoleLoginFailures", "Medium", "1", "6"]],
        "{backtest}"
    );
    // A dry run of the window: the alerts, printed; nothing written.
    let dry = scratch
        .tarn(&["rules", "run", "detections", "--from", &day(5), "--to", &at(24), "--dry-run", "--format", "ndjson"])
        .output()
        .unwrap();
    let alerts: Vec<Value> = text(&dry.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(alerts.len(), 1, "only the old root call is in the window: {alerts:?}");
    assert!(text(&dry.stderr).contains("nothing written (--dry-run)"), "{}", text(&dry.stderr));
    assert_eq!(scratch.commits().len(), commits, "a backtest and a dry run commit nothing");

    // The incident window, written: its alert lands, no watermark moves.
    let (code, _) = run_window(&scratch, &["--from", &day(5), "--to", &at(24)]);
    assert_eq!(code, 0);
    assert_eq!(scratch.count("SELECT count(*) FROM alerts"), 1);
    let last = scratch.commits().pop().unwrap();
    assert!(last.get("checkpoints").is_none_or(|c| c.as_object().is_some_and(|c| c.is_empty())), "no rule state moved: {last}");
    // The scheduled run still judges the last day whole: the recent root call and the failed logins.
    let (_, alerts) = run_rules(&scratch, &[]);
    let raised: BTreeSet<String> = alerts.iter().map(|a| a["rule_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(raised, BTreeSet::from(["AWS.CloudTrail.ConsoleLoginFailures".to_string(), "AWS.CloudTrail.RootActivity".to_string()]));
    assert_eq!(scratch.count("SELECT count(*) FROM alerts"), 3);
    let bad = scratch.tarn(&["rules", "run", "detections", "--from", &day(1), "--to", &day(2)]).output().unwrap();
    assert_eq!(text(&bad.stderr), "error: --to must be after --from\n");
}

/// Issue 17: rules/README.md is generated from the rule files, and the
/// test command refuses a stale one.
#[test]
fn the_coverage_table_comes_from_the_rules_and_a_stale_one_is_refused() {
    let scratch = Scratch::new("rules-coverage");
    write(&scratch, "cov/good.yml", &format!("{GOOD}Reports:\n  MITRE ATT&CK: [\"TA0005:T1562.008\"]\n"));
    write(
        &scratch,
        "cov/other.yml",
        &GOOD.replace("Test.Good", "Test.Other").replace("Severity: Low", "Severity: High\nTags: [AWS, Discovery]"),
    );
    let markdown = scratch.ok(&["rules", "coverage", "cov"]);
    assert!(markdown.contains("2 rules covering 1 ATT&CK techniques."), "{markdown}");
    assert!(markdown.contains("| Defense Evasion (TA0005) | 1 | T1562.008 |"), "{markdown}");
    assert!(markdown.contains("| Discovery (TA0007) | 1 |  |"), "filed by its tactic tag: {markdown}");
    assert!(markdown.contains("| Test.Good | Test.Good | AWS.CloudTrail | Low | T1562.008 | good.yml |"), "{markdown}");
    write(&scratch, "README.md", &markdown);
    assert!(scratch.ok(&["rules", "coverage", "cov", "--check", "README.md"]).contains("README.md is current (2 rules)"));
    write(&scratch, "README.md", &markdown.replace("Test.Other", "Test.Renamed"));
    let (code, stderr) = scratch.fails(&["rules", "coverage", "cov", "--check", "README.md"]);
    assert_eq!(
        (code, stderr.as_str()),
        (1, "error: README.md is not the coverage of cov; write it again: tarn rules coverage cov > README.md\n")
    );
}

/// Issue 17: a Sigma `event_count` correlation alerts once the rules it
/// names match often enough in its timespan, per group; the rules it counts
/// no longer alert alone; other correlation types are refused in one line.
#[test]
fn a_sigma_event_count_correlation_counts_its_rules_matches() {
    let scratch = Scratch::new("rules-correlation");
    write(
        &scratch,
        "detections/failed.yml",
        "title: failed console login\nname: failed_console_login\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    eventName: ConsoleLogin\n    responseElements.ConsoleLogin: Failure\n  condition: sel\nlevel: low\n",
    );
    write(
        &scratch,
        "detections/spray.yml",
        "title: three failed logins from one address in an hour\nid: 5b1f6c2e-0000-4000-8000-00000000c0c0\ncorrelation:\n  type: event_count\n  rules: [failed_console_login]\n  group-by: [sourceIPAddress]\n  timespan: 1h\n  condition: {gte: 3}\nlevel: high\n",
    );
    let mut records: Vec<Value> = (0..3).map(|i| failed_login(40 - i * 5)).collect();
    for minutes in [30, 20] {
        let mut other = failed_login(minutes);
        other["sourceIPAddress"] = json!("198.51.100.7");
        records.push(other);
    }
    ingest(&scratch, "logs.json", records);
    let (_, alerts) = run_rules(&scratch, &[]);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["rule_id"], "5b1f6c2e-0000-4000-8000-00000000c0c0");
    assert_eq!((alerts[0]["count"].as_u64(), alerts[0]["severity"].as_str()), (Some(3), Some("High")));
    assert_eq!(alerts[0]["dedup_key"], "sourceIPAddress=192.0.2.200");
    write(
        &scratch,
        "detections/spray.yml",
        "title: t\ncorrelation:\n  type: value_count\n  rules: [failed_console_login]\n  timespan: 1h\n  condition: {gte: 3, field: userIdentity.userName}\n",
    );
    let output = scratch.tarn(&["rules", "test", "detections"]).output().unwrap();
    assert!(
        text(&output.stderr).contains("detections/spray.yml: correlation: type value_count is not supported"),
        "{}",
        text(&output.stderr)
    );
}

/// What a webhook received: each request's `Idempotency-Key` and JSON body.
type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>;

/// A webhook receiver and its URL.
fn webhook() -> (String, Received) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut key) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("idempotency-key:") {
                    key = line["idempotency-key:".len()..].trim().to_string();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            seen.lock().unwrap().push((key, serde_json::from_slice(&body).unwrap()));
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, got)
}

/// Issue 17: alerts reach a webhook (Slack's shape) and a file, each alert
/// row once per destination, also across a crash between a send and its
/// record.
#[test]
fn alerts_reach_a_webhook_and_a_file_once_each() {
    let scratch = Scratch::new("rules-deliver");
    let (url, got) = webhook();
    starter_rules(&scratch, &["root_activity.yml"]);
    write(
        &scratch,
        "tarn.yml",
        &format!(
            "alerts:\n  destinations:\n    archive: {{type: file, path: alerts.ndjson}}\n    slack: {{type: webhook, url: \"{url}\"}}\n"
        ),
    );
    let lines = || {
        std::fs::read_to_string(scratch.path("alerts.ndjson"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    ingest(&scratch, "one.json", vec![root_call(10)]);
    let (_, alerts) = run_rules(&scratch, &[]);
    assert_eq!(alerts.len(), 1);
    let sent = got.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].1["text"].as_str().unwrap().starts_with("[High] alert: Root account of 111122223333"), "{:?}", sent[0].1);
    assert_eq!(sent[0].0, sent[0].1["delivery_id"].as_str().unwrap(), "the idempotency key is the delivery id");
    assert_eq!(lines().len(), 1);
    // Nothing new: nothing sent again.
    run_rules(&scratch, &[]);
    assert_eq!((got.lock().unwrap().len(), lines().len()), (1, 1));
    if cfg!(feature = "fault-injection") {
        // A new alert; tarn dies after the file took it and before that is recorded.
        ingest(&scratch, "two.json", vec![root_call(300)]);
        let crashed =
            scratch.tarn(&["rules", "run", "detections", "--since", "24h"]).env("TARN_FAIL_AFTER_DELIVERY", "1").output().unwrap();
        assert!(!crashed.status.success());
        assert_eq!(lines().len(), 2, "the file took it before the crash");
        let output = scratch.tarn(&["rules", "run", "detections", "--since", "24h"]).output().unwrap();
        assert!(text(&output.stderr).contains("sent 1 alert row(s) to slack"), "{}", text(&output.stderr));
        assert_eq!(lines().len(), 2, "not written twice");
        assert_eq!(got.lock().unwrap().len(), 2);
    }
    let ids: BTreeSet<String> = lines().iter().map(|l| l["delivery_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), lines().len(), "each alert row once in the file");
    let keys: BTreeSet<String> = got.lock().unwrap().iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, ids, "the webhook and the file got the same alert rows");
}

/// Issue 17: `tarn run` runs the rules tarn.yml schedules (with --once,
/// after the sources drained) and sends their alerts.
#[test]
fn tarn_run_runs_scheduled_rules_and_sends_their_alerts() {
    let scratch = Scratch::new("rules-scheduled");
    starter_rules(&scratch, &["root_activity.yml"]);
    write(
        &scratch,
        "tarn.yml",
        "rules:\n  - {path: detections, every: 5m, since: 24h}\nalerts:\n  destinations:\n    archive: {type: file, path: alerts.ndjson}\n",
    );
    ingest(&scratch, "one.json", vec![root_call(10)]);
    let out = scratch.ok(&["run", "--once"]);
    assert!(
        out.contains("rules ") && out.contains("detections: 1 rules run, 1 new matches, 1 alerts raised, 0 updated, 1 alert rows sent"),
        "{out}"
    );
    let file = std::fs::read_to_string(scratch.path("alerts.ndjson")).unwrap();
    assert_eq!(file.lines().count(), 1, "{file}");
    let again = scratch.ok(&["run", "--once"]);
    assert!(again.contains("0 new matches, 0 alerts raised, 0 updated, 0 alert rows sent"), "{again}");
    write(&scratch, "tarn.yml", "rules:\n  - {path: detections, every: soon}\n");
    let (_, stderr) = scratch.fails(&["run", "--once"]);
    assert!(stderr.contains("rules[0].every: 'soon' is not a duration"), "{stderr}");
}

/// Issue 17: an SNS destination publishes through the AWS SDK (moto plays
/// SNS; a queue subscribed to the topic shows what was published, once).
#[test]
fn alerts_reach_an_sns_topic_once() {
    let scratch = Scratch::new("rules-sns");
    let moto = common::moto::moto();
    let python = std::env::var("TARN_PYTHON").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python").to_string());
    let boto = |script: &str| {
        let prelude = "import boto3, json, sys\nkw = dict(endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test')\nsns = boto3.client('sns', **kw); sqs = boto3.client('sqs', **kw)\n";
        let out = std::process::Command::new(&python).arg("-c").arg(format!("{prelude}{script}")).arg(&moto.url).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let arn = boto(
        "topic = sns.create_topic(Name='tarn-alerts-test')['TopicArn']\nq = sqs.create_queue(QueueName='tarn-alerts-inbox')['QueueUrl']\nqarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=['QueueArn'])['Attributes']['QueueArn']\nsns.subscribe(TopicArn=topic, Protocol='sqs', Endpoint=qarn, Attributes={'RawMessageDelivery': 'true'})\nprint(topic)",
    );
    starter_rules(&scratch, &["root_activity.yml"]);
    write(
        &scratch,
        "tarn.yml",
        &format!("alerts:\n  destinations:\n    topic: {{type: sns, topic_arn: \"{}\", region: us-east-1}}\n", arn.trim()),
    );
    ingest(&scratch, "one.json", vec![root_call(10)]);
    for _ in 0..2 {
        let mut command = scratch.tarn(&["rules", "run", "detections"]);
        let output = common::moto::aws_env(&mut command).output().unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
    let received = boto(
        "q = sqs.get_queue_url(QueueName='tarn-alerts-inbox')['QueueUrl']\nm = sqs.receive_message(QueueUrl=q, MaxNumberOfMessages=10, WaitTimeSeconds=1).get('Messages', [])\nprint(json.dumps([json.loads(x['Body']) for x in m]))",
    );
    let messages: Vec<Value> = serde_json::from_str(received.trim()).unwrap();
    assert_eq!(messages.len(), 1, "published once over two runs: {messages:?}");
    assert_eq!(messages[0]["alert"]["rule_id"], "AWS.CloudTrail.RootActivity");
    assert!(messages[0]["text"].as_str().unwrap().starts_with("[High] alert:"), "{:?}", messages[0]);
}

/// Copies starter CloudTrail rules into the scratch's `detections/`.
fn starter_rules(scratch: &Scratch, files: &[&str]) {
    let starter = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/aws_cloudtrail");
    std::fs::create_dir_all(scratch.path("detections")).unwrap();
    for file in files {
        std::fs::copy(starter.join(file), scratch.path(&format!("detections/{file}"))).unwrap();
    }
}

/// The `.yml` files under `dir`, in its sub-folders too.
fn rule_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rule_files(&path));
        } else if path.extension().is_some_and(|e| e == "yml") {
            files.push(path);
        }
    }
    files
}

fn run_window(scratch: &Scratch, window: &[&str]) -> (i32, String) {
    let mut args = vec!["rules", "run", "detections", "--format", "ndjson"];
    args.extend_from_slice(window);
    let output = scratch.tarn(&args).output().unwrap();
    (output.status.code().unwrap_or(-1), text(&output.stderr))
}

#[test]
fn sigma_modifiers_and_conditions_match_as_sigma_says() {
    // Each rule was written for this test; its inline tests hold records that
    // must and must not match, so a modifier that matched everything (or
    // nothing) fails here.
    let scratch = Scratch::new("rules-sigma");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules/sigma");
    let out = scratch.ok(&["rules", "test", dir.to_str().unwrap()]);
    let summary = out.lines().last().unwrap();
    let rules = std::fs::read_dir(&dir).unwrap().count();
    assert!(rules >= 8, "{rules} Sigma test rules");
    assert!(summary.starts_with(&format!("{rules} rules, ")), "{out}");
    let (tests, passed): (u32, u32) = {
        let words: Vec<&str> = summary.split_whitespace().collect();
        (words[2].parse().unwrap(), words[4].parse().unwrap())
    };
    assert!(tests >= 3 * rules as u32 && passed == tests, "{out}");
    assert!(!out.contains("FAIL") && !out.contains("warning"), "{out}");

    // Flipping each expectation makes every test fail: none passes by accident.
    let flipped = scratch.path("flipped");
    std::fs::create_dir_all(&flipped).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let body = std::fs::read_to_string(&path).unwrap();
        let body = body.replace("expected_result: true", "expected_result: X").replace("expected_result: false", "expected_result: true");
        std::fs::write(flipped.join(path.file_name().unwrap()), body.replace("expected_result: X", "expected_result: false")).unwrap();
    }
    let output = scratch.tarn(&["rules", "test", "flipped"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stdout).contains(&format!("{tests} tests: 0 passed, {tests} failed")), "{}", text(&output.stdout));
}

#[test]
fn starter_rules_pass_their_tests_and_failures_are_reported_with_junit() {
    let scratch = Scratch::new("rules-starter");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let junit = scratch.path("junit.xml");
    let out = scratch.ok(&["rules", "test", rules.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    assert!(!out.contains("FAIL") && !out.contains("warning"), "{out}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("failures=\"0\""), "{xml}");
    // At least 120 CloudTrail and 20 Snyk rules, each with a test that must
    // match and one that must not.
    for (folder, minimum) in [("aws_cloudtrail", 120), ("snyk", 20)] {
        let files = rule_files(&rules.join(folder));
        assert!(files.len() >= minimum, "{folder}: {} rules", files.len());
        for file in files {
            let body = std::fs::read_to_string(&file).unwrap().to_lowercase().replace("expectedresult", "expected_result");
            assert!(
                body.contains("expected_result: true") && body.contains("expected_result: false"),
                "{} lacks a positive or a negative test",
                file.display()
            );
        }
    }

    // A wrong expectation and a record the schema refuses: each listed with
    // rule, test, expected and actual; exit 1; JUnit failures.
    let bad_record = "{\"eventSource\": \"cloudtrail.amazonaws.com\", \"eventName\": \"StopLogging\"}";
    let body = GOOD.replace("ExpectedResult: true", "ExpectedResult: false")
        + &format!("  - Name: no event time\n    ExpectedResult: true\n    Log: {bad_record}\n");
    write(&scratch, "failing/rule.yml", &body);
    let output = scratch.tarn(&["rules", "test", "failing", "--junit", "failing.xml"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let out = text(&output.stdout);
    assert!(out.contains("FAIL Test.Good / match: expected false, got true"), "{out}");
    assert!(out.contains("FAIL Test.Good / no event time: expected true, but record 1 does not pass the AWS.CloudTrail schema: "), "{out}");
    assert!(out.contains("eventTime"), "the schema's reason names the field: {out}");
    assert!(out.contains("1 rules, 2 tests: 0 passed, 2 failed"), "{out}");
    let xml = std::fs::read_to_string(scratch.path("failing.xml")).unwrap();
    assert_eq!(xml.matches("<failure message=").count(), 2, "{xml}");
    assert!(xml.contains("<testcase classname=\"Test.Good\" name=\"match\""), "{xml}");
}

#[test]
fn rules_new_writes_a_rule_whose_tests_pass() {
    let scratch = Scratch::new("rules-new");
    for (name, log_type) in [("my_rule", "AWS.CloudTrail"), ("snyk_rule", "Snyk.GroupAudit")] {
        let out = scratch.ok(&["rules", "new", "--log-type", log_type, name]);
        assert!(out.contains(&format!("rules/{name}.yml")), "{out}");
        let out = scratch.ok(&["rules", "test", &format!("rules/{name}.yml")]);
        assert!(out.contains("1 rules, 2 tests: 2 passed, 0 failed"), "{out}");
    }
    let (_, stderr) = scratch.fails(&["rules", "new", "--log-type", "AWS.CloudTrail", "my_rule"]);
    assert!(stderr.contains("rules/my_rule.yml already exists"), "{stderr}");
    let (_, stderr) = scratch.fails(&["rules", "new", "--log-type", "AWS.Nope", "x"]);
    assert!(stderr.contains("AWS.Nope"), "{stderr}");
}

/// A CloudTrail record at `minutes` before now.
fn event(minutes_ago: i64, name: &str, identity: Value, extra: Value) -> Value {
    let time = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
    let mut record = json!({
        "eventVersion": "1.08", "userIdentity": identity, "eventTime": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "eventSource": "signin.amazonaws.com", "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.200",
        "eventID": format!("{:x}", rand_id()), "eventType": "AwsConsoleSignIn", "recipientAccountId": "111122223333"
    });
    record.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    record
}

fn rand_id() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    N.fetch_add(1, Ordering::Relaxed) as u128 * 0x9e37_79b9_7f4a_7c15
}

fn failed_login(minutes_ago: i64) -> Value {
    let user = json!({"type": "IAMUser", "accountId": "111122223333", "userName": "carol"});
    event(minutes_ago, "ConsoleLogin", user, json!({"responseElements": {"ConsoleLogin": "Failure"}}))
}

fn root_call(minutes_ago: i64) -> Value {
    let root = json!({"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"});
    event(minutes_ago, "GetAccountSummary", root, json!({"eventSource": "iam.amazonaws.com", "eventType": "AwsApiCall"}))
}

fn ingest(scratch: &Scratch, name: &str, records: Vec<Value>) {
    write(scratch, name, &json!({ "Records": records }).to_string());
    scratch.ok(&["ingest", "file", name, "--log-type", "AWS.CloudTrail"]);
}

/// Alert rows as JSON objects, from `tarn rules run --format json`.
fn run_rules(scratch: &Scratch, extra: &[&str]) -> (i32, Vec<Value>) {
    let mut args = vec!["rules", "run", "detections", "--since", "24h", "--format", "ndjson"];
    args.extend_from_slice(extra);
    let output = scratch.tarn(&args).output().unwrap();
    let stdout = text(&output.stdout);
    assert!(output.status.code() != Some(1), "rules run failed: {}", text(&output.stderr));
    (output.status.code().unwrap(), stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect())
}

fn row_ids(alert: &Value) -> BTreeSet<String> {
    alert["row_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

#[test]
fn dedup_and_threshold_hold_across_runs() {
    let scratch = Scratch::new("rules-run");
    let starter = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/aws_cloudtrail");
    for file in ["console_login_failures.yml", "root_activity.yml"] {
        std::fs::create_dir_all(scratch.path("detections")).unwrap();
        std::fs::copy(starter.join(file), scratch.path(&format!("detections/{file}"))).unwrap();
    }
    // Run 1: three failed logins (threshold 5: no alert yet) and a root call.
    ingest(&scratch, "one.json", vec![failed_login(50), failed_login(45), failed_login(40), root_call(30)]);
    let (code, alerts) = run_rules(&scratch, &["--fail-on-alert"]);
    assert_eq!(code, 4, "a raised alert fails the gate");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["rule_id"], "AWS.CloudTrail.RootActivity");
    assert_eq!(alerts[0]["kind"], "raised");
    assert_eq!(alerts[0]["count"], 1);
    assert_eq!(alerts[0]["severity"], "High");
    assert_eq!(alerts[0]["title"], "Root account of 111122223333 used from 192.0.2.200: GetAccountSummary");
    let root_alert = alerts[0]["alert_id"].clone();

    // Run 2: three more failed logins reach the threshold: one alert carrying
    // all six rows; another root call within the hour joins the root alert.
    ingest(&scratch, "two.json", vec![failed_login(20), failed_login(15), failed_login(10), root_call(5)]);
    let (code, alerts) = run_rules(&scratch, &["--fail-on-alert"]);
    assert_eq!(code, 4);
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    let failures = alerts.iter().find(|a| a["rule_id"] == "AWS.CloudTrail.ConsoleLoginFailures").unwrap();
    assert_eq!((failures["kind"].as_str(), failures["count"].as_u64()), (Some("raised"), Some(6)));
    assert_eq!(failures["dedup_key"], "sourceIPAddress=192.0.2.200");
    let expected: BTreeSet<String> =
        scratch.rows("SELECT p_row_id FROM aws_cloudtrail WHERE eventname = 'ConsoleLogin'").into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(row_ids(failures), expected, "the alert names exactly the six failed logins");
    let root = alerts.iter().find(|a| a["rule_id"] == "AWS.CloudTrail.RootActivity").unwrap();
    assert_eq!((root["kind"].as_str(), root["count"].as_u64()), (Some("updated"), Some(2)), "not a second alert");
    assert_eq!(root["alert_id"], root_alert);
    assert_eq!(row_ids(root).len(), 1, "only the new root call");

    // Run 3: nothing new, nothing raised, and the gate passes.
    let (code, alerts) = run_rules(&scratch, &["--fail-on-alert"]);
    assert_eq!((code, alerts.len()), (0, 0), "{alerts:?}");

    // The alerts table holds the four rows, queryable with SQL.
    let rows = scratch.rows("SELECT rule_id, kind, count, cardinality(row_ids) FROM alerts ORDER BY rule_id, count");
    let rows: Vec<String> = rows.into_iter().map(|r| r.join(" ")).collect();
    assert_eq!(
        rows,
        [
            "AWS.CloudTrail.ConsoleLoginFailures raised 6 6",
            "AWS.CloudTrail.RootActivity raised 1 1",
            "AWS.CloudTrail.RootActivity updated 2 1"
        ]
    );

    // A late root call, three hours before the first, is outside its dedup period: a new alert.
    ingest(&scratch, "three.json", vec![root_call(200)]);
    let (_, alerts) = run_rules(&scratch, &[]);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["kind"], "raised");
    assert_ne!(alerts[0]["alert_id"], root_alert);
}
