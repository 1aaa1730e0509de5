//! Formats: bytes in, raw records out. A reader here knows how records are
//! laid out in a file or an API page (gzip members, `{"Records":[...]}`,
//! arrays, NDJSON, Snyk REST pages) and nothing of schemas, lakes or
//! sources, so every source reads its bytes through the same code.

pub mod json;

use serde_json::{Map, Value};

/// Why a record's text is not JSON.
#[derive(Debug, thiserror::Error)]
pub enum NotJson {
    #[error("{0}")]
    Record(serde_json::Error),
}

/// Whether a JSON object is a Snyk REST audit-log search page
/// (`{"data": {"items": [...]}, "jsonapi": ..., "links": ...}`).
pub fn is_rest_page(object: &Map<String, Value>) -> bool {
    object.get("data").and_then(|d| d.get("items")).is_some_and(Value::is_array)
        && (object.contains_key("jsonapi") || object.contains_key("links"))
}
