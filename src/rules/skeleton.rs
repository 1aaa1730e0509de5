//! `tarn rules new`: a rule file to start from, with one test that must
//! match and one that must not, already passing.

/// A new rule's YAML for `log_type`, with id `id`. Log types without a
/// built-in example get a rule whose tests are left to fill in.
pub fn skeleton(id: &str, log_type: &str) -> String {
    let (key, value, other, record) = match log_type {
        "AWS.CloudTrail" => ("eventName", "ConsoleLogin", "DescribeInstances", CLOUDTRAIL_EXAMPLE),
        "Snyk.OrgAudit" | "Snyk.GroupAudit" => ("event", "org.user.role.edit", "org.project.add", SNYK_EXAMPLE),
        _ => return generic(id, log_type),
    };
    let negative = record.replacen(&format!("{key}: {value}"), &format!("{key}: {other}"), 1);
    format!(
        "RuleID: {id}
DisplayName: {id}
Description: What this rule detects and why it matters.
Severity: Medium
Enabled: true
LogTypes:
  - {log_type}
# A match expression (Panther's simple detections); or replace it with
# `Query:` and a SELECT over the log type's table returning matching rows.
Detection:
  - Key: {key}
    Condition: Equals
    Value: {value}
DedupPeriodMinutes: 60
Threshold: 1
AlertTitle: \"{id}: {{{key}}}\"
Tags: []
Tests:
  - Name: matches {value}
    ExpectedResult: true
    Log:
{record}
  - Name: does not match {other}
    ExpectedResult: false
    Log:
{negative}
",
    )
}

fn generic(id: &str, log_type: &str) -> String {
    format!(
        "RuleID: {id}
DisplayName: {id}
Description: What this rule detects and why it matters.
Severity: Medium
LogTypes:
  - {log_type}
# Write the detection: a SELECT over the log type's table returning the
# matching rows (SELECT * keeps p_row_id and p_event_time, which alerts need).
Query: SELECT * FROM {table} WHERE false
Tests:
  - Name: a record the rule must match (paste one as the source sends it)
    ExpectedResult: true
    Log: {{}}
",
        table = crate::schema::table_name(log_type)
    )
}

const CLOUDTRAIL_EXAMPLE: &str = r#"      eventVersion: "1.08"
      eventTime: "2026-01-15T10:00:00Z"
      eventSource: signin.amazonaws.com
      eventName: ConsoleLogin
      awsRegion: us-east-1
      sourceIPAddress: 203.0.113.7
      userIdentity:
        type: IAMUser
        arn: arn:aws:iam::111122223333:user/alice
        accountId: "111122223333"
        userName: alice
      responseElements:
        ConsoleLogin: Success
      eventID: 3f1c2f9e-0000-4000-8000-000000000001
      eventType: AwsConsoleSignIn
      recipientAccountId: "111122223333""#;

const SNYK_EXAMPLE: &str = r#"      groupId: 4a9e2b1c-0000-4000-8000-000000000001
      orgId: 7d3f6a2e-0000-4000-8000-000000000002
      userId: 9b8c7d6e-0000-4000-8000-000000000003
      event: org.user.role.edit
      content:
        userPublicId: 9b8c7d6e-0000-4000-8000-000000000004
        role: ADMIN
      created: "2026-01-15T10:00:00Z""#;
