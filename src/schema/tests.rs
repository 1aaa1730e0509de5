use super::*;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use serde_json::json;

fn log_type(yaml: &str) -> Arc<LogType> {
    Arc::new(LogType::from_yaml(yaml, "test.yml", Origin::BuiltIn).unwrap())
}

fn error(yaml: &str) -> String {
    LogType::from_yaml(yaml, "my-schema.yml", Origin::BuiltIn).unwrap_err().to_string()
}

fn provenance() -> Provenance {
    Provenance { source_id: "test".into(), source_label: "test".into(), source_file: None }
}

#[test]
fn every_built_in_schema_loads() {
    let registry = Registry::built_in();
    let names: Vec<&str> = registry.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "AWS.ActivityAuditLog",
            "AWS.CloudTrail",
            "AWS.CloudTrailDigest",
            "AWS.CloudTrailInsight",
            "Snyk.GroupAudit",
            "Snyk.Issue",
            "Snyk.OrgAudit"
        ]
    );
    assert_eq!(registry.get("aws.cloudtrail").unwrap().table, "aws_cloudtrail");
    assert_eq!(registry.get("snyk_groupaudit").unwrap().name, "Snyk.GroupAudit");
}

#[test]
fn panthers_snyk_schema_loads_unchanged() {
    let text = include_str!("../../tests/fixtures/panther_snyk_groupaudit.yml");
    let t = LogType::from_yaml(text, "panther", Origin::BuiltIn).unwrap();
    assert_eq!(t.table, "snyk_groupaudit");
    let columns: Vec<&str> = t.arrow_schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(&columns[..7], ["groupid", "orgid", "userid", "projectid", "event", "created", "content"]);
    assert!(columns.contains(&"p_any_usernames"));
    // Panther marks userId required: a system event without it is refused.
    let refused = t.normalise(json!({"groupId": "g", "orgId": "o", "event": "x", "created": "2024-01-01T00:00:00Z"}));
    assert_eq!(refused.err().unwrap().0, "required field 'userId' is missing");
}

#[test]
fn columns_are_lower_case_at_every_depth_and_keep_the_original_spelling() {
    let t = Registry::built_in().get("AWS.CloudTrail").unwrap();
    let identity = t.arrow_schema.field_with_name("useridentity").unwrap();
    assert_eq!(identity.metadata().get("tarn.name").map(String::as_str), Some("userIdentity"));
    fn names(data_type: &datafusion::arrow::datatypes::DataType, out: &mut Vec<String>) {
        if let datafusion::arrow::datatypes::DataType::Struct(fields) = data_type {
            for field in fields {
                out.push(field.name().clone());
                names(field.data_type(), out);
            }
        }
    }
    let mut nested = Vec::new();
    names(identity.data_type(), &mut nested);
    assert!(nested.contains(&"principalid".to_string()) && nested.contains(&"mfaauthenticated".to_string()));
    assert!(nested.iter().all(|n| *n == n.to_lowercase()), "{nested:?}");
}

#[test]
fn a_record_decodes_with_standard_fields_and_indicators() {
    let t = Registry::built_in().get("AWS.CloudTrail").unwrap();
    let raw = r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice","sessionContext":{"attributes":{"mfaAuthenticated":"true","creationDate":"2026-11-20T10:00:00Z"}}},"eventTime":"2026-11-20T10:20:30Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","sourceIPAddress":"203.0.113.9","requestParameters":{"userName":"bob"},"resources":[{"ARN":"arn:aws:iam::111122223333:user/bob","accountId":"111122223333"}],"brandNewField":{"x":1}}"#;
    let mut rows = RowBuilder::new(t.clone());
    rows.push(raw, crate::ingest::unchanged, &provenance(), 1_000).unwrap();
    let batch = rows.finish().unwrap().unwrap();
    assert_eq!(batch.num_rows(), 1);
    let column = |name: &str| batch.column_by_name(name).unwrap().clone();
    assert_eq!(column("eventname").as_string::<i32>().value(0), "CreateUser");
    assert_eq!(column("eventjson").as_string::<i32>().value(0), raw);
    assert_eq!(column("requestparameters").as_string::<i32>().value(0), r#"{"userName":"bob"}"#);
    let event_time = column("p_event_time");
    assert_eq!(event_time.as_primitive::<TimestampMicrosecondType>().value(0), 1_795_170_030_000_000);
    let ips = column("p_any_ip_addresses");
    assert_eq!(format!("{:?}", ips.as_list::<i32>().value(0).as_string::<i32>()), "StringArray\n[\n  \"203.0.113.9\",\n]");
    let accounts = column("p_any_aws_account_ids");
    assert_eq!(accounts.as_list::<i32>().value(0).len(), 1, "the account id appears once though three fields hold it");
    let identity = column("useridentity");
    let attributes =
        identity.as_struct().column_by_name("sessioncontext").unwrap().as_struct().column_by_name("attributes").unwrap().clone();
    assert!(attributes.as_struct().column_by_name("mfaauthenticated").unwrap().as_boolean().value(0));
}

#[test]
fn event_time_falls_back_to_parse_time() {
    let t = log_type("schema: T\nfields:\n  - name: a\n    type: string\n");
    let mut rows = RowBuilder::new(t);
    rows.push(r#"{"a": "x"}"#, crate::ingest::unchanged, &provenance(), 42).unwrap();
    let batch = rows.finish().unwrap().unwrap();
    let times = batch.column_by_name("p_event_time").unwrap().as_primitive::<TimestampMicrosecondType>().value(0);
    assert_eq!(times, 42);
}

#[test]
fn the_first_event_time_in_field_order_wins() {
    let t = log_type(
        "schema: T\nfields:\n  - name: first\n    type: timestamp\n    timeFormat: unix\n    isEventTime: true\n  - name: second\n    type: timestamp\n    timeFormat: unix\n    isEventTime: true\n",
    );
    assert_eq!(t.normalise(json!({"second": 2, "first": 1})).ok().unwrap().event_time, Some(1_000_000));
    assert_eq!(t.normalise(json!({"second": 2})).ok().unwrap().event_time, Some(2_000_000));
}

#[test]
fn bad_records_are_refused_with_the_field_and_reason() {
    let t = log_type(
        r#"
schema: T
fields:
  - name: when
    type: timestamp
    timeFormats: [rfc3339, unix_ms]
    required: true
  - name: count
    type: smallint
  - name: ip
    type: string
    validate: {ip: ipv4}
  - name: net
    type: string
    validate: {cidr: any}
  - name: level
    type: string
    validate: {allow: [low, high]}
  - name: nested
    type: object
    fields:
      - name: inner
        type: boolean
  - name: blob
    type: object
    isEmbeddedJSON: true
    fields:
      - name: k
        type: int
"#,
    );
    let refusal = |record: serde_json::Value| t.normalise(record).err().map(|r| r.0);
    let ok = json!({"when": 1_700_000_000_000i64});
    assert_eq!(refusal(ok.clone()), None);
    assert_eq!(refusal(json!({})), Some("required field 'when' is missing".into()));
    assert_eq!(refusal(json!({"when": ""})), Some("required field 'when' is missing".into()));
    assert_eq!(
        refusal(json!({"when": "noon"})).unwrap(),
        "field 'when' has a timestamp that does not match rfc3339 or unixms: string \"noon\""
    );
    assert_eq!(refusal(json!({"when": 1, "count": 70000})).unwrap(), "field 'count' should be a 16-bit integer, got number 70000");
    assert_eq!(refusal(json!({"when": 1, "ip": "::1"})).unwrap(), "field 'ip': '::1' is not an IPv4 address");
    assert_eq!(refusal(json!({"when": 1, "net": "10.0.0.0/33"})).unwrap(), "field 'net': '10.0.0.0/33' is not an IP CIDR block");
    assert_eq!(refusal(json!({"when": 1, "net": "10.0.0.0/8"})), None);
    assert_eq!(refusal(json!({"when": 1, "level": "mid"})).unwrap(), "field 'level': 'mid' is not one of the allowed values (low, high)");
    assert_eq!(refusal(json!({"when": 1, "nested": {"inner": 3}})).unwrap(), "field 'nested.inner' should be true or false, got number 3");
    assert_eq!(
        refusal(json!({"when": 1, "blob": "{not json"})).unwrap().split(':').next().unwrap(),
        "field 'blob' should hold embedded JSON"
    );
    assert_eq!(refusal(json!([1])).unwrap(), "the record is a JSON array, not an object");
    let row = t.normalise(json!({"WHEN": 1, "Blob": "{\"K\": 7}"})).ok().unwrap();
    assert_eq!(row.columns["blob"], json!({"k": 7}), "keys match case-insensitively and embedded JSON is parsed");
}

#[test]
fn refs_resolve_through_definitions() {
    let t = log_type(
        "schema: T\ndefinitions:\n  point:\n    type: object\n    fields:\n      - name: X\n        type: float\nfields:\n  - name: at\n    type: ref\n    target: point\n",
    );
    assert_eq!(t.normalise(json!({"at": {"x": "1.5"}})).ok().unwrap().columns["at"], json!({"x": 1.5}));
}

#[test]
fn schema_mistakes_name_the_file_the_field_and_the_problem() {
    assert_eq!(
        error("schema: T\nfields:\n  - name: a\n    type: strng\n"),
        "my-schema.yml: field 'a': unknown type 'strng' (use string, int, smallint, bigint, float, boolean, timestamp, object, array, json or ref)"
    );
    assert_eq!(
        error("schema: T\nfields:\n  - name: o\n    type: object\n    fields:\n      - name: t\n        type: timestamp\n"),
        "my-schema.yml: field 'o.t': a timestamp needs `timeFormat` (rfc3339, unix, unix_ms, unix_us, unix_ns or a strftime pattern)"
    );
    assert_eq!(
        error("schema: T\nfields:\n  - name: userName\n    type: string\n  - name: username\n    type: string\n"),
        "my-schema.yml: field 'username': 'userName' and 'username' differ only by case; column names are lower-case, so keep one"
    );
    // Issue 14: a field listed twice was reported as "'a' and 'a' differ only by case".
    assert_eq!(
        error("schema: T\nfields:\n  - name: a\n    type: string\n  - name: a\n    type: string\n"),
        "my-schema.yml: field 'a': 'a' is listed twice; keep one"
    );
    assert_eq!(
        error("schema: T\nfields:\n  - name: r\n    type: ref\n    target: nowhere\n"),
        "my-schema.yml: field 'r': ref target 'nowhere' is not in `definitions` (defined: none)"
    );
    assert!(
        error("schema: T\nfields:\n  - name: a\n    typ: string\n").starts_with("my-schema.yml: fields[0]: unknown field `typ`"),
        "{}",
        error("schema: T\nfields:\n  - name: a\n    typ: string\n")
    );
    assert!(error("schema: T\nfields:\n  - name: p_event_time\n    type: string\n").contains("reserved"));
    assert!(error("schema: T\nfields:\n  - name: a\n    type: string\n    indicators: [ipaddr]\n").contains("unknown indicator 'ipaddr'"));
}

/// Issue 14: a definition with two refs to itself explored 2^33 nodes
/// before the depth check stopped it; now the cycle is found first.
#[test]
fn regression_self_references_are_refused_before_expanding() {
    let yaml = "schema: T\nfields:\n  - name: n\n    type: ref\n    target: node\ndefinitions:\n  node:\n    type: object\n    fields:\n      - name: left\n        type: ref\n        target: node\n      - name: right\n        type: ref\n        target: node\n";
    let started = std::time::Instant::now();
    let message = error(yaml);
    assert!(message.contains("definitions node refer to themselves"), "{message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let yaml = "schema: T\nfields:\n  - name: a\n    type: ref\n    target: a\ndefinitions:\n  a:\n    type: array\n    element:\n      type: ref\n      target: b\n  b:\n    type: object\n    fields:\n      - name: back\n        type: ref\n        target: a\n";
    assert!(error(yaml).contains("definitions a, b refer to themselves"), "{}", error(yaml));
}

/// Issue 14: a 24-level chain of definitions each using the next twice took
/// 22 GB; its size is computed before anything is expanded.
#[test]
fn regression_doubling_ref_chains_are_refused_by_size() {
    let mut yaml = String::from("schema: T\nfields:\n  - name: top\n    type: ref\n    target: d0\ndefinitions:\n");
    for level in 0..24 {
        yaml.push_str(&format!(
            "  d{level}:\n    type: object\n    fields:\n      - name: x\n        type: ref\n        target: d{next}\n      - name: y\n        type: ref\n        target: d{next}\n",
            next = level + 1
        ));
    }
    yaml.push_str("  d24:\n    type: string\n");
    let message = error(&yaml);
    assert!(message.contains("expand to 67108862 columns") && message.contains("at most 100000"), "{message}");
    // Cut to 10 levels (4,094 nodes) the chain compiles.
    let short = yaml.replace("target: d10\n", "target: d24\n");
    assert!(LogType::from_yaml(&short, "t.yml", Origin::BuiltIn).is_ok());
}
