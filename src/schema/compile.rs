//! Turns a schema file into a checked, compiled log type: the table's Arrow
//! schema (lower-case column names at every depth) and the tree the record
//! decoder walks. Every mistake is reported with the field's path.

use super::indicators::Indicator;
use super::model::{FieldSpec, IpKind, SchemaFile, ValueSpec};
use super::time::TimeFormat;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The column holding each row's original record as JSON text.
pub const RAW_COLUMN: &str = "eventjson";

/// Standard columns every table has, after the schema's own fields.
pub const STANDARD_COLUMNS: [&str; 7] =
    ["p_log_type", "p_row_id", "p_event_time", "p_parse_time", "p_source_id", "p_source_label", "p_source_file"];

/// How a string value is checked.
#[derive(Debug, Clone)]
pub enum StringCheck {
    Allow(Vec<String>),
    Deny(Vec<String>),
    Ip(IpKind),
    Cidr(IpKind),
}

/// What a value is and how to read it.
#[derive(Debug, Clone)]
pub enum Kind {
    String { checks: Vec<StringCheck> },
    Int16,
    Int32,
    Int64,
    Float,
    Boolean,
    Timestamp { formats: Vec<TimeFormat>, event_time: bool },
    Object(Object),
    Array(Box<Node>),
    Json,
}

/// A value schema: its kind plus the options that apply to any kind.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: Kind,
    pub embedded_json: bool,
    pub indicators: Vec<Indicator>,
}

/// An object's fields, with a lookup by lower-case name.
#[derive(Debug, Clone)]
pub struct Object {
    pub fields: Vec<ObjectField>,
    pub by_lower_name: FieldIndex,
    /// The schema's own spellings (`eventVersion`), which records mostly
    /// use: found without lower-casing the key.
    pub by_name: FieldIndex,
}

/// Field positions by name, with a fast hash (keys are looked up for every
/// key of every record).
pub type FieldIndex = HashMap<String, usize, foldhash::fast::FixedState>;

impl Object {
    /// The field a record's key names, matched as the schema spells it or
    /// case-insensitively.
    pub fn field_index(&self, key: &str) -> Option<usize> {
        if let Some(&i) = self.by_name.get(key) {
            return Some(i);
        }
        self.by_lower_name.get(key.to_lowercase().as_str()).copied()
    }
}

#[derive(Debug, Clone)]
pub struct ObjectField {
    /// The name as the schema (and the source) spells it.
    pub name: String,
    /// The column name: `name` lower-cased.
    pub column: String,
    pub required: bool,
    pub node: Node,
}

/// A problem in a schema file, with the path of the field it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

/// Compiles the fields of a schema file. `Err` lists every problem found.
pub fn compile(file: &SchemaFile) -> Result<(Object, Vec<Indicator>), Vec<Problem>> {
    let mut compiler = Compiler { definitions: &file.definitions, problems: Vec::new(), indicators: BTreeSet::new(), depth: 0 };
    if file.schema.trim().is_empty() {
        compiler.problem("", "the `schema` name is empty".to_string());
    }
    if file.fields.is_empty() {
        compiler.problem("", "`fields` is empty: a schema needs at least one field".to_string());
    }
    compiler.problems.extend(check_references(file));
    if !compiler.problems.is_empty() {
        // Expanding refs that loop or multiply is what must not happen.
        return Err(compiler.problems);
    }
    let root = compiler.object("", &file.fields, true);
    if compiler.problems.is_empty() { Ok((root, compiler.indicators.into_iter().collect())) } else { Err(compiler.problems) }
}

/// The most fields and elements a schema may expand to once its refs are
/// compiled in place (CloudTrail's has a few hundred). Refs can multiply: a
/// definition used twice by one used twice, 24 times over, is 2^24 copies.
const MAX_EXPANDED_NODES: u64 = 100_000;
/// How many refs may nest inside one another.
const MAX_REF_DEPTH: usize = 32;

/// Checks the refs of a schema before any is expanded: a definition that
/// reaches itself is a cycle, and the whole schema must expand to at most
/// [`MAX_EXPANDED_NODES`]. Definitions are sized leaves first (Kahn's
/// order), without recursion over the ref graph, so neither a long chain
/// nor a wide one costs more than its size to check.
fn check_references(file: &SchemaFile) -> Vec<Problem> {
    /// Nodes of `spec` itself, and the refs it holds (one entry per use).
    fn own<'s>(spec: &'s ValueSpec, refs: &mut Vec<&'s str>) -> u64 {
        let mut nodes: u64 = 1;
        if let Some(target) = spec.target.as_deref() {
            refs.push(target);
        }
        if let Some(element) = &spec.element {
            nodes = nodes.saturating_add(own(element, refs));
        }
        for field in spec.fields.iter().flatten() {
            nodes = nodes.saturating_add(own(&field.value, refs));
        }
        nodes
    }
    let names: Vec<&str> = file.definitions.keys().map(String::as_str).collect();
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, name)| (*name, i)).collect();
    let mut nodes = Vec::with_capacity(names.len());
    let mut uses: Vec<Vec<usize>> = Vec::with_capacity(names.len());
    for spec in file.definitions.values() {
        let mut refs = Vec::new();
        nodes.push(own(spec, &mut refs));
        uses.push(refs.iter().filter_map(|target| index.get(target).copied()).collect());
    }
    // Kahn's order: a definition is sized once every one it uses is.
    let mut waiting: Vec<usize> = uses.iter().map(Vec::len).collect();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
    for (user, targets) in uses.iter().enumerate() {
        for &target in targets {
            users[target].push(user);
        }
    }
    let mut ready: Vec<usize> = (0..names.len()).filter(|&i| waiting[i] == 0).collect();
    let mut size: Vec<Option<u64>> = vec![None; names.len()];
    while let Some(done) = ready.pop() {
        let expanded = uses[done].iter().fold(nodes[done], |total, &target| total.saturating_add(size[target].unwrap_or(0)));
        size[done] = Some(expanded);
        for &user in &users[done] {
            waiting[user] -= 1;
            if waiting[user] == 0 {
                ready.push(user);
            }
        }
    }
    let mut problems = Vec::new();
    let looping: Vec<&str> = names.iter().zip(&size).filter(|(_, size)| size.is_none()).map(|(name, _)| *name).collect();
    if !looping.is_empty() {
        let message = format!(
            "definitions {} refer to themselves through refs (or use one that does); recursive definitions cannot become columns",
            looping.join(", ")
        );
        problems.push(Problem { field: "definitions".to_string(), message });
        return problems;
    }
    let sized: HashMap<&str, u64> = names.iter().zip(&size).map(|(name, size)| (*name, size.unwrap_or(0))).collect();
    let mut refs = Vec::new();
    let nodes = file.fields.iter().fold(0u64, |total, field| total.saturating_add(own(&field.value, &mut refs)));
    let expanded = refs.iter().filter_map(|target| sized.get(target)).fold(nodes, |total, size| total.saturating_add(*size));
    if expanded > MAX_EXPANDED_NODES {
        let message = format!(
            "the fields expand to {} columns and elements once refs are put in place (at most {MAX_EXPANDED_NODES}); a definition is used many times over, so give the repeated part type json",
            if expanded == u64::MAX { "more than 10^19".to_string() } else { expanded.to_string() }
        );
        problems.push(Problem { field: "definitions".to_string(), message });
    }
    problems
}

struct Compiler<'a> {
    definitions: &'a std::collections::BTreeMap<String, ValueSpec>,
    problems: Vec<Problem>,
    indicators: BTreeSet<Indicator>,
    depth: usize,
}

impl Compiler<'_> {
    fn problem(&mut self, field: &str, message: String) {
        self.problems.push(Problem { field: field.to_string(), message });
    }

    fn object(&mut self, path: &str, specs: &[FieldSpec], top_level: bool) -> Object {
        let mut object = Object { fields: Vec::new(), by_lower_name: FieldIndex::default(), by_name: FieldIndex::default() };
        for spec in specs {
            let field_path = if path.is_empty() { spec.name.clone() } else { format!("{path}.{}", spec.name) };
            let column = spec.name.to_lowercase();
            if spec.name.trim().is_empty() {
                self.problem(path, "a field has an empty `name`".to_string());
                continue;
            }
            if top_level && (column.starts_with("p_") || column == RAW_COLUMN) {
                self.problem(&field_path, format!("the name '{}' is reserved for tarn's standard columns; rename the field", spec.name));
                continue;
            }
            if let Some(&other) = object.by_lower_name.get(&column) {
                let other: &ObjectField = &object.fields[other];
                let problem = if other.name == spec.name {
                    format!("'{}' is listed twice; keep one", spec.name)
                } else {
                    format!("'{}' and '{}' differ only by case; column names are lower-case, so keep one", other.name, spec.name)
                };
                self.problem(&field_path, problem);
                continue;
            }
            let Some(node) = self.value(&field_path, &spec.value) else { continue };
            object.by_lower_name.insert(column.clone(), object.fields.len());
            object.by_name.insert(spec.name.clone(), object.fields.len());
            object.fields.push(ObjectField { name: spec.name.clone(), column, required: spec.required, node });
        }
        object
    }

    fn value(&mut self, path: &str, spec: &ValueSpec) -> Option<Node> {
        let Some(kind_name) = spec.kind.as_deref() else {
            self.problem(
                path,
                "`type` is missing (string, int, smallint, bigint, float, boolean, timestamp, object, array, json or ref)".to_string(),
            );
            return None;
        };
        let indicators = self.value_indicators(path, spec, kind_name);
        self.check_options(path, spec, kind_name);
        let kind = match kind_name {
            "string" => Kind::String { checks: self.string_checks(path, spec) },
            "smallint" => Kind::Int16,
            "int" => Kind::Int32,
            "bigint" => Kind::Int64,
            "float" => Kind::Float,
            "boolean" => Kind::Boolean,
            "json" => Kind::Json,
            "timestamp" => self.timestamp(path, spec)?,
            "object" => self.object_kind(path, spec)?,
            "array" => {
                let Some(element) = spec.element.as_deref() else {
                    self.problem(path, "an array needs `element` (the schema of its items)".to_string());
                    return None;
                };
                Kind::Array(Box::new(self.value(&format!("{path}[]"), element)?))
            }
            "ref" => return self.reference(path, spec),
            other => {
                self.problem(
                    path,
                    format!(
                        "unknown type '{other}' (use string, int, smallint, bigint, float, boolean, timestamp, object, array, json or ref)"
                    ),
                );
                return None;
            }
        };
        Some(Node { kind, embedded_json: spec.is_embedded_json, indicators })
    }

    /// The value's indicators, which only string fields have.
    fn value_indicators(&mut self, path: &str, spec: &ValueSpec, kind_name: &str) -> Vec<Indicator> {
        let mut indicators = Vec::new();
        for name in &spec.indicators {
            match Indicator::parse(name) {
                Some(indicator) if kind_name == "string" => {
                    self.indicators.insert(indicator);
                    indicators.push(indicator);
                }
                Some(_) => self.problem(path, format!("indicator '{name}' needs a string field, not {kind_name}")),
                None => self.problem(
                    path,
                    format!("unknown indicator '{name}' (known: ip, domain, hostname, url, net_addr, md5, sha1, sha256, trace_id, aws_arn, aws_account_id, aws_instance_id, aws_tag, email, username)"),
                ),
            }
        }
        indicators
    }

    /// Options that apply to some types only, given on another type.
    fn check_options(&mut self, path: &str, spec: &ValueSpec, kind_name: &str) {
        if spec.is_embedded_json && !matches!(kind_name, "object" | "array" | "json" | "ref") {
            self.problem(path, format!("isEmbeddedJSON applies to object, array and json fields, not {kind_name}"));
        }
        if spec.is_event_time && kind_name != "timestamp" {
            self.problem(path, format!("isEventTime needs a timestamp field, not {kind_name}"));
        }
        if (spec.time_format.is_some() || spec.time_formats.is_some()) && kind_name != "timestamp" {
            self.problem(path, format!("timeFormat applies to timestamp fields, not {kind_name}"));
        }
        if spec.validate.is_some() && kind_name != "string" {
            self.problem(path, format!("validate applies to string fields, not {kind_name}"));
        }
        if spec.fields.is_some() && kind_name != "object" {
            self.problem(path, format!("`fields` applies to object fields, not {kind_name}"));
        }
        if spec.element.is_some() && kind_name != "array" {
            self.problem(path, format!("`element` applies to array fields, not {kind_name}"));
        }
    }

    /// A timestamp with its formats (None when it has none).
    fn timestamp(&mut self, path: &str, spec: &ValueSpec) -> Option<Kind> {
        let names: Vec<&String> = spec.time_format.iter().chain(spec.time_formats.iter().flatten()).collect();
        if names.is_empty() {
            self.problem(
                path,
                "a timestamp needs `timeFormat` (rfc3339, unix, unix_ms, unix_us, unix_ns or a strftime pattern)".to_string(),
            );
            return None;
        }
        let mut formats = Vec::new();
        for name in names {
            match TimeFormat::parse(name) {
                Ok(format) => formats.push(format),
                Err(error) => self.problem(path, error.to_string()),
            }
        }
        Some(Kind::Timestamp { formats, event_time: spec.is_event_time })
    }

    /// An object with its fields (None when it has none).
    fn object_kind(&mut self, path: &str, spec: &ValueSpec) -> Option<Kind> {
        let Some(fields) = spec.fields.as_deref() else {
            self.problem(path, "an object needs `fields`".to_string());
            return None;
        };
        if fields.is_empty() {
            self.problem(path, "an object needs at least one field".to_string());
            return None;
        }
        Some(Kind::Object(self.object(path, fields, false)))
    }

    /// A `ref` to an entry of `definitions`, compiled in place.
    fn reference(&mut self, path: &str, spec: &ValueSpec) -> Option<Node> {
        let Some(target) = spec.target.as_deref() else {
            self.problem(path, "a ref needs `target` (the name of an entry in `definitions`)".to_string());
            return None;
        };
        let Some(definition) = self.definitions.get(target) else {
            let known: Vec<&str> = self.definitions.keys().map(String::as_str).collect();
            self.problem(
                path,
                format!(
                    "ref target '{target}' is not in `definitions` (defined: {})",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            );
            return None;
        };
        // Cycles were refused before compiling (`check_references`); this
        // bounds a long chain of distinct definitions, which recursion here follows.
        if self.depth > MAX_REF_DEPTH {
            self.problem(
                path,
                format!("ref target '{target}' is reached through more than {MAX_REF_DEPTH} nested refs; flatten the definitions"),
            );
            return None;
        }
        self.depth += 1;
        let mut node = self.value(path, definition);
        self.depth -= 1;
        if let Some(node) = node.as_mut() {
            node.embedded_json |= spec.is_embedded_json;
        }
        node
    }

    fn string_checks(&mut self, path: &str, spec: &ValueSpec) -> Vec<StringCheck> {
        let Some(validate) = &spec.validate else { return Vec::new() };
        let mut checks = Vec::new();
        if validate.allow.is_some() && validate.deny.is_some() {
            self.problem(path, "validate has both `allow` and `deny`; keep one".to_string());
        }
        if let Some(allow) = &validate.allow {
            checks.push(StringCheck::Allow(allow.clone()));
        }
        if let Some(deny) = &validate.deny {
            checks.push(StringCheck::Deny(deny.clone()));
        }
        if let Some(ip) = validate.ip {
            checks.push(StringCheck::Ip(ip));
        }
        if let Some(cidr) = validate.cidr {
            checks.push(StringCheck::Cidr(cidr));
        }
        checks
    }
}

impl Node {
    /// The Arrow type this value is stored as.
    pub fn data_type(&self) -> DataType {
        match &self.kind {
            Kind::String { .. } | Kind::Json => DataType::Utf8,
            Kind::Int16 => DataType::Int16,
            Kind::Int32 => DataType::Int32,
            Kind::Int64 => DataType::Int64,
            Kind::Float => DataType::Float64,
            Kind::Boolean => DataType::Boolean,
            Kind::Timestamp { .. } => timestamp_type(),
            Kind::Object(object) => DataType::Struct(object.arrow_fields()),
            Kind::Array(element) => DataType::List(Arc::new(Field::new("item", element.data_type(), true))),
        }
    }
}

impl Object {
    fn arrow_fields(&self) -> Fields {
        self.fields.iter().map(|field| field.arrow_field()).collect()
    }
}

impl ObjectField {
    fn arrow_field(&self) -> Field {
        let field = Field::new(&self.column, self.node.data_type(), true);
        if self.column != self.name { field.with_metadata([("tarn.name".to_string(), self.name.clone())].into()) } else { field }
    }
}

/// Timestamps are stored as microseconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The Arrow schema of a table: the schema's fields, the original record, the
/// standard `p_*` fields and the `p_any_*` columns its indicators fill.
pub fn table_schema(root: &Object, indicator_columns: &[&'static str]) -> Schema {
    let mut fields: Vec<Field> = root.fields.iter().map(ObjectField::arrow_field).collect();
    fields.push(Field::new(RAW_COLUMN, DataType::Utf8, true));
    for name in STANDARD_COLUMNS {
        let data_type = if name.ends_with("_time") { timestamp_type() } else { DataType::Utf8 };
        fields.push(Field::new(name, data_type, !matches!(name, "p_log_type" | "p_row_id" | "p_event_time" | "p_parse_time")));
    }
    for name in indicator_columns {
        fields.push(Field::new(*name, DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), true));
    }
    Schema::new(fields)
}
