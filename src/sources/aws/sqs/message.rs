//! SQS message bodies that announce S3 objects: S3 event notifications,
//! SNS-wrapped ones, CloudTrail's own SNS notification, EventBridge "Object
//! Created" events, and the test/validation messages that announce nothing;
//! and EventBridge events that carry a record themselves: Snyk's audit
//! events (its EventBridge integration sends the v1 audit-log record,
//! `orgId`/`groupId`, `event`, `created`, `content`, as `detail`), told by
//! their content rather than by the partner source name alone; and its issue
//! events (OCSF findings) for `Snyk.Issue`.

use crate::sources::aws::s3::ObjectRef;
use serde_json::Value;

/// What a message says.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Objects(Vec<ObjectRef>),
    /// Nothing to ingest (an S3 test event, CloudTrail's validation message);
    /// acknowledge and drop.
    Nothing(&'static str),
    /// A record the message carries itself.
    Record(Carried),
}

/// A record carried in an EventBridge event.
#[derive(Debug, Clone, PartialEq)]
pub struct Carried {
    /// The log type its content says it is.
    pub log_type: &'static str,
    /// The EventBridge event id: the same event delivered twice is one input.
    pub event_id: String,
    pub record: Value,
}

/// The prefix of the sources Snyk's EventBridge integration sends from.
const SNYK_SOURCE: &str = "aws.partner/snyk.io/";

/// The Snyk log type of an EventBridge event's `detail`, by its content: an
/// audit event has `event` and `created`, and `orgId` (an org's log) or only
/// `groupId` (the group's); an issue event is an OCSF finding (`class_uid`
/// 2001 or 2002 and a `finding` or `finding_info`), taken as Snyk's when
/// Snyk's source sent it or its product says Snyk.
fn snyk_kind(detail: &Value, from_snyk: bool) -> Option<&'static str> {
    let has = |name: &str| detail.get(name).is_some_and(|v| !v.is_null());
    if detail.get("event").is_some_and(Value::is_string) && has("created") {
        return match (has("orgId"), has("groupId")) {
            (true, _) => Some("Snyk.OrgAudit"),
            (false, true) => Some("Snyk.GroupAudit"),
            _ => None,
        };
    }
    let finding = matches!(detail.get("class_uid").and_then(Value::as_u64), Some(2001 | 2002)) && (has("finding") || has("finding_info"));
    let product = detail.pointer("/metadata/product/vendor_name").or_else(|| detail.pointer("/metadata/product/name"));
    let snyk_product = product.and_then(Value::as_str).is_some_and(|p| p.eq_ignore_ascii_case("snyk"));
    (finding && (from_snyk || snyk_product)).then_some("Snyk.Issue")
}

const VALIDATION: &str = "CloudTrail validation message.";

/// Reads one message body.
pub fn parse(body: &str) -> Result<Notice, String> {
    if body.trim() == VALIDATION {
        return Ok(Notice::Nothing("CloudTrail validation message"));
    }
    let value: Value = serde_json::from_str(body).map_err(|e| format!("the message is not JSON: {e}"))?;
    read(&value, 0)
}

fn read(value: &Value, depth: u8) -> Result<Notice, String> {
    let text = |v: &Value, name: &str| v.get(name).and_then(Value::as_str).map(str::to_string);
    // SNS envelope: the payload is a string in Message.
    if value.get("Type").and_then(Value::as_str) == Some("Notification") && depth == 0 {
        let message = text(value, "Message").ok_or("an SNS notification without a Message")?;
        if message.trim() == VALIDATION {
            return Ok(Notice::Nothing("CloudTrail validation message"));
        }
        let inner: Value = serde_json::from_str(&message).map_err(|e| format!("the SNS Message is not JSON: {e}"))?;
        return read(&inner, depth + 1);
    }
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Notice::Nothing("S3 test event"));
    }
    if let Some(records) = value.get("Records").and_then(Value::as_array) {
        let mut objects = Vec::new();
        for record in records {
            let name = text(record, "eventName").unwrap_or_default();
            if !name.is_empty() && !name.starts_with("ObjectCreated") {
                continue; // removals and other events announce nothing to ingest
            }
            let s3 = record.get("s3").ok_or("an S3 notification record without `s3`")?;
            let bucket = s3.get("bucket").and_then(|b| text(b, "name")).ok_or("an S3 notification without s3.bucket.name")?;
            let object = s3.get("object").ok_or("an S3 notification without s3.object")?;
            let key = text(object, "key").ok_or("an S3 notification without s3.object.key")?;
            objects.push(ObjectRef {
                bucket,
                key: form_decode(&key)?,
                size: object.get("size").and_then(Value::as_u64),
                etag: text(object, "eTag").map(|e| e.trim_matches('"').to_string()),
            });
        }
        return Ok(Notice::Objects(objects));
    }
    if let (Some(bucket), Some(keys)) = (text(value, "s3Bucket"), value.get("s3ObjectKey").and_then(Value::as_array)) {
        // CloudTrail's own notification: keys are not encoded, and there is no size.
        let objects = keys
            .iter()
            .filter_map(Value::as_str)
            .map(|key| ObjectRef { bucket: bucket.clone(), key: key.to_string(), size: None, etag: None })
            .collect();
        return Ok(Notice::Objects(objects));
    }
    if let (Some(detail), Some(event_id)) = (value.get("detail"), text(value, "id")) {
        let source = text(value, "source").unwrap_or_default();
        if let Some(log_type) = snyk_kind(detail, source.starts_with(SNYK_SOURCE)) {
            return Ok(Notice::Record(Carried { log_type, event_id, record: detail.clone() }));
        }
        if source.starts_with(SNYK_SOURCE) {
            return Err(format!(
                "an event from {source} that is neither a Snyk audit event (event, created, orgId or groupId) nor an issue event (an OCSF finding)"
            ));
        }
    }
    if value.get("source").and_then(Value::as_str) == Some("aws.s3") {
        let detail = value.get("detail").ok_or("an EventBridge event without detail")?;
        if text(value, "detail-type").as_deref() != Some("Object Created") {
            return Ok(Notice::Nothing("EventBridge event other than Object Created"));
        }
        let bucket = detail.get("bucket").and_then(|b| text(b, "name")).ok_or("an EventBridge event without detail.bucket.name")?;
        let object = detail.get("object").ok_or("an EventBridge event without detail.object")?;
        let key = text(object, "key").ok_or("an EventBridge event without detail.object.key")?;
        return Ok(Notice::Objects(vec![ObjectRef {
            bucket,
            key: form_decode(&key)?,
            size: object.get("size").and_then(Value::as_u64),
            etag: text(object, "etag").map(|e| e.trim_matches('"').to_string()),
        }]));
    }
    Err("not an S3, SNS, CloudTrail or EventBridge notification".to_string())
}

/// Decodes a form-encoded key: `+` is a space, then percent-decoding, then UTF-8.
pub fn form_decode(key: &str) -> Result<String, String> {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("the key '{key}' does not decode to UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(body: &str) -> Vec<(String, String)> {
        match parse(body).unwrap() {
            Notice::Objects(objects) => objects.into_iter().map(|o| (o.bucket, o.key)).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn snyk_audit_events_are_told_by_their_content_not_their_source() {
        let event = |source: &str, detail: Value| {
            serde_json::json!({"version": "0", "id": "e-1", "detail-type": "x", "source": source, "detail": detail}).to_string()
        };
        let org = serde_json::json!({"orgId": "o", "groupId": "g", "event": "org.user.add", "created": "2026-11-30T10:00:00Z"});
        let group = serde_json::json!({"orgId": null, "groupId": "g", "event": "group.user.add", "created": "2026-11-30T10:00:00Z"});
        let kind = |body: String| match parse(&body).unwrap() {
            Notice::Record(carried) => (carried.log_type, carried.event_id),
            other => panic!("{other:?}"),
        };
        assert_eq!(kind(event("aws.partner/snyk.io/org_1/audit", org.clone())), ("Snyk.OrgAudit", "e-1".to_string()));
        // Relayed through a bus of the team's own: the content decides.
        assert_eq!(kind(event("custom.relay", org)).0, "Snyk.OrgAudit");
        assert_eq!(kind(event("aws.partner/snyk.io/org_1/audit", group)).0, "Snyk.GroupAudit");
        let issue = serde_json::json!({"class_uid": 2001, "finding": {"uid": "SNYK-1"}});
        assert_eq!(kind(event("aws.partner/snyk.io/org_1/issue", issue.clone())).0, "Snyk.Issue");
        // Another vendor's OCSF finding on a bus of the team's own is not Snyk's.
        assert!(parse(&event("custom.relay", issue)).is_err());
        let relayed =
            serde_json::json!({"class_uid": 2002, "finding_info": {"uid": "SNYK-1"}, "metadata": {"product": {"vendor_name": "Snyk"}}});
        assert_eq!(kind(event("custom.relay", relayed)).0, "Snyk.Issue");
        let other = serde_json::json!({"what": 1});
        assert!(parse(&event("aws.partner/snyk.io/org_1/x", other.clone())).unwrap_err().contains("neither a Snyk audit event"));
        // Another service's event with a detail is not taken for Snyk's.
        assert!(parse(&event("aws.ec2", other)).unwrap_err().contains("not an S3, SNS, CloudTrail or EventBridge notification"));
    }

    #[test]
    fn keys_are_form_decoded() {
        assert_eq!(form_decode("AWSLogs%2F1%2Fa+b%C3%A9.json.gz").unwrap(), "AWSLogs/1/a bé.json.gz");
        assert_eq!(form_decode("100%").unwrap(), "100%");
        assert_eq!(form_decode("a%2").unwrap(), "a%2");
    }

    #[test]
    fn every_shape() {
        let s3 = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k+1","size":5,"eTag":"\"e\""}}},{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"gone"}}}]}"#;
        assert_eq!(objects(s3), vec![("b".into(), "k 1".into())]);
        let sns = serde_json::json!({"Type": "Notification", "TopicArn": "arn:aws:sns:x", "Message": s3}).to_string();
        assert_eq!(objects(&sns), vec![("b".into(), "k 1".into())]);
        let trail = serde_json::json!({"Type": "Notification", "Message": r#"{"s3Bucket":"t","s3ObjectKey":["a b","c"]}"#}).to_string();
        assert_eq!(objects(&trail), vec![("t".into(), "a b".into()), ("t".into(), "c".into())]);
        let bridge = r#"{"version":"0","detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"e"},"object":{"key":"x","size":5,"etag":"f"}}}"#;
        assert_eq!(objects(bridge), vec![("e".into(), "x".into())]);
        assert_eq!(parse(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#).unwrap(), Notice::Nothing("S3 test event"));
        let validation = serde_json::json!({"Type": "Notification", "Message": "CloudTrail validation message."}).to_string();
        assert_eq!(parse(&validation).unwrap(), Notice::Nothing("CloudTrail validation message"));
        assert!(parse("hello").unwrap_err().starts_with("the message is not JSON"));
        assert_eq!(parse(r#"{"a":1}"#).unwrap_err(), "not an S3, SNS, CloudTrail or EventBridge notification");
    }
}
