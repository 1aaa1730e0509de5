//! Log schemas in Panther's YAML format: loading and checking schema files,
//! the built-in log types, and the compiled form the decoder uses.
//!
//! A log type becomes one lake table, named by lower-casing the log type and
//! turning `.` into `_` (`AWS.CloudTrail` → `aws_cloudtrail`).

mod columns;
mod compile;
mod decode;
mod indicators;
mod model;
mod time;

pub use compile::{RAW_COLUMN, STANDARD_COLUMNS, timestamp_type};
pub use decode::{Provenance, RecordAdapter, Refusal, RowBuilder};
pub use model::SchemaFile;

use datafusion::arrow::datatypes::SchemaRef;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The schemas shipped inside the binary, by file name.
pub const BUILT_IN: [(&str, &str); 7] = [
    ("aws_activityauditlog.yml", include_str!("../../schemas/aws_activityauditlog.yml")),
    ("aws_cloudtrail.yml", include_str!("../../schemas/aws_cloudtrail.yml")),
    ("aws_cloudtraildigest.yml", include_str!("../../schemas/aws_cloudtraildigest.yml")),
    ("aws_cloudtrailinsight.yml", include_str!("../../schemas/aws_cloudtrailinsight.yml")),
    ("snyk_groupaudit.yml", include_str!("../../schemas/snyk_groupaudit.yml")),
    ("snyk_orgaudit.yml", include_str!("../../schemas/snyk_orgaudit.yml")),
    ("snyk_issue.yml", include_str!("../../schemas/snyk_issue.yml")),
];

/// A schema file that cannot be used, with every problem found in it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SchemaError {
    #[error("{file}: cannot read it: {reason}")]
    Read { file: String, reason: String },
    #[error("{file}: {reason}")]
    Yaml { file: String, reason: String },
    #[error("{file}: {}", problems.join("; "))]
    Invalid { file: String, problems: Vec<String> },
    #[error("unknown log type '{name}'; known log types: {known}")]
    UnknownLogType { name: String, known: String },
}

/// Where a log type's schema came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    BuiltIn,
    File(PathBuf),
}

/// A checked, compiled log type.
#[derive(Debug)]
pub struct LogType {
    /// As the schema names it: `AWS.CloudTrail`.
    pub name: String,
    /// The lake table: `aws_cloudtrail`.
    pub table: String,
    pub description: Option<String>,
    pub origin: Origin,
    /// The schema file's text, for `tarn schema show`.
    pub source_text: String,
    pub arrow_schema: SchemaRef,
    pub indicator_columns: Vec<&'static str>,
    root: compile::Object,
}

/// The table name for a log type name.
pub fn table_name(log_type: &str) -> String {
    log_type.to_lowercase().replace('.', "_")
}

impl LogType {
    /// The column whose value every row's `p_event_time` copies (CloudTrail's
    /// `eventtime`, Snyk's `created`): the schema's only `isEventTime` field,
    /// if it is a top-level one. A filter on it can prune like one on
    /// `p_event_time`.
    pub fn event_time_column(&self) -> Option<&str> {
        fn count(object: &compile::Object) -> usize {
            object.fields.iter().map(|f| count_node(&f.node)).sum()
        }
        fn count_node(node: &compile::Node) -> usize {
            match &node.kind {
                compile::Kind::Timestamp { event_time: true, .. } => 1,
                compile::Kind::Object(object) => count(object),
                compile::Kind::Array(element) => count_node(element),
                _ => 0,
            }
        }
        if count(&self.root) != 1 {
            return None;
        }
        self.root
            .fields
            .iter()
            .find(|f| matches!(f.node.kind, compile::Kind::Timestamp { event_time: true, .. }))
            .map(|f| f.column.as_str())
    }

    /// Parses and checks one schema file's text. `file` names it in errors.
    pub fn from_yaml(text: &str, file: &str, origin: Origin) -> Result<LogType, SchemaError> {
        let parsed: SchemaFile =
            serde_yaml::from_str(text).map_err(|e| SchemaError::Yaml { file: file.to_string(), reason: yaml_reason(&e) })?;
        let (root, indicators) = compile::compile(&parsed).map_err(|problems| SchemaError::Invalid {
            file: file.to_string(),
            problems: problems
                .into_iter()
                .map(|p| if p.field.is_empty() { p.message } else { format!("field '{}': {}", p.field, p.message) })
                .collect(),
        })?;
        let mut indicator_columns: Vec<&'static str> = indicators.iter().flat_map(|i| i.columns().iter().copied()).collect();
        indicator_columns.sort();
        indicator_columns.dedup();
        let arrow_schema = Arc::new(compile::table_schema(&root, &indicator_columns));
        Ok(LogType {
            table: table_name(&parsed.schema),
            name: parsed.schema,
            description: parsed.description,
            origin,
            source_text: text.to_string(),
            arrow_schema,
            indicator_columns,
            root,
        })
    }
}

fn yaml_reason(error: &serde_yaml::Error) -> String {
    // serde_yaml says "fields[2]: unknown field `typ`, expected one of ..." at line L column C.
    let mut reason = error.to_string();
    if let Some(location) = error.location() {
        let suffix = format!(" at line {} column {}", location.line(), location.column());
        if !reason.contains(&suffix) {
            reason.push_str(&suffix);
        }
    }
    reason.replace('\n', " ")
}

/// Every known log type: the built-in ones, then those from schema
/// directories (a file there replaces a built-in log type of the same name).
#[derive(Debug, Default)]
pub struct Registry {
    by_name: BTreeMap<String, Arc<LogType>>,
}

impl Registry {
    /// The built-in log types only.
    pub fn built_in() -> Registry {
        let mut registry = Registry::default();
        for (file, text) in BUILT_IN {
            let log_type =
                LogType::from_yaml(text, &format!("built-in {file}"), Origin::BuiltIn).expect("built-in schemas are checked by tests");
            registry.add(log_type);
        }
        registry
    }

    /// The built-in log types plus every `*.yml`/`*.yaml` file in `dirs`.
    pub fn load(dirs: &[PathBuf]) -> Result<Registry, SchemaError> {
        let mut registry = Registry::built_in();
        for dir in dirs {
            for path in schema_files(dir)? {
                registry.add(load_file(&path)?);
            }
        }
        Ok(registry)
    }

    pub fn add(&mut self, log_type: LogType) {
        self.by_name.insert(log_type.name.clone(), Arc::new(log_type));
    }

    /// A log type by name, case-insensitively (`aws.cloudtrail` finds `AWS.CloudTrail`),
    /// or by its table name.
    pub fn get(&self, name: &str) -> Result<Arc<LogType>, SchemaError> {
        if let Some(found) = self.by_name.get(name) {
            return Ok(found.clone());
        }
        let wanted = table_name(name);
        self.by_name.values().find(|t| t.table == wanted).cloned().ok_or_else(|| SchemaError::UnknownLogType {
            name: name.to_string(),
            known: self.by_name.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<LogType>> {
        self.by_name.values()
    }
}

/// Reads and checks one schema file.
pub fn load_file(path: &Path) -> Result<LogType, SchemaError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SchemaError::Read { file: file.clone(), reason: e.to_string() })?;
    LogType::from_yaml(&text, &file, Origin::File(path.to_path_buf()))
}

fn schema_files(dir: &Path) -> Result<Vec<PathBuf>, SchemaError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| SchemaError::Read { file: dir.display().to_string(), reason: format!("{e} (check `schema_dirs` in tarn.yml)") })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests;
