//! Where a Snyk source stands: the `created` time of the newest record in the
//! lake and the fingerprints of the records at exactly that time. Snyk's
//! records carry no id and several can share a millisecond, so a restart asks
//! again from that instant (inclusive) and skips exactly the records already
//! held: nothing skipped, nothing repeated.
//!
//! The checkpoint is stored in the lake's commit log with the rows it covers
//! (see `Transaction::checkpoint`), so rows and position move together.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The stored form, one per source key in the commit log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// `created` of the newest record held, RFC 3339 (microseconds, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_created: Option<String>,
    /// Fingerprints of the records held whose `created` is `last_created`
    /// (repeated if identical records were served twice).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// When tarn first pulled this source: the drop-off alarm counts from it
    /// until the first event arrives.
    pub since: String,
    /// When the drop-off alarm was raised for the current silence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarmed: Option<String>,
}

/// A record's identity: the hash of its canonical JSON (keys sorted).
pub fn fingerprint(record: &Value) -> String {
    let digest = Sha256::digest(record.to_string().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The ledger prefix of Snyk audit records pulled from the API, and of those
/// carried by EventBridge.
pub const FROM_API: &str = "snyk-api";
pub const FROM_EVENTBRIDGE: &str = "snyk-eb";

/// A Snyk audit record's identity whichever way it came (the REST or v1
/// API, or EventBridge), under `path` ([`FROM_API`] or
/// [`FROM_EVENTBRIDGE`]): the hash of its event, its time (as an instant,
/// however written), its user, project and scope (the org, or the group
/// for a group event: an org event may come with or without its group) and
/// its content. The record is in v1 names. None without an event or time.
///
/// ```
/// use tarn::sources::snyk::audit_key;
/// let api = serde_json::json!({"event": "org.user.add", "created": "2026-11-20T10:00:00.100Z", "orgId": "o", "content": {"a": 1}});
/// let bus = serde_json::json!({"content": {"a": 1}, "created": "2026-11-20T10:00:00.1+00:00", "orgId": "o", "groupId": "g", "event": "org.user.add", "userId": null});
/// assert_eq!(audit_key("x", &api), audit_key("x", &bus));
/// ```
pub fn audit_key(path: &str, record: &Value) -> Option<String> {
    let text = |key: &str| record.get(key).and_then(Value::as_str).unwrap_or("");
    let event = record.get("event").and_then(Value::as_str)?;
    let created = record.get("created").and_then(Value::as_str).and_then(parse_time)?;
    let scope = if text("orgId").is_empty() { text("groupId") } else { text("orgId") };
    let content = record.get("content").unwrap_or(&Value::Null);
    let canonical = format!("{event}\n{created}\n{}\n{}\n{scope}\n{content}", text("userId"), text("projectId"));
    let digest = Sha256::digest(canonical.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("{path}:{hex}"))
}

/// RFC 3339 text of a time in microseconds, as the checkpoint stores it.
pub fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub fn parse_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_micros())
}

/// The checkpoint while records stream past: decides which are new.
#[derive(Debug, Clone)]
pub struct Cursor {
    /// Newest `created` held, microseconds.
    last: Option<i64>,
    /// Fingerprints held at `last`.
    ids: Vec<String>,
    /// Of those, the ones the server has not served again yet in this run.
    unseen: Vec<String>,
}

impl Cursor {
    pub fn new(checkpoint: Option<&Checkpoint>) -> Cursor {
        let last = checkpoint.and_then(|c| c.last_created.as_deref()).and_then(parse_time);
        let ids = if last.is_some() { checkpoint.map(|c| c.ids.clone()).unwrap_or_default() } else { Vec::new() };
        Cursor { last, unseen: ids.clone(), ids }
    }

    /// Newest `created` held, microseconds.
    pub fn last(&self) -> Option<i64> {
        self.last
    }

    /// Whether a served record is new; if it is, it counts as held from now.
    /// Records come oldest first: one older than the newest held is held.
    pub fn admit(&mut self, created: i64, fingerprint: &str) -> bool {
        match self.last {
            Some(last) if created < last => false,
            Some(last) if created == last => {
                if let Some(i) = self.unseen.iter().position(|id| id == fingerprint) {
                    self.unseen.swap_remove(i);
                    false
                } else {
                    self.ids.push(fingerprint.to_string());
                    true
                }
            }
            _ => {
                self.last = Some(created);
                self.ids = vec![fingerprint.to_string()];
                self.unseen.clear();
                true
            }
        }
    }

    /// The checkpoint to commit with the records admitted so far.
    pub fn checkpoint(&self, since: &str, alarmed: Option<String>) -> Checkpoint {
        Checkpoint { last_created: self.last.map(rfc3339), ids: self.ids.clone(), since: since.to_string(), alarmed }
    }
}
