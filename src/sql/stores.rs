//! Each event data store as a view named by its id, with CloudTrail Lake's
//! column set: a Management or Data store shows the CloudTrail schema (the
//! JSON fields as `map<string, string>` whose nested values are JSON text);
//! an ActivityAuditLog store shows Lake's integration schema, `eventdata.*`,
//! filled from Snyk audit records the way Snyk's own forwarding fills it
//! (`principalid` = user id, `eventname` = event, `additionaleventdata` =
//! content, `eventtime` = created). A store over several tables is their
//! `UNION ALL`. The events channels put in (`aws_activityauditlog`) already
//! hold Lake's integration columns; a store shows those of the channels
//! that deliver to it. The views are plain projections, so filters on `eventtime`
//! still reach the lake tables and prune their files.

use crate::catalog::eds::{Category, EventDataStore, UnknownTable};
use datafusion::arrow::datatypes::SchemaRef;

/// CloudTrail Lake's columns, in its order, each with the expression that
/// fills it from a CloudTrail table (`None`: the column itself).
const CLOUDTRAIL_COLUMNS: &[(&str, Option<&str>)] = &[
    ("eventversion", None),
    ("useridentity", None),
    ("eventtime", None),
    ("eventsource", None),
    ("eventname", None),
    ("awsregion", None),
    ("sourceipaddress", None),
    ("useragent", None),
    ("errorcode", None),
    ("errormessage", None),
    ("requestparameters", Some("to_string_map(requestparameters)")),
    ("responseelements", Some("to_string_map(responseelements)")),
    ("additionaleventdata", Some("to_string_map(additionaleventdata)")),
    ("requestid", None),
    ("eventid", None),
    ("readonly", None),
    ("resources", None),
    ("eventtype", None),
    ("apiversion", None),
    ("managementevent", None),
    ("recipientaccountid", None),
    ("sharedeventid", None),
    ("annotation", None),
    ("vpcendpointid", None),
    ("vpcendpointaccountid", None),
    ("serviceeventdetails", Some("to_string_map(serviceeventdetails)")),
    ("addendum", Some("to_string_map(addendum)")),
    ("edgedevicedetails", Some("to_string_map(edgedevicedetails)")),
    ("insightdetails", Some("to_string_map(insightdetails)")),
    ("eventcategory", None),
    ("tlsdetails", None),
    ("sessioncredentialfromconsole", None),
    ("eventjson", None),
    ("eventjsonchecksum", Some("encode(sha256(eventjson), 'hex')")),
];

/// The Snyk audit columns an ActivityAuditLog store reads.
const SNYK_COLUMNS: &[&str] = &["groupid", "orgid", "userid", "projectid", "event", "created", "content", "p_row_id", "p_parse_time"];

/// Lake's integration schema filled from one Snyk audit table.
const SNYK_AS_ACTIVITY: &str = "SELECT
  '1.0' AS eventversion,
  'ActivityAuditLog' AS eventcategory,
  'ActivityLog' AS eventtype,
  p_row_id AS eventid,
  created AS eventtime,
  CAST(NULL AS VARCHAR) AS awsregion,
  CAST(NULL AS VARCHAR) AS recipientaccountid,
  named_struct('reason', CAST(NULL AS VARCHAR), 'updatedfields', CAST(NULL AS VARCHAR),
               'originaluid', CAST(NULL AS VARCHAR), 'originaleventid', CAST(NULL AS VARCHAR)) AS addendum,
  named_struct('ingestiontime', to_char(p_parse_time, '%Y-%m-%dT%H:%M:%S%.3fZ'), 'channelarn', CAST(NULL AS VARCHAR)) AS metadata,
  named_struct(
    'version', '1.0',
    'useridentity', named_struct(
        'type', CASE WHEN userid IS NULL THEN 'System' ELSE 'User' END,
        'principalid', userid,
        'details', map(['orgId', 'groupId', 'projectId'], [orgid, groupid, projectid])),
    'useragent', CAST(NULL AS VARCHAR),
    'eventsource', 'snyk.io',
    'eventname', event,
    'eventtime', to_char(created, '%Y-%m-%dT%H:%M:%S%.3fZ'),
    'uid', p_row_id,
    'requestparameters', to_string_map(CAST(NULL AS VARCHAR)),
    'responseelements', to_string_map(CAST(NULL AS VARCHAR)),
    'errorcode', CAST(NULL AS VARCHAR),
    'errormessage', CAST(NULL AS VARCHAR),
    'sourceipaddress', CAST(NULL AS VARCHAR),
    'recipientaccountid', CAST(NULL AS VARCHAR),
    'additionaleventdata', to_string_map(content)) AS eventdata
FROM ";

/// The table `tarn serve` fills from channels: it holds Lake's integration
/// columns itself.
pub const ACTIVITY_TABLE: &str = "aws_activityauditlog";

/// Lake's integration schema over [`ACTIVITY_TABLE`]: the JSON fields as
/// `map<string, string>`, as in the other views.
const ACTIVITY_AS_STORE: &str = "SELECT
  eventversion, eventcategory, eventtype, eventid, eventtime, awsregion, recipientaccountid,
  named_struct('reason', addendum.reason, 'updatedfields', addendum.updatedfields,
               'originaluid', addendum.originaluid, 'originaleventid', addendum.originaleventid) AS addendum,
  named_struct('ingestiontime', metadata.ingestiontime, 'channelarn', metadata.channelarn) AS metadata,
  named_struct(
    'version', eventdata.version,
    'useridentity', named_struct(
        'type', eventdata.useridentity.type,
        'principalid', eventdata.useridentity.principalid,
        'details', to_string_map(eventdata.useridentity.details)),
    'useragent', eventdata.useragent,
    'eventsource', eventdata.eventsource,
    'eventname', eventdata.eventname,
    'eventtime', eventdata.eventtime,
    'uid', eventdata.uid,
    'requestparameters', to_string_map(eventdata.requestparameters),
    'responseelements', to_string_map(eventdata.responseelements),
    'errorcode', eventdata.errorcode,
    'errormessage', eventdata.errormessage,
    'sourceipaddress', eventdata.sourceipaddress,
    'recipientaccountid', eventdata.recipientaccountid,
    'additionaleventdata', to_string_map(eventdata.additionaleventdata)) AS eventdata
FROM ";

/// The columns of [`ACTIVITY_TABLE`] its projection reads.
const ACTIVITY_COLUMNS: &[&str] =
    &["eventversion", "eventcategory", "eventtype", "eventid", "eventtime", "addendum", "metadata", "eventdata"];

/// An event data store whose view cannot be made: a table it names is
/// missing, or lacks a column its category needs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("event data store {name} ({id}): {source}")]
    UnknownTable {
        name: String,
        id: String,
        #[source]
        source: UnknownTable,
    },
    #[error(
        "event data store {name} ({id}): table {table} has no column '{column}', which a {category} store needs; give it tables of {wanted}"
    )]
    MissingColumn { name: String, id: String, table: String, column: String, category: Category, wanted: &'static str },
}

/// The SQL of a store's view over the lake `tables` (name, schema).
pub fn view_sql(store: &EventDataStore, tables: &[(String, SchemaRef)]) -> Result<String, StoreError> {
    let known: Vec<&str> = tables.iter().map(|(n, _)| n.as_str()).collect();
    store.check_tables(&known).map_err(|source| StoreError::UnknownTable { name: store.name.clone(), id: store.id.clone(), source })?;
    let mut parts = Vec::new();
    for table in &store.tables {
        let Some((_, schema)) = tables.iter().find(|(name, _)| name == table) else { continue };
        let activity = table == ACTIVITY_TABLE;
        let needs: Vec<&str> = if store.category.is_cloudtrail() {
            // Each column reads the table's column of the same name, but the checksum.
            CLOUDTRAIL_COLUMNS.iter().map(|(column, _)| *column).filter(|c| *c != "eventjsonchecksum").collect()
        } else if activity {
            ACTIVITY_COLUMNS.to_vec()
        } else {
            SNYK_COLUMNS.to_vec()
        };
        if let Some(missing) = needs.iter().find(|c| schema.field_with_name(c).is_err()) {
            return Err(StoreError::MissingColumn {
                name: store.name.clone(),
                id: store.id.clone(),
                table: table.clone(),
                column: missing.to_string(),
                category: store.category,
                wanted: if store.category == Category::ActivityAuditLog {
                    "Snyk audit logs or channel events"
                } else {
                    "CloudTrail events"
                },
            });
        }
        parts.push(if store.category.is_cloudtrail() {
            let columns: Vec<String> = CLOUDTRAIL_COLUMNS
                .iter()
                .map(|(column, from)| match from {
                    Some(expression) => format!("{expression} AS {column}"),
                    None => column.to_string(),
                })
                .collect();
            format!("SELECT {} FROM {table}", columns.join(", "))
        } else if activity {
            format!("{ACTIVITY_AS_STORE}{table}")
        } else {
            format!("{SNYK_AS_ACTIVITY}{table}")
        });
    }
    // The events of the channels that deliver to the store (all of the
    // table's events when the store names the table itself).
    let listed = store.tables.iter().any(|t| t == ACTIVITY_TABLE);
    if store.category == Category::ActivityAuditLog && !store.channels.is_empty() && !listed && known.contains(&ACTIVITY_TABLE) {
        let arns: Vec<String> = store.channels.iter().map(|arn| format!("'{}'", arn.replace('\'', "''"))).collect();
        parts.push(format!("{ACTIVITY_AS_STORE}{ACTIVITY_TABLE} WHERE metadata.channelarn IN ({})", arns.join(", ")));
    }
    Ok(parts.join("\nUNION ALL\n"))
}
