//! The SQS intake and S3 backfill against moto_server on 127.0.0.1, with real
//! S3 → SQS notifications: counts in the lake equal the records put into S3.

mod common;

use common::moto::{aws_env, clients, moto};
use common::{Scratch, cloudtrail_records, sample};
use std::path::{Path, PathBuf};
use std::process::Output;

struct Aws {
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    bucket: String,
    queue_url: String,
}

async fn setup(name: &str, notify: bool) -> Aws {
    moto();
    let (s3, sqs) = clients().await;
    let bucket = format!("trail-{name}");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let queue = format!("notify-{name}");
    let queue_url = sqs.create_queue().queue_name(&queue).send().await.unwrap().queue_url().unwrap().to_string();
    if notify {
        use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
        let to_queue = QueueConfiguration::builder()
            .queue_arn(format!("arn:aws:sqs:us-east-1:123456789012:{queue}"))
            .events(Event::S3ObjectCreated)
            .build()
            .unwrap();
        let configuration = NotificationConfiguration::builder().queue_configurations(to_queue).build();
        s3.put_bucket_notification_configuration().bucket(&bucket).notification_configuration(configuration).send().await.unwrap();
    }
    Aws { s3, sqs, bucket, queue_url }
}

impl Aws {
    /// Uploads files under their path relative to `root` as key.
    async fn upload(&self, root: &Path, files: &[PathBuf]) -> Vec<String> {
        let mut keys = Vec::new();
        for file in files {
            let key = file.strip_prefix(root).unwrap().display().to_string();
            self.put(&key, std::fs::read(file).unwrap()).await;
            keys.push(key);
        }
        keys
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) {
        self.s3.put_object().bucket(&self.bucket).key(key).body(bytes.into()).send().await.unwrap();
    }

    async fn send(&self, body: &str) {
        self.sqs.send_message().queue_url(&self.queue_url).message_body(body).send().await.unwrap();
    }

    /// Messages visible plus in flight.
    async fn depth(&self) -> u64 {
        use aws_sdk_sqs::types::QueueAttributeName;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        out.attributes().unwrap().values().map(|v| v.parse::<u64>().unwrap()).sum()
    }
}

/// A `tarn` command that talks to moto.
fn tarn_aws(s: &Scratch, args: &[&str]) -> std::process::Command {
    let mut command = s.tarn(args);
    aws_env(&mut command);
    command
}

fn pull(s: &Scratch, aws: &Aws, extra: &[&str]) -> Output {
    let mut args = vec!["pull", "sqs", "--queue-url", aws.queue_url.as_str(), "--once"];
    args.extend_from_slice(extra);
    tarn_aws(s, &args).output().unwrap()
}

fn pull_ok(s: &Scratch, aws: &Aws, extra: &[&str]) -> String {
    let output = pull(s, aws, extra);
    assert!(output.status.success(), "{}", common::text(&output.stderr));
    common::text(&output.stdout)
}

fn commits(s: &Scratch, operation: &str) -> usize {
    std::fs::read_to_string(s.path("lake/_tarn/log.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&format!("\"operation\":\"{operation}\"")))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_notifications_land_every_record_once_and_are_deleted() {
    let s = Scratch::new("sqs-notify");
    let aws = setup("notify", true).await;
    let generated = sample(&s.dir, 1_200, 100, 0);
    aws.upload(&s.path("sample"), &generated.cloudtrail_files).await;
    aws.put("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/17/", Vec::new()).await; // a folder key
    aws.put("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/17/empty.json.gz", Vec::new()).await;
    let out = pull_ok(&s, &aws, &["--chunk-size", "500"]);
    assert!(out.contains("12 objects, 1200 rows") && out.contains("2 skipped"), "{out}");
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 1_200);
    assert_eq!(s.count("select count(distinct eventid) from aws_cloudtrail"), 1_200);
    // A chunk closes after the receive (up to ten messages) that reaches 500 records.
    assert!(commits(&s, "pull sqs") >= 2, "1,200 records in chunks of 500 need more than one commit");
    assert_eq!(s.count(&format!("select count(*) from aws_cloudtrail where p_source_file not like 's3://{}/AWSLogs/%'", aws.bucket)), 0);
    assert_eq!(aws.depth().await, 0, "every message deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_message_shape() {
    let s = Scratch::new("sqs-shapes");
    let aws = setup("shapes", false).await;
    let generated = sample(&s.dir, 500, 100, 0);
    let keys = aws.upload(&s.path("sample"), &generated.cloudtrail_files).await;
    // A key with a space, announced form-encoded, and one announced with %2F.
    let spaced = "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/17/with space.json.gz";
    aws.put(spaced, std::fs::read(&generated.cloudtrail_files[0]).unwrap()).await;
    let digest = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/17/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261117T010000Z.json.gz";
    let digest_body =
        r#"{"awsAccountId":"111122223333","digestStartTime":"2026-11-17T00:00:00Z","digestEndTime":"2026-11-17T01:00:00Z","logFiles":[]}"#;
    aws.put(digest, digest_body.as_bytes().to_vec()).await;
    aws.put("exports/report.csv", b"a,b\n".to_vec()).await;

    let s3_notification = |key: &str| {
        serde_json::json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": aws.bucket}, "object": {"key": key}}}]}).to_string()
    };
    aws.send(&s3_notification(&keys[0])).await;
    aws.send(
        &serde_json::json!({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": s3_notification(&keys[1])})
            .to_string(),
    )
    .await;
    let trail_message = serde_json::json!({"s3Bucket": aws.bucket, "s3ObjectKey": [keys[2], digest]}).to_string();
    aws.send(&serde_json::json!({"Type": "Notification", "Message": trail_message}).to_string()).await;
    aws.send(&serde_json::json!({"version": "0", "detail-type": "Object Created", "source": "aws.s3", "detail": {"bucket": {"name": aws.bucket}, "object": {"key": keys[3], "size": 10}}}).to_string()).await;
    aws.send(&s3_notification(&keys[4].replace('/', "%2F"))).await;
    aws.send(&s3_notification(&spaced.replace(' ', "+"))).await;
    aws.send(&s3_notification("exports/report.csv")).await;
    aws.send(&serde_json::json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": aws.bucket}).to_string()).await;
    aws.send("CloudTrail validation message.").await;
    aws.send(&serde_json::json!({"Type": "Notification", "Message": "CloudTrail validation message."}).to_string()).await;

    let out = pull_ok(&s, &aws, &[]);
    assert_eq!(commits(&s, "pull sqs"), 1, "one chunk under the default chunk size");
    assert!(out.contains("10 messages (3 empty, 10 deleted, 0 left to retry); 7 objects, 601 rows"), "{out}");
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 600);
    assert_eq!(s.count("select count(*) from aws_cloudtraildigest"), 1);
    let first = cloudtrail_records(&generated.cloudtrail_files[..1]);
    assert_eq!(
        s.count(&format!("select count(*) from aws_cloudtrail where p_source_file = 's3://{}/{spaced}'", aws.bucket)),
        first.len() as u64
    );
    assert_eq!(aws.depth().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_delete_messages_stay_and_redelivery_adds_nothing() {
    let s = Scratch::new("sqs-keep");
    let aws = setup("keep", true).await;
    let generated = sample(&s.dir, 300, 100, 0);
    aws.upload(&s.path("sample"), &generated.cloudtrail_files).await;
    let keep = ["--delete-consumed-messages", "false", "--visibility-timeout", "1"];
    pull_ok(&s, &aws, &keep);
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 300);
    assert_eq!(aws.depth().await, 4, "three objects and the test event stay on the queue");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out = pull_ok(&s, &aws, &[]);
    assert!(out.contains("0 rows in 0 commits; 3 already in the lake"), "{out}");
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 300);
    assert_eq!(aws.depth().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_objects_are_retried_then_quarantined() {
    let s = Scratch::new("sqs-poison");
    let aws = setup("poison", true).await;
    let generated = sample(&s.dir, 100, 100, 0);
    aws.upload(&s.path("sample"), &generated.cloudtrail_files).await;
    aws.put("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/17/corrupt.json.gz", b"\x1f\x8bnot gzip at all".to_vec()).await;
    let missing = serde_json::json!({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": aws.bucket}, "object": {"key": "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/17/gone.json.gz"}}}]});
    aws.send(&missing.to_string()).await;
    // Hidden long enough that a slow first pull (the suite runs tests side
    // by side on two cores) does not receive them a second time itself.
    let retry = ["--max-receives", "2", "--visibility-timeout", "4"];
    let out = pull_ok(&s, &aws, &retry);
    assert!(out.contains("2 left to retry"), "{out}");
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 100);
    assert_eq!(s.count("select count(*) from quarantine"), 0);
    std::thread::sleep(std::time::Duration::from_millis(4500));
    let out = pull_ok(&s, &aws, &retry);
    assert!(out.contains("2 quarantined"), "{out}");
    let reasons = s.rows("select reason from quarantine order by reason");
    assert_eq!(reasons.len(), 2);
    assert!(
        reasons.iter().any(|r| r[0].starts_with("given up after 2 receives:")
            && r[0].contains("corrupt.json.gz (ETag ")
            && r[0].contains("skipped: it is not JSON")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r[0].contains("gone.json.gz") && r[0].contains("NoSuchKey")), "{reasons:?}");
    assert_eq!(s.count("select count(*) from quarantine where raw like '%gone.json.gz%'"), 1, "the message body is kept");
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 100);
    assert_eq!(aws.depth().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "fault-injection"), ignore = "needs the crash hook: cargo test --features fault-injection")]
async fn a_crash_between_commit_and_delete_duplicates_nothing() {
    crash_between_commit_and_delete(Scratch::new("sqs-crash"), "crash").await;
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(not(feature = "fault-injection"), ignore = "needs the crash hook: cargo test --features fault-injection")]
async fn into_an_s3_lake_a_crash_between_commit_and_delete_duplicates_nothing() {
    crash_between_commit_and_delete(Scratch::on_s3("sqs-crash-s3"), "crash-s3").await;
}

async fn crash_between_commit_and_delete(s: Scratch, name: &str) {
    let aws = setup(name, true).await;
    let generated = sample(&s.dir, 400, 100, 0);
    aws.upload(&s.path("sample"), &generated.cloudtrail_files).await;
    let crashed = tarn_aws(&s, &["pull", "sqs", "--queue-url", &aws.queue_url, "--once", "--visibility-timeout", "1"])
        .env("TARN_FAIL_AFTER_COMMIT", "1")
        .output()
        .unwrap();
    assert!(!crashed.status.success(), "the process died after its commit");
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 400);
    assert_eq!(aws.depth().await, 5, "no message was deleted");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    pull_ok(&s, &aws, &[]);
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 400);
    assert_eq!(s.count("select count(distinct eventid) from aws_cloudtrail"), 400);
    assert_eq!(aws.depth().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backfill_overlapping_the_live_intake_adds_each_record_once() {
    let s = Scratch::new("backfill");
    let aws = setup("backfill", true).await;
    // 72 hours from 2026-11-17: three days of files.
    let mut plan = tarn::generate::Plan::new(&s.path("sample"));
    plan.cloudtrail_events = 1_800;
    plan.events_per_file = 100;
    plan.snyk_events = 0;
    let generated = tarn::generate::generate(&plan).unwrap();
    aws.upload(&s.path("sample"), &generated.cloudtrail_files).await;
    let first_two_days: Vec<PathBuf> =
        generated.cloudtrail_files.iter().filter(|f| !f.display().to_string().contains("/2026/11/19/")).cloned().collect();
    let expected_backfill = cloudtrail_records(&first_two_days).len() as u64;
    assert!(expected_backfill > 0 && expected_backfill < 1_800);
    let output =
        tarn_aws(&s, &["pull", "s3", "--bucket", &aws.bucket, "--prefix", "AWSLogs/", "--from", "2026-11-17", "--to", "2026-11-18"])
            .output()
            .unwrap();
    assert!(output.status.success(), "{}", common::text(&output.stderr));
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), expected_backfill);
    // The live intake then sees every notification, the backfilled objects included.
    let out = pull_ok(&s, &aws, &[]);
    assert!(out.contains(&format!("{} already in the lake", first_two_days.len())), "{out}");
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 1_800);
    assert_eq!(s.count("select count(distinct eventid) from aws_cloudtrail"), 1_800);
    assert_eq!(aws.depth().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_a_running_intake_cleanly() {
    let s = Scratch::new("sqs-sigterm");
    let aws = setup("sigterm", true).await;
    let generated = sample(&s.dir, 300, 100, 0);
    aws.upload(&s.path("sample"), &generated.cloudtrail_files).await;
    let child = tarn_aws(&s, &["pull", "sqs", "--queue-url", &aws.queue_url, "--frequency", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while s.count("select count(*) from aws_cloudtrail") < 300 {
        assert!(started.elapsed().as_secs() < 60, "the intake did not commit in time");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Now it waits on a long poll; SIGTERM ends that wait and the process.
    std::thread::sleep(std::time::Duration::from_millis(500));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let stopping = std::time::Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(stopping.elapsed().as_secs() < 10, "stopped promptly");
    assert!(output.status.success(), "{}", common::text(&output.stderr));
    assert!(common::text(&output.stderr).contains("stopping: finishing the chunk in flight"));
    assert!(common::text(&output.stdout).contains("4 messages (1 empty, 4 deleted"), "{}", common::text(&output.stdout));
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 300);
    assert_eq!(aws.depth().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn tarn_run_pulls_the_sources_in_the_config() {
    let s = Scratch::new("sqs-run");
    let aws = setup("run", true).await;
    let generated = sample(&s.dir, 200, 100, 0);
    aws.upload(&s.path("sample"), &generated.cloudtrail_files).await;
    std::fs::write(
        s.path("tarn.yml"),
        format!(
            "lake: lake\nsources:\n  trail:\n    type: sqs\n    queue_url: {}\n    endpoint_url: {}\n    chunk_size: 5000\n",
            aws.queue_url,
            moto().url
        ),
    )
    .unwrap();
    let output = tarn_aws(&s, &["run", "--once"]).env_remove("AWS_ENDPOINT_URL").output().unwrap();
    assert!(output.status.success(), "{}", common::text(&output.stderr));
    assert!(common::text(&output.stdout).starts_with("trail: 3 messages"), "{}", common::text(&output.stdout));
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 200);
    let (_, stderr) = {
        std::fs::write(s.path("tarn.yml"), "lake: lake\n").unwrap();
        s.fails(&["run", "--once"])
    };
    assert!(stderr.starts_with("error: no sources in the config"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
/// With every library's tracing on, the AWS secret key and session token
/// reach no log line, no output and no lake file; the lake is its owner's.
async fn secrets_never_reach_logs_output_or_the_lake_at_trace_level() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new("sqs-secrets");
    let aws = setup("secrets", true).await;
    let generated = sample(&s.dir, 200, 100, 0);
    aws.upload(&s.path("sample"), &generated.cloudtrail_files).await;
    let (secret, token) = ("tarnSecretKey0123456789abcdefSECRET", "tarnSessionToken0123456789TOKEN");
    let output = tarn_aws(&s, &["pull", "sqs", "--queue-url", &aws.queue_url, "--once"])
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_SESSION_TOKEN", token)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let (stdout, stderr) = (common::text(&output.stdout), common::text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("aws_smithy"), "the SDK's own tracing is on: {}", &stderr[..stderr.len().min(2000)]);
    for leaked in [secret, token] {
        assert!(!stdout.contains(leaked) && !stderr.contains(leaked), "{leaked} was logged");
    }
    assert_eq!(s.count("select count(*) from aws_cloudtrail"), 200);
    let mut files = Vec::new();
    let mut dirs = vec![s.path("lake")];
    while let Some(dir) = dirs.pop() {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} has mode {mode:o}", dir.display());
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() { dirs.push(entry.path()) } else { files.push(entry.path()) }
        }
    }
    assert!(files.iter().any(|f| f.ends_with("lock")), "the lock is among the checked files");
    for file in files {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} has mode {mode:o}", file.display());
        let bytes = std::fs::read(&file).unwrap();
        for leaked in [secret, token] {
            assert!(!bytes.windows(leaked.len()).any(|w| w == leaked.as_bytes()), "{leaked} is in {}", file.display());
        }
    }
}

/// Snyk's EventBridge integration routed to SQS (issue 16, part 3), with
/// moto standing in for Snyk's partner event bus: a rule targets the queue,
/// audit events put with PutEvents (boto3) land in `snyk_orgaudit` and
/// `snyk_groupaudit` under Panther's names and an issue event (an OCSF
/// finding) in `snyk_issue`; the same event delivered twice lands once; the
/// queue ends empty.
#[tokio::test(flavor = "multi_thread")]
async fn snyk_audit_events_through_eventbridge_land_once_in_their_tables() {
    let s = Scratch::new("sqs-snyk-eventbridge");
    let aws = setup("snyk-eb", false).await;
    let script = r#"
import boto3, json, sys
url, queue_arn = sys.argv[1], sys.argv[2]
eb = boto3.client('events', endpoint_url=url, region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test')
source = 'aws.partner/snyk.io/org_2f9f0b1c/audit'
eb.put_rule(Name='snyk-to-sqs', EventPattern=json.dumps({'source': [source]}))
eb.put_targets(Rule='snyk-to-sqs', Targets=[{'Id': 'queue', 'Arn': queue_arn}])
org = {'groupId': '4a18d42f-0000-4000-8000-000000000001', 'orgId': '0de7b2d6-0000-4000-8000-000000000001', 'userId': 'u-1', 'projectId': None, 'event': 'org.user.role.edit',
       'content': {'before': 'COLLABORATOR', 'after': 'ADMIN', 'userPublicId': 'u-9'}, 'created': '2026-11-30T10:00:00.000Z'}
group = {'groupId': '4a18d42f-0000-4000-8000-000000000001', 'userId': 'u-2', 'event': 'group.sso.edit', 'content': {'ssoType': 'saml'}, 'created': '2026-11-30T11:00:00.000Z'}
issue = {'class_uid': 2001, 'activity_id': 1, 'time': 1764496800000, 'severity_id': 5, 'severity': 'Critical', 'state_id': 1, 'state': 'New',
         'finding': {'uid': 'SNYK-JS-LODASH-567746', 'title': 'Prototype Pollution', 'src_url': 'https://security.snyk.io/vuln/SNYK-JS-LODASH-567746'},
         'vulnerabilities': [{'cve': {'uid': 'CVE-2020-8203', 'cvss': {'version': '3.1', 'base_score': 7.4}}, 'fix_available': True,
                              'packages': [{'name': 'lodash', 'version': '4.17.15'}]}],
         'resources': [{'uid': 'p-1', 'name': 'acme/web:package.json', 'type': 'Snyk Project'}],
         'metadata': {'version': '1.0.0-rc.2', 'product': {'name': 'Snyk', 'vendor_name': 'Snyk'}}, 'vendor_extra': {'kept': 'in eventjson'}}
entries = [{'Source': source, 'DetailType': kind, 'Detail': json.dumps(detail), 'EventBusName': 'default'}
           for kind, detail in [('Snyk audit event', org), ('Snyk audit event', group), ('Snyk issue event', issue)]]
out = eb.put_events(Entries=entries)
assert out['FailedEntryCount'] == 0, out
"#;
    let python = std::env::var("TARN_PYTHON").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python").to_string());
    let queue_arn = "arn:aws:sqs:us-east-1:123456789012:notify-snyk-eb";
    let put = std::process::Command::new(python).args(["-c", script, &moto().url, queue_arn]).output().unwrap();
    assert!(put.status.success(), "{}", common::text(&put.stderr));
    assert_eq!(aws.depth().await, 3, "the rule delivered the three events to the queue");
    // SQS delivers at least once: the org event's message arrives a second time.
    let seen = aws.sqs.receive_message().queue_url(&aws.queue_url).max_number_of_messages(10).visibility_timeout(0).send().await.unwrap();
    let org_body = seen.messages().iter().filter_map(|m| m.body()).find(|b| b.contains("org.user.role.edit")).unwrap().to_string();
    aws.send(&org_body).await;

    let out = pull_ok(&s, &aws, &[]);
    assert!(out.contains("4 messages (0 empty, 4 deleted, 0 left to retry); 3 objects, 3 rows in 1 commits; 1 already in the lake; 0 skipped; 0 quarantined"), "{out}");
    assert_eq!(
        s.rows("select orgid, event, userid from snyk_orgaudit"),
        vec![vec!["0de7b2d6-0000-4000-8000-000000000001", "org.user.role.edit", "u-1"]]
    );
    assert_eq!(s.rows("select groupid, event from snyk_groupaudit"), vec![vec!["4a18d42f-0000-4000-8000-000000000001", "group.sso.edit"]]);
    assert_eq!(s.count("select count(*) from snyk_orgaudit where json_extract_scalar(content, '$.after') = 'ADMIN'"), 1);
    let issue = s.rows("select finding.uid, severity_id, state, cast(time as varchar), vulnerabilities[1].cve.uid, vulnerabilities[1].fix_available, resources[1].name from snyk_issue");
    assert_eq!(
        issue,
        vec![vec!["SNYK-JS-LODASH-567746", "5", "New", "2025-11-30T10:00:00Z", "CVE-2020-8203", "true", "acme/web:package.json"]]
    );
    assert_eq!(s.count("select count(*) from snyk_issue where json_extract_scalar(eventjson, '$.vendor_extra.kept') = 'in eventjson'"), 1);
    assert_eq!(s.count("select count(*) from quarantine"), 0);
    assert_eq!(aws.depth().await, 0, "every message deleted");
    // Pulled again from a fresh delivery of the same event: nothing added.
    aws.send(&org_body).await;
    let out = pull_ok(&s, &aws, &[]);
    assert!(out.contains("1 already in the lake"), "{out}");
    assert_eq!(s.count("select count(*) from snyk_orgaudit"), 1);

    // The same audit records pulled through the Snyk API (REST names, the
    // org event without its group) add no rows; a record only the API has lands.
    let api = common::snyk_api::SnykApi::start();
    let same = serde_json::json!({"org_id": "0de7b2d6-0000-4000-8000-000000000001", "user_id": "u-1", "event": "org.user.role.edit",
        "content": {"before": "COLLABORATOR", "after": "ADMIN", "userPublicId": "u-9"}, "created": "2026-11-30T10:00:00Z"});
    let only_api = serde_json::json!({"org_id": "0de7b2d6-0000-4000-8000-000000000001", "user_id": "u-3", "event": "org.user.add", "content": {}, "created": "2026-11-30T10:05:00.000Z"});
    api.add_org("0de7b2d6-0000-4000-8000-000000000001", vec![same, only_api]);
    api.add_group(
        "4a18d42f-0000-4000-8000-000000000001",
        vec![serde_json::json!({"group_id": "4a18d42f-0000-4000-8000-000000000001", "user_id": "u-2", "event": "group.sso.edit",
        "content": {"ssoType": "saml"}, "created": "2026-11-30T11:00:00.000Z"})],
    );
    for scope in [["--org", "0de7b2d6-0000-4000-8000-000000000001"], ["--group", "4a18d42f-0000-4000-8000-000000000001"]] {
        let args = ["pull", "snyk", "--api-url", api.url.as_str(), scope[0], scope[1], "--from", "2026-11-29", "--once"];
        let pulled = s.tarn(&args).env("SNYK_TOKEN", common::snyk_api::TOKEN).output().unwrap();
        assert!(pulled.status.success(), "{}", common::text(&pulled.stderr));
    }
    assert_eq!(
        s.rows("select event, userid from snyk_orgaudit order by created"),
        vec![vec!["org.user.role.edit", "u-1"], vec!["org.user.add", "u-3"]]
    );
    assert_eq!(s.count("select count(*) from snyk_groupaudit"), 1);
}

/// The other way round: records the Snyk puller landed first are not
/// landed again when EventBridge carries them later.
#[tokio::test(flavor = "multi_thread")]
async fn a_snyk_record_pulled_from_the_api_first_is_not_landed_again_from_eventbridge() {
    let s = Scratch::new("sqs-snyk-api-then-eventbridge");
    let aws = setup("snyk-api-first", false).await;
    let api = common::snyk_api::SnykApi::start();
    api.add_org("0de7b2d6-0000-4000-8000-000000000007", vec![serde_json::json!({"org_id": "0de7b2d6-0000-4000-8000-000000000007", "group_id": "4a18d42f-0000-4000-8000-000000000007", "user_id": "u-1", "event": "org.user.remove",
        "content": {"userPublicId": "u-8"}, "created": "2026-11-30T09:00:00.000Z"})]);
    let args =
        ["pull", "snyk", "--api-url", api.url.as_str(), "--org", "0de7b2d6-0000-4000-8000-000000000007", "--from", "2026-11-29", "--once"];
    let pulled = s.tarn(&args).env("SNYK_TOKEN", common::snyk_api::TOKEN).output().unwrap();
    assert!(pulled.status.success(), "{}", common::text(&pulled.stderr));
    assert_eq!(s.count("select count(*) from snyk_orgaudit"), 1);
    let carried = |id: &str, detail: serde_json::Value| {
        serde_json::json!({"version": "0", "id": id, "detail-type": "Snyk audit event", "source": "aws.partner/snyk.io/org_0de7b2d6-0000-4000-8000-000000000007/audit",
            "account": "123456789012", "time": "2026-11-30T09:00:01Z", "region": "us-east-1", "resources": [], "detail": detail}).to_string()
    };
    let same = serde_json::json!({"groupId": "4a18d42f-0000-4000-8000-000000000007", "orgId": "0de7b2d6-0000-4000-8000-000000000007", "userId": "u-1", "projectId": null, "event": "org.user.remove",
        "content": {"userPublicId": "u-8"}, "created": "2026-11-30T09:00:00.000Z"});
    let other = serde_json::json!({"groupId": "4a18d42f-0000-4000-8000-000000000007", "orgId": "0de7b2d6-0000-4000-8000-000000000007", "userId": "u-1", "projectId": null, "event": "org.user.remove",
        "content": {"userPublicId": "u-9"}, "created": "2026-11-30T09:00:00.000Z"});
    aws.send(&carried("eb-1", same)).await;
    aws.send(&carried("eb-2", other)).await;
    let out = pull_ok(&s, &aws, &[]);
    assert!(out.contains("1 already in the lake"), "{out}");
    let users: Vec<String> = s
        .rows("select json_extract_scalar(content, '$.userPublicId') from snyk_orgaudit order by 1")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(users, ["u-8", "u-9"]);
    assert_eq!(aws.depth().await, 0);
}
