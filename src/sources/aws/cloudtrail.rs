//! The CloudTrail key rule, the one place that reads CloudTrail's object
//! layout: `AWSLogs/[o-org/]<account>/CloudTrail[-Digest|-Insight]/<region>/
//! YYYY/MM/DD/<account>_CloudTrail[-Digest|-Insight]_<region>_<time>_<id>.json.gz`.
//! A key (or a local path, or a bare file name as CloudTrail names it) is
//! recognised by its folder or by its file name.

use crate::schema::{LogType, Registry, SchemaError};
use std::path::Path;
use std::sync::Arc;

/// Why a file or object has no log type.
#[derive(Debug, thiserror::Error)]
pub enum LogTypeError {
    #[error("{path}: cannot tell its log type from its name; pass --log-type (for example Snyk.GroupAudit)")]
    Unknown { path: String },
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// The log type of a file: CloudTrail's key layout names digest and insight
/// files; otherwise the one given, or CloudTrail for a CloudTrail key.
pub fn log_type_for(registry: &Registry, path: &Path, given: Option<&str>) -> Result<Arc<LogType>, LogTypeError> {
    let from_layout = log_type_of(&path.to_string_lossy());
    let name = match (given, from_layout) {
        (Some(given), Some(layout)) if given.eq_ignore_ascii_case("AWS.CloudTrail") => layout,
        (Some(given), _) => given,
        (None, Some(layout)) => layout,
        (None, None) => return Err(LogTypeError::Unknown { path: path.display().to_string() }),
    };
    Ok(registry.get(name)?)
}

/// The log type a CloudTrail key or path holds, if it is CloudTrail's.
pub fn log_type_of(key: &str) -> Option<&'static str> {
    let holds = |kind: &str| key.contains(&format!("/{kind}/")) || key.contains(&format!("_{kind}_"));
    if holds("CloudTrail-Digest") {
        Some("AWS.CloudTrailDigest")
    } else if holds("CloudTrail-Insight") {
        Some("AWS.CloudTrailInsight")
    } else if holds("CloudTrail") {
        Some("AWS.CloudTrail")
    } else {
        None
    }
}

/// Whether a folder name is one CloudTrail writes its region folders under.
pub fn is_trail_folder(name: &str) -> bool {
    matches!(name, "CloudTrail" | "CloudTrail-Digest" | "CloudTrail-Insight")
}

#[cfg(test)]
mod tests {
    use super::log_type_of;

    #[test]
    fn folder_and_file_name_forms_agree() {
        let key = "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/17/111122223333_CloudTrail_eu-west-1_20261117T0000Z_a.json.gz";
        assert_eq!(log_type_of(key), Some("AWS.CloudTrail"));
        assert_eq!(log_type_of("111122223333_CloudTrail_eu-west-1_20261117T0000Z_a.json.gz"), Some("AWS.CloudTrail"));
        assert_eq!(log_type_of("AWSLogs/1/CloudTrail-Digest/us-east-1/2026/11/17/x.json.gz"), Some("AWS.CloudTrailDigest"));
        assert_eq!(log_type_of("1_CloudTrail-Insight_us-east-1_x.json.gz"), Some("AWS.CloudTrailInsight"));
        assert_eq!(log_type_of("exports/report.csv"), None);
        assert_eq!(log_type_of("CloudTrailish/report.json"), None);
    }
}
