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

/// The delivery time in a CloudTrail file name (`20261117T0005Z` in
/// `<account>_CloudTrail_<region>_20261117T0005Z_<id>.json.gz`), if the
/// name is CloudTrail's.
pub fn delivery_time(key: &str) -> Option<&str> {
    let name = key.rsplit(['/', '\\']).next()?;
    let is_time = |part: &&str| {
        let b = part.as_bytes();
        b.len() == 14 && b[8] == b'T' && b[13] == b'Z' && b[..8].iter().chain(&b[9..13]).all(u8::is_ascii_digit)
    };
    name.split('_').skip(3).find(is_time)
}

/// Puts CloudTrail files in the order they were delivered (other files keep
/// their place, first). CloudTrail's layout sorts by region first; read in
/// delivery order, files of one hour from every region follow each other,
/// so a decode worker writes them into one partition file rather than one
/// small file each.
pub fn sort_by_delivery_time<T>(items: &mut [T], key: impl Fn(&T) -> &str) {
    items.sort_by(|a, b| delivery_time(key(a)).cmp(&delivery_time(key(b))));
}

/// Whether a folder name is one CloudTrail writes its region folders under.
pub fn is_trail_folder(name: &str) -> bool {
    matches!(name, "CloudTrail" | "CloudTrail-Digest" | "CloudTrail-Insight")
}

#[cfg(test)]
mod tests {
    use super::{delivery_time, log_type_of, sort_by_delivery_time};

    #[test]
    fn delivery_time_is_read_from_cloudtrail_names_only() {
        let key = "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/17/111122223333_CloudTrail_eu-west-1_20261117T0005Z_a1.json.gz";
        assert_eq!(delivery_time(key), Some("20261117T0005Z"));
        assert_eq!(delivery_time(r"C:\trail\111122223333_CloudTrail_us-east-1_20261117T2355Z_b.json.gz"), Some("20261117T2355Z"));
        assert_eq!(delivery_time("snyk/2026/11/17/audit_20261117T0005Z.json"), None, "not CloudTrail's name layout");
        assert_eq!(delivery_time("111122223333_CloudTrail_eu-west-1_2026111T0005Z_a.json.gz"), None);
        assert_eq!(delivery_time(""), None);
    }

    #[test]
    fn files_are_ordered_by_delivery_then_kept_in_place() {
        let mut keys = vec![
            "a/111122223333_CloudTrail_us-east-1_20261117T0105Z_x.json.gz",
            "a/111122223333_CloudTrail_us-east-1_20261117T0005Z_x.json.gz",
            "snyk-b.json",
            "a/111122223333_CloudTrail_eu-west-1_20261117T0010Z_x.json.gz",
            "snyk-a.json",
        ];
        sort_by_delivery_time(&mut keys, |k| k);
        assert_eq!(
            keys,
            [
                "snyk-b.json",
                "snyk-a.json",
                "a/111122223333_CloudTrail_us-east-1_20261117T0005Z_x.json.gz",
                "a/111122223333_CloudTrail_eu-west-1_20261117T0010Z_x.json.gz",
                "a/111122223333_CloudTrail_us-east-1_20261117T0105Z_x.json.gz",
            ]
        );
    }

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
