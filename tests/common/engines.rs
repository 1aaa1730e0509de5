//! Engines that are not tarn, reading the lake's Delta tables: delta-rs
//! (PyPI `deltalake`) and DuckDB with its `delta` extension (PyPI
//! `duckdb-ext-delta`, loaded from the file it ships: no download), from the
//! virtualenv `scripts/test.sh` installs.

use std::path::Path;
use std::process::Command;

/// The engine that runs a query.
#[derive(Debug, Clone, Copy)]
pub enum Engine {
    DeltaRs,
    DuckDb,
}

const SCRIPT: &str = r#"
import sys, json, glob, importlib.util
engine, location, sql = sys.argv[1:4]
if engine == "delta-rs":
    from deltalake import DeltaTable, QueryBuilder
    options = {"AWS_ALLOW_HTTP": "true"} if location.startswith("s3://") else None
    table = DeltaTable(location, storage_options=options)
    protocol = table.protocol()
    result = QueryBuilder().register("t", table).execute(sql).read_all()
    columns = [c.to_pylist() for c in result.columns]
    rows = [list(r) for r in zip(*columns)]
    print(json.dumps({"rows": rows, "protocol": [protocol.min_reader_version, protocol.min_writer_version,
        protocol.reader_features, protocol.writer_features]}, default=str))
else:
    import duckdb
    home = importlib.util.find_spec("duckdb_ext").submodule_search_locations[0]
    extension = lambda name: glob.glob(home + "/extensions/v" + duckdb.__version__ + f"/*/{name}.duckdb_extension")[0]
    con = duckdb.connect(config={"allow_unsigned_extensions": "true", "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false"})
    con.execute(f"LOAD '{extension('delta')}'")
    if location.startswith("s3://"):
        import os
        con.execute(f"LOAD '{extension('httpfs')}'")
        endpoint = os.environ["AWS_ENDPOINT_URL"]
        con.execute(f"""CREATE SECRET lake (TYPE S3, KEY_ID '{os.environ["AWS_ACCESS_KEY_ID"]}',
            SECRET '{os.environ["AWS_SECRET_ACCESS_KEY"]}', REGION '{os.environ["AWS_REGION"]}',
            ENDPOINT '{endpoint.split("://")[1]}', URL_STYLE 'path', USE_SSL {str(endpoint.startswith("https")).lower()})""")
    con.execute(f"CREATE VIEW t AS SELECT * FROM delta_scan('{location}')")
    print(json.dumps({"rows": [list(r) for r in con.execute(sql).fetchall()]}, default=str))
"#;

pub fn python() -> String {
    std::env::var("TARN_PYTHON").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python").to_string())
}

/// Runs `sql` (naming the table `t`) in `engine` over the Delta table at
/// `location` (a folder, or an `s3://` URI on the tests' moto_server).
/// Returns the rows (values as JSON) and, for delta-rs, the table's protocol.
pub fn query(engine: Engine, location: &str, sql: &str, env: &[(&str, &str)]) -> (Vec<Vec<serde_json::Value>>, serde_json::Value) {
    let python = python();
    assert!(Path::new(&python).exists(), "python is not at {python}; run scripts/test.sh, which installs deltalake and duckdb");
    let name = match engine {
        Engine::DeltaRs => "delta-rs",
        Engine::DuckDb => "duckdb",
    };
    let mut command = Command::new(&python);
    command.args(["-c", SCRIPT, name, location, sql]).envs(env.iter().copied());
    if location.starts_with("s3://") {
        super::moto::aws_env(&mut command);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{name} failed on {location}: {}", String::from_utf8_lossy(&output.stderr));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows = result["rows"].as_array().unwrap().iter().map(|r| r.as_array().unwrap().clone()).collect();
    (rows, result["protocol"].clone())
}

/// One number from a query.
pub fn count(engine: Engine, location: &str, sql: &str) -> u64 {
    let (rows, _) = query(engine, location, sql, &[]);
    rows[0][0].as_u64().unwrap_or_else(|| panic!("{sql}: {rows:?}"))
}
