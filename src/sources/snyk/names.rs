//! Snyk's two record shapes: the v1 API's camelCase records (the names
//! Panther's `Snyk.*Audit` schemas use) and the REST API's snake_case items.

use serde_json::{Map, Value};

/// Prepares a record of `log_type` for its schema: a Snyk REST item gets the
/// v1 names (`org_id` → `orgId`, ...); anything else is returned as it is.
/// The row's `eventjson` keeps the record as sent.
pub fn to_schema_names(log_type: &str, record: Value) -> Value {
    if log_type.starts_with("Snyk.") { rest_item_to_v1(record) } else { record }
}

/// Maps a REST audit-log item to the v1 field names (`org_id` → `orgId`, ...).
/// Unknown keys are kept as they are.
pub fn rest_item_to_v1(item: Value) -> Value {
    let Value::Object(map) = item else { return item };
    let renamed: Map<String, Value> = map
        .into_iter()
        .map(|(key, value)| {
            let key = match key.as_str() {
                "group_id" => "groupId".to_string(),
                "org_id" => "orgId".to_string(),
                "user_id" => "userId".to_string(),
                "project_id" => "projectId".to_string(),
                _ => key,
            };
            (key, value)
        })
        .collect();
    Value::Object(renamed)
}
