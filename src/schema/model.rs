//! The Panther log-schema YAML format, as serde types.
//!
//! This is the file format only; `schema::compile` turns a checked model into
//! a table layout and a record decoder. Unknown keys are rejected so that a
//! typo in a schema file is an error rather than a silently ignored setting.

use serde::Deserialize;
use std::collections::BTreeMap;

/// One schema file: a log type and its fields.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SchemaFile {
    pub schema: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, rename = "referenceURL")]
    pub reference_url: Option<String>,
    #[serde(default)]
    pub version: Option<serde_yaml::Value>,
    #[serde(default)]
    pub parser: Option<serde_yaml::Value>,
    pub fields: Vec<FieldSpec>,
    #[serde(default)]
    pub definitions: BTreeMap<String, ValueSpec>,
}

/// A named field of an object (or of the top level).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FieldSpec {
    pub name: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(flatten)]
    pub value: ValueSpec,
}

/// The value part of a field or an array element: its type and type options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValueSpec {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub time_format: Option<String>,
    #[serde(default)]
    pub time_formats: Option<Vec<String>>,
    #[serde(default)]
    pub is_event_time: bool,
    #[serde(default)]
    pub indicators: Vec<String>,
    #[serde(default)]
    pub validate: Option<Validate>,
    #[serde(default, rename = "isEmbeddedJSON")]
    pub is_embedded_json: bool,
    #[serde(default)]
    pub fields: Option<Vec<FieldSpec>>,
    #[serde(default)]
    pub element: Option<Box<ValueSpec>>,
    #[serde(default)]
    pub target: Option<String>,
}

/// `validate:` on a string field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validate {
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    #[serde(default)]
    pub deny: Option<Vec<String>>,
    #[serde(default)]
    pub ip: Option<IpKind>,
    #[serde(default)]
    pub cidr: Option<IpKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpKind {
    Ipv4,
    Ipv6,
    Any,
}
