//! S3 objects: downloading announced objects to local files for the decoder,
//! and backfill (`tarn pull s3`), which lists CloudTrail keys by date prefix
//! (`.../CloudTrail/<region>/YYYY/MM/DD/`) and never walks the whole bucket.

use super::AwsError;
use super::cloudtrail;
use super::cloudtrail::log_type_for;
use crate::ingest::{Chunk, Decoded, Fill, IngestError, Job, Progress, Settled, Source, drive};
use crate::lake::Lake;
use crate::schema::{LogType, Registry};
use crate::sources::{IngestOptions, IngestReport};
use chrono::NaiveDate;
use futures::StreamExt;
use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// An S3 object: listed, or announced on a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
}

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
    if cloudtrail::log_type_of(&object.key).is_none() && !log_type_given {
        return Some("not a CloudTrail key; pass --log-type to ingest it".into());
    }
    None
}

/// Downloads `objects` (at most `concurrency` at once) into `dir`; each
/// becomes a decode job, or the reason it could not be read.
pub async fn fetch(
    s3: &aws_sdk_s3::Client,
    objects: Vec<(ObjectRef, Arc<LogType>)>,
    dir: &Path,
    concurrency: usize,
) -> Vec<(ObjectRef, Result<Job, AwsError>)> {
    let downloads = objects.into_iter().enumerate().map(|(i, (object, log_type))| async move {
        let target = dir.join(format!("{:06}-{:x}", i, crate::unique_seed()));
        let result = download(s3, &object, &target, log_type).await;
        (object, result)
    });
    futures::stream::iter(downloads).buffer_unordered(concurrency.max(1)).collect().await
}

/// Times a download that breaks off (or brings fewer bytes than S3 said it
/// would) is tried before the object is reported.
const DOWNLOAD_ATTEMPTS: u32 = 3;

async fn download(s3: &aws_sdk_s3::Client, object: &ObjectRef, target: &Path, log_type: Arc<LogType>) -> Result<Job, AwsError> {
    let mut attempt = 1;
    loop {
        match download_once(s3, object, target).await {
            Ok(etag) => {
                return Ok(Job {
                    path: target.to_path_buf(),
                    input: Some(input_id(&object.bucket, &object.key, &etag)),
                    until: None,
                    source_file: format!("s3://{}/{}", object.bucket, object.key),
                    name: named(object, &etag),
                    log_type: Ok(log_type),
                });
            }
            Err(Download::Short(problem)) if attempt < DOWNLOAD_ATTEMPTS => {
                tracing::info!("{problem}; fetching it again (attempt {} of {DOWNLOAD_ATTEMPTS})", attempt + 1);
                tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(Download::Short(problem)) => {
                let what = format!("{problem} ({DOWNLOAD_ATTEMPTS} attempts)");
                return Err(AwsError::Call { what, answer: "the download keeps breaking off".into() });
            }
            Err(Download::Failed(error)) => return Err(error),
        }
    }
}

enum Download {
    /// The body broke off or was shorter than its Content-Length: try again.
    Short(String),
    Failed(AwsError),
}

/// An object version as messages name it: `s3://bucket/key (ETag e)`.
fn named(object: &ObjectRef, etag: &str) -> String {
    format!("s3://{}/{} (ETag {})", object.bucket, object.key, etag.trim_matches('"'))
}

/// One download into `target`; returns the object's ETag.
async fn download_once(s3: &aws_sdk_s3::Client, object: &ObjectRef, target: &Path) -> Result<String, Download> {
    let shown = format!("s3://{}/{}", object.bucket, object.key);
    let local = |source| Download::Failed(AwsError::Local { path: target.display().to_string(), source });
    let response = s3
        .get_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .send()
        .await
        .map_err(|e| Download::Failed(AwsError::Call { what: shown.clone(), answer: crate::error_line(&e) }))?;
    let etag = response.e_tag().unwrap_or_default().to_string();
    let expected = response.content_length().and_then(|n| u64::try_from(n).ok());
    let named = named(object, &etag);
    let mut body = response.body;
    let mut file = std::fs::File::create(target).map_err(local)?;
    let mut got = 0u64;
    while let Some(bytes) = body.next().await {
        let bytes = bytes.map_err(|e| Download::Short(format!("{named}: the download broke off: {}", crate::error_line(&e))))?;
        got += bytes.len() as u64;
        file.write_all(&bytes).map_err(local)?;
    }
    if let Some(expected) = expected.filter(|&n| n != got) {
        return Err(Download::Short(format!("{named}: the download brought {got} of {expected} bytes")));
    }
    Ok(etag)
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
        let dir = lake.scratch_dir().join("downloads").join(format!("{:x}", crate::unique_seed()));
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
    /// Objects left alone (folder keys, empty objects, keys not CloudTrail's).
    pub skipped: u64,
    /// What was ingested of the others (`files` are objects).
    pub ingested: IngestReport,
}

/// Lists the CloudTrail objects under `prefix` dated `from..=to` (by their
/// key's date folder), descending through prefixes with a delimiter. Each
/// page of objects is added to `progress`'s totals as it comes.
pub async fn list_by_date(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    from: NaiveDate,
    to: NaiveDate,
    progress: Option<&Progress>,
) -> Result<Vec<ObjectRef>, AwsError> {
    let mut frontier = vec![if prefix.is_empty() || prefix.ends_with('/') { prefix.to_string() } else { format!("{prefix}/") }];
    let mut region_roots = Vec::new();
    // AWSLogs/[o-org/]<account>/CloudTrail[-Digest|-Insight]/<region>/: at most six levels down.
    for _ in 0..6 {
        let mut next = Vec::new();
        for path in frontier {
            let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
            let is_trail_dir = cloudtrail::is_trail_folder;
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
                let page =
                    s3.list_objects_v2().bucket(bucket).prefix(&day_prefix).set_continuation_token(token).send().await.map_err(|e| {
                        AwsError::Call { what: format!("listing s3://{bucket}/{day_prefix}"), answer: crate::error_line(&e) }
                    })?;
                let before = objects.len();
                for object in page.contents() {
                    objects.push(ObjectRef {
                        bucket: bucket.to_string(),
                        key: object.key().unwrap_or_default().to_string(),
                        size: object.size().map(|s| s as u64),
                        etag: object.e_tag().map(|e| e.trim_matches('"').to_string()),
                    });
                }
                if let Some(progress) = progress {
                    let page = &objects[before..];
                    progress.listed(page.len() as u64, page.iter().filter_map(|o| o.size).sum());
                }
                token = page.next_continuation_token().map(str::to_string);
                if token.is_none() {
                    break;
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
    }
    cloudtrail::sort_by_delivery_time(&mut objects, |object| &object.key);
    Ok(objects)
}

async fn common_prefixes(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>, AwsError> {
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
            .map_err(|e| AwsError::Call { what: format!("listing s3://{bucket}/{prefix}"), answer: crate::error_line(&e) })?;
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

/// The backfill source: listed objects, fetched a batch at a time.
struct Backfill<'a> {
    s3: &'a aws_sdk_s3::Client,
    registry: &'a Registry,
    options: &'a IngestOptions,
    pending: VecDeque<ObjectRef>,
    downloads: Downloads,
    report: BackfillReport,
}

#[async_trait::async_trait]
impl Source for Backfill<'_> {
    fn operation(&self) -> &'static str {
        "pull s3"
    }

    fn force(&self) -> bool {
        self.options.force
    }

    async fn fill(&mut self, chunk: &Chunk, _stop: &mut watch::Receiver<bool>) -> Result<Fill, IngestError> {
        if self.pending.is_empty() {
            return Ok(Fill::Done);
        }
        let settings = self.options.decode_settings();
        while !self.pending.is_empty() && chunk.records() < self.options.chunk_records {
            let batch = self.next_batch(chunk);
            let mut jobs = Vec::new();
            for (object, fetched) in fetch(self.s3, batch, &self.downloads.0, 8).await {
                match fetched {
                    Ok(job) => jobs.push(job),
                    Err(problem) => {
                        self.report.ingested.fail(crate::error_line(&problem));
                        self.not_read(&object);
                    }
                }
            }
            let paths: Vec<PathBuf> = jobs.iter().map(|j| j.path.clone()).collect();
            // Every fetched object is decoded: the chunk limit is checked between batches.
            chunk.decode_files(jobs, &settings, u64::MAX).await?;
            for path in paths {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(Fill::More)
    }

    fn seal(&mut self, decoded: &mut Decoded) {
        self.report.ingested.seal(decoded);
    }

    async fn settle(&mut self, settled: Settled) -> Result<(), IngestError> {
        // Another writer (a live SQS intake) took some objects first: fetch the others again.
        let redo = self.report.ingested.settle(settled);
        self.pending.extend(redo.iter().filter_map(object_of));
        Ok(())
    }
}

impl Backfill<'_> {
    /// Up to 16 objects to fetch next, with their log types; the others are
    /// skipped or already in the lake.
    fn next_batch(&mut self, chunk: &Chunk) -> Vec<(ObjectRef, Arc<LogType>)> {
        let mut batch = Vec::new();
        while batch.len() < 16 {
            let Some(object) = self.pending.pop_front() else { break };
            let shown = format!("s3://{}/{}", object.bucket, object.key);
            if let Some(reason) = skip_reason(&object, self.options.log_type.is_some()) {
                tracing::warn!("{shown}: skipped: {reason}");
                self.report.skipped += 1;
                self.not_read(&object);
            } else if object.etag.as_ref().is_some_and(|e| chunk.has_seen(&input_id(&object.bucket, &object.key, e))) {
                self.report.ingested.already_ingested += 1;
                self.not_read(&object);
            } else {
                match log_type_for(self.registry, Path::new(&shown), self.options.log_type.as_deref()) {
                    Ok(log_type) => batch.push((object, log_type)),
                    Err(problem) => {
                        self.report.ingested.fail(problem.to_string());
                        self.not_read(&object);
                    }
                }
            }
        }
        batch
    }

    /// Counts an object done that was not read (skipped, already in the lake, not fetched).
    fn not_read(&self, object: &ObjectRef) {
        if let Some(progress) = &self.options.progress {
            progress.skipped(object.size.unwrap_or(0));
        }
    }
}

impl BackfillRange {
    /// How its objects are ingested: rows say `s3:<bucket>` and
    /// `s3://<bucket>/<prefix>`; `log_type` for keys that are not CloudTrail's.
    pub fn ingest_options(&self, log_type: Option<String>, chunk_records: u64) -> IngestOptions {
        IngestOptions {
            log_type,
            chunk_records: chunk_records.max(1),
            source_id: format!("s3:{}", self.bucket),
            source_label: format!("s3://{}/{}", self.bucket, self.prefix),
            ..IngestOptions::default()
        }
    }
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
) -> Result<BackfillReport, IngestError> {
    let progress = options.progress.as_deref();
    let listed = list_by_date(s3, &range.bucket, &range.prefix, range.from, range.to, progress).await.map_err(IngestError::source)?;
    if let Some(progress) = progress {
        progress.listing_done();
    }
    let downloads = Downloads::new(lake).map_err(|e| {
        IngestError::source(AwsError::Local { path: lake.scratch_dir().join("downloads").display().to_string(), source: e })
    })?;
    let report = BackfillReport { listed: listed.len() as u64, ..BackfillReport::default() };
    let mut source = Backfill { s3, registry, options, pending: listed.into(), downloads, report };
    let (_never, stop) = watch::channel(false);
    drive(lake, &mut source, true, stop).await?;
    Ok(source.report)
}

#[cfg(test)]
mod tests {
    use super::{ObjectRef, skip_reason};
    use crate::schema::Registry;
    use std::path::Path;

    /// The S3 intake and file ingest used to disagree on which keys are
    /// CloudTrail's (one required `/CloudTrail/`, the other also took
    /// `_CloudTrail_`): now one rule decides for both.
    #[test]
    fn s3_and_file_ingest_agree_on_cloudtrail_keys() {
        let registry = Registry::built_in();
        for key in [
            "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/17/111122223333_CloudTrail_eu-west-1_20261117T0000Z_a.json.gz",
            "AWSLogs/o-abc/111122223333/CloudTrail-Digest/us-east-1/2026/11/17/x.json.gz",
            "copies/111122223333_CloudTrail_eu-west-1_20261117T0000Z_a.json.gz",
            "exports/report.json",
            "CloudTrailish/report.json",
        ] {
            let object = ObjectRef { bucket: "b".into(), key: key.into(), size: Some(10), etag: None };
            let s3_takes = skip_reason(&object, false).is_none();
            let file_takes = super::super::cloudtrail::log_type_for(&registry, Path::new(key), None).is_ok();
            assert_eq!(s3_takes, file_takes, "{key}");
        }
    }
}
