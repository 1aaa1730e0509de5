//! CloudTrail Data's `PutAuditEvents` on the wire, as botocore's
//! `cloudtrail-data` model (2021-08-11) describes it: `POST /PutAuditEvents`
//! with `channelArn` and `externalId` in the query and
//! `{"auditEvents":[{id, eventData, eventDataChecksum?}]}` as the body;
//! the answer `{"successful":[{id, eventID}], "failed":[{id, errorCode,
//! errorMessage}]}`; a refused call is a rest-json error (`x-amzn-ErrorType`
//! and `{"__type", "message"}`), which the AWS SDKs turn into their modeled
//! exceptions (`ChannelNotFound`, ...).

use serde::{Deserialize, Serialize};

/// Events one call may carry, and their `eventData` bytes together.
pub const MAX_EVENTS: usize = 100;
pub const MAX_EVENT_BYTES: usize = 1 << 20;
/// The largest body read (escaping can make it longer than its events).
pub const MAX_BODY: usize = 4 << 20;

/// A refused call: AWS's error code, HTTP status and message.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

impl ApiError {
    /// A client error (400) with `code`.
    pub fn client(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { code, status: 400, message: message.into() }
    }

    /// The rest-json error body.
    pub fn body(&self) -> String {
        serde_json::json!({"__type": self.code, "message": self.message}).to_string()
    }
}

/// One event of a call.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: String,
    pub event_data: String,
    #[serde(default)]
    pub event_data_checksum: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    audit_events: Option<Vec<AuditEvent>>,
}

/// A call, checked against the model's constraints.
#[derive(Debug)]
pub struct PutAuditEvents {
    /// The `channelArn` parameter: an ARN or a channel id.
    pub channel: String,
    pub external_id: Option<String>,
    pub events: Vec<AuditEvent>,
}

/// Reads a call from its query string and body.
pub fn parse(query: &str, body: &[u8]) -> Result<PutAuditEvents, ApiError> {
    let mut channel = None;
    let mut external_id = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value)
            .ok_or_else(|| ApiError::client("ValidationException", format!("query parameter {key} is not valid percent-encoded UTF-8")))?;
        match key {
            "channelArn" => channel = Some(value),
            "externalId" => external_id = Some(value),
            _ => {}
        }
    }
    let channel = channel.ok_or_else(|| {
        ApiError::client(
            "ValidationException",
            "1 validation error detected: Value null at 'channelArn' failed to satisfy constraint: Member must not be null",
        )
    })?;
    if let Some(external) = &external_id
        && !crate::catalog::channels::is_external_id(external)
    {
        return Err(ApiError::client(
            "ValidationException",
            "1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must have length between 2 and 1224 and match [\\w+=,.@:/-]*",
        ));
    }
    let body: Body = serde_json::from_slice(body)
        .map_err(|e| ApiError::client("SerializationException", format!("the body is not PutAuditEvents JSON: {e}")))?;
    let events = body.audit_events.ok_or_else(|| {
        ApiError::client(
            "ValidationException",
            "1 validation error detected: Value null at 'auditEvents' failed to satisfy constraint: Member must not be null",
        )
    })?;
    check_events(&events)?;
    Ok(PutAuditEvents { channel, external_id, events })
}

/// The model's limits on `auditEvents`: 1 to 100 events, 1 MB, ids of
/// 1 to 128 `[-_A-Za-z0-9]`, each id once.
fn check_events(events: &[AuditEvent]) -> Result<(), ApiError> {
    if events.is_empty() || events.len() > MAX_EVENTS {
        return Err(ApiError::client(
            "ValidationException",
            format!(
                "1 validation error detected: Value at 'auditEvents' failed to satisfy constraint: Member must have length between 1 and {MAX_EVENTS} (it has {})",
                events.len()
            ),
        ));
    }
    let bytes: usize = events.iter().map(|e| e.event_data.len()).sum();
    if bytes > MAX_EVENT_BYTES {
        return Err(ApiError::client(
            "ValidationException",
            format!("the events hold {bytes} bytes of eventData; one call carries at most 1 MB ({MAX_EVENT_BYTES} bytes)"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for event in events {
        let id_ok = (1..=128).contains(&event.id.len()) && event.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(ApiError::client(
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{}' at 'auditEvents.member.id' failed to satisfy constraint: Member must have length between 1 and 128 and match [-_A-Za-z0-9]+",
                    event.id.chars().take(140).collect::<String>()
                ),
            ));
        }
        if !seen.insert(event.id.as_str()) {
            return Err(ApiError::client(
                "DuplicatedAuditEventId",
                format!("Two or more entries in the request have the same event ID: {}", event.id),
            ));
        }
    }
    Ok(())
}

/// Decodes `%XX` escapes (and `+` as a space, as form encoding has it).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// An event taken in: its id and the `eventID` tarn gave it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Success {
    pub id: String,
    #[serde(rename = "eventID")]
    pub event_id: String,
}

/// An event refused.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub id: String,
    pub error_code: String,
    pub error_message: String,
}

/// The answer to a call.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Answer {
    pub successful: Vec<Success>,
    pub failed: Vec<Failure>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(events: usize) -> Vec<u8> {
        let events: Vec<serde_json::Value> = (0..events).map(|i| serde_json::json!({"id": format!("e{i}"), "eventData": "{}"})).collect();
        serde_json::json!({ "auditEvents": events }).to_string().into_bytes()
    }

    #[test]
    fn the_query_is_percent_decoded() {
        let call = parse("channelArn=arn%3Aaws%3Acloudtrail%3Aus-east-1%3A1%3Achannel%2Fx&externalId=org%3Aa%2Bb", &body(1)).unwrap();
        assert_eq!(call.channel, "arn:aws:cloudtrail:us-east-1:1:channel/x");
        assert_eq!(call.external_id.as_deref(), Some("org:a+b"));
    }

    #[test]
    fn the_models_limits_refuse_the_whole_call() {
        assert_eq!(parse("channelArn=x", &body(101)).unwrap_err().code, "ValidationException");
        assert_eq!(parse("channelArn=x", &body(0)).unwrap_err().code, "ValidationException");
        assert!(parse("channelArn=x", &body(100)).is_ok());
        assert_eq!(parse("", &body(1)).unwrap_err().code, "ValidationException");
        assert_eq!(parse("channelArn=x", b"not json").unwrap_err().code, "SerializationException");
        let twice = br#"{"auditEvents":[{"id":"a","eventData":"{}"},{"id":"a","eventData":"{}"}]}"#;
        assert_eq!(parse("channelArn=x", twice).unwrap_err().code, "DuplicatedAuditEventId");
        let bad_id = br#"{"auditEvents":[{"id":"a.b","eventData":"{}"}]}"#;
        assert_eq!(parse("channelArn=x", bad_id).unwrap_err().code, "ValidationException");
        let big = serde_json::json!({"auditEvents": [{"id": "a", "eventData": "x".repeat(MAX_EVENT_BYTES + 1)}]}).to_string();
        assert_eq!(parse("channelArn=x", big.as_bytes()).unwrap_err().code, "ValidationException");
    }
}
