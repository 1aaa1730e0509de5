//! `tarn serve` against AWS's own client: boto3's `cloudtrail-data` client
//! (and botocore's SigV4 signer) puts events through a channel; the events
//! land once, in the channel's ActivityAuditLog store, with Lake's columns.

mod common;

use common::Scratch;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const ACCESS_KEY: &str = "AKIDTARNTEST";
const SECRET: &str = "tarn-test-secret";

fn python() -> String {
    std::env::var("TARN_PYTHON").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python").to_string())
}

/// A running `tarn serve` (or `tarn run`), killed when dropped.
struct Served {
    child: Child,
    port: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts tarn with `args` and the test credentials; waits for its address.
fn start(s: &Scratch, args: &[&str], env: &[(&str, &str)]) -> Served {
    let mut command = s.tarn(args);
    command.env("TARN_ACCESS_KEY_ID", ACCESS_KEY).env("TARN_SECRET_ACCESS_KEY", SECRET).env_remove("TARN_SESSION_TOKEN");
    command.envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no address in {line:?}"));
    Served { child, port }
}

/// Runs a Python script with boto3; returns its stdout.
fn boto3(script: &str, args: &[&str]) -> String {
    let out = Command::new(python()).arg("-c").arg(format!("{PRELUDE}\n{script}")).args(args).output().unwrap();
    assert!(out.status.success(), "python failed: {}", common::text(&out.stderr));
    common::text(&out.stdout)
}

/// What every script starts with: a client for argv[1] (port), events
/// shaped as Lake's integration schema, and `call` that returns the error
/// code or the answer.
const PRELUDE: &str = r#"
import base64, hashlib, json, sys, urllib.request
import boto3, botocore
from botocore.config import Config
port = sys.argv[1]
def client(secret='tarn-test-secret', token=None, config=None):
    return boto3.client('cloudtrail-data', endpoint_url=f'http://127.0.0.1:{port}', region_name='eu-west-1',
        aws_access_key_id='AKIDTARNTEST', aws_secret_access_key=secret, aws_session_token=token,
        config=config or Config(retries={'max_attempts': 1}))
def event(i, account='111122223333'):
    data = json.dumps({"version": "1.0", "userIdentity": {"type": "User", "principalId": f"user-{i % 7}", "details": {"org": "acme"}},
        "eventSource": "app.example.com", "eventName": "user.login" if i % 2 else "org.user.role.edit",
        "eventTime": f"2026-11-30T10:{i % 60:02d}:00Z", "UID": f"uid-{i}", "recipientAccountId": account,
        "sourceIPAddress": "203.0.113.9", "additionalEventData": {"n": i, "nested": {"x": 1}}})
    return {"id": f"ev-{i}", "eventData": data, "eventDataChecksum": base64.b64encode(hashlib.sha256(data.encode()).digest()).decode()}
def call(c, **kw):
    try:
        return c.put_audit_events(**kw)
    except botocore.exceptions.ClientError as e:
        return e.response['Error']['Code']
"#;

/// A lake with an ActivityAuditLog store and a channel that delivers to it;
/// returns the store id and the channel ARN.
fn channel(s: &Scratch, extra: &[&str]) -> (String, String) {
    s.ok(&["eds", "create", "--name", "app-events", "--category", "ActivityAuditLog", "--table", "snyk_orgaudit"]);
    let store = s.ok(&["eds", "show", "app-events"]).lines().next().unwrap().trim_start_matches("id:").trim().to_string();
    let mut args =
        vec!["channel", "create", "--name", "my-app", "--source", "Custom", "--account", "111122223333", "--store", "app-events"];
    args.extend_from_slice(extra);
    let arn = s.ok(&args).trim().to_string();
    assert!(arn.starts_with("arn:aws:cloudtrail:us-east-1:111122223333:channel/"), "{arn}");
    (store, arn)
}

#[test]
fn boto3_puts_150_events_in_two_calls_and_a_resent_batch_adds_nothing() {
    let s = Scratch::new("serve-boto3");
    let (store, arn) = channel(&s, &["--external-id", "snyk-org-1"]);
    let served = start(&s, &["serve", "--listen", "127.0.0.1:0"], &[]);
    let script = r#"
arn = sys.argv[2]
c = client()
first = call(c, channelArn=arn, externalId='snyk-org-1', auditEvents=[event(i) for i in range(100)])
second_events = [event(i) for i in range(100, 150)]
second_events[7]['eventDataChecksum'] = base64.b64encode(b'x' * 32).decode()
second = call(c, channelArn=arn, externalId='snyk-org-1', auditEvents=second_events)
again = call(c, channelArn=arn, externalId='snyk-org-1', auditEvents=[event(i) for i in range(100)])
print(json.dumps({
    'first': len(first['successful']), 'first_failed': first['failed'],
    'second': len(second['successful']), 'second_failed': [(f['id'], f['errorCode']) for f in second['failed']],
    'again': len(again['successful']),
    'same_ids': [s['eventID'] for s in again['successful']] == [s['eventID'] for s in first['successful']],
    'wrong_external': call(c, channelArn=arn, externalId='snyk-org-2', auditEvents=[event(1)]),
    'no_external': call(c, channelArn=arn, auditEvents=[event(1)]),
    'wrong_secret': call(client(secret='not-the-secret'), channelArn=arn, externalId='snyk-org-1', auditEvents=[event(1)]),
    'too_many': call(c, channelArn=arn, externalId='snyk-org-1', auditEvents=[event(i) for i in range(101)]),
    'twice_in_one_call': call(c, channelArn=arn, externalId='snyk-org-1', auditEvents=[event(1), event(1)]),
    'unknown_channel': call(c, channelArn=arn[:-4] + '0000', externalId='snyk-org-1', auditEvents=[event(1)]),
    'not_a_channel': call(c, channelArn='arn:aws:cloudtrail:us-east-1:1:eventdatastore/x', auditEvents=[event(1)]),
    'other_account': call(c, channelArn=arn, externalId='snyk-org-1', auditEvents=[event(200, account='999988887777')])['failed'][0]['errorCode'],
    'metrics': urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics').read().decode(),
    'healthz': urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz').status,
}))
"#;
    let out: serde_json::Value = serde_json::from_str(&boto3(script, &[&served.port.to_string(), &arn])).unwrap();
    assert_eq!(out["first"], 100);
    assert_eq!(out["first_failed"], serde_json::json!([]));
    assert_eq!(out["second"], 49);
    assert_eq!(out["second_failed"], serde_json::json!([["ev-107", "InvalidChecksum"]]));
    assert_eq!(out["again"], 100, "a resent batch is answered as successful");
    assert_eq!(out["same_ids"], true, "with the same eventIDs");
    assert_eq!(out["wrong_external"], "ChannelInsufficientPermission");
    assert_eq!(out["no_external"], "ChannelInsufficientPermission");
    assert_eq!(out["wrong_secret"], "InvalidSignatureException");
    assert_eq!(out["too_many"], "ValidationException");
    assert_eq!(out["twice_in_one_call"], "DuplicatedAuditEventId");
    assert_eq!(out["unknown_channel"], "ChannelNotFound");
    assert_eq!(out["not_a_channel"], "InvalidChannelARN");
    assert_eq!(out["other_account"], "InvalidRecipient");
    assert_eq!(out["healthz"], 200);
    let metrics = out["metrics"].as_str().unwrap();
    assert!(metrics.contains("tarn_events_accepted_total{operation=\"serve\"} 249"), "{metrics}");
    assert!(metrics.contains("tarn_events_failed_total{code=\"InvalidChecksum\"} 1"), "{metrics}");
    assert!(metrics.contains("tarn_rows_committed_total{operation=\"serve\"} 149"), "{metrics}");
    assert!(metrics.contains("tarn_requests_total{operation=\"PutAuditEvents\",code=\"ChannelNotFound\"} 1"), "{metrics}");
    drop(served);

    // 150 sent, one refused, a batch resent: 149 rows, each once.
    assert_eq!(s.count(&format!("select count(*) from {store}")), 149);
    assert_eq!(s.count(&format!("select count(distinct eventdata.uid) from {store}")), 149);
    assert_eq!(s.count(&format!("select count(*) from {store} where metadata.channelarn = '{arn}'")), 149);
    // Snyk's own sample query for a channel's store.
    let sample = s.rows(&format!(
        "select eventtime, eventdata.useridentity, eventdata.eventname, eventdata.additionaleventdata from {store} order by eventTime desc limit 10"
    ));
    assert_eq!(sample.len(), 10);
    assert!(sample[0][0].starts_with("2026-11-30 10:59:00"), "{sample:?}");
    // Lake's columns: the JSON fields are maps of JSON text.
    let nested = s.rows(&format!(
        "select json_extract_scalar(element_at(eventdata.additionaleventdata, 'nested'), '$.x'), eventdata.useridentity.details['org'], eventcategory, eventtype, awsregion, recipientaccountid \
         from {store} where eventdata.uid = 'uid-3'"
    ));
    assert_eq!(nested, vec![vec!["1", "acme", "ActivityAuditLog", "ActivityLog", "us-east-1", "111122223333"]]);
    assert_eq!(s.count("select count(*) from quarantine"), 0);
}

#[test]
fn a_tampered_body_a_stale_signature_and_an_unsigned_call_are_refused() {
    let s = Scratch::new("serve-sigv4");
    let (_, arn) = channel(&s, &[]);
    let served = start(&s, &["serve", "--listen", "127.0.0.1:0"], &[("TARN_SESSION_TOKEN", "session-1")]);
    let script = r#"
import datetime
arn = sys.argv[2]
result = {}
good = client(token='session-1')
result['with_token'] = len(call(good, channelArn=arn, auditEvents=[event(1)])['successful'])
result['other_token'] = call(client(token='session-2'), channelArn=arn, auditEvents=[event(2)])
result['no_token'] = call(client(), channelArn=arn, auditEvents=[event(2)])
# The body changed after botocore signed it.
tampered = client(token='session-1')
def tamper(request, **kwargs):
    request.body = request.body.replace(b'uid-3', b'uid-4')
tampered.meta.events.register('before-send.cloudtrail-data.PutAuditEvents', tamper)
result['tampered'] = call(tampered, channelArn=arn, auditEvents=[event(3)])
# Signed by botocore 20 minutes ago.
real_now = botocore.auth.get_current_datetime
botocore.auth.get_current_datetime = lambda *a, **k: real_now(*a, **k) - datetime.timedelta(minutes=20)
result['stale'] = call(client(token='session-1'), channelArn=arn, auditEvents=[event(4)])
botocore.auth.get_current_datetime = real_now
result['unsigned'] = call(client(config=Config(signature_version=botocore.UNSIGNED)), channelArn=arn, auditEvents=[event(5)])
print(json.dumps(result))
"#;
    let out: serde_json::Value = serde_json::from_str(&boto3(script, &[&served.port.to_string(), &arn])).unwrap();
    assert_eq!(out["with_token"], 1);
    assert_eq!(out["other_token"], "UnrecognizedClientException");
    assert_eq!(out["no_token"], "UnrecognizedClientException");
    assert_eq!(out["tampered"], "InvalidSignatureException");
    assert_eq!(out["stale"], "InvalidSignatureException");
    assert_eq!(out["unsigned"], "MissingAuthenticationTokenException");
    drop(served);
    assert_eq!(s.rows("select eventdata.uid from aws_activityauditlog"), vec![vec!["uid-1"]]);
}

#[test]
fn tarn_run_serves_channels_over_tls_from_the_serve_section() {
    let s = Scratch::new("serve-run-tls");
    let (store, arn) = channel(&s, &[]);
    let make_cert = r#"
import datetime, ipaddress
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'tarn test')])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
    .not_valid_after(now + datetime.timedelta(days=1))
    .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address('127.0.0.1'))]), critical=False)
    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    .sign(key, hashes.SHA256()))
open(sys.argv[2] + '/cert.pem', 'wb').write(cert.public_bytes(serialization.Encoding.PEM))
open(sys.argv[2] + '/key.pem', 'wb').write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
"#;
    let dir = s.path("").display().to_string();
    boto3(make_cert, &["0", &dir]);
    std::fs::write(s.path("tarn.yml"), "serve:\n  listen: 127.0.0.1:0\n  tls_cert: cert.pem\n  tls_key: key.pem\n  dedupe_window: 1h\n")
        .unwrap();
    let served = start(&s, &["run"], &[]);
    let script = r#"
import ssl
arn, cert = sys.argv[2], sys.argv[3]
c = boto3.client('cloudtrail-data', endpoint_url=f'https://127.0.0.1:{port}', region_name='eu-west-1', verify=cert,
    aws_access_key_id='AKIDTARNTEST', aws_secret_access_key='tarn-test-secret')
r = c.put_audit_events(channelArn=arn, auditEvents=[event(i) for i in range(3)])
context = ssl.create_default_context(cafile=cert)
healthz = urllib.request.urlopen(f'https://127.0.0.1:{port}/healthz', context=context).read().decode().strip()
try:
    urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=5)
    plain = 'answered'
except Exception:
    plain = 'refused'
print(json.dumps({'successful': len(r['successful']), 'healthz': healthz, 'plain': plain}))
"#;
    let cert = s.path("cert.pem").display().to_string();
    let out: serde_json::Value = serde_json::from_str(&boto3(script, &[&served.port.to_string(), &arn, &cert])).unwrap();
    assert_eq!(out, serde_json::json!({"successful": 3, "healthz": "ok", "plain": "refused"}));
    drop(served);
    assert_eq!(s.count(&format!("select count(*) from {store}")), 3);
}

#[test]
fn an_event_resent_after_the_dedupe_window_lands_again() {
    let s = Scratch::new("serve-window");
    let (store, arn) = channel(&s, &[]);
    let served = start(&s, &["serve", "--listen", "127.0.0.1:0", "--dedupe-window", "2s"], &[]);
    let script = r#"
import time
arn = sys.argv[2]
c = client()
answers = [len(call(c, channelArn=arn, auditEvents=[event(1)])['successful'])]
answers.append(len(call(c, channelArn=arn, auditEvents=[event(1)])['successful']))
time.sleep(3)
answers.append(len(call(c, channelArn=arn, auditEvents=[event(1)])['successful']))
print(json.dumps(answers))
"#;
    let out = boto3(script, &[&served.port.to_string(), &arn]);
    assert_eq!(out.trim(), "[1, 1, 1]");
    drop(served);
    assert_eq!(s.count(&format!("select count(*) from {store}")), 2, "once within the window, again after it");
    assert!(s.commits().iter().all(|c| c["until"].as_object().is_none_or(|u| u.len() <= 1)), "each commit remembers its own event");
}

#[test]
fn serving_off_loopback_needs_tls() {
    let s = Scratch::new("serve-tls");
    let (code, stderr) = s.fails(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("0.0.0.0:0 is not a loopback address, so tarn serves it only over TLS; give --tls-cert and --tls-key"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn a_crash_after_the_commit_and_a_sigkill_mid_stream_lose_and_double_nothing() {
    let s = Scratch::new("serve-crash");
    let (store, arn) = channel(&s, &[]);
    let send = r#"
arn, first, last = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = client()
answered = 0
for batch in range(first, last):
    try:
        r = call(c, channelArn=arn, auditEvents=[event(batch * 10 + i) for i in range(10)])
    except Exception as e:
        print('failed', type(e).__name__)
        break
    if isinstance(r, str) or r['failed']:
        break
    answered += 1
print(answered)
"#;
    let send_or_fail = |port: u16, first: u32, last: u32| boto3(send, &[&port.to_string(), &arn, &first.to_string(), &last.to_string()]);
    if cfg!(feature = "fault-injection") {
        // The commit lands, then tarn dies before it answers: the client
        // hears nothing and sends again.
        let served = start(&s, &["serve", "--listen", "127.0.0.1:0"], &[("TARN_FAIL_AFTER_COMMIT", "1")]);
        let out = send_or_fail(served.port, 0, 1);
        assert!(out.starts_with("failed"), "{out}");
        assert_eq!(s.count(&format!("select count(*) from {store}")), 10, "the batch was committed before the crash");
    }
    // SIGKILL while a client streams batches.
    let served = start(&s, &["serve", "--listen", "127.0.0.1:0", "--commit-interval-ms", "20"], &[]);
    let port = served.port;
    let streamed_arn = arn.clone();
    let streaming = std::thread::spawn(move || boto3(send, &[&port.to_string(), &streamed_arn, "0", "100000"]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while s.commits().len() < 6 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut served = served;
    served.child.kill().unwrap(); // SIGKILL
    served.child.wait().unwrap();
    let streamed = streaming.join().unwrap();
    let answered: u32 = streamed.lines().last().and_then(|n| n.trim().parse().ok()).unwrap_or_else(|| panic!("{streamed}"));
    let landed = s.count(&format!("select count(*) from {store}"));
    assert!(landed >= u64::from(answered) * 10, "{landed} rows, but {answered} batches were answered");
    // The client sends everything again: each event once.
    let restarted = start(&s, &["serve", "--listen", "127.0.0.1:0"], &[]);
    let last = answered + 5;
    let resent = boto3(send, &[&restarted.port.to_string(), &arn, "0", &last.to_string()]);
    assert_eq!(resent.trim(), last.to_string());
    drop(restarted);
    assert_eq!(s.count(&format!("select count(*) from {store}")), u64::from(last) * 10);
    assert_eq!(s.count(&format!("select count(distinct eventdata.uid) from {store}")), u64::from(last) * 10);
}
