//! The record path end to end (issue 13, "the record path, rebuilt: lossless,
//! bounded"): `tarn ingest file` on inputs built byte by byte, each test named
//! after the bug it guards against. Every test checks the rows that landed
//! (count and distinct eventIDs: no record lands twice), the quarantine rows
//! (count and the start of their reason), and the exit code.

mod common;

use common::{Scratch, text};
use sha2::{Digest, Sha256};
use std::io::Write;

/// Where CloudTrail writes an object, so tarn knows its log type from the key.
fn key(name: &str) -> String {
    format!("logs/AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/17/111122223333_CloudTrail_us-east-1_20261117T0305Z_{name}")
}

/// A CloudTrail record (a data event, as CloudTrail writes it: its keys in
/// CloudTrail's order) with eventID `{tag}-{i:04}`; `payload` goes in its
/// requestParameters (to make it large).
fn event_with(tag: &str, i: usize, event_time: &str, payload: &str) -> String {
    format!(
        concat!(
            r#"{{"eventVersion":"1.08","userIdentity":{{"type":"AssumedRole","principalId":"AROAEXAMPLEID:alice","#,
            r#""arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE{i:05}","#,
            r#""sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"AROAEXAMPLEID","arn":"arn:aws:iam::111122223333:role/Admin","#,
            r#""accountId":"111122223333","userName":"Admin"}},"attributes":{{"creationDate":"2026-11-17T02:00:00Z","mfaAuthenticated":"false"}}}}}},"#,
            r#""eventTime":"{time}","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","#,
            r#""sourceIPAddress":"192.0.2.10","userAgent":"aws-cli/2.15.0 Python/3.11.6","#,
            r#""requestParameters":{{"bucketName":"trail-bucket","key":"objects/{i}","x-amz-meta":"{payload}"}},"responseElements":null,"#,
            r#""additionalEventData":{{"bytesTransferredIn":0,"bytesTransferredOut":{i}}},"requestID":"REQ{i:08}","eventID":"{tag}-{i:04}","#,
            r#""readOnly":true,"resources":[{{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::trail-bucket/objects/{i}"}},"#,
            r#"{{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::trail-bucket"}}],"#,
            r#""eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"111122223333","eventCategory":"Data"}}"#
        ),
        i = i,
        tag = tag,
        time = event_time,
        payload = payload
    )
}

/// A CloudTrail record of an hour's minute `i` (mod 3600 seconds).
fn event(tag: &str, i: usize) -> String {
    event_with(tag, i, &format!("2026-11-17T03:{:02}:{:02}Z", i / 60 % 60, i % 60), "")
}

/// `n` records tagged `tag`, as bytes.
fn events(tag: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| event(tag, i).into_bytes()).collect()
}

/// `record` with the first `from` replaced by `to` (bytes, so invalid UTF-8 can go in).
fn spliced(record: &[u8], from: &str, to: &[u8]) -> Vec<u8> {
    let at = record.windows(from.len()).position(|w| w == from.as_bytes()).unwrap_or_else(|| panic!("{from} is not in the record"));
    [&record[..at], to, &record[at + from.len()..]].concat()
}

/// `{"Records":[...]}` of the records.
fn records_file(records: &[Vec<u8>]) -> Vec<u8> {
    [b"{\"Records\":[".as_slice(), &records.join(&b","[..]), b"]}"].concat()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Writes `bytes` at `relative` (directories made), returning the path as given to tarn.
fn put(s: &Scratch, relative: &str, bytes: &[u8]) -> String {
    let path = s.path(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    relative.to_string()
}

/// What one `tarn` run did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `tarn ingest file <args>`.
fn ingest(s: &Scratch, args: &[&str]) -> Run {
    let output = s.tarn(&[&["ingest", "file"], args].concat()).output().unwrap();
    Run { code: output.status.code().unwrap_or(-1), stdout: text(&output.stdout), stderr: text(&output.stderr) }
}

/// `tarn ingest file <args>` expecting exit code 0 and no warnings.
fn ingest_ok(s: &Scratch, args: &[&str]) -> Run {
    let run = ingest(s, args);
    assert_eq!(run.code, 0, "tarn ingest file {args:?}: {}{}", run.stdout, run.stderr);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    run
}

/// The CloudTrail rows and their distinct eventIDs.
fn landed(s: &Scratch) -> (u64, u64) {
    let row = &s.rows("select count(*), count(distinct eventid) from aws_cloudtrail")[0];
    (row[0].parse().unwrap(), row[1].parse().unwrap())
}

/// A quarantine row: where its record sat, why it was refused, its bytes.
#[derive(Debug)]
struct Quarantined {
    position: u64,
    reason: String,
    raw: String,
}

fn quarantined(s: &Scratch) -> Vec<Quarantined> {
    let json = s.ok(&["query", "select p_source_position, reason, raw from quarantine order by 1", "--format", "json"]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    rows.iter()
        .map(|r| Quarantined {
            position: r["p_source_position"].as_u64().unwrap(),
            reason: r["reason"].as_str().unwrap().to_string(),
            raw: r["raw"].as_str().unwrap().to_string(),
        })
        .collect()
}

/// The lake's commit lines.
fn commits(s: &Scratch) -> Vec<serde_json::Value> {
    match std::fs::read_to_string(s.path("lake/_tarn/log.jsonl")) {
        Ok(log) => log.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Every input the lake's ledger holds as consumed.
fn ledger(s: &Scratch) -> Vec<String> {
    commits(s).iter().flat_map(|c| c["inputs"].as_array().unwrap().iter().map(|i| i.as_str().unwrap().to_string())).collect()
}

/// A file's identity in the ledger.
fn content_hash(bytes: &[u8]) -> String {
    format!("sha256:{}", Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>())
}

#[test]
fn invalid_utf8_in_one_record_lost_the_rest_of_the_file() {
    let s = Scratch::new("rp-utf8");
    let mut records = events("u", 9);
    records[4] = spliced(&records[4], "aws-cli/2.15.0", b"aws-cli/2.\xff15.0");
    let file = put(&s, &key("utf8.json.gz"), &gzip(&records_file(&records)));
    let run = ingest_ok(&s, &[&file]);
    assert!(run.stdout.contains("ingested 8 rows from 1 files in 1 commits; 1 records quarantined"), "{}", run.stdout);
    assert_eq!(landed(&s), (8, 8));
    assert_eq!(s.count("select count(*) from aws_cloudtrail where eventid = 'u-0004'"), 0);
    let q = quarantined(&s);
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].position, 5, "the fifth record");
    assert!(q[0].reason.starts_with("not JSON"), "{}", q[0].reason);
    assert!(q[0].raw.contains("\"eventID\":\"u-0004\"") && q[0].raw.contains("aws-cli/2.\u{fffd}15.0"), "{}", q[0].raw);

    // The file was consumed once: a rerun adds nothing.
    let again = ingest_ok(&s, &[&file]);
    assert!(again.stdout.contains("ingested 0 rows") && again.stdout.contains("1 files already in the lake"), "{}", again.stdout);
    assert_eq!(landed(&s), (8, 8));
    assert_eq!(quarantined(&s).len(), 1);
}

#[test]
fn nan_infinity_control_bytes_and_broken_numbers_lost_the_rest_of_the_file() {
    let s = Scratch::new("rp-nan");
    let mut records = events("n", 12);
    let bad: [(usize, &str, &[u8]); 5] = [
        (1, "\"bytesTransferredIn\":0", b"\"bytesTransferredIn\":NaN"),
        (3, "\"bytesTransferredIn\":0", b"\"bytesTransferredIn\":Infinity"),
        (5, "aws-cli/2.15.0", b"aws-cli/2.15.0\x01"),
        (7, "\"bytesTransferredIn\":0", b"\"bytesTransferredIn\":1.2.3"),
        (9, "\"bytesTransferredIn\":0", b"\"bytesTransferredIn\":-Infinity"),
    ];
    for (i, from, to) in bad {
        records[i] = spliced(&records[i], from, to);
    }
    let file = put(&s, &key("nan.json.gz"), &gzip(&records_file(&records)));
    let run = ingest_ok(&s, &[&file]);
    assert!(run.stdout.contains("ingested 7 rows from 1 files in 1 commits; 5 records quarantined"), "{}", run.stdout);
    assert_eq!(landed(&s), (7, 7));
    let q = quarantined(&s);
    assert_eq!(q.iter().map(|q| q.position).collect::<Vec<_>>(), vec![2, 4, 6, 8, 10], "{q:?}");
    for (q, (i, _, _)) in q.iter().zip(bad) {
        assert!(q.reason.starts_with("not JSON"), "{q:?}");
        assert!(q.raw.contains(&format!("\"eventID\":\"n-{i:04}\"")), "one quarantine row per bad record: {q:?}");
    }
    assert_eq!(
        s.count("select count(*) from aws_cloudtrail where eventid in ('n-0000','n-0002','n-0004','n-0006','n-0008','n-0010','n-0011')"),
        7
    );
}

#[test]
fn an_unterminated_string_in_a_middle_record_lost_the_records_after_it() {
    let s = Scratch::new("rp-string");
    let mut records = events("s", 9);
    // The closing quote of userAgent is gone: every quote after it pairs wrongly.
    records[4] = spliced(&records[4], "Python/3.11.6\",", b"Python/3.11.6,");
    let file = put(&s, &key("string.json.gz"), &gzip(&records_file(&records)));
    let run = ingest_ok(&s, &[&file]);
    assert!(run.stdout.contains("ingested 8 rows from 1 files in 1 commits; 1 records quarantined"), "{}", run.stdout);
    assert_eq!(landed(&s), (8, 8));
    assert_eq!(s.count("select count(*) from aws_cloudtrail where eventid > 's-0004'"), 4, "every record after the broken one");
    let q = quarantined(&s);
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].position, 5);
    assert!(q[0].reason.starts_with("not JSON"), "{}", q[0].reason);
    assert!(q[0].raw.starts_with("{\"eventVersion\"") && q[0].raw.contains("s-0004") && !q[0].raw.contains("s-0005"), "{}", q[0].raw);
}

#[test]
fn unbalanced_brackets_in_a_middle_record_lost_the_records_after_it() {
    let s = Scratch::new("rp-brackets");
    let mut records = events("b", 9);
    records[2] = spliced(&records[2], "\"x-amz-meta\":\"\"}", b"\"x-amz-meta\":\"\"]");
    records[6] = spliced(&records[6], "\"mfaAuthenticated\":\"false\"}", b"\"mfaAuthenticated\":\"false\"");
    let file = put(&s, &key("brackets.json"), &records_file(&records));
    let run = ingest_ok(&s, &[&file]);
    assert!(run.stdout.contains("ingested 7 rows from 1 files in 1 commits; 2 records quarantined"), "{}", run.stdout);
    assert_eq!(landed(&s), (7, 7));
    let q = quarantined(&s);
    assert_eq!(q.iter().map(|q| q.position).collect::<Vec<_>>(), vec![3, 7], "{q:?}");
    assert!(q.iter().all(|q| q.reason.starts_with("not JSON")), "{q:?}");
}

#[test]
fn a_second_records_key_was_dropped() {
    let s = Scratch::new("rp-second-key");
    let first: Vec<Vec<u8>> = (0..5).map(|i| event("k", i).into_bytes()).collect();
    let second: Vec<Vec<u8>> = (5..10).map(|i| event("k", i).into_bytes()).collect();
    let text = [
        b"{\"Records\":[".as_slice(),
        &first.join(&b","[..]),
        b"],\"Other\":{\"x\":[1,{\"y\":\"]}\"}]},\"Records\":[",
        &second.join(&b","[..]),
        b"]}",
    ]
    .concat();
    let file = put(&s, &key("second-key.json.gz"), &gzip(&text));
    let run = ingest_ok(&s, &[&file]);
    assert!(run.stdout.contains("ingested 10 rows from 1 files in 1 commits; 0 records quarantined"), "{}", run.stdout);
    assert_eq!(landed(&s), (10, 10));
    assert!(quarantined(&s).is_empty());
}

#[test]
fn a_second_records_key_after_another_first_key_was_dropped() {
    let s = Scratch::new("rp-second-key-late");
    let first: Vec<Vec<u8>> = (0..5).map(|i| event("l", i).into_bytes()).collect();
    let second: Vec<Vec<u8>> = (5..10).map(|i| event("l", i).into_bytes()).collect();
    // The wrapper does not open with "Records": it is framed whole first.
    let text =
        [b"{\"Other\":1,\"Records\":[".as_slice(), &first.join(&b","[..]), b"],\"Records\":[", &second.join(&b","[..]), b"]}"].concat();
    let file = put(&s, &key("second-key-late.json"), &text);
    let run = ingest_ok(&s, &[&file]);
    assert!(run.stdout.contains("ingested 10 rows from 1 files in 1 commits; 0 records quarantined"), "{}", run.stdout);
    assert_eq!(landed(&s), (10, 10));
}

#[test]
fn several_documents_or_gzip_members_in_one_file_lost_all_but_the_first() {
    let s = Scratch::new("rp-documents");
    let doc = |tag: &str, from: usize| records_file(&(from..from + 5).map(|i| event(tag, i).into_bytes()).collect::<Vec<_>>());
    let glued = put(&s, &key("glued.json.gz"), &gzip(&[doc("g", 0), doc("g", 5)].concat()));
    let lines = put(&s, &key("lines.json"), &[doc("n", 0), b"\n".to_vec(), doc("n", 5), b"\n".to_vec()].concat());
    // `cat a.json.gz b.json.gz`: two gzip members, each a whole document.
    let members = put(&s, &key("members.json.gz"), &[gzip(&doc("m", 0)), gzip(&doc("m", 5))].concat());
    let run = ingest_ok(&s, &[&glued, &lines, &members]);
    assert!(run.stdout.contains("ingested 30 rows from 3 files in 1 commits; 0 records quarantined"), "{}", run.stdout);
    assert_eq!(landed(&s), (30, 30));
    let per_file =
        s.rows("select substr(eventid, 1, 1), count(*), count(distinct p_source_file) from aws_cloudtrail group by 1 order by 1");
    let expected: Vec<Vec<String>> = ["g", "m", "n"].iter().map(|t| vec![t.to_string(), "10".into(), "1".into()]).collect();
    assert_eq!(per_file, expected, "10 of 10 from each file");
    assert!(quarantined(&s).is_empty());
}

#[test]
fn an_ndjson_line_with_invalid_utf8_lost_the_lines_after_it() {
    let s = Scratch::new("rp-ndjson");
    let mut lines = events("j", 10);
    lines[3] = spliced(&lines[3], "trail-bucket", b"trail-\xc3\x28bucket");
    // And a line whose string never ends: the next line starts a record all the same.
    lines[6] = spliced(&lines[6], "Python/3.11.6\",", b"Python/3.11.6,");
    let file = put(&s, "events.ndjson", &[lines.join(&b"\n"[..]), b"\n".to_vec()].concat());
    let run = ingest_ok(&s, &[&file, "--log-type", "AWS.CloudTrail"]);
    assert!(run.stdout.contains("ingested 8 rows from 1 files in 1 commits; 2 records quarantined"), "{}", run.stdout);
    assert_eq!(landed(&s), (8, 8));
    let q = quarantined(&s);
    assert_eq!(q.iter().map(|q| q.position).collect::<Vec<_>>(), vec![4, 7], "their line numbers: {q:?}");
    assert!(q.iter().all(|q| q.reason.starts_with("not JSON")), "{q:?}");
    assert_eq!(s.count("select count(*) from aws_cloudtrail where eventid > 'j-0006'"), 3, "the lines after the bad ones");
}

/// 1,000 CloudTrail records as one `{"Records":[...]}` text.
fn thousand_events(tag: &str) -> Vec<u8> {
    records_file(&events(tag, 1000))
}

/// A cut file is skipped whole: exit 2, its name and "cut off" on stderr,
/// nothing of it in the tables, the quarantine or the ledger.
fn assert_cut_file_skipped(s: &Scratch, name: &str, bytes: &[u8], args: &[&str]) {
    let file = put(s, name, bytes);
    let run = ingest(s, &[&[file.as_str()], args].concat());
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let warning = run.stderr.lines().find(|l| l.contains(&file)).unwrap_or_else(|| panic!("the file is named: {}", run.stderr));
    assert!(
        warning.starts_with("warning: ") && warning.contains("skipped, nothing of it landed") && warning.contains("cut off"),
        "{warning}"
    );
    assert!(run.stdout.contains("ingested 0 rows from 0 files") && run.stdout.contains("1 files failed"), "{}", run.stdout);
    assert_eq!(landed(s), (0, 0));
    assert!(quarantined(s).is_empty());
    assert!(!ledger(s).contains(&content_hash(bytes)), "a cut file is not marked consumed");
    std::fs::remove_file(s.path(name)).unwrap();
}

#[test]
fn a_cut_gzip_landed_part_of_the_file_and_marked_it_consumed() {
    let s = Scratch::new("rp-cut-gzip");
    let whole = gzip(&thousand_events("c"));
    for cut in [whole.len() / 10, whole.len() * 6 / 10, whole.len() - 100, whole.len() - 4] {
        assert_cut_file_skipped(&s, &key(&format!("cut-{cut}.json.gz")), &whole[..cut], &[]);
    }
    assert!(commits(&s).is_empty(), "nothing was committed");
    let file = put(&s, &key("whole.json.gz"), &whole);
    let run = ingest_ok(&s, &[&file]);
    assert!(run.stdout.contains("ingested 1000 rows from 1 files"), "{}", run.stdout);
    assert_eq!(landed(&s), (1000, 1000));
    assert!(quarantined(&s).is_empty());
    assert!(ledger(&s).contains(&content_hash(&whole)));
}

#[test]
fn cut_plain_json_landed_part_of_the_file_and_marked_it_consumed() {
    let s = Scratch::new("rp-cut-json");
    let whole = thousand_events("p");
    let record_end = whole.windows(3).position(|w| w == b"},{").unwrap() + 2; // after the first record's comma
    for cut in [whole.len() / 2, whole.len() * 6 / 10, record_end, whole.len() - 2, whole.len() - 1] {
        assert_cut_file_skipped(&s, &format!("cut-{cut}.json"), &whole[..cut], &["--log-type", "AWS.CloudTrail"]);
    }
    let file = put(&s, "whole.json", &whole);
    ingest_ok(&s, &[&file, "--log-type", "AWS.CloudTrail"]);
    assert_eq!(landed(&s), (1000, 1000));
    assert!(quarantined(&s).is_empty());
}

#[test]
fn accept_partial_on_a_cut_gzip_lost_its_complete_records() {
    let s = Scratch::new("rp-partial");
    let whole = gzip(&thousand_events("a"));
    let cut = &whole[..whole.len() * 6 / 10];
    let file = put(&s, &key("cut.json.gz"), cut);
    let run = ingest_ok(&s, &[&file, "--accept-partial"]);
    let (rows, distinct) = landed(&s);
    assert!(rows > 0 && rows < 1000 && rows == distinct, "some complete records land, each once: {rows}");
    assert_eq!(rows, complete_records(&gunzip_what_is_there(cut)), "every record complete before the cut");
    assert!(run.stdout.contains(&format!("ingested {rows} rows from 1 files in 1 commits; 1 records quarantined")), "{}", run.stdout);
    // Exactly the first records, in order.
    assert_eq!(s.count(&format!("select count(*) from aws_cloudtrail where eventid < 'a-{rows:04}'")), rows);
    let q = quarantined(&s);
    assert_eq!(q.len(), 1, "{q:?}");
    assert!(q[0].reason.contains("cut off at byte") && q[0].reason.contains("--accept-partial"), "{}", q[0].reason);
    assert_eq!(q[0].position, rows + 1, "where the records stopped");
    assert!(ledger(&s).contains(&content_hash(cut)), "the cut file was accepted: it is consumed");

    // --accept-partial is the user's deliberate choice to keep what a cut
    // file holds. The whole file is other content (another hash), so it lands
    // too: its first records are then in the lake twice. tarn does not dedupe
    // by eventID; without --accept-partial the cut file would have landed
    // nothing and the whole file every record once.
    let file = put(&s, &key("whole.json.gz"), &whole);
    let run = ingest_ok(&s, &[&file]);
    assert!(run.stdout.contains("ingested 1000 rows from 1 files"), "{}", run.stdout);
    assert_eq!(landed(&s), (rows + 1000, 1000));
    // Nothing else arrives with a rerun of either.
    ingest_ok(&s, &[&key("cut.json.gz"), &key("whole.json.gz"), "--accept-partial"]);
    assert_eq!(landed(&s), (rows + 1000, 1000));

    // Plain JSON cut inside a record: the records before it land.
    let t = Scratch::new("rp-partial-json");
    let text = thousand_events("b");
    let cut = &text[..text.len() * 6 / 10];
    let file = put(&t, "cut.json", cut);
    ingest_ok(&t, &[&file, "--accept-partial", "--log-type", "AWS.CloudTrail"]);
    let rows = complete_records(cut);
    assert!(rows > 500);
    assert_eq!(landed(&t), (rows, rows));
    let q = quarantined(&t);
    assert!(q.len() == 1 && q[0].reason.contains("cut off at byte") && q[0].position == rows + 1, "{q:?}");
}

/// What a cut gzip decompresses to before its stream breaks off.
fn gunzip_what_is_there(cut: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut text = Vec::new();
    let failed = flate2::read::MultiGzDecoder::new(cut).read_to_end(&mut text);
    assert!(failed.is_err(), "the stream is cut");
    text
}

/// The records of `event` complete in `text`.
fn complete_records(text: &[u8]) -> u64 {
    let end = b"\"eventCategory\":\"Data\"}";
    text.windows(end.len()).filter(|w| w == end).count() as u64
}

#[test]
fn a_record_over_the_maximum_size_was_held_whole_in_memory() {
    let s = Scratch::new("rp-max-size");
    let big = event_with("m", 1, "2026-11-17T03:00:01Z", &"0123456789abcdef".repeat(1 << 16));
    assert!(big.len() > 1 << 20);
    let records = vec![event("m", 0).into_bytes(), big.clone().into_bytes(), event("m", 2).into_bytes(), event("m", 3).into_bytes()];
    let bytes = gzip(&records_file(&records));
    let file = put(&s, &key("big.json.gz"), &bytes);
    let run = ingest_ok(&s, &[&file, "--max-record-size", "64KB"]);
    assert!(run.stdout.contains("ingested 3 rows from 1 files in 1 commits; 1 records quarantined"), "{}", run.stdout);
    assert_eq!(landed(&s), (3, 3));
    let q = quarantined(&s);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].position, 2);
    assert!(
        q[0].reason.starts_with(&format!("the record is {} bytes, over the maximum record size of 65536 bytes", big.len()))
            && q[0].reason.contains("--max-record-size"),
        "{}",
        q[0].reason
    );
    assert!(q[0].raw.len() <= 4096 && q[0].raw.len() >= 1024, "only its first bytes: {}", q[0].raw.len());
    assert!(big.starts_with(&q[0].raw));

    // The file is consumed: the same lake takes nothing more from it, even
    // with a larger maximum (only --force would read it again).
    let again = ingest_ok(&s, &[&file, "--max-record-size", "2MB"]);
    assert!(again.stdout.contains("ingested 0 rows") && again.stdout.contains("1 files already in the lake"), "{}", again.stdout);
    // A lake that reads it with a larger maximum lands it.
    let t = Scratch::new("rp-max-size-raised");
    let file = put(&t, &key("big.json.gz"), &bytes);
    ingest_ok(&t, &[&file, "--max-record-size", "2MB"]);
    assert_eq!(landed(&t), (4, 4));
    assert!(quarantined(&t).is_empty());
    assert_eq!(t.count("select length(eventjson) from aws_cloudtrail where eventid = 'm-0001'"), big.len() as u64);
}

/// Records whose eventTime does not parse, each about `size` bytes.
fn refused_records(n: usize, size: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| event_with("q", i, "nope", &format!("{i:08}").repeat(size / 8)).into_bytes()).collect()
}

#[test]
fn quarantine_rows_of_a_chunk_were_held_and_written_as_one_piece() {
    let s = Scratch::new("rp-quarantine-pieces");
    // 150 MB of refused records: more than two pieces of 64 MB.
    let records = refused_records(150, 1 << 20);
    let file = put(&s, &key("refused.json"), &records_file(&records));
    let run = ingest_ok(&s, &[&file]);
    assert!(run.stdout.contains("ingested 0 rows from 1 files in 1 commits; 150 records quarantined"), "{}", run.stdout);
    assert_eq!(landed(&s), (0, 0));
    let rows = s.rows("select p_source_position, length(raw), substr(reason, 1, 19) from quarantine order by 1");
    assert_eq!(rows.len(), 150);
    for (row, (i, record)) in rows.iter().zip(records.iter().enumerate()) {
        assert_eq!(row, &vec![(i + 1).to_string(), record.len().to_string(), "field 'eventTime' h".to_string()], "raw intact");
    }
    assert_eq!(s.count("select count(*) from quarantine where raw like '%\"eventID\":\"q-0149\"%'"), 1);
    let commits = commits(&s);
    assert_eq!(commits.len(), 1);
    let pieces = commits[0]["add"].as_array().unwrap().iter().filter(|f| f["table"] == "quarantine").count();
    assert!(pieces >= 2, "the quarantine rows are written in pieces of about 64 MB: {pieces} files");
}

#[test]
fn a_batch_of_large_records_overflowed_its_string_offsets() {
    let s = Scratch::new("rp-large-batch");
    // 100 records of 1 MB: over BATCH_BYTES (64 MB) of record text, so the
    // batch is closed by bytes before its rows count does.
    let records: Vec<Vec<u8>> = (0..100)
        .map(|i| event_with("L", i, &format!("2026-11-17T03:00:{:02}Z", i % 60), &format!("{i:08}").repeat(1 << 17)).into_bytes())
        .collect();
    let total: usize = records.iter().map(Vec::len).sum();
    let file = put(&s, &key("large.json"), &records_file(&records));
    let run = ingest_ok(&s, &[&file]);
    assert!(run.stdout.contains("ingested 100 rows from 1 files in 1 commits; 0 records quarantined"), "{}", run.stdout);
    assert_eq!(landed(&s), (100, 100));
    assert_eq!(s.count("select sum(length(eventjson)) from aws_cloudtrail"), total as u64, "every record whole");
    assert!(quarantined(&s).is_empty());
}

#[test]
fn a_file_that_is_not_json_stopped_the_run() {
    let s = Scratch::new("rp-not-json");
    let good_a = put(&s, &key("a.json.gz"), &gzip(&records_file(&events("x", 10))));
    let garbage = put(&s, &key("b-garbage.json.gz"), b"Lorem ipsum dolor sit amet {\"Records\":[]}");
    let gzipped_garbage = put(&s, &key("c-garbage.json.gz"), &gzip(b"\x00\x01\x02\x03 binary, not JSON"));
    let good_d = put(&s, &key("d.json.gz"), &gzip(&records_file(&events("y", 10))));
    let run = ingest(&s, &[&good_a, &garbage, &gzipped_garbage, &good_d]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    for (bad, first) in [(&garbage, "0x4c"), (&gzipped_garbage, "0x00")] {
        let lines: Vec<&str> = run.stderr.lines().filter(|l| l.contains(bad.as_str())).collect();
        assert_eq!(lines.len(), 1, "{}", run.stderr);
        assert!(
            lines[0].starts_with("warning: ") && lines[0].contains("skipped: it is not JSON") && lines[0].contains(first),
            "{}",
            lines[0]
        );
    }
    assert!(
        run.stdout.contains("ingested 20 rows from 2 files in 1 commits; 0 records quarantined") && run.stdout.contains("2 files failed")
    );
    assert_eq!(landed(&s), (20, 20));
    assert!(quarantined(&s).is_empty());
    assert_eq!(ledger(&s).len(), 2, "only the good files are consumed");
}

#[test]
fn an_unterminated_string_in_the_last_record_of_a_complete_gzip_lost_the_file() {
    // The gzip stream is whole (its trailer checks out): the file is not cut, one record is broken.
    // Was: with the break after the record's `resources` (no `},{` follows it), the
    // file was "cut off" (exit 2, nothing landed, "it lands whole once complete");
    // with the break before it, the reader resynchronised at the nested
    // `},{` inside the broken record: 3 quarantine rows.
    for (name, from, to) in [("after-nesting", "AwsApiCall\",", "AwsApiCall,"), ("before-nesting", "Python/3.11.6\",", "Python/3.11.6,")] {
        let s = Scratch::new(&format!("rp-last-string-{name}"));
        let mut records = events("t", 5);
        records[4] = spliced(&records[4], from, to.as_bytes());
        let file = put(&s, &key("last-string.json.gz"), &gzip(&records_file(&records)));
        let run = ingest(&s, &[&file]);
        assert_eq!(run.code, 0, "{name}: {}{}", run.stdout, run.stderr);
        assert_eq!(landed(&s), (4, 4), "{name}");
        let q = quarantined(&s);
        assert!(q.len() == 1 && q[0].position == 5 && q[0].reason.starts_with("not JSON"), "{name}: {q:?}");
    }
}
