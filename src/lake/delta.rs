//! Each lake table published as a Delta Lake table (`<table>/_delta_log/`),
//! so Athena, Trino, Spark, DuckDB and delta-rs read what tarn wrote.
//!
//! tarn's commit log stays the truth (see `docs/lake.md`): it commits the
//! rows of a chunk, its ledger of consumed inputs and its source checkpoints
//! in one line, across tables. Each table's Delta log is a view of it,
//! published after the line is written, under the lake lock: a Delta commit
//! never holds rows of a chunk that tarn might redo. Publishing is by
//! difference — the Delta table's live files against tarn's — so a crash
//! between the two leaves a Delta log that lags, and the next commit that
//! touches the table (or `tarn doctor --repair`) brings it level.
//!
//! Only the oldest protocol is written (reader 1, writer 2: no deletion
//! vectors, no column mapping), which Athena engine v3 reads. Each add
//! carries the file's row count and its columns' min, max and null count
//! (from the Parquet footer), so engines prune files by time.

use super::store::Store;
use super::{FileEntry, Lake, LakeError, PARTITION_COLUMNS, Snapshot};
use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::common::ScalarValue;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The folder of a table's Delta log.
pub const DELTA_LOG: &str = "_delta_log";

/// The Delta protocol tarn writes: reader 1, writer 2.
pub const PROTOCOL: (u32, u32) = (1, 2);

/// What a table's Delta log says, replayed.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct DeltaState {
    /// The latest version, if the table has a Delta log.
    pub version: Option<u64>,
    /// Live files: path (relative to the table's folder) and the add action
    /// that put it there (what a checkpoint repeats).
    pub live: BTreeMap<String, Value>,
    /// The table id and schema of the latest metaData action.
    pub table_id: Option<String>,
    pub schema: Option<String>,
    /// The tarn commit the latest Delta commit published.
    pub tarn_commit: Option<u64>,
}

/// `table`'s Delta state as tarn last published it (`_tarn/delta/<table>.json`),
/// if that is still the Delta log's latest version; else the log replayed.
/// Publishing so does not grow with the table's history.
pub fn read_state(lake: &Lake, table: &str) -> Result<DeltaState, LakeError> {
    let store = lake.store();
    if let Some(cached) = store.read(&cache_key(table)).ok().flatten().and_then(|b| serde_json::from_slice::<DeltaState>(&b).ok())
        && let Some(version) = cached.version
        && store.size(&commit_key(table, version))?.is_some()
        && store.size(&commit_key(table, version + 1))?.is_none()
    {
        return Ok(cached);
    }
    replay(store, table)
}

fn cache_key(table: &str) -> String {
    format!("_tarn/delta/{table}.json")
}

/// A table's Delta log folder, relative to the lake root.
fn log_dir(table: &str) -> String {
    format!("{table}/{DELTA_LOG}")
}

fn commit_key(table: &str, version: u64) -> String {
    format!("{}/{version:020}.json", log_dir(table))
}

/// Replays a Delta log (JSON commits in version order).
fn replay(store: &Store, table: &str) -> Result<DeltaState, LakeError> {
    let mut state = DeltaState::default();
    let mut versions: Vec<(u64, String)> = store
        .list(&log_dir(table))?
        .into_iter()
        .filter_map(|listed| {
            let name = listed.key.rsplit('/').next()?;
            let version = name.strip_suffix(".json")?.parse().ok()?;
            Some((version, listed.key))
        })
        .collect();
    versions.sort();
    let keys: Vec<String> = versions.iter().map(|(_, key)| key.clone()).collect();
    for ((version, key), text) in versions.into_iter().zip(store.read_many(&keys)?) {
        let path = format!("{}/{key}", store.location());
        let text = text.unwrap_or_default();
        let text = std::str::from_utf8(&text).map_err(|e| LakeError::DamagedDelta { path: path.clone(), reason: e.to_string() })?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let action: Value =
                serde_json::from_str(line).map_err(|e| LakeError::DamagedDelta { path: path.clone(), reason: e.to_string() })?;
            if let Some(add) = action.get("add") {
                state.live.insert(decoded(add["path"].as_str().unwrap_or_default()), add.clone());
            } else if let Some(remove) = action.get("remove") {
                state.live.remove(&decoded(remove["path"].as_str().unwrap_or_default()));
            } else if let Some(meta) = action.get("metaData") {
                state.table_id = meta["id"].as_str().map(str::to_string);
                state.schema = meta["schemaString"].as_str().map(str::to_string);
            } else if let Some(protocol) = action.get("protocol") {
                let reader = protocol["minReaderVersion"].as_u64().unwrap_or(0);
                let writer = protocol["minWriterVersion"].as_u64().unwrap_or(0);
                if reader > u64::from(PROTOCOL.0) || writer > u64::from(PROTOCOL.1) {
                    return Err(LakeError::NewerDelta { table: table.to_string(), reader, writer });
                }
            } else if let Some(info) = action.get("commitInfo") {
                state.tarn_commit = info["tarnCommit"].as_u64();
            }
        }
        state.version = Some(version);
    }
    Ok(state)
}

/// Publishes tarn's live files of each of `tables` to its Delta log, as
/// of `snapshot` (tarn's log after its latest commit). Runs under the lake
/// lock. Returns the tables whose Delta log moved.
pub(super) fn publish(lake: &Lake, snapshot: &Snapshot, tables: &BTreeSet<String>) -> Result<Vec<String>, LakeError> {
    let mut moved = Vec::new();
    for table in tables {
        if publish_table(lake, snapshot, table)? {
            moved.push(table.clone());
        }
    }
    Ok(moved)
}

/// How many times publishing tries the next Delta version when another
/// writer of an S3 lake took the one it read as next.
const MAX_PUBLISH_ATTEMPTS: u32 = 100;

fn publish_table(lake: &Lake, snapshot: &Snapshot, table: &str) -> Result<bool, LakeError> {
    for _ in 0..MAX_PUBLISH_ATTEMPTS {
        let state = read_state(lake, table)?;
        // A writer of a later tarn commit published already (possible on S3,
        // where writers hold no lock): this older state must not undo it.
        // (A local lake's writers publish in turn, under the lock.)
        if !lake.store().is_local() && state.tarn_commit.is_some_and(|published| published >= snapshot.last_commit) {
            return Ok(false);
        }
        if let Some(published) = publish_over(lake, snapshot, table, state)? {
            return Ok(published);
        }
    }
    Err(LakeError::Conflict {
        what: format!("other writers took the next version of {table}'s Delta log {MAX_PUBLISH_ATTEMPTS} times in a row"),
    })
}

/// Publishes `snapshot`'s files of `table` as the version after `state`;
/// `None` if another writer wrote that version first.
fn publish_over(lake: &Lake, snapshot: &Snapshot, table: &str, state: DeltaState) -> Result<Option<bool>, LakeError> {
    let prefix = format!("{table}/");
    let wanted: BTreeMap<String, &FileEntry> =
        snapshot.table_files(table).map(|f| (f.path.strip_prefix(&prefix).unwrap_or(&f.path).to_string(), f)).collect();
    let added: Vec<(&String, &&FileEntry)> = wanted.iter().filter(|(path, _)| !state.live.contains_key(*path)).collect();
    let removed: Vec<&String> = state.live.keys().filter(|path| !wanted.contains_key(*path)).collect();
    if state.version.is_none() && wanted.is_empty() {
        return Ok(Some(false));
    }
    // Each added file's footer, read once: its statistics, and the schema
    // of the newest (a schema that gained fields evolves the table).
    let footers = added.iter().map(|(path, file)| Ok((*path, **file, footer(lake, file)?))).collect::<Result<Vec<_>, LakeError>>()?;
    let schema = footers.iter().max_by_key(|(_, f, _)| (f.commit, &f.path)).map(|(_, _, (schema, _))| delta_schema(schema));
    let schema_changed = schema.as_ref().is_some_and(|s| state.schema.as_deref() != Some(s.as_str()));
    if added.is_empty() && removed.is_empty() && !schema_changed {
        return Ok(Some(false));
    }
    let now = chrono::Utc::now().timestamp_millis();
    let version = state.version.map_or(0, |v| v + 1);
    let mut actions = vec![json!({"commitInfo": {
        "timestamp": now,
        "operation": if version == 0 { "CREATE TABLE" } else { "WRITE" },
        "operationParameters": {"mode": "Append"},
        "engineInfo": concat!("tarn/", env!("CARGO_PKG_VERSION")),
        "isBlindAppend": removed.is_empty(),
        "tarnCommit": snapshot.last_commit,
    }})];
    if version == 0 {
        actions.push(json!({"protocol": {"minReaderVersion": PROTOCOL.0, "minWriterVersion": PROTOCOL.1}}));
    }
    if schema_changed {
        let id = state.table_id.clone().unwrap_or_else(table_id);
        actions.push(json!({"metaData": {
            "id": id,
            "format": {"provider": "parquet", "options": {}},
            "schemaString": schema,
            "partitionColumns": PARTITION_COLUMNS,
            // Statistics of every column count (Delta's default is the
            // first 32 leaves, which ends inside `useridentity` before
            // `p_event_time`, so engines could not prune by time).
            "configuration": {"delta.dataSkippingNumIndexedCols": "-1"},
            "createdTime": now,
        }}));
    }
    for path in removed {
        actions.push(json!({"remove": {
            "path": encoded(path),
            "deletionTimestamp": now,
            "dataChange": true,
            "extendedFileMetadata": false,
        }}));
    }
    for (path, file, (_, stats)) in &footers {
        actions.push(json!({"add": {
            "path": encoded(path),
            "partitionValues": partition_values(file),
            "size": file.bytes,
            "modificationTime": now,
            "dataChange": true,
            "stats": stats.to_string(),
        }}));
    }
    actions.push(json!({"txn": {"appId": "tarn", "version": snapshot.last_commit, "lastUpdated": now}}));
    if !write_commit(lake.store(), table, version, &actions)? {
        return Ok(None);
    }
    let mut live = state.live;
    live.retain(|path, _| wanted.contains_key(path));
    for action in &actions {
        if let Some(add) = action.get("add") {
            live.insert(decoded(add["path"].as_str().unwrap_or_default()), add.clone());
        }
    }
    let published = DeltaState {
        version: Some(version),
        live,
        table_id: actions.iter().find_map(|a| a["metaData"]["id"].as_str().map(str::to_string)).or(state.table_id),
        schema: schema.filter(|_| schema_changed).or(state.schema),
        tarn_commit: Some(snapshot.last_commit),
    };
    lake.store().write(&cache_key(table), serde_json::to_vec(&published)?)?;
    if version > 0 && version.is_multiple_of(CHECKPOINT_INTERVAL) {
        // Readers then start from the checkpoint, not from version 0. A
        // checkpoint that fails costs them time, not rows: a warning.
        if let Err(e) = write_checkpoint(lake.store(), table, &published) {
            tracing::warn!(error = %e, table, version, "could not write the Delta checkpoint; readers replay the JSON commits");
        }
    }
    Ok(Some(true))
}

/// A Delta checkpoint every this many versions (Delta's own default).
const CHECKPOINT_INTERVAL: u64 = 10;

/// The classic (single-file Parquet) checkpoint's columns, one action a row.
fn checkpoint_schema() -> datafusion::arrow::datatypes::SchemaRef {
    use datafusion::arrow::datatypes::Fields;
    use std::sync::Arc;
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let long = |name: &str, nullable: bool| Field::new(name, DataType::Int64, nullable);
    let map = |name: &str, nullable: bool| {
        let entries = Field::new("key_value", DataType::Struct(Fields::from(vec![text("key", false), text("value", true)])), false);
        Field::new(name, DataType::Map(Arc::new(entries), false), nullable)
    };
    let object = |name: &str, fields: Vec<Field>| Field::new(name, DataType::Struct(Fields::from(fields)), true);
    Arc::new(Schema::new(vec![
        object("txn", vec![text("appId", false), long("version", false), long("lastUpdated", true)]),
        object(
            "add",
            vec![
                text("path", false),
                map("partitionValues", false),
                long("size", false),
                long("modificationTime", false),
                Field::new("dataChange", DataType::Boolean, false),
                text("stats", true),
                map("tags", true),
            ],
        ),
        object(
            "remove",
            vec![
                text("path", false),
                long("deletionTimestamp", true),
                Field::new("dataChange", DataType::Boolean, false),
                Field::new("extendedFileMetadata", DataType::Boolean, true),
                map("partitionValues", true),
                long("size", true),
                map("tags", true),
            ],
        ),
        object(
            "metaData",
            vec![
                text("id", false),
                text("name", true),
                text("description", true),
                object("format", vec![text("provider", false), map("options", true)]),
                text("schemaString", false),
                Field::new("partitionColumns", DataType::List(Arc::new(Field::new("element", DataType::Utf8, false))), false),
                long("createdTime", true),
                map("configuration", false),
            ],
        ),
        object(
            "protocol",
            vec![Field::new("minReaderVersion", DataType::Int32, false), Field::new("minWriterVersion", DataType::Int32, false)],
        ),
    ]))
}

/// Writes `state` as the checkpoint of its version and points
/// `_last_checkpoint` at it (each file written aside and renamed in).
fn write_checkpoint(store: &Store, table: &str, state: &DeltaState) -> Result<(), LakeError> {
    use datafusion::arrow::json::ReaderBuilder;
    use datafusion::parquet::arrow::ArrowWriter;
    let Some(version) = state.version else { return Ok(()) };
    let mut rows = vec![json!({"protocol": {"minReaderVersion": PROTOCOL.0, "minWriterVersion": PROTOCOL.1}})];
    rows.push(json!({"metaData": {
        "id": state.table_id,
        "format": {"provider": "parquet", "options": {}},
        "schemaString": state.schema,
        "partitionColumns": PARTITION_COLUMNS,
        "configuration": {"delta.dataSkippingNumIndexedCols": "-1"},
    }}));
    if let Some(commit) = state.tarn_commit {
        rows.push(json!({"txn": {"appId": "tarn", "version": commit}}));
    }
    for add in state.live.values() {
        let mut add = add.clone();
        add["dataChange"] = json!(false);
        rows.push(json!({ "add": add }));
    }
    let schema = checkpoint_schema();
    let mut decoder = ReaderBuilder::new(schema.clone()).build_decoder()?;
    decoder.serialize(&rows)?;
    let Some(batch) = decoder.flush()? else { return Ok(()) };
    let mut parquet = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut parquet, schema, None)?;
    writer.write(&batch)?;
    writer.close()?;
    let dir = log_dir(table);
    store.write(&format!("{dir}/{version:020}.checkpoint.parquet"), parquet)?;
    Ok(store.write(&format!("{dir}/_last_checkpoint"), json!({"version": version, "size": rows.len()}).to_string().into_bytes())?)
}

/// Writes a Delta commit if no commit of that version exists (whole, and
/// only if absent: [`Store::create`]); `false` if one did.
fn write_commit(store: &Store, table: &str, version: u64, actions: &[Value]) -> Result<bool, LakeError> {
    let mut text = String::new();
    for action in actions {
        text.push_str(&action.to_string());
        text.push('\n');
    }
    Ok(store.create(&commit_key(table, version), text.into_bytes())?)
}

/// A new table's id, a random UUID (version 4).
fn table_id() -> String {
    crate::uuid_v4(crate::unique_seed(), crate::unique_seed())
}

fn partition_values(file: &FileEntry) -> Value {
    let values: Map<String, Value> =
        PARTITION_COLUMNS.iter().zip(file.partition).map(|(name, value)| (name.to_string(), Value::String(value.to_string()))).collect();
    Value::Object(values)
}

/// Delta paths are URIs: the characters a URI reserves are escaped.
fn encoded(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b'=' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn decoded(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = path.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A file's Arrow schema and its Delta statistics, from its Parquet footer.
fn footer(lake: &Lake, file: &FileEntry) -> Result<(Schema, Value), LakeError> {
    use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
    use datafusion::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
    let parquet = lake.store().parquet_metadata(&file.path, file.bytes)?;
    let metadata = ArrowReaderMetadata::try_new(std::sync::Arc::new(parquet), ArrowReaderOptions::new())?;
    let schema = metadata.schema().as_ref().clone();
    let parquet = metadata.metadata();
    let (mut mins, mut maxes, mut nulls) = (Map::new(), Map::new(), Map::new());
    for field in schema.fields() {
        if !stats_kept(field.data_type()) {
            continue;
        }
        let Ok(converter) = StatisticsConverter::try_new(field.name(), &schema, parquet.file_metadata().schema_descr()) else {
            continue;
        };
        let groups = parquet.row_groups().iter();
        if let Ok(counts) = converter.row_group_null_counts(groups.clone())
            && counts.null_count() == 0
        {
            nulls.insert(field.name().clone(), json!(counts.values().iter().sum::<u64>()));
        }
        let (Ok(min), Ok(max)) = (converter.row_group_mins(groups.clone()), converter.row_group_maxes(groups)) else { continue };
        if let (Some(min), Some(max)) = (extreme(&min, true), extreme(&max, false))
            && let (Some(min), Some(max)) = (stat_json(&min, true), stat_json(&max, false))
        {
            mins.insert(field.name().clone(), min);
            maxes.insert(field.name().clone(), max);
        }
    }
    let stats = json!({"numRecords": file.rows, "minValues": mins, "maxValues": maxes, "nullCount": nulls});
    Ok((schema, stats))
}

/// Types whose min and max Delta readers use to prune.
fn stats_kept(data_type: &DataType) -> bool {
    data_type.is_integer() || data_type.is_floating() || matches!(data_type, DataType::Utf8 | DataType::Timestamp(..) | DataType::Date32)
}

/// The smallest (or largest) value of the row groups' minimums (maximums);
/// `None` if a row group has none (its min or max is unknown).
fn extreme(values: &ArrayRef, smallest: bool) -> Option<ScalarValue> {
    let mut best: Option<ScalarValue> = None;
    for i in 0..values.len() {
        let value = ScalarValue::try_from_array(values, i).ok()?;
        if value.is_null() {
            return None;
        }
        let better = match &best {
            None => true,
            Some(current) => {
                let order = value.partial_cmp(current)?;
                if smallest { order.is_lt() } else { order.is_gt() }
            }
        };
        if better {
            best = Some(value);
        }
    }
    best
}

/// A statistic as Delta writes it. Timestamps are milliseconds in Delta's
/// statistics: a minimum is rounded down and a maximum up, so they still
/// bound the file. A long text maximum is left out (cut, it would not bound).
fn stat_json(value: &ScalarValue, minimum: bool) -> Option<Value> {
    Some(match value {
        ScalarValue::Int8(Some(v)) => json!(v),
        ScalarValue::Int16(Some(v)) => json!(v),
        ScalarValue::Int32(Some(v)) => json!(v),
        ScalarValue::Int64(Some(v)) => json!(v),
        ScalarValue::UInt8(Some(v)) => json!(v),
        ScalarValue::UInt16(Some(v)) => json!(v),
        ScalarValue::UInt32(Some(v)) => json!(v),
        ScalarValue::UInt64(Some(v)) => json!(v),
        ScalarValue::Float64(Some(v)) if v.is_finite() => json!(v),
        ScalarValue::Float32(Some(v)) if v.is_finite() => json!(v),
        ScalarValue::Utf8(Some(text)) if text.len() <= 64 => json!(text),
        ScalarValue::Utf8(Some(text)) if minimum => {
            let mut end = 64;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            json!(&text[..end])
        }
        ScalarValue::Date32(Some(days)) => json!(chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)?.to_string()),
        ScalarValue::TimestampMicrosecond(Some(micros), _) => {
            let millis = if minimum { micros.div_euclid(1000) } else { (micros + 999).div_euclid(1000) };
            json!(chrono::DateTime::from_timestamp_millis(millis)?.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        }
        _ => return None,
    })
}

/// A table's Delta schema: the file's columns, then the partition columns.
pub fn delta_schema(schema: &Schema) -> String {
    let mut fields: Vec<Value> = schema.fields().iter().map(|f| delta_field(f)).collect();
    for name in PARTITION_COLUMNS {
        if schema.field_with_name(name).is_err() {
            fields.push(json!({"name": name, "type": "integer", "nullable": false, "metadata": {}}));
        }
    }
    json!({"type": "struct", "fields": fields}).to_string()
}

fn delta_field(field: &Field) -> Value {
    json!({"name": field.name(), "type": delta_type(field.data_type()), "nullable": field.is_nullable(), "metadata": {}})
}

fn delta_type(data_type: &DataType) -> Value {
    match data_type {
        DataType::Boolean => json!("boolean"),
        DataType::Int8 | DataType::UInt8 => json!("byte"),
        DataType::Int16 | DataType::UInt16 => json!("short"),
        DataType::Int32 | DataType::UInt32 => json!("integer"),
        DataType::Int64 | DataType::UInt64 => json!("long"),
        DataType::Float16 | DataType::Float32 => json!("float"),
        DataType::Float64 => json!("double"),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => json!(format!("decimal({p},{s})")),
        DataType::Date32 | DataType::Date64 => json!("date"),
        DataType::Timestamp(TimeUnit::Microsecond | TimeUnit::Millisecond | TimeUnit::Second | TimeUnit::Nanosecond, _) => {
            json!("timestamp")
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => json!("binary"),
        DataType::List(item) | DataType::LargeList(item) | DataType::ListView(item) | DataType::FixedSizeList(item, _) => {
            json!({"type": "array", "elementType": delta_type(item.data_type()), "containsNull": item.is_nullable()})
        }
        DataType::Struct(fields) => json!({"type": "struct", "fields": fields.iter().map(|f| delta_field(f)).collect::<Vec<_>>()}),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => json!({
                "type": "map",
                "keyType": delta_type(kv[0].data_type()),
                "valueType": delta_type(kv[1].data_type()),
                "valueContainsNull": kv[1].is_nullable(),
            }),
            _ => json!("string"),
        },
        _ => json!("string"),
    }
}
