//! `tarn ddl`: what registers each of the lake's Delta tables in another
//! engine — Athena (through Glue), Trino, Spark, DuckDB — for the lake's
//! location, and which of tarn's Lake (Trino) functions each engine names
//! differently. Each engine reads the table's Delta log, never a folder
//! listing (which would show files a crashed writer left).

use std::fmt::Write;

/// An engine `tarn ddl` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    Athena,
    Trino,
    Spark,
    Duckdb,
}

/// tarn's Lake functions that an engine spells otherwise, or lacks.
fn function_notes(engine: Engine) -> &'static [&'static str] {
    match engine {
        // Athena engine v3 is Trino: the Lake functions are its own.
        Engine::Athena | Engine::Trino => {
            &["tarn's Lake functions (json_extract_scalar, element_at, from_iso8601_timestamp, …) are Trino's own"]
        }
        Engine::Spark => &[
            "json_extract_scalar(j, '$.a') -> get_json_object(j, '$.a')",
            "json_extract(j, '$.a') -> get_json_object(j, '$.a')",
            "from_iso8601_timestamp(s) -> to_timestamp(s)",
            "to_unixtime(t) -> unix_timestamp(t)",
            "from_unixtime(n) -> timestamp_seconds(n)",
            "date_add('day', n, t) -> t + make_interval(0, 0, 0, n)",
            "date_diff('second', a, b) -> unix_timestamp(b) - unix_timestamp(a)",
            "count_if(c) -> count_if(c) (Spark 3+)",
            "ip_in_cidr is tarn's own: no Spark equivalent",
        ],
        Engine::Duckdb => &[
            "json_extract_scalar(j, '$.a') -> json_extract_string(j, '$.a')",
            "json_extract(j, '$.a') -> json_extract(j, '$.a')",
            "from_iso8601_timestamp(s) -> CAST(s AS TIMESTAMPTZ)",
            "to_unixtime(t) -> epoch(t)",
            "from_unixtime(n) -> to_timestamp(n)",
            "date_add('day', n, t) -> t + to_days(n)",
            "date_diff('second', a, b) -> date_diff('second', a, b)",
            "count_if(c) -> count_if(c)",
            "ip_in_cidr is tarn's own: no DuckDB equivalent (the inet extension has <<=)",
        ],
    }
}

/// The statement that registers one table: (database, base, table).
type TableStatement = fn(&str, &str, &str) -> String;

/// The statements that register `tables` of the lake at `location` (a
/// folder, or an `s3://` URI) in `engine`, as one SQL script. `database` is
/// the schema (Trino), database (Athena, Spark) the tables go in.
pub fn ddl(engine: Engine, location: &str, database: &str, tables: &[String]) -> String {
    let base = location.trim_end_matches('/');
    let mut out = String::new();
    let _ = writeln!(out, "-- tarn's lake at {base}: {} Delta table(s), registered in {engine:?}.", tables.len());
    let _ = writeln!(out, "-- The engine reads each table's _delta_log (protocol reader 1 / writer 2), never a folder listing.");
    for note in function_notes(engine) {
        let _ = writeln!(out, "-- {note}");
    }
    // What comes first, then one statement a table (database, base, table).
    let (preamble, per_table): (Vec<String>, TableStatement) = match engine {
        Engine::Athena => {
            let mut lines = Vec::new();
            if !base.starts_with("s3://") {
                lines
                    .push("-- Athena reads S3 only: copy the lake to S3 (aws s3 sync) and give --location s3://bucket/prefix.".to_string());
            }
            lines.push(format!("CREATE DATABASE IF NOT EXISTS {database};"));
            (lines, |db, base, table| {
                format!(
                    "CREATE EXTERNAL TABLE IF NOT EXISTS {db}.{table}\nLOCATION '{base}/{table}/'\nTBLPROPERTIES ('table_type' = 'DELTA');"
                )
            })
        }
        Engine::Trino => (
            vec![
                "-- In a catalog named delta using the delta_lake connector (delta.register-table-procedure.enabled=true).".to_string(),
                format!("CREATE SCHEMA IF NOT EXISTS delta.{database};"),
            ],
            |db, base, table| {
                format!(
                    "CALL delta.system.register_table(schema_name => '{db}', table_name => '{table}', table_location => '{base}/{table}');"
                )
            },
        ),
        Engine::Spark => (
            vec![
                "-- With delta-spark on the classpath (spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension).".to_string(),
                format!("CREATE DATABASE IF NOT EXISTS {database};"),
            ],
            |db, base, table| format!("CREATE TABLE IF NOT EXISTS {db}.{table} USING DELTA LOCATION '{base}/{table}';"),
        ),
        Engine::Duckdb => (vec!["INSTALL delta;".to_string(), "LOAD delta;".to_string()], |_, base, table| {
            format!("CREATE OR REPLACE VIEW {table} AS SELECT * FROM delta_scan('{base}/{table}');")
        }),
    };
    for line in preamble {
        let _ = writeln!(out, "{line}");
    }
    for table in tables {
        let _ = writeln!(out, "{}", per_table(database, base, table));
    }
    out
}
