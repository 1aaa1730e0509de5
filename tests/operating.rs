//! The conventions of running tarn as a tool and a service: `tarn config
//! check`, shell completions, the man page, and what tarn reports on stderr
//! (lines by default, JSON with `--log-format json`).

mod common;

use common::{Scratch, sample};

#[test]
fn config_check_reports_what_the_file_holds() {
    let s = Scratch::new("config-check");
    std::fs::write(
        s.path("tarn.yml"),
        "lake: ./data\nsources:\n  trail:\n    type: sqs\n    queue_url: https://sqs.eu-west-1.amazonaws.com/1/q\n  audit:\n    type: snyk\n    group: 4a18d42f-0706-4ad0-b127-24078731fbed\n    include_orgs: true\n",
    )
    .unwrap();
    let out = s.ok(&["config", "check"]);
    assert!(out.starts_with("tarn.yml: ok"), "{out}");
    assert!(out.contains("source trail: sqs https://sqs.eu-west-1.amazonaws.com/1/q"), "{out}");
    assert!(out.contains("source audit: snyk group 4a18d42f-0706-4ad0-b127-24078731fbed and its orgs"), "{out}");
    assert!(out.contains("lake: ./data") || out.contains("/data"), "{out}");
}

#[test]
fn config_check_names_the_problem_in_one_line() {
    let s = Scratch::new("config-check-bad");
    std::fs::write(s.path("bad.yml"), "lake: ./data\nsourcez: {}\n").unwrap();
    let (code, stderr) = s.fails(&["config", "check", "bad.yml"]);
    assert_eq!(code, 1);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: bad.yml: ") && stderr.contains("sourcez"), "{stderr}");

    let (code, stderr) = s.fails(&["config", "check", "missing.yml"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("missing.yml does not exist"), "{stderr}");
}

#[test]
fn completions_and_man_page_come_from_the_commands() {
    let s = Scratch::new("completions");
    let bash = s.ok(&["completions", "bash"]);
    assert!(bash.contains("complete") && bash.contains("tarn"), "{bash}");
    assert!(bash.contains("--queue-url") && bash.contains("--log-type"), "every command's flags are completed");
    let zsh = s.ok(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef tarn"), "{zsh}");
    let man = s.ok(&["man"]);
    assert!(man.starts_with(".ie") || man.contains(".TH tarn"), "{man}");
    assert!(man.contains("ingest") && man.contains("rules"), "the subcommands are listed");
}

#[test]
fn problems_are_warning_lines_by_default_and_json_on_request() {
    let s = Scratch::new("log-format");
    sample(&s.dir, 200, 100, 0);
    std::fs::write(s.path("sample/AWSLogs/notes.txt"), "not json at all").unwrap();

    let output = s.tarn(&["ingest", "file", "sample/AWSLogs", "--log-type", "AWS.CloudTrail"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = common::text(&output.stderr);
    assert!(stderr.lines().any(|l| l.starts_with("warning: ") && l.contains("notes.txt: skipped")), "{stderr}");
    assert!(common::text(&output.stdout).contains("ingested 200 rows"));

    let output =
        s.tarn(&["ingest", "file", "sample/AWSLogs", "--log-type", "AWS.CloudTrail", "--force", "--log-format", "json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = common::text(&output.stderr);
    let events: Vec<serde_json::Value> =
        stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let warning = events.iter().find(|e| e["level"] == "WARN").unwrap_or_else(|| panic!("no warning: {stderr}"));
    assert!(warning["fields"]["message"].as_str().unwrap().contains("notes.txt: skipped"), "{warning}");
}

/// The driver once resolved a file's log type before looking it up in the
/// lake's ledger, so a file already ingested (under `--log-type`) failed
/// with "cannot tell its log type" when given again without it.
#[test]
fn a_file_already_in_the_lake_needs_no_log_type() {
    let s = Scratch::new("already-no-log-type");
    sample(&s.dir, 0, 100, 300);
    let out = s.ok(&["ingest", "file", "sample/snyk/group", "--log-type", "Snyk.GroupAudit"]);
    assert!(out.contains("files already in the lake; 0 files failed"), "{out}");
    let again = s.ok(&["ingest", "file", "sample/snyk/group"]);
    assert!(again.contains("ingested 0 rows from 0 files") && again.contains("0 files failed"), "{again}");
    assert!(!again.contains(" 0 files already"), "every file is already in the lake: {again}");
}

/// `ingest_files` blocks; called from async code it says so instead of
/// panicking inside the runtime.
#[tokio::test]
async fn ingest_files_inside_a_runtime_is_an_error_not_a_panic() {
    let s = Scratch::new("ingest-in-runtime");
    let lake = tarn::lake::Lake::open(&s.path("lake")).unwrap();
    let registry = tarn::schema::Registry::built_in();
    let result = tarn::sources::file::ingest_files(&lake, &registry, &[s.path("none")], &tarn::sources::IngestOptions::default());
    let error = result.expect_err("inside a runtime");
    assert!(tarn::error_line(&error).contains("await ingest_paths"), "{error}");
    let report =
        tarn::sources::file::ingest_paths(&lake, &registry, &[s.path("none")], &tarn::sources::IngestOptions::default()).await.unwrap();
    assert_eq!(report.failed.len(), 1, "the missing path is reported");
}

#[test]
fn a_source_that_fails_says_so_as_json_when_asked() {
    let s = Scratch::new("json-source-error");
    let output = s
        .tarn(&["pull", "snyk", "--org", "0de7b2d6-0000-4000-8000-000000000000", "--once", "--log-format", "json"])
        .env_remove("SNYK_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = common::text(&output.stderr);
    let event: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap_or_else(|e| panic!("one JSON line ({e}): {stderr}"));
    assert_eq!(event["level"], "ERROR");
    assert_eq!(event["fields"]["source"], "snyk");
    assert!(event["fields"]["message"].as_str().unwrap().starts_with("no Snyk API token"), "{event}");
}
