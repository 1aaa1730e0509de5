//! Helpers for tests that run the real `tarn` binary in a scratch directory.
#![allow(dead_code)]

pub mod engines;
pub mod moto;
pub mod snyk_api;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tarn-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch { dir }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// A `tarn` command run in the scratch directory (so the lake is ./lake).
    pub fn tarn(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tarn"));
        command.current_dir(&self.dir).args(args).env_remove("TARN_LAKE").env_remove("TARN_CONFIG");
        command
    }

    /// Runs tarn and returns its output, failing the test if it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.tarn(args).output().unwrap();
        assert!(output.status.success(), "tarn {args:?} failed: {}", text(&output.stderr));
        text(&output.stdout)
    }

    /// Runs tarn expecting failure; returns (exit code, stderr).
    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        let output: Output = self.tarn(args).output().unwrap();
        assert!(!output.status.success(), "tarn {args:?} should fail; printed {}", text(&output.stdout));
        (output.status.code().unwrap_or(-1), text(&output.stderr))
    }

    /// `tarn query ... --format csv`, as rows of fields (header dropped).
    /// No rows when there is no lake yet (a writer that has not started).
    pub fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        if !self.path("lake/_tarn").is_dir() {
            return Vec::new();
        }
        let out = self.ok(&["query", sql, "--format", "csv"]);
        out.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
    }

    /// A single number from a query; 0 when there is no lake yet (read
    /// commands refuse a lake that does not exist rather than create it).
    pub fn count(&self, sql: &str) -> u64 {
        if !self.path("lake/_tarn").is_dir() {
            return 0;
        }
        self.rows(sql)[0][0].parse().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Reads CloudTrail files the way a user would check them (not with tarn's
/// reader): every record's JSON.
pub fn cloudtrail_records(files: &[PathBuf]) -> Vec<serde_json::Value> {
    let mut records = Vec::new();
    for file in files {
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(file).unwrap()).read_to_string(&mut text).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        records.extend(value["Records"].as_array().unwrap().iter().cloned());
    }
    records
}

/// Counts of `field` over the records.
pub fn count_by(records: &[serde_json::Value], field: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for record in records {
        *counts.entry(record[field].as_str().unwrap_or("").to_string()).or_default() += 1;
    }
    counts
}

/// Generates a sample under `dir/sample`.
pub fn sample(dir: &Path, cloudtrail_events: u64, events_per_file: u64, snyk_events: u64) -> tarn::generate::Generated {
    let mut plan = tarn::generate::Plan::new(&dir.join("sample"));
    plan.cloudtrail_events = cloudtrail_events;
    plan.events_per_file = events_per_file;
    plan.snyk_events = snyk_events;
    plan.hours = 12;
    tarn::generate::generate(&plan).unwrap()
}
