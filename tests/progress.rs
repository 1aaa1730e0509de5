//! Progress of `tarn ingest file`: `progress:` lines on stderr when it is not
//! a terminal (every TARN_PROGRESS_INTERVAL_MS; 10 s by default), JSON
//! events with `--log-format json`, a bar on a terminal, and the summary last.

mod common;

use common::{Scratch, sample};
use std::process::{Command, Stdio};

/// A corpus that takes a few seconds to ingest in a debug build, with one
/// file that is not JSON (a warning while progress is shown).
fn corpus(name: &str) -> Scratch {
    let s = Scratch::new(name);
    sample(&s.dir, 3_000, 30, 0);
    std::fs::write(s.path("sample/AWSLogs/notes.txt"), "not json at all").unwrap();
    s
}

const INGEST: [&str; 5] = ["ingest", "file", "sample/AWSLogs", "--log-type", "AWS.CloudTrail"];

/// Runs tarn with stdout and stderr into one file, as a terminal or a log
/// shows them interleaved; returns (exit code, what it printed).
fn interleaved(s: &Scratch, command: &mut Command) -> (Option<i32>, String) {
    let path = s.path("output.txt");
    let file = std::fs::File::create(&path).unwrap();
    let status = command.stdout(Stdio::from(file.try_clone().unwrap())).stderr(Stdio::from(file)).status().unwrap();
    (status.code(), std::fs::read_to_string(&path).unwrap())
}

/// (files done, files in all, records, MB done, MB in all) of a `progress:`
/// line about files (or objects: `noun`).
fn counts(line: &str, noun: &str) -> (u64, u64, u64, f64, f64) {
    let rest = line.strip_prefix("progress: ").unwrap_or_else(|| panic!("not a progress line: {line}"));
    let parts: Vec<&str> = rest.split(", ").collect();
    let number = |text: &str| text.replace(',', "").parse::<f64>().unwrap_or_else(|_| panic!("'{text}' in {line}"));
    let (files, of_files) = parts[0].strip_suffix(noun).unwrap().trim_end().split_once('/').unwrap();
    let records = parts[1].strip_suffix(" records").unwrap();
    let (mb, of_mb) = parts[2].strip_suffix(" MB").unwrap().split_once('/').unwrap();
    (number(files) as u64, number(of_files) as u64, number(records) as u64, number(mb), number(of_mb))
}

#[test]
fn plain_lines_when_stderr_is_not_a_terminal_and_the_summary_last() {
    let s = corpus("progress-lines");
    let (code, printed) = interleaved(&s, s.tarn(&INGEST).env("TARN_PROGRESS_INTERVAL_MS", "100"));
    assert_eq!(code, Some(2), "one file is not JSON: {printed}");
    let lines: Vec<&str> = printed.lines().collect();
    let progress: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with("progress: ")).collect();
    assert!(progress.len() >= 2, "a run of seconds prints progress every 100 ms: {printed}");
    assert!(!printed.contains('\r') && !printed.contains('\x1b'), "no terminal codes in a file: {printed:?}");

    let seen: Vec<_> = progress.iter().map(|l| counts(l, "files")).collect();
    for pair in seen.windows(2) {
        let ((f0, t0, r0, m0, mt0), (f1, t1, r1, m1, mt1)) = (pair[0], pair[1]);
        assert!(f0 <= f1 && r0 <= r1 && m0 <= m1, "counts only grow: {pair:?}");
        assert_eq!((t0, mt0), (t1, mt1), "the totals are known from the start: {pair:?}");
    }
    let (files, total, records, _, _) = *seen.last().unwrap();
    assert_eq!(total, 101, "100 sample files and notes.txt");
    assert!(files <= total && records <= 3_000, "{seen:?}");
    assert!(progress.last().unwrap().contains(" MB/s, ETA "), "rate and ETA once measured: {progress:?}");

    assert!(lines.iter().any(|l| l.starts_with("warning: ") && l.contains("notes.txt: skipped")), "{printed}");
    let last = lines.last().unwrap();
    assert!(last.starts_with("ingested 3000 rows from 100 files"), "the summary comes last: {printed}");
}

#[test]
fn progress_events_are_json_with_log_format_json() {
    let s = corpus("progress-json");
    let output = s.tarn(&INGEST).args(["--log-format", "json"]).env("TARN_PROGRESS_INTERVAL_MS", "100").output().unwrap();
    let stderr = common::text(&output.stderr);
    let events: Vec<serde_json::Value> =
        stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let progress: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["fields"]["message"].as_str().is_some_and(|m| m.starts_with("progress: "))).collect();
    assert!(progress.len() >= 2, "{stderr}");
    let field = |event: &serde_json::Value, name: &str| event["fields"][name].as_u64().unwrap_or_else(|| panic!("no {name}: {event}"));
    for pair in progress.windows(2) {
        for name in ["files_done", "records", "bytes_done"] {
            assert!(field(pair[0], name) <= field(pair[1], name), "{name} only grows: {pair:?}");
        }
    }
    let last = progress.last().unwrap();
    assert_eq!(field(last, "files_total"), 101, "{last}");
    assert!(field(last, "bytes_total") > 0 && last["fields"]["listing"] == false, "{last}");
    assert!(last["fields"]["eta_s"].is_u64() && last["fields"]["mb_per_s"].is_number(), "{last}");
    assert!(common::text(&output.stdout).starts_with("ingested 3000 rows"), "the summary is on stdout");
}

#[test]
fn a_short_job_prints_no_progress() {
    let s = Scratch::new("progress-short");
    sample(&s.dir, 200, 100, 0);
    let output = s.tarn(&INGEST).env_remove("TARN_PROGRESS_INTERVAL_MS").output().unwrap();
    assert!(output.status.success());
    let stderr = common::text(&output.stderr);
    assert!(!stderr.contains("progress"), "done within the first 10 s: {stderr}");
}

/// On a terminal (a pty from util-linux `script`): a bar redrawn in place,
/// put aside for the warning, and cleared before the summary.
#[test]
fn a_bar_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux `script` is not installed, so there is no pty to test the bar on");
        return;
    }
    let s = corpus("progress-bar");
    let tarn = env!("CARGO_BIN_EXE_tarn");
    let line = format!("stty cols 120 rows 40; '{tarn}' {}", INGEST.join(" "));
    let mut script = Command::new("script");
    script.args(["-qefc", &line, "/dev/null"]).current_dir(&s.dir).stdin(Stdio::null()).env("TARN_PROGRESS_INTERVAL_MS", "100");
    script.env_remove("TARN_LAKE").env_remove("TARN_CONFIG");
    let (code, screen) = interleaved(&s, &mut script);
    assert_eq!(code, Some(2), "{screen:?}");
    const CLEAR: &str = "\r\x1b[2K";
    assert!(screen.contains(CLEAR) && screen.contains("] ") && screen.contains(" MB, "), "a bar drawn in place: {screen:?}");
    assert!(screen.contains("/101 files") && screen.contains(" MB/s, ETA "), "{screen:?}");
    assert!(!screen.contains("progress: "), "no plain lines on a terminal: {screen:?}");
    let warning = screen.find("warning: ").unwrap_or_else(|| panic!("{screen:?}"));
    assert!(screen[..warning].ends_with(CLEAR) || screen[..warning].ends_with("\x1b[K"), "the bar is cleared first: {screen:?}");
    let warning_line = screen[warning..].split("\r\n").next().unwrap();
    assert!(warning_line.ends_with("where JSON starts with { or ["), "the warning is whole: {warning_line:?}");
    let summary = screen.rfind("ingested 3000 rows").unwrap_or_else(|| panic!("{screen:?}"));
    assert!(screen[..summary].ends_with(CLEAR), "the bar is cleared before the summary: {screen:?}");
    assert!(screen[summary..].trim_end().lines().count() == 1, "the summary is last: {screen:?}");
}

/// `tarn pull s3` (against moto_server): objects count as they are listed,
/// then as they are done; the plain lines say so, and the summary follows.
#[tokio::test(flavor = "multi_thread")]
async fn pull_s3_shows_objects_listed_then_done() {
    let s = Scratch::new("progress-s3");
    let generated = sample(&s.dir, 1_500, 30, 0);
    common::moto::moto();
    let (s3, _) = common::moto::clients().await;
    s3.create_bucket().bucket("trail-progress").send().await.unwrap();
    for file in &generated.cloudtrail_files {
        let key = file.strip_prefix(s.path("sample")).unwrap().display().to_string();
        s3.put_object().bucket("trail-progress").key(key).body(std::fs::read(file).unwrap().into()).send().await.unwrap();
    }
    let mut pull = s.tarn(&["pull", "s3", "--bucket", "trail-progress", "--from", "2026-11-01", "--to", "2026-11-30"]);
    common::moto::aws_env(&mut pull).env("TARN_PROGRESS_INTERVAL_MS", "20");
    let output = pull.output().unwrap();
    let (stdout, stderr) = (common::text(&output.stdout), common::text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.starts_with("listed 50 objects; ingested 1500 rows from 50 objects"), "{stdout}");
    let mut last = (0, 0, 0);
    let mut done_lines = 0;
    for line in stderr.lines().filter(|l| l.starts_with("progress: ")) {
        if let Some(listing) = line.strip_prefix("progress: listing, ") {
            assert!(listing.ends_with(" MB) so far") && listing.contains(" objects ("), "{line}");
            continue;
        }
        let (done, total, records, _, _) = counts(line, "objects");
        assert_eq!(total, 50, "{line}");
        assert!(done >= last.0 && records >= last.2, "counts only grow: {line} after {last:?}");
        last = (done, total, records);
        done_lines += 1;
    }
    assert!(done_lines >= 1, "a run of a second or more prints progress every 20 ms: {stderr}");
}
