//! One event of a `PutAuditEvents` call: its `eventData` checked against
//! Lake's integration event schema (required fields, lengths, types, the
//! recipient account, the checksum), and the record tarn stores for it,
//! which wraps the caller's `eventData`, byte for byte, in the fields
//! CloudTrail adds (`eventID`, `eventTime`, `awsRegion`, `metadata`, ...).
//! Field names and limits: "CloudTrail Lake integrations event schema",
//! <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/query-integration-event-schema.html>.

use crate::catalog::channels::Channel;
use base64::Engine;
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// Why an event is refused: one of the error codes CloudTrail Data names,
/// and a message for the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub code: &'static str,
    pub message: String,
}

fn refused(code: &'static str, message: String) -> Refused {
    Refused { code, message }
}

/// Text fields of `eventData` and their longest length; `true` if required.
const TEXT_FIELDS: &[(&str, usize, bool)] = &[
    ("version", 256, true),
    ("userAgent", 1024, false),
    ("eventSource", 1024, true),
    ("eventName", 1024, true),
    ("eventTime", 256, true),
    ("UID", 1024, true),
    ("errorCode", 256, false),
    ("errorMessage", 256, false),
    ("sourceIPAddress", 256, false),
    ("recipientAccountId", 256, true),
];

/// JSON-object fields of `eventData` and their largest serialised size.
const OBJECT_FIELDS: &[(&str, usize)] =
    &[("requestParameters", 100 * 1024), ("responseElements", 100 * 1024), ("additionalEventData", 28 * 1024)];

/// The base64 SHA-256 of `event_data`, as `eventDataChecksum` carries it.
///
/// ```
/// // printf %s '{}' | openssl dgst -binary -sha256 | base64
/// assert_eq!(tarn::sources::channel::checksum("{}"), "RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o=");
/// ```
pub fn checksum(event_data: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(event_data.as_bytes()))
}

/// The `eventID` tarn gives event `id` of `channel`: the same every time the
/// event is sent, so a client that resends it hears the same answer.
pub fn event_id(channel: &Channel, id: &str) -> String {
    let digest = Sha256::digest(format!("{}\n{id}", channel.id).as_bytes());
    let word = |range: std::ops::Range<usize>| digest[range].iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
    crate::uuid_v4(word(0..8), word(8..16))
}

/// Checks one event; returns its time (microseconds) when it is good.
pub fn check(event_data: &str, checksum_sent: Option<&str>, channel: &Channel) -> Result<i64, Refused> {
    if let Some(sent) = checksum_sent
        && sent != checksum(event_data)
    {
        return Err(refused("InvalidChecksum", "eventDataChecksum is not the base64 SHA-256 of eventData as sent".into()));
    }
    let value: Value = serde_json::from_str(event_data).map_err(|e| refused("InvalidData", format!("eventData is not JSON: {e}")))?;
    let Value::Object(fields) = &value else { return Err(refused("InvalidData", "eventData is not a JSON object".into())) };
    for (name, max, required) in TEXT_FIELDS {
        match fields.get(*name) {
            None | Some(Value::Null) if *required => return Err(refused("FieldNotFound", format!("eventData.{name} is required"))),
            None | Some(Value::Null) => {}
            Some(Value::String(text)) if text.chars().count() > *max => {
                return Err(refused("FieldTooLong", format!("eventData.{name} is longer than {max} characters")));
            }
            Some(Value::String(_)) => {}
            Some(_) => return Err(refused("InvalidData", format!("eventData.{name} must be a string"))),
        }
    }
    check_identity(fields.get("userIdentity"))?;
    for (name, max) in OBJECT_FIELDS {
        match fields.get(*name) {
            None | Some(Value::Null) => {}
            Some(object @ Value::Object(_)) if object.to_string().len() > *max => {
                return Err(refused("FieldTooLong", format!("eventData.{name} is larger than {} kB", max / 1024)));
            }
            Some(Value::Object(_)) => {}
            Some(_) => return Err(refused("InvalidData", format!("eventData.{name} must be a JSON object"))),
        }
    }
    if let Some(Value::String(ip)) = fields.get("sourceIPAddress")
        && ip.parse::<std::net::IpAddr>().is_err()
    {
        return Err(refused("InvalidData", format!("eventData.sourceIPAddress '{ip}' is not an IPv4 or IPv6 address")));
    }
    if let Some(Value::String(account)) = fields.get("recipientAccountId")
        && *account != channel.account
    {
        return Err(refused(
            "InvalidRecipient",
            format!("eventData.recipientAccountId {account} is not the account that owns the channel ({})", channel.account),
        ));
    }
    let Some(Value::String(time)) = fields.get("eventTime") else {
        return Err(refused("FieldNotFound", "eventData.eventTime is required".into()));
    };
    parse_event_time(time).ok_or_else(|| refused("InvalidData", format!("eventData.eventTime '{time}' is not yyyy-MM-ddTHH:mm:ss (UTC)")))
}

fn check_identity(identity: Option<&Value>) -> Result<(), Refused> {
    let identity = match identity {
        None | Some(Value::Null) => return Err(refused("FieldNotFound", "eventData.userIdentity is required".into())),
        Some(Value::Object(identity)) => identity,
        Some(_) => return Err(refused("InvalidData", "eventData.userIdentity must be a JSON object".into())),
    };
    for (name, max) in [("type", 128), ("principalId", 1024)] {
        match identity.get(name) {
            None | Some(Value::Null) => return Err(refused("FieldNotFound", format!("eventData.userIdentity.{name} is required"))),
            Some(Value::String(text)) if text.chars().count() > max => {
                return Err(refused("FieldTooLong", format!("eventData.userIdentity.{name} is longer than {max} characters")));
            }
            Some(Value::String(_)) => {}
            Some(_) => return Err(refused("InvalidData", format!("eventData.userIdentity.{name} must be a string"))),
        }
    }
    match identity.get("details") {
        None | Some(Value::Null) | Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(refused("InvalidData", "eventData.userIdentity.details must be a JSON object".into())),
    }
}

/// `yyyy-MM-ddTHH:mm:ss`, with or without fractions and a zone (UTC if none).
fn parse_event_time(text: &str) -> Option<i64> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(time.timestamp_micros());
    }
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    Some(naive.and_utc().timestamp_micros())
}

/// The record tarn stores for a good event: Lake's envelope around the
/// caller's `eventData`, which is kept as sent.
pub fn record(event_data: &str, event_id: &str, event_time: i64, channel: &Channel, ingested: i64) -> Result<String, Refused> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Metadata {
        ingestion_time: String,
        #[serde(rename = "channelARN")]
        channel_arn: String,
    }
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Envelope<'a> {
        event_version: &'a str,
        event_category: &'a str,
        event_type: &'a str,
        #[serde(rename = "eventID")]
        event_id: &'a str,
        event_time: String,
        aws_region: &'a str,
        recipient_account_id: &'a str,
        metadata: Metadata,
        event_data: &'a RawValue,
    }
    let stamp = |micros: i64, format: &str| chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default().format(format).to_string();
    let data: &RawValue = serde_json::from_str(event_data).map_err(|e| refused("InvalidData", format!("eventData is not JSON: {e}")))?;
    let envelope = Envelope {
        event_version: "1.0",
        event_category: "ActivityAuditLog",
        event_type: "ActivityLog",
        event_id,
        event_time: stamp(event_time, "%Y-%m-%dT%H:%M:%SZ"),
        aws_region: &channel.region,
        recipient_account_id: &channel.account,
        metadata: Metadata { ingestion_time: stamp(ingested, "%Y-%m-%dT%H:%M:%S%.3fZ"), channel_arn: channel.arn() },
        event_data: data,
    };
    serde_json::to_string(&envelope).map_err(|e| refused("InternalFailure", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel() -> Channel {
        Channel::new("app", "Custom", "eu-west-1", "111122223333")
    }

    fn good() -> Value {
        serde_json::json!({
            "version": "1.0",
            "userIdentity": {"type": "User", "principalId": "u-1", "details": {"org": "acme"}},
            "eventSource": "app.example.com",
            "eventName": "user.login",
            "eventTime": "2026-11-30T10:00:00Z",
            "UID": "e-1",
            "recipientAccountId": "111122223333",
            "sourceIPAddress": "203.0.113.9"
        })
    }

    fn code_of(change: impl FnOnce(&mut serde_json::Map<String, Value>)) -> &'static str {
        let mut event = good();
        change(event.as_object_mut().unwrap());
        check(&event.to_string(), None, &channel()).unwrap_err().code
    }

    #[test]
    fn a_good_event_passes_with_its_time() {
        let time = check(&good().to_string(), None, &channel()).unwrap();
        assert_eq!(time, chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z").unwrap().timestamp_micros());
        let text = good().to_string();
        assert!(check(&text, Some(&checksum(&text)), &channel()).is_ok());
    }

    #[test]
    fn each_broken_rule_has_its_code() {
        assert_eq!(code_of(|e| drop(e.remove("UID"))), "FieldNotFound");
        assert_eq!(code_of(|e| drop(e.remove("userIdentity"))), "FieldNotFound");
        assert_eq!(code_of(|e| drop(e["userIdentity"].as_object_mut().unwrap().remove("principalId"))), "FieldNotFound");
        assert_eq!(code_of(|e| drop(e.insert("eventName".into(), Value::String("x".repeat(1025))))), "FieldTooLong");
        assert_eq!(
            code_of(|e| drop(e.insert("additionalEventData".into(), serde_json::json!({"x": "y".repeat(29 * 1024)})))),
            "FieldTooLong"
        );
        assert_eq!(code_of(|e| drop(e.insert("eventName".into(), Value::from(5)))), "InvalidData");
        assert_eq!(code_of(|e| drop(e.insert("sourceIPAddress".into(), Value::from("not-an-ip")))), "InvalidData");
        assert_eq!(code_of(|e| drop(e.insert("eventTime".into(), Value::from("yesterday")))), "InvalidData");
        assert_eq!(code_of(|e| drop(e.insert("recipientAccountId".into(), Value::from("999988887777")))), "InvalidRecipient");
        assert_eq!(check("[1]", None, &channel()).unwrap_err().code, "InvalidData");
        assert_eq!(check(&good().to_string(), Some("AAAA"), &channel()).unwrap_err().code, "InvalidChecksum");
    }

    #[test]
    fn the_record_keeps_event_data_as_sent_inside_lakes_envelope() {
        let sent = r#"{"version":"1.0", "UID":"e-1" ,"z":1,"a":2}"#;
        let channel = channel();
        let text = record(sent, "id-1", 0, &channel, 0).unwrap();
        assert!(text.contains(sent), "{text}");
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["metadata"]["channelARN"], channel.arn());
        assert_eq!(value["eventCategory"], "ActivityAuditLog");
        assert_eq!(value["eventTime"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn an_event_id_is_the_same_for_the_same_channel_and_id_only() {
        let (a, b) = (channel(), channel());
        assert_eq!(event_id(&a, "x"), event_id(&a, "x"));
        assert_ne!(event_id(&a, "x"), event_id(&a, "y"));
        assert_ne!(event_id(&a, "x"), event_id(&b, "x"));
        assert!(crate::catalog::eds::is_uuid(&event_id(&a, "x")));
    }
}
