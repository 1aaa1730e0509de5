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
    /// The lake on S3 (moto), `s3://<bucket>/lake`; `None`: `./lake`.
    pub s3_lake: Option<String>,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tarn-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch { dir, s3_lake: None }
    }

    /// A scratch directory whose lake is on S3 (a bucket of its own on the
    /// shared moto_server): every `tarn` command it runs gets
    /// `TARN_LAKE=s3://<bucket>/lake` and moto's AWS environment.
    pub fn on_s3(name: &str) -> Scratch {
        let mut scratch = Scratch::new(name);
        let bucket = format!("lake-{}-{}", name.to_lowercase().replace('_', "-"), std::process::id());
        moto::create_bucket(&bucket);
        scratch.s3_lake = Some(format!("s3://{bucket}/lake"));
        scratch
    }

    /// Where the lake is: `./lake`'s absolute path, or its `s3://` URL.
    pub fn lake(&self) -> String {
        self.s3_lake.clone().unwrap_or_else(|| self.path("lake").display().to_string())
    }

    /// Where a table of the lake is (its Delta table), for other engines.
    pub fn table(&self, table: &str) -> String {
        format!("{}/{table}", self.lake())
    }

    /// The lake's files under `prefix` (relative to the lake), with their
    /// contents: the local folder walked, or the bucket listed.
    pub fn lake_files(&self, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        match &self.s3_lake {
            Some(url) => moto::objects(url, prefix),
            None => {
                fn walk(dir: &Path, root: &Path, found: &mut BTreeMap<String, Vec<u8>>) {
                    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                        let path = entry.path();
                        if path.is_dir() {
                            walk(&path, root, found);
                        } else if let Ok(bytes) = std::fs::read(&path) {
                            found.insert(path.strip_prefix(root).unwrap().display().to_string(), bytes);
                        }
                    }
                }
                let mut found = BTreeMap::new();
                walk(&self.path("lake").join(prefix), &self.path("lake"), &mut found);
                found
            }
        }
    }

    /// The lake's commits, in order: the whole lines of a local log, or an
    /// S3 lake's commit objects.
    pub fn commits(&self) -> Vec<serde_json::Value> {
        match &self.s3_lake {
            Some(_) => self.lake_files("_tarn/log/").values().map(|bytes| serde_json::from_slice(bytes).unwrap()).collect(),
            None => {
                let log = std::fs::read_to_string(self.path("lake/_tarn/log.jsonl")).unwrap_or_default();
                log.split_inclusive('\n').filter(|l| l.ends_with('\n')).map(|l| serde_json::from_str(l).unwrap()).collect()
            }
        }
    }

    /// Deletes a file of the lake (relative to it), on disk or in the bucket.
    pub fn delete_lake_file(&self, relative: &str) {
        match &self.s3_lake {
            Some(url) => moto::delete_object(url, relative),
            None => std::fs::remove_file(self.path("lake").join(relative)).unwrap(),
        }
    }

    fn has_lake(&self) -> bool {
        match &self.s3_lake {
            Some(_) => !self.lake_files("_tarn/format").is_empty(),
            None => self.path("lake/_tarn").is_dir(),
        }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// A `tarn` command run in the scratch directory (so the lake is ./lake).
    pub fn tarn(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tarn"));
        command.current_dir(&self.dir).args(args).env_remove("TARN_LAKE").env_remove("TARN_CONFIG");
        if let Some(url) = &self.s3_lake {
            moto::aws_env(&mut command).env("TARN_LAKE", url);
        }
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
        if !self.has_lake() {
            return Vec::new();
        }
        let out = self.ok(&["query", sql, "--format", "csv"]);
        out.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect()
    }

    /// A single number from a query; 0 when there is no lake yet (read
    /// commands refuse a lake that does not exist rather than create it).
    pub fn count(&self, sql: &str) -> u64 {
        if !self.has_lake() {
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
