//! A generator of realistic sample logs: CloudTrail files exactly as CloudTrail
//! delivers them to S3 (gzip of one-line `{"Records":[...]}`, the real key
//! layout, varied identities, errors and nested parameters) and Snyk audit
//! logs in both API shapes (v1 arrays for the group, REST search pages for
//! an org). Deterministic for a seed; used by the demo, tests and benchmarks.

use chrono::{DateTime, Duration, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Plan {
    pub out: PathBuf,
    pub seed: u64,
    pub cloudtrail_events: u64,
    pub events_per_file: u64,
    pub snyk_events: u64,
    pub start: DateTime<Utc>,
    /// The events spread evenly over this many hours from `start`.
    pub hours: u64,
}

impl Plan {
    pub fn new(out: &Path) -> Plan {
        Plan {
            out: out.to_path_buf(),
            seed: 1,
            cloudtrail_events: 20_000,
            events_per_file: 250,
            snyk_events: 2_000,
            // 2026-11-17T00:00:00Z.
            start: DateTime::UNIX_EPOCH + Duration::days(20_774),
            hours: 72,
        }
    }
}

/// What was generated, for checks and reports.
#[derive(Debug, Default, Clone)]
pub struct Generated {
    pub cloudtrail_files: Vec<PathBuf>,
    pub cloudtrail_events: u64,
    /// Uncompressed bytes of the CloudTrail files.
    pub cloudtrail_bytes: u64,
    pub snyk_group_files: Vec<PathBuf>,
    pub snyk_org_files: Vec<PathBuf>,
    pub snyk_events: u64,
    pub events_by_name: BTreeMap<String, u64>,
}

/// SplitMix64: small, fast and good enough for sample data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn hex(&mut self, len: usize) -> String {
        const DIGITS: &[u8] = b"0123456789abcdef";
        (0..len).map(|_| DIGITS[self.below(16) as usize] as char).collect()
    }
    fn alnum(&mut self, len: usize) -> String {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len).map(|_| *self.pick(CHARS) as char).collect()
    }
    fn uuid(&mut self) -> String {
        format!("{}-{}-4{}-a{}-{}", self.hex(8), self.hex(4), self.hex(3), self.hex(3), self.hex(12))
    }
}

const ACCOUNTS: [&str; 3] = ["111122223333", "444455556666", "777788889999"];
const REGIONS: [&str; 4] = ["us-east-1", "eu-west-1", "eu-west-2", "ap-southeast-2"];
const USERS: [&str; 6] = ["alice", "bob", "carol", "deploy-bot", "terraform", "mallory"];
const ROLES: [&str; 4] = ["Admin", "ReadOnly", "OrganizationAccountAccessRole", "GitHubActionsDeploy"];
const AGENTS: [&str; 6] = [
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/s3.ls",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.0 lang/python#3.11.8",
    "console.amazonaws.com",
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0",
    "aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/sts#1.28.5",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
];

/// (event source, event name, read only, weight)
const EVENTS: [(&str, &str, bool, u64); 30] = [
    ("sts.amazonaws.com", "AssumeRole", true, 30),
    ("sts.amazonaws.com", "GetCallerIdentity", true, 12),
    ("s3.amazonaws.com", "GetObject", true, 25),
    ("s3.amazonaws.com", "PutObject", false, 10),
    ("s3.amazonaws.com", "ListBuckets", true, 6),
    ("s3.amazonaws.com", "PutBucketPolicy", false, 1),
    ("s3.amazonaws.com", "PutBucketPublicAccessBlock", false, 1),
    ("s3.amazonaws.com", "DeleteBucketPublicAccessBlock", false, 1),
    ("ec2.amazonaws.com", "DescribeInstances", true, 20),
    ("ec2.amazonaws.com", "RunInstances", false, 3),
    ("ec2.amazonaws.com", "TerminateInstances", false, 1),
    ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", false, 2),
    ("ec2.amazonaws.com", "RevokeSecurityGroupIngress", false, 1),
    ("ec2.amazonaws.com", "DescribeSecurityGroups", true, 8),
    ("iam.amazonaws.com", "CreateUser", false, 2),
    ("iam.amazonaws.com", "CreateAccessKey", false, 2),
    ("iam.amazonaws.com", "AttachUserPolicy", false, 1),
    ("iam.amazonaws.com", "AttachRolePolicy", false, 1),
    ("iam.amazonaws.com", "ListRoles", true, 6),
    ("iam.amazonaws.com", "GetUser", true, 5),
    ("iam.amazonaws.com", "DeleteUser", false, 1),
    ("signin.amazonaws.com", "ConsoleLogin", false, 4),
    ("cloudtrail.amazonaws.com", "LookupEvents", true, 3),
    ("cloudtrail.amazonaws.com", "StopLogging", false, 1),
    ("cloudtrail.amazonaws.com", "UpdateTrail", false, 1),
    ("kms.amazonaws.com", "Decrypt", true, 15),
    ("kms.amazonaws.com", "ScheduleKeyDeletion", false, 1),
    ("lambda.amazonaws.com", "Invoke", false, 8),
    ("guardduty.amazonaws.com", "DeleteDetector", false, 1),
    ("config.amazonaws.com", "StopConfigurationRecorder", false, 1),
];

/// Writes the plan's files under `plan.out`.
pub fn generate(plan: &Plan) -> io::Result<Generated> {
    let mut rng = Rng(plan.seed);
    let mut generated = Generated::default();
    let total_weight: u64 = EVENTS.iter().map(|e| e.3).sum();
    let files = plan.cloudtrail_events.div_ceil(plan.events_per_file.max(1));
    let span_secs = (plan.hours.max(1) * 3600) as i64;
    let mut remaining = plan.cloudtrail_events;
    for file_index in 0..files {
        let count = remaining.min(plan.events_per_file);
        remaining -= count;
        let account = ACCOUNTS[(file_index % ACCOUNTS.len() as u64) as usize];
        let region = REGIONS[((file_index / ACCOUNTS.len() as u64) % REGIONS.len() as u64) as usize];
        // Files cover five-minute windows, spread evenly over the span.
        let window_start = plan.start + Duration::seconds(span_secs * file_index as i64 / files.max(1) as i64 / 300 * 300);
        let mut records = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let event = weighted_event(rng.below(total_weight));
            let time = window_start + Duration::milliseconds(rng.below(300_000) as i64);
            let record = cloudtrail_record(&mut rng, event, account, region, time);
            *generated.events_by_name.entry(event.1.to_string()).or_default() += 1;
            records.push(record);
        }
        let key = format!(
            "AWSLogs/{account}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}_{}.json.gz",
            window_start.format("%Y/%m/%d"),
            (window_start + Duration::minutes(5)).format("%Y%m%dT%H%MZ"),
            rng.alnum(16)
        );
        let path = plan.out.join(key);
        let text = serde_json::to_string(&json!({ "Records": records }))?;
        write_gzip(&path, text.as_bytes())?;
        generated.cloudtrail_bytes += text.len() as u64;
        generated.cloudtrail_events += count;
        generated.cloudtrail_files.push(path);
    }
    if plan.snyk_events > 0 {
        write_snyk(plan, &mut rng, &mut generated)?;
    }
    Ok(generated)
}

/// The event whose weight range holds `pick` (below the total weight; the
/// last event beyond it).
fn weighted_event(mut pick: u64) -> &'static (&'static str, &'static str, bool, u64) {
    for event in &EVENTS {
        if pick < event.3 {
            return event;
        }
        pick -= event.3;
    }
    &EVENTS[EVENTS.len() - 1]
}

fn write_gzip(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut encoder = GzEncoder::new(BufWriter::new(File::create(path)?), Compression::new(6));
    encoder.write_all(bytes)?;
    encoder.finish()?.flush()
}

/// Who acts in one generated event, drawn before its identity.
struct Actor {
    user: &'static str,
    role: &'static str,
    other_account: &'static str,
    access_key: String,
    session_created: String,
    mfa: &'static str,
}

impl Actor {
    fn draw(rng: &mut Rng, time: DateTime<Utc>) -> Actor {
        let user = *rng.pick(&USERS);
        let role = *rng.pick(&ROLES);
        let other_account = *rng.pick(&ACCOUNTS);
        let access_key = format!("ASIA{}", rng.alnum(16).to_uppercase());
        let session_created = (time - Duration::minutes(rng.below(600) as i64)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mfa = if rng.chance(70) { "true" } else { "false" };
        Actor { user, role, other_account, access_key, session_created, mfa }
    }
}

/// The resources an event may name, drawn for every event.
struct Targets {
    bucket: String,
    instance: String,
    group_id: String,
    key_id: String,
}

impl Targets {
    fn draw(rng: &mut Rng) -> Targets {
        let bucket = format!("{}-{}", rng.pick(&["logs", "backups", "website", "data-lake"]), rng.pick(&ACCOUNTS));
        let instance = format!("i-0{}", rng.hex(16));
        let group_id = format!("sg-0{}", rng.hex(16));
        let key_id = rng.uuid();
        Targets { bucket, instance, group_id, key_id }
    }
}

fn cloudtrail_record(rng: &mut Rng, event: &(&str, &str, bool, u64), account: &str, region: &str, time: DateTime<Utc>) -> Value {
    let (source, name, read_only, _) = *event;
    let actor = Actor::draw(rng, time);
    let identity = identity(rng, name, account, &actor);
    let source_ip = source_ip(rng);
    let targets = Targets::draw(rng);
    let (request, response, resources) = parameters(rng, name, account, region, &actor, &targets);
    let mut record = json!({
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "eventSource": source,
        "eventName": name,
        "awsRegion": if source == "iam.amazonaws.com" || source == "signin.amazonaws.com" { "us-east-1" } else { region },
        "sourceIPAddress": source_ip,
        "userAgent": rng.pick(&AGENTS),
        "requestParameters": request,
        "responseElements": response,
        "requestID": rng.uuid(),
        "eventID": rng.uuid(),
        "readOnly": read_only,
        "eventType": if name == "ConsoleLogin" { "AwsConsoleSignIn" } else { "AwsApiCall" },
        "managementEvent": !matches!(name, "GetObject" | "PutObject" | "Invoke"),
        "recipientAccountId": account,
        "eventCategory": if matches!(name, "GetObject" | "PutObject" | "Invoke") { "Data" } else { "Management" },
        "tlsDetails": {"tlsVersion": *rng.pick(&["TLSv1.3", "TLSv1.3", "TLSv1.2", "TLSv1"]), "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.trim_end_matches(".amazonaws.com"))}
    });
    if let Some(map) = record.as_object_mut() {
        add_details(rng, map, name, resources, actor.mfa);
    }
    record
}

/// The `userIdentity` of an event.
fn identity(rng: &mut Rng, name: &str, account: &str, actor: &Actor) -> Value {
    let Actor { user, role, ref access_key, ref session_created, mfa, .. } = *actor;
    match (name, rng.below(20)) {
        ("ConsoleLogin", 0) => {
            json!({"type": "Root", "principalId": account, "arn": format!("arn:aws:iam::{account}:root"), "accountId": account})
        }
        ("ConsoleLogin", _) | (_, 0..=5) => json!({
            "type": "IAMUser", "principalId": format!("AIDA{}", rng.alnum(17).to_uppercase()),
            "arn": format!("arn:aws:iam::{account}:user/{user}"), "accountId": account,
            "accessKeyId": access_key, "userName": user,
            "sessionContext": {"attributes": {"creationDate": session_created, "mfaAuthenticated": mfa}}
        }),
        (_, 6) => json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}),
        (_, 7) => {
            json!({"type": "Root", "principalId": account, "arn": format!("arn:aws:iam::{account}:root"), "accountId": account, "accessKeyId": access_key})
        }
        _ => {
            let role_id = format!("AROA{}", rng.alnum(17).to_uppercase());
            json!({
                "type": "AssumedRole", "principalId": format!("{role_id}:{user}"),
                "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{user}"), "accountId": account,
                "accessKeyId": access_key,
                "sessionContext": {
                    "sessionIssuer": {"type": "Role", "principalId": role_id, "arn": format!("arn:aws:iam::{account}:role/{role}"), "accountId": account, "userName": role},
                    "webIdFederationData": {},
                    "attributes": {"creationDate": session_created, "mfaAuthenticated": mfa}
                }
            })
        }
    }
}

/// A `sourceIPAddress`: a service, or an IPv4 or IPv6 address.
fn source_ip(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => "AWS Internal".to_string(),
        1 => "ec2.amazonaws.com".to_string(),
        2 => format!("2001:db8:{:x}::{:x}", rng.below(65535), rng.below(65535)),
        _ => format!("{}.{}.{}.{}", [198, 203, 192, 52][rng.below(4) as usize], rng.below(256), rng.below(256), 1 + rng.below(254)),
    }
}

/// An event's `requestParameters`, `responseElements` and `resources`.
fn parameters(rng: &mut Rng, name: &str, account: &str, region: &str, actor: &Actor, targets: &Targets) -> (Value, Value, Value) {
    let Actor { user, role, other_account, .. } = *actor;
    let Targets { bucket, instance, group_id, key_id } = targets;
    match name {
        "AssumeRole" => (
            json!({"roleArn": format!("arn:aws:iam::{other_account}:role/{role}"), "roleSessionName": user, "durationSeconds": 3600}),
            json!({"credentials": {"accessKeyId": format!("ASIA{}", rng.alnum(16).to_uppercase()), "sessionToken": rng.alnum(40), "expiration": "Nov 21, 2026, 11:00:00 AM"}, "assumedRoleUser": {"assumedRoleId": format!("AROA{}:{user}", rng.alnum(17).to_uppercase()), "arn": format!("arn:aws:sts::{other_account}:assumed-role/{role}/{user}")}}),
            json!([{"ARN": format!("arn:aws:iam::{other_account}:role/{role}"), "accountId": other_account, "type": "AWS::IAM::Role"}]),
        ),
        "GetObject" | "PutObject" => {
            let key = format!("{}/{}.json", rng.pick(&["2026/11", "exports", "tmp"]), rng.alnum(10));
            (
                json!({"bucketName": bucket, "Host": format!("{bucket}.s3.{region}.amazonaws.com"), "key": key}),
                Value::Null,
                json!([{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/{key}")}, {"accountId": account, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}]),
            )
        }
        "PutBucketPolicy" => (
            json!({"bucketName": bucket, "bucketPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]}, "policy": ""}),
            Value::Null,
            json!([{"accountId": account, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}]),
        ),
        "PutBucketPublicAccessBlock" | "DeleteBucketPublicAccessBlock" => (
            json!({"bucketName": bucket, "PublicAccessBlockConfiguration": {"BlockPublicAcls": false, "IgnorePublicAcls": false, "BlockPublicPolicy": false, "RestrictPublicBuckets": false}}),
            Value::Null,
            json!([{"accountId": account, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}]),
        ),
        "RunInstances" => (
            json!({"instancesSet": {"items": [{"imageId": format!("ami-0{}", rng.hex(16)), "minCount": 1, "maxCount": 1}]}, "instanceType": rng.pick(&["t3.micro", "m5.large", "p4d.24xlarge"]), "blockDeviceMapping": {}, "monitoring": {"enabled": false}}),
            json!({"instancesSet": {"items": [{"instanceId": instance, "currentState": {"code": 0, "name": "pending"}}]}, "ownerId": account}),
            json!([{"ARN": format!("arn:aws:ec2:{region}:{account}:instance/{instance}"), "accountId": account, "type": "AWS::EC2::Instance"}]),
        ),
        "TerminateInstances" | "DescribeInstances" => {
            (json!({"instancesSet": {"items": [{"instanceId": instance}]}}), Value::Null, Value::Null)
        }
        "AuthorizeSecurityGroupIngress" | "RevokeSecurityGroupIngress" => {
            let cidr = if rng.chance(40) { "0.0.0.0/0".to_string() } else { format!("10.{}.0.0/16", rng.below(256)) };
            let port = *rng.pick(&[22, 3389, 443, 5432]);
            (
                json!({"groupId": group_id, "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": port, "toPort": port, "ipRanges": {"items": [{"cidrIp": cidr}]}}]}}),
                json!({"requestId": rng.uuid(), "_return": true}),
                Value::Null,
            )
        }
        "CreateUser" | "DeleteUser" | "GetUser" => (
            json!({"userName": rng.pick(&USERS)}),
            if name == "CreateUser" {
                json!({"user": {"userName": user, "userId": format!("AIDA{}", rng.alnum(17).to_uppercase()), "arn": format!("arn:aws:iam::{account}:user/{user}"), "createDate": "Nov 20, 2026, 10:00:00 AM", "path": "/"}})
            } else {
                Value::Null
            },
            Value::Null,
        ),
        "CreateAccessKey" => (
            json!({"userName": user}),
            json!({"accessKey": {"userName": user, "accessKeyId": format!("AKIA{}", rng.alnum(16).to_uppercase()), "status": "Active", "createDate": "Nov 20, 2026, 10:00:00 AM"}}),
            Value::Null,
        ),
        "AttachUserPolicy" | "AttachRolePolicy" => (
            json!({"userName": user, "roleName": role, "policyArn": rng.pick(&["arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::aws:policy/AmazonS3FullAccess"])}),
            Value::Null,
            Value::Null,
        ),
        "ConsoleLogin" => (Value::Null, json!({"ConsoleLogin": if rng.chance(85) { "Success" } else { "Failure" }}), Value::Null),
        "StopLogging" | "UpdateTrail" => {
            (json!({"name": format!("arn:aws:cloudtrail:{region}:{account}:trail/org-trail")}), Value::Null, Value::Null)
        }
        "Decrypt" => (
            json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": {"aws:lambda:FunctionArn": format!("arn:aws:lambda:{region}:{account}:function:api")}}),
            Value::Null,
            json!([{"accountId": account, "type": "AWS::KMS::Key", "ARN": format!("arn:aws:kms:{region}:{account}:key/{key_id}")}]),
        ),
        "ScheduleKeyDeletion" => (
            json!({"keyId": key_id, "pendingWindowInDays": 7}),
            json!({"keyId": format!("arn:aws:kms:{region}:{account}:key/{key_id}"), "deletionDate": "Nov 28, 2026, 12:00:00 AM", "keyState": "PendingDeletion"}),
            Value::Null,
        ),
        "Invoke" => (
            json!({"functionName": format!("arn:aws:lambda:{region}:{account}:function:api"), "invocationType": "RequestResponse"}),
            Value::Null,
            Value::Null,
        ),
        "DeleteDetector" => (json!({"detectorId": rng.hex(32)}), Value::Null, Value::Null),
        "StopConfigurationRecorder" => (json!({"configurationRecorderName": "default"}), Value::Null, Value::Null),
        _ => (Value::Null, Value::Null, Value::Null),
    }
}

/// What only some events have: resources, login details, a shared event
/// id, an error, a VPC endpoint.
fn add_details(rng: &mut Rng, map: &mut serde_json::Map<String, Value>, name: &str, resources: Value, mfa: &str) {
    if !resources.is_null() {
        map.insert("resources".into(), resources);
    }
    if name == "ConsoleLogin" {
        map.insert("additionalEventData".into(), json!({"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": if mfa == "true" { "Yes" } else { "No" }}));
    }
    if name == "AssumeRole" && rng.chance(30) {
        map.insert("sharedEventID".into(), json!(rng.uuid()));
    }
    if rng.chance(4) {
        let (code, message) = *rng.pick(&[
            ("AccessDenied", "User is not authorized to perform this operation"),
            ("Client.UnauthorizedOperation", "You are not authorized to perform this operation."),
            ("ThrottlingException", "Rate exceeded"),
            ("NoSuchEntityException", "The user with name bob cannot be found."),
        ]);
        map.insert("errorCode".into(), json!(code));
        map.insert("errorMessage".into(), json!(message));
        map.insert("responseElements".into(), Value::Null);
    }
    if rng.chance(2) {
        map.insert("vpcEndpointId".into(), json!(format!("vpce-{}", rng.hex(17))));
    }
}

const SNYK_EVENTS: [&str; 16] = [
    "org.user.add",
    "org.user.role.edit",
    "org.user.remove",
    "org.service_account.create",
    "org.service_account.delete",
    "org.policy.edit",
    "org.project.add",
    "org.project.delete",
    "org.project.ignore.create",
    "org.project.issue.create",
    "org.integration.delete",
    "org.license_rule.edit",
    "group.user.remove",
    "group.sso.edit",
    "api.access",
    "user.logged_in",
];

fn snyk_record(rng: &mut Rng, group: &str, orgs: &[String], users: &[String], time: DateTime<Utc>) -> serde_json::Map<String, Value> {
    let event = *rng.pick(&SNYK_EVENTS);
    let user = if event == "org.project.issue.create" || rng.chance(5) { None } else { Some(rng.pick(users).clone()) };
    let project = event.starts_with("org.project").then(|| rng.uuid());
    let content = match event {
        "org.user.role.edit" => {
            json!({"userPublicId": rng.pick(users), "role": rng.pick(&["ADMIN", "COLLABORATOR"]), "previousRole": "COLLABORATOR"})
        }
        "org.user.add" | "org.user.remove" | "group.user.remove" => {
            json!({"userPublicId": rng.pick(users), "email": format!("{}@example.com", rng.pick(&USERS))})
        }
        "org.service_account.create" | "org.service_account.delete" => {
            json!({"serviceAccountName": format!("ci-{}", rng.alnum(6)), "role": "ADMIN"})
        }
        "org.policy.edit" | "org.license_rule.edit" => {
            json!({"before": {"severity": "high"}, "after": {"severity": "low"}, "policyId": rng.uuid()})
        }
        "org.project.ignore.create" => {
            json!({"issueId": format!("SNYK-JS-LODASH-{}", rng.below(9_999_999)), "reason": "not exploitable", "expires": null, "ignorePath": "*"})
        }
        "org.project.issue.create" => json!({"action": "Returned from analysis"}),
        "org.integration.delete" => json!({"integrationType": rng.pick(&["github", "gitlab", "jira"])}),
        "group.sso.edit" => json!({"changes": [{"field": "entityId", "old": "a", "new": "b"}]}),
        "api.access" => json!({"url": "/api/v1/orgs", "method": "GET", "userAgent": "snyk-cli/1.1290.0"}),
        "user.logged_in" => json!({"loginMethod": rng.pick(&["sso", "github"]), "ip": format!("203.0.113.{}", rng.below(255))}),
        _ => json!({}),
    };
    let mut record = serde_json::Map::new();
    record.insert("groupId".into(), json!(group));
    record.insert("event".into(), json!(event));
    record.insert("content".into(), content);
    record.insert("created".into(), json!(time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()));
    if !event.starts_with("group.") {
        record.insert("orgId".into(), json!(rng.pick(orgs)));
    }
    record.insert("userId".into(), user.map_or(Value::Null, Value::String));
    record.insert("projectId".into(), project.map_or(Value::Null, Value::String));
    record
}

fn write_snyk(plan: &Plan, rng: &mut Rng, generated: &mut Generated) -> io::Result<()> {
    let group = rng.uuid();
    let orgs: Vec<String> = (0..3).map(|_| rng.uuid()).collect();
    let users: Vec<String> = (0..8).map(|_| rng.uuid()).collect();
    let span_ms = plan.hours.max(1) * 3_600_000;
    // Half the events are the group's, served as v1 pages; half the first org's, as REST pages.
    let group_events = plan.snyk_events / 2;
    let org_events = plan.snyk_events - group_events;
    let time_of = |i: u64, n: u64| plan.start + Duration::milliseconds((span_ms * i / n.max(1)) as i64);
    let group_dir = plan.out.join("snyk/group");
    let org_dir = plan.out.join("snyk/org");
    fs::create_dir_all(&group_dir)?;
    fs::create_dir_all(&org_dir)?;
    let mut page = Vec::new();
    for i in 0..group_events {
        page.push(Value::Object(snyk_record(rng, &group, &orgs, &users, time_of(i, group_events))));
        if page.len() == 100 || i + 1 == group_events {
            let path = group_dir.join(format!("v1-page-{:05}.json", generated.snyk_group_files.len() + 1));
            fs::write(&path, serde_json::to_vec_pretty(&page)?)?;
            generated.snyk_group_files.push(path);
            generated.snyk_events += page.len() as u64;
            page.clear();
        }
    }
    for i in 0..org_events {
        let mut record = snyk_record(rng, &group, &orgs, &users, time_of(i, org_events));
        // REST items: snake_case ids, no group id on org-level logs, missing rather than null.
        record.remove("groupId");
        record.insert("orgId".into(), json!(orgs[0]));
        let mut item = serde_json::Map::new();
        for (key, value) in record {
            let key = match key.as_str() {
                "orgId" => "org_id".to_string(),
                "userId" => "user_id".to_string(),
                "projectId" => "project_id".to_string(),
                _ => key,
            };
            if !value.is_null() {
                item.insert(key, value);
            }
        }
        page.push(Value::Object(item));
        if page.len() == 100 || i + 1 == org_events {
            let number = generated.snyk_org_files.len() + 1;
            let path = org_dir.join(format!("rest-page-{number:05}.json"));
            let next =
                format!("/rest/orgs/{}/audit_logs/search?cursor={}&size=100&sort_order=ASC&version=2024-04-29", orgs[0], rng.alnum(24));
            let body = json!({"data": {"type": "audit_log_search", "items": page}, "jsonapi": {"version": "1.0"}, "links": {"next": next}});
            fs::write(&path, serde_json::to_vec(&body)?)?;
            generated.snyk_org_files.push(path);
            generated.snyk_events += page.len() as u64;
            page.clear();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_start_is_the_17th_of_november_2026() {
        assert_eq!(Plan::new(Path::new("out")).start.to_rfc3339(), "2026-11-17T00:00:00+00:00");
    }

    #[test]
    fn every_pick_below_the_total_weight_finds_its_event() {
        let total: u64 = EVENTS.iter().map(|e| e.3).sum();
        assert_eq!(weighted_event(0).1, "AssumeRole");
        assert_eq!(weighted_event(30).1, "GetCallerIdentity");
        assert_eq!(weighted_event(total - 1).1, "StopConfigurationRecorder");
    }
}
