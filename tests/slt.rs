//! sqllogictest files (`tests/sql/*.slt`) over a small lake built from
//! `tests/sql/data`: six CloudTrail events and three Snyk audit events,
//! few enough that every expected result in the files is worked out by hand
//! from the data. Two event data stores show them:
//! `5e2676f8-9fce-46ef-8142-3e36a94e6691` (trail, Management, over
//! aws_cloudtrail) and `0de7b2d6-aaaa-4bbb-8ccc-0123456789ab` (snyk,
//! ActivityAuditLog, over snyk_orgaudit).
//!
//! The format is sqllogictest's: `query <column types> [rowsort]`, the SQL,
//! `----`, one line a row with the values (as `--format lake` prints them)
//! separated by single spaces, NULL as `NULL` and the empty string as
//! `(empty)`; a `columns:a,b` word on the `query` line also checks the
//! result's column names; `statement error <text>` or `query error <text>` for a query
//! that must fail with a message containing the text.

use std::path::{Path, PathBuf};
use tarn::catalog::eds::{Category, EventDataStore};

fn store(id: &str, name: &str, category: Category, tables: &[&str]) -> EventDataStore {
    EventDataStore { id: id.to_string(), ..EventDataStore::new(name, category, tables) }
}

fn build_lake(dir: &Path) -> tarn::lake::Lake {
    let _ = std::fs::remove_dir_all(dir);
    let lake = tarn::lake::Lake::open(dir).unwrap();
    let registry = tarn::schema::Registry::built_in();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql/data");
    for (file, log_type) in [("cloudtrail.json", "AWS.CloudTrail"), ("snyk_org.json", "Snyk.OrgAudit")] {
        let options = tarn::sources::IngestOptions { log_type: Some(log_type.to_string()), ..Default::default() };
        let report = tarn::sources::file::ingest_files(&lake, &registry, &[data.join(file)], &options).unwrap();
        assert!(report.failed.is_empty(), "{file}: {:?}", report.failed);
        assert_eq!(report.quarantined, 0, "{file}");
    }
    lake
}

#[derive(Debug)]
enum Record {
    Query { line: usize, sql: String, rowsort: bool, columns: Option<Vec<String>>, expected: Vec<String> },
    Error { line: usize, sql: String, message: String },
}

fn parse(path: &Path) -> Vec<Record> {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut records = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        let start = i + 1;
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut sql = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() && lines[i] != "----" {
            sql.push(lines[i]);
            i += 1;
        }
        let sql = sql.join("\n");
        if let Some(message) = line.strip_prefix("statement error ").or_else(|| line.strip_prefix("query error ")) {
            records.push(Record::Error { line: start, sql, message: message.to_string() });
        } else if let Some(spec) = line.strip_prefix("query ") {
            assert_eq!(lines.get(i), Some(&"----"), "{}:{start}: a query needs ---- and its rows", path.display());
            i += 1;
            let mut expected = Vec::new();
            while i < lines.len() && !lines[i].trim().is_empty() {
                expected.push(lines[i].to_string());
                i += 1;
            }
            let rowsort = spec.split_whitespace().any(|w| w == "rowsort");
            let columns =
                spec.split_whitespace().find_map(|w| w.strip_prefix("columns:")).map(|c| c.split(',').map(str::to_string).collect());
            records.push(Record::Query { line: start, sql, rowsort, columns, expected });
        } else {
            panic!("{}:{start}: expected `query`, `statement error` or `query error`, found {line}", path.display());
        }
    }
    records
}

type Result = (datafusion::arrow::datatypes::SchemaRef, Vec<datafusion::arrow::record_batch::RecordBatch>);

fn column_names(result: &Result) -> Vec<String> {
    result.0.fields().iter().map(|f| f.name().clone()).collect()
}

fn render(result: Result) -> Vec<String> {
    let (_, batches) = result;
    let mut rows = Vec::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let values: Vec<String> = batch
                .columns()
                .iter()
                .map(|c| match tarn::sql::lake_value(c.as_ref(), row).unwrap() {
                    None => "NULL".to_string(),
                    Some(v) if v.is_empty() => "(empty)".to_string(),
                    Some(v) => v,
                })
                .collect();
            rows.push(values.join(" "));
        }
    }
    rows
}

#[test]
fn sqllogictest_files() {
    let dir = std::env::temp_dir().join(format!("tarn-test-slt-{}", std::process::id()));
    let lake = build_lake(&dir.join("lake"));
    let stores = [
        store("5e2676f8-9fce-46ef-8142-3e36a94e6691", "trail", Category::Management, &["aws_cloudtrail"]),
        store("0de7b2d6-aaaa-4bbb-8ccc-0123456789ab", "snyk", Category::ActivityAuditLog, &["snyk_orgaudit"]),
    ];
    let registry = tarn::schema::Registry::built_in();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let sql = runtime.block_on(tarn::sql::Sql::open(&lake, &registry, &stores)).unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sql"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "the .slt files are found");
    let (mut checked, mut failures) = (0, Vec::new());
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        for record in parse(file) {
            checked += 1;
            match record {
                Record::Query { line, sql: query, rowsort, columns, expected } => match runtime.block_on(sql.query(&query)) {
                    Ok(result) => {
                        if let Some(columns) = columns
                            && column_names(&result) != columns
                        {
                            failures.push(format!("{name}:{line}\n{query}\ncolumns {:?}, expected {columns:?}", column_names(&result)));
                        }
                        let mut actual = render(result);
                        let mut expected = expected;
                        if rowsort {
                            actual.sort();
                            expected.sort();
                        }
                        if actual != expected {
                            failures.push(format!(
                                "{name}:{line}\n{query}\nexpected:\n{}\nactual:\n{}",
                                expected.join("\n"),
                                actual.join("\n")
                            ));
                        }
                    }
                    Err(e) => failures.push(format!("{name}:{line}\n{query}\nfailed: {e}")),
                },
                Record::Error { line, sql: query, message } => match runtime.block_on(sql.query(&query)) {
                    Ok(result) => {
                        failures.push(format!("{name}:{line}\n{query}\nshould fail with '{message}', returned {:?}", render(result)))
                    }
                    Err(e) if !e.to_string().contains(&message) => {
                        failures.push(format!("{name}:{line}\n{query}\nshould fail with '{message}', failed with: {e}"))
                    }
                    Err(e) => assert!(!e.to_string().contains('\n'), "{name}:{line}: an error is one line: {e}"),
                },
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{} of {checked} records failed:\n\n{}", failures.len(), failures.join("\n\n"));
}
