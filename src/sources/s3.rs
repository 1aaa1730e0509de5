//! S3 objects: downloading announced objects to local files for the decoder,
//! and backfill (`tarn pull s3`), which lists CloudTrail keys by date prefix
//! (`.../CloudTrail/<region>/YYYY/MM/DD/`) and never walks the whole bucket.

use super::aws::error_text;
use super::sqs::message::ObjectRef;
use crate::ingest::{Chunk, CommitStep, IngestOptions, Job};
use crate::lake::Lake;
use crate::schema::Registry;
use chrono::NaiveDate;
use futures::StreamExt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The ledger identity of an object version: `s3://bucket/key#etag`.
pub fn input_id(bucket: &str, key: &str, etag: &str) -> String {
    format!("s3://{bucket}/{key}#{}", etag.trim_matches('"'))
}

/// Why an announced object is not ingested, if it is not.
pub fn skip_reason(object: &ObjectRef, log_type_given: bool) -> Option<String> {
    if object.key.ends_with('/') {
        return Some("a folder key".into());
    }
    if object.size == Some(0) {
        return Some("an empty object".into());
    }
    let cloudtrail = ["/CloudTrail/", "/CloudTrail-Digest/", "/CloudTrail-Insight/"].iter().any(|p| object.key.contains(p));
    if !cloudtrail && !log_type_given {
        return Some("not a CloudTrail key; pass --log-type to ingest it".into());
    }
    None
}

/// Downloads `objects` (at most `concurrency` at once) into `dir`; each
/// becomes a decode job, or the reason it could not be read.
pub async fn fetch(
    s3: &aws_sdk_s3::Client,
    objects: Vec<ObjectRef>,
    dir: &Path,
    concurrency: usize,
) -> Vec<(ObjectRef, Result<Job, String>)> {
    let downloads = objects.into_iter().enumerate().map(|(i, object)| async move {
        let target = dir.join(format!("{:06}-{:x}", i, crate::unique_seed()));
        let result = download(s3, &object, &target).await;
        (object, result)
    });
    futures::stream::iter(downloads).buffer_unordered(concurrency.max(1)).collect().await
}

async fn download(s3: &aws_sdk_s3::Client, object: &ObjectRef, target: &Path) -> Result<Job, String> {
    let shown = format!("s3://{}/{}", object.bucket, object.key);
    let response =
        s3.get_object().bucket(&object.bucket).key(&object.key).send().await.map_err(|e| format!("{shown}: {}", error_text(&e)))?;
    let etag = response.e_tag().unwrap_or_default().to_string();
    let mut body = response.body;
    let mut file = std::fs::File::create(target).map_err(|e| format!("{}: {e}", target.display()))?;
    while let Some(bytes) = body.next().await {
        let bytes = bytes.map_err(|e| format!("{shown}: download cut off: {}", error_text(&e)))?;
        file.write_all(&bytes).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    Ok(Job { path: target.to_path_buf(), input: Some(input_id(&object.bucket, &object.key, &etag)), source_file: shown })
}

/// The object a job was downloaded from.
fn object_of(job: &Job) -> Option<ObjectRef> {
    let (bucket, key) = job.source_file.strip_prefix("s3://")?.split_once('/')?;
    let etag = job.input.as_deref().and_then(|i| i.rsplit_once('#')).map(|(_, e)| e.to_string());
    Some(ObjectRef { bucket: bucket.to_string(), key: key.to_string(), size: None, etag })
}

/// A scratch directory for downloads, removed when dropped.
pub struct Downloads(pub PathBuf);

impl Downloads {
    pub fn new(lake: &Lake) -> std::io::Result<Downloads> {
        let dir = lake.root().join("_tarn").join("downloads").join(format!("{:x}", crate::unique_seed()));
        std::fs::create_dir_all(&dir)?;
        Ok(Downloads(dir))
    }
}

impl Drop for Downloads {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What a backfill did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BackfillReport {
    pub listed: u64,
    pub already_ingested: u64,
    pub objects: u64,
    pub rows: u64,
    pub quarantined: u64,
    pub skipped: u64,
    pub failed: Vec<String>,
    pub commits: u64,
}

/// Lists the CloudTrail objects under `prefix` dated `from..=to` (by their
/// key's date folder), descending through prefixes with a delimiter.
pub async fn list_by_date(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<ObjectRef>, String> {
    let mut frontier = vec![if prefix.is_empty() || prefix.ends_with('/') { prefix.to_string() } else { format!("{prefix}/") }];
    let mut region_roots = Vec::new();
    // AWSLogs/[o-org/]<account>/CloudTrail[-Digest|-Insight]/<region>/: at most six levels down.
    for _ in 0..6 {
        let mut next = Vec::new();
        for path in frontier {
            let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
            let is_trail_dir = |part: &str| matches!(part, "CloudTrail" | "CloudTrail-Digest" | "CloudTrail-Insight");
            if parts.len() >= 2 && is_trail_dir(parts[parts.len() - 2]) {
                region_roots.push(path);
            } else if parts.last().is_some_and(|p| is_trail_dir(p)) {
                region_roots.extend(common_prefixes(s3, bucket, &path).await?);
            } else {
                next.extend(common_prefixes(s3, bucket, &path).await?);
            }
        }
        frontier = next;
        if frontier.is_empty() {
            break;
        }
    }
    let mut objects = Vec::new();
    for root in region_roots {
        let mut day = from;
        while day <= to {
            let day_prefix = format!("{root}{}/", day.format("%Y/%m/%d"));
            let mut token = None;
            loop {
                let page = s3
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(&day_prefix)
                    .set_continuation_token(token)
                    .send()
                    .await
                    .map_err(|e| format!("listing s3://{bucket}/{day_prefix}: {}", error_text(&e)))?;
                for object in page.contents() {
                    objects.push(ObjectRef {
                        bucket: bucket.to_string(),
                        key: object.key().unwrap_or_default().to_string(),
                        size: object.size().map(|s| s as u64),
                        etag: object.e_tag().map(|e| e.trim_matches('"').to_string()),
                    });
                }
                token = page.next_continuation_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            day = day.succ_opt().expect("dates go on");
        }
    }
    Ok(objects)
}

async fn common_prefixes(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .delimiter("/")
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| format!("listing s3://{bucket}/{prefix}: {}", error_text(&e)))?;
        found.extend(page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_string)));
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            return Ok(found);
        }
    }
}

/// What to backfill: CloudTrail objects under `bucket`/`prefix` whose key's
/// date folder is in `from..=to`.
#[derive(Debug, Clone)]
pub struct BackfillRange {
    pub bucket: String,
    pub prefix: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// Backfill: ingests the objects of `range`, skipping those the lake already
/// holds (by key and ETag, the same identity the SQS intake uses, so the two
/// can overlap).
pub async fn backfill(
    lake: &Lake,
    registry: &Registry,
    s3: &aws_sdk_s3::Client,
    range: &BackfillRange,
    options: &IngestOptions,
    on_problem: &mut dyn FnMut(&str),
) -> Result<BackfillReport, crate::ingest::IngestError> {
    let listed = list_by_date(s3, &range.bucket, &range.prefix, range.from, range.to).await.map_err(crate::ingest::IngestError::Source)?;
    let mut report = BackfillReport { listed: listed.len() as u64, ..BackfillReport::default() };
    let mut pending: std::collections::VecDeque<ObjectRef> = listed.into();
    let downloads = Downloads::new(lake).map_err(|e| crate::ingest::IngestError::Source(e.to_string()))?;
    let mut seen = if options.force { Default::default() } else { lake.snapshot()?.inputs };
    while !pending.is_empty() {
        let chunk = Chunk::new(lake, std::mem::take(&mut seen))?;
        while !pending.is_empty() && chunk.records() < options.chunk_records {
            let mut batch = Vec::new();
            while batch.len() < 16 {
                let Some(object) = pending.pop_front() else { break };
                if let Some(reason) = skip_reason(&object, options.log_type.is_some()) {
                    on_problem(&format!("s3://{}/{}: skipped: {reason}", object.bucket, object.key));
                    report.skipped += 1;
                } else if object.etag.as_ref().is_some_and(|e| chunk.has_seen(&input_id(&object.bucket, &object.key, e))) {
                    report.already_ingested += 1;
                } else {
                    batch.push(object);
                }
            }
            let mut jobs = Vec::new();
            for (_, fetched) in fetch(s3, batch, &downloads.0, 8).await {
                match fetched {
                    Ok(job) => jobs.push(job),
                    Err(problem) => {
                        on_problem(&problem);
                        report.failed.push(problem);
                    }
                }
            }
            let paths: Vec<PathBuf> = jobs.iter().map(|j| j.path.clone()).collect();
            // Every fetched object is decoded: the chunk limit is checked between batches.
            let whole = IngestOptions { chunk_records: u64::MAX, ..options.clone() };
            tokio::task::block_in_place(|| chunk.decode(jobs, registry, &whole))?;
            for path in paths {
                let _ = std::fs::remove_file(path);
            }
        }
        let mut decoded = chunk.finish();
        seen = std::mem::take(&mut decoded.seen);
        for (_, problem) in std::mem::take(&mut decoded.failed) {
            on_problem(&problem);
            report.failed.push(problem);
        }
        report.already_ingested += decoded.already.len() as u64;
        let (objects, quarantined) = (decoded.inputs.len() as u64, decoded.quarantined);
        match crate::ingest::commit(decoded, "pull s3", options.force)? {
            CommitStep::Committed { rows } => {
                report.commits += 1;
                report.rows += rows;
                report.objects += objects;
                report.quarantined += quarantined;
            }
            CommitStep::Empty => {}
            CommitStep::Raced { redo, taken } => {
                // Another writer (a live SQS intake) took some objects first:
                // fetch the others again.
                report.already_ingested += taken;
                for job in redo {
                    if let Some(input) = &job.input {
                        seen.remove(input);
                    }
                    pending.extend(object_of(&job));
                }
            }
        }
    }
    Ok(report)
}
