//! `tarn ingest file` on a directory reads it whole (issue 13): an entry that
//! is not a regular file or a directory (a FIFO, a socket, a dangling
//! symlink, a symlink loop, an unreadable directory) is named on stderr once
//! and skipped, every other file lands, and the run ends with exit code 2.
//! Before, the walk stopped at the first bad entry and the files sorted after
//! it were never read.

mod common;

use common::{Scratch, text};
use std::os::unix::fs::symlink;
use std::process::{Output, Stdio};
use std::time::Duration;

/// Writes a CloudTrail file of 10 records with eventIDs `{tag}-0` .. `{tag}-9`.
fn cloudtrail(s: &Scratch, relative: &str, tag: &str) {
    let records: Vec<serde_json::Value> = (0..10)
        .map(|i| {
            serde_json::json!({
                "eventVersion": "1.08", "eventTime": format!("2026-11-17T03:{i:02}:00Z"), "eventName": "GetObject",
                "eventSource": "s3.amazonaws.com", "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.10",
                "eventID": format!("{tag}-{i}"), "eventType": "AwsApiCall", "recipientAccountId": "111122223333"
            })
        })
        .collect();
    let path = s.path(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::json!({ "Records": records }).to_string()).unwrap();
}

/// `logs/` with four good files sorted around the bad entries (`b`, `d`, `f`, `h`).
fn four_good_files(s: &Scratch) {
    for name in ["a", "c", "e", "g"] {
        cloudtrail(s, &format!("logs/{name}.json"), name);
    }
}

/// Runs tarn, killing it (and failing the test) if it runs past a minute: a
/// walk that opens a FIFO or follows a loop forever hangs.
fn run(s: &Scratch, args: &[&str]) -> Output {
    let child = s.tarn(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait_with_output()));
    match receiver.recv_timeout(Duration::from_secs(60)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("tarn {args:?} did not finish in a minute");
        }
    }
}

fn ingest(s: &Scratch, paths: &[&str]) -> Output {
    let mut args = vec!["ingest", "file"];
    args.extend_from_slice(paths);
    args.extend_from_slice(&["--log-type", "AWS.CloudTrail"]);
    run(s, &args)
}

/// The lake's CloudTrail rows and distinct eventIDs.
fn landed(s: &Scratch) -> (u64, u64) {
    let row = &s.rows("select count(*), count(distinct eventid) from aws_cloudtrail")[0];
    (row[0].parse().unwrap(), row[1].parse().unwrap())
}

/// The stderr lines that name `entry`.
fn lines_naming<'a>(stderr: &'a str, entry: &str) -> Vec<&'a str> {
    stderr.lines().filter(|l| l.contains(entry)).collect()
}

/// Ingests `logs/` holding the four good files and one bad entry, made by
/// `make` at `logs/{bad}`; checks the bad entry is reported in one line that
/// starts with `logs/{bad}: skipped: {why}`, every good record lands once, and
/// the exit code is 2.
fn one_bad_entry(test: &str, bad: &str, why: &str, make: impl FnOnce(&std::path::Path)) {
    let s = Scratch::new(test);
    four_good_files(&s);
    make(&s.path(&format!("logs/{bad}")));
    let output = ingest(&s, &["logs"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "a skipped entry gives exit code 2: {stderr}");
    let lines = lines_naming(&stderr, bad);
    assert!(lines.len() == 1 && lines[0].starts_with(&format!("warning: logs/{bad}: skipped: {why}")), "{stderr}");
    assert!(text(&output.stdout).contains("ingested 40 rows from 4 files"), "{}", text(&output.stdout));
    assert_eq!(landed(&s), (40, 40));
}

fn mkfifo(path: &std::path::Path) {
    let name = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0, "mkfifo {}", path.display());
}

#[test]
fn a_fifo_in_a_directory_does_not_stop_the_walk() {
    one_bad_entry("walk-fifo", "b.fifo", "a FIFO, not a regular file", mkfifo);
}

#[test]
fn a_dangling_symlink_in_a_directory_does_not_stop_the_walk() {
    one_bad_entry("walk-dangling", "b.json", "a dangling symlink (to nowhere.json)", |path| symlink("nowhere.json", path).unwrap());
}

#[test]
fn a_symlink_loop_in_a_directory_does_not_stop_the_walk() {
    one_bad_entry("walk-loop", "b", "a symlink loop back to logs", |path| symlink(".", path).unwrap());
}

#[test]
fn a_socket_in_a_directory_does_not_stop_the_walk() {
    one_bad_entry("walk-socket", "b.sock", "a socket, not a regular file", |path| {
        std::mem::forget(std::os::unix::net::UnixListener::bind(path).unwrap());
    });
}

#[test]
fn a_symlink_that_points_at_itself_does_not_stop_the_walk() {
    one_bad_entry("walk-self", "b.json", "a symlink (to b.json) that cannot be followed: ", |path| symlink("b.json", path).unwrap());
}

#[test]
fn every_bad_entry_is_reported_once_and_every_good_file_is_read() {
    let s = Scratch::new("walk-all");
    four_good_files(&s);
    mkfifo(&s.path("logs/b.fifo"));
    symlink("nowhere", s.path("logs/d.dangling")).unwrap();
    symlink(".", s.path("logs/f.loop")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(s.path("logs/h.sock")).unwrap();
    // Deeper: a loop two levels down, and bad entries sorted before a good file.
    cloudtrail(&s, "logs/sub/c.json", "sub");
    mkfifo(&s.path("logs/sub/a.fifo"));
    symlink("..", s.path("logs/sub/b.up")).unwrap();

    let output = ingest(&s, &["logs"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for (entry, why) in [
        ("logs/b.fifo", "a FIFO, not a regular file"),
        ("logs/d.dangling", "a dangling symlink (to nowhere)"),
        ("logs/f.loop", "a symlink loop back to logs"),
        ("logs/h.sock", "a socket, not a regular file"),
        ("logs/sub/a.fifo", "a FIFO, not a regular file"),
        ("logs/sub/b.up", "a symlink loop back to logs"),
    ] {
        assert_eq!(lines_naming(&stderr, entry), vec![format!("warning: {entry}: skipped: {why}")], "{stderr}");
    }
    assert_eq!(stderr.lines().count(), 6, "one line for each bad entry: {stderr}");
    assert!(text(&output.stdout).contains("ingested 50 rows from 5 files"), "{}", text(&output.stdout));
    assert!(text(&output.stdout).contains("6 files failed"), "{}", text(&output.stdout));
    assert_eq!(landed(&s), (50, 50));
}

#[test]
fn a_symlink_to_a_directory_elsewhere_is_followed_once_and_a_file_reached_twice_is_read_once() {
    let s = Scratch::new("walk-links");
    four_good_files(&s);
    cloudtrail(&s, "elsewhere/x.json", "x");
    symlink("../elsewhere", s.path("logs/b")).unwrap();
    symlink("../elsewhere", s.path("logs/d")).unwrap();
    symlink("a.json", s.path("logs/f.json")).unwrap();
    symlink("../logs/c.json", s.path("elsewhere/y.json")).unwrap();

    let output = ingest(&s, &["logs", "logs/a.json"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "links that are not loops are no problem: {stderr}");
    assert_eq!(stderr, "");
    let stdout = text(&output.stdout);
    assert!(stdout.contains("ingested 50 rows from 5 files") && stdout.contains("0 files already in the lake"), "{stdout}");
    assert_eq!(landed(&s), (50, 50));
}

#[test]
fn a_missing_path_on_the_command_line_does_not_stop_the_others() {
    let s = Scratch::new("walk-missing");
    four_good_files(&s);
    let output = ingest(&s, &["missing", "logs/a.json", "gone/x.json", "logs"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(lines_naming(&stderr, "missing"), vec!["warning: missing: skipped: it does not exist"], "{stderr}");
    assert_eq!(lines_naming(&stderr, "gone/x.json"), vec!["warning: gone/x.json: skipped: it does not exist"], "{stderr}");
    assert_eq!(landed(&s), (40, 40));
}

#[test]
fn a_fifo_named_on_the_command_line_is_not_opened() {
    let s = Scratch::new("walk-fifo-arg");
    four_good_files(&s);
    mkfifo(&s.path("logs/b.fifo"));
    let output = ingest(&s, &["logs/b.fifo", "logs/a.json"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(lines_naming(&stderr, "b.fifo"), vec!["warning: logs/b.fifo: skipped: a FIFO, not a regular file"], "{stderr}");
    assert_eq!(landed(&s), (10, 10));
}

#[test]
fn an_unreadable_directory_does_not_stop_the_walk() {
    // Root reads a chmod 000 directory anyway (and the tests run as root
    // here), so this only tests something for another user.
    if unsafe { libc::geteuid() } == 0 {
        eprintln!("skipped: running as root, which can read a chmod 000 directory");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new("walk-unreadable");
    four_good_files(&s);
    cloudtrail(&s, "logs/b/x.json", "x");
    std::fs::set_permissions(s.path("logs/b"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let output = ingest(&s, &["logs"]);
    std::fs::set_permissions(s.path("logs/b"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(lines_naming(&stderr, "logs/b"), vec!["warning: logs/b: skipped: cannot read the directory: permission denied"], "{stderr}");
    assert_eq!(landed(&s), (40, 40));
}

#[test]
fn a_very_deep_directory_chain_does_not_overflow_the_stack() {
    const DEPTH: usize = 10_000;
    let s = Scratch::new("walk-deep");
    four_good_files(&s);
    // Built from the bottom up by renames, so no path grows past PATH_MAX.
    let (chain, top) = (s.path("logs/deep"), s.path("logs/top"));
    std::fs::create_dir(&chain).unwrap();
    for _ in 1..DEPTH {
        std::fs::create_dir(&top).unwrap();
        std::fs::rename(&chain, top.join("d")).unwrap();
        std::fs::rename(&top, &chain).unwrap();
    }
    cloudtrail(&s, &format!("logs/deep{}/x.json", "/d".repeat(50)), "x");

    let output = ingest(&s, &["logs"]);
    let stderr = text(&output.stderr);
    // The walk goes as deep as a path can name (PATH_MAX) and reports the
    // entry below that; it does not crash.
    assert_eq!(output.status.code(), Some(2), "{}", &stderr[..stderr.len().min(500)]);
    assert_eq!(stderr.lines().count(), 1, "{}", &stderr[..stderr.len().min(500)]);
    assert!(stderr.starts_with("warning: logs/deep/d/d/d/") && stderr.contains("skipped: File name too long"), "{}", &stderr[..500]);
    assert_eq!(landed(&s), (50, 50));

    // Taken apart top down by renames too: remove_dir_all recurses.
    for _ in 1..DEPTH {
        std::fs::rename(chain.join("d"), &top).unwrap();
        std::fs::remove_dir_all(&chain).unwrap();
        std::fs::rename(&top, &chain).unwrap();
    }
}

#[test]
fn names_starting_with_a_dot_are_still_left_alone() {
    let s = Scratch::new("walk-hidden");
    four_good_files(&s);
    cloudtrail(&s, "logs/.hidden.json", "hidden");
    mkfifo(&s.path("logs/.b.fifo"));
    let output = ingest(&s, &["logs"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(landed(&s), (40, 40));
}
