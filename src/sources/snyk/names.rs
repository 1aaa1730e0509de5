//! Snyk's two record shapes: the v1 API's camelCase records (the names
//! Panther's `Snyk.*Audit` schemas use) and the REST API's snake_case items.

use serde_json::{Map, Value};

/// The v1 name of a REST audit-log item's key (`org_id` → `orgId`, ...);
/// None for keys both shapes spell alike.
pub fn v1_name(key: &str) -> Option<&'static str> {
    match key {
        "group_id" => Some("groupId"),
        "org_id" => Some("orgId"),
        "user_id" => Some("userId"),
        "project_id" => Some("projectId"),
        _ => None,
    }
}

/// The record adapter of the Snyk log types: REST items' keys get the v1
/// names their schemas use.
pub fn schema_names(log_type: &str, key: &str) -> Option<&'static str> {
    if log_type.starts_with("Snyk.") { v1_name(key) } else { None }
}

/// Prepares a record of `log_type` for its schema: a Snyk REST item gets the
/// v1 names (`org_id` → `orgId`, ...); anything else is returned as it is.
pub fn to_schema_names(log_type: &str, record: Value) -> Value {
    if log_type.starts_with("Snyk.") { rest_item_to_v1(record) } else { record }
}

/// Maps a REST audit-log item to the v1 field names. Unknown keys are kept
/// as they are.
pub fn rest_item_to_v1(item: Value) -> Value {
    let Value::Object(map) = item else { return item };
    let renamed: Map<String, Value> = map.into_iter().map(|(key, value)| (v1_name(&key).map_or(key, str::to_string), value)).collect();
    Value::Object(renamed)
}
