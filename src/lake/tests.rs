use super::*;
use crate::schema::{Provenance, Registry, RowBuilder};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tarn-lake-{name}-{:x}", crate::unique_seed()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn batch(times: &[&str]) -> datafusion::arrow::record_batch::RecordBatch {
    let log_type = Registry::built_in().get("Snyk.OrgAudit").unwrap();
    let mut rows = RowBuilder::new(log_type);
    let provenance = Provenance::default();
    for time in times {
        let raw = format!(r#"{{"event":"e","created":"{time}"}}"#);
        rows.push(&raw, crate::ingest::unchanged, &provenance, 0).unwrap();
    }
    rows.finish().unwrap().unwrap()
}

#[test]
fn rows_go_to_the_partition_of_their_utc_hour() {
    let lake = Lake::open(&scratch("hours")).unwrap();
    let mut tx = lake.begin().unwrap();
    tx.write("snyk_orgaudit", &batch(&["2026-11-20T10:59:59Z", "2026-11-20T11:00:00Z", "2026-11-20T10:00:00+01:00"])).unwrap();
    tx.consume("test:1".into());
    assert!(matches!(tx.commit("test", false).unwrap(), CommitOutcome::Committed { rows: 3, files: 3, .. }));
    let snapshot = lake.snapshot().unwrap();
    let partitions: Vec<[i32; 4]> = snapshot.files.values().map(|f| f.partition).collect();
    assert_eq!(partitions, [[2026, 11, 20, 9], [2026, 11, 20, 10], [2026, 11, 20, 11]]);
    for file in snapshot.files.values() {
        assert!(lake.root().join(&file.path).is_file());
        assert!(file.path.starts_with(&format!("snyk_orgaudit/year=2026/month=11/day=20/hour={:02}/part-", file.partition[3])));
    }
}

#[test]
/// Regression: `tarn optimize` of a partition whose files had two schemas
/// (a schema that evolved) wrote both into one staged file, whose Parquet
/// writer does not check a batch's columns against the file's.
fn regression_rows_of_two_schemas_in_one_hour_go_to_two_files() {
    use datafusion::arrow::array::{ArrayRef, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let lake = Lake::open(&scratch("two-schemas")).unwrap();
    let older = batch(&["2026-11-20T10:00:00Z"]);
    let mut fields: Vec<Field> = older.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("added", DataType::Int64, true));
    let mut columns = older.columns().to_vec();
    columns.push(std::sync::Arc::new(Int64Array::from(vec![7])) as ArrayRef);
    let newer = datafusion::arrow::record_batch::RecordBatch::try_new(std::sync::Arc::new(Schema::new(fields)), columns).unwrap();
    let mut tx = lake.begin().unwrap();
    tx.write("snyk_orgaudit", &older).unwrap();
    tx.write("snyk_orgaudit", &newer).unwrap();
    assert!(matches!(tx.commit("test", false).unwrap(), CommitOutcome::Committed { rows: 2, files: 2, .. }));
    let widths: std::collections::BTreeSet<usize> = lake
        .snapshot()
        .unwrap()
        .files
        .values()
        .map(|f| {
            let file = std::fs::File::open(lake.root().join(&f.path)).unwrap();
            let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
            reader.schema().fields().len()
        })
        .collect();
    assert_eq!(widths, [older.num_columns(), older.num_columns() + 1].into_iter().collect());
}

#[test]
fn nothing_is_visible_before_the_commit_and_an_abandoned_transaction_leaves_nothing() {
    let lake = Lake::open(&scratch("visibility")).unwrap();
    let mut tx = lake.begin().unwrap();
    tx.write("snyk_orgaudit", &batch(&["2026-11-20T10:00:00Z"])).unwrap();
    assert!(lake.snapshot().unwrap().files.is_empty());
    drop(tx);
    assert!(lake.snapshot().unwrap().files.is_empty());
    assert_eq!(std::fs::read_dir(lake.staging_dir()).unwrap().count(), 0);
    assert!(!lake.root().join("snyk_orgaudit").exists());
}

#[test]
fn an_expiring_input_is_forgotten_after_its_time_and_in_the_checkpoint() {
    let lake = Lake::open(&scratch("expiring")).unwrap();
    let now = crate::now_micros();
    let mut tx = lake.begin().unwrap();
    tx.consume("channel:a:kept".into());
    tx.consume_until("channel:a:soon".into(), now + 3_600_000_000);
    tx.consume_until("channel:a:over".into(), now - 1);
    assert!(matches!(tx.commit("test", false).unwrap(), CommitOutcome::Committed { .. }));
    let snapshot = lake.snapshot().unwrap();
    assert!(snapshot.inputs.contains("channel:a:kept") && snapshot.inputs.contains("channel:a:soon"));
    assert!(!snapshot.inputs.contains("channel:a:over"), "past its time");
    assert_eq!(snapshot.expiring.len(), 1);
    // A writer may consume the forgotten input again.
    let mut again = lake.begin().unwrap();
    again.consume_until("channel:a:over".into(), now + 3_600_000_000);
    assert!(matches!(again.commit("test", false).unwrap(), CommitOutcome::Committed { .. }));
    // The checkpoint keeps the expiring inputs with their time.
    let mut read = lake.snapshot().unwrap();
    read.save_checkpoint(lake.store()).unwrap();
    let reread = lake.snapshot().unwrap();
    assert_eq!(reread.expiring.get("channel:a:soon"), Some(&(now + 3_600_000_000)));
    read.forget_expired(now + 7_200_000_000);
    assert_eq!(read.inputs.iter().collect::<Vec<_>>(), vec!["channel:a:kept"], "only the input kept for good is left");
}

#[test]
fn an_input_is_consumed_once() {
    let lake = Lake::open(&scratch("inputs")).unwrap();
    let mut first = lake.begin().unwrap();
    let mut second = lake.begin().unwrap();
    for tx in [&mut first, &mut second] {
        tx.write("snyk_orgaudit", &batch(&["2026-11-20T10:00:00Z"])).unwrap();
        tx.consume("sha256:abc".into());
    }
    assert!(matches!(first.commit("test", false).unwrap(), CommitOutcome::Committed { id: 1, .. }));
    assert_eq!(second.commit("test", false).unwrap(), CommitOutcome::AlreadyConsumed(vec!["sha256:abc".into()]));
    let snapshot = lake.snapshot().unwrap();
    assert_eq!(snapshot.files.len(), 1);
    let mut forced = lake.begin().unwrap();
    forced.write("snyk_orgaudit", &batch(&["2026-11-20T10:00:00Z"])).unwrap();
    forced.consume("sha256:abc".into());
    assert!(matches!(forced.commit("test", true).unwrap(), CommitOutcome::Committed { id: 2, .. }));
}

#[test]
fn a_cut_log_line_is_ignored_then_replaced() {
    let lake = Lake::open(&scratch("torn")).unwrap();
    let mut tx = lake.begin().unwrap();
    tx.write("snyk_orgaudit", &batch(&["2026-11-20T10:00:00Z"])).unwrap();
    tx.commit("test", false).unwrap();
    // A crash in the middle of appending the next line.
    let mut log = std::fs::OpenOptions::new().append(true).open(lake.log_path()).unwrap();
    std::io::Write::write_all(&mut log, br#"{"id":2,"time":"x","operation":"ingest","add":[{"table":"snyk_orgaudit","path":"nowhere"#)
        .unwrap();
    assert_eq!(lake.snapshot().unwrap().last_commit, 1);
    let mut tx = lake.begin().unwrap();
    tx.write("snyk_orgaudit", &batch(&["2026-11-20T10:00:00Z"])).unwrap();
    tx.commit("test", false).unwrap();
    let snapshot = lake.snapshot().unwrap();
    assert_eq!((snapshot.last_commit, snapshot.files.len()), (2, 2));
    assert!(!std::fs::read_to_string(lake.log_path()).unwrap().contains("nowhere"));
}

#[test]
fn files_moved_by_a_crashed_commit_are_removed() {
    let lake = Lake::open(&scratch("crashed")).unwrap();
    // What a writer killed between moving its files and writing its commit line leaves.
    let dead = lake.staging_dir().join("dead-writer");
    std::fs::create_dir_all(&dead).unwrap();
    std::fs::write(dead.join(".lock"), b"").unwrap();
    let orphan = "snyk_orgaudit/year=2026/month=11/day=20/hour=10/part-dead-00001.parquet";
    std::fs::create_dir_all(lake.root().join(orphan).parent().unwrap()).unwrap();
    std::fs::write(lake.root().join(orphan), b"PAR1").unwrap();
    std::fs::write(dead.join("manifest.json"), serde_json::to_vec(&[orphan]).unwrap()).unwrap();
    let mut tx = lake.begin().unwrap();
    tx.write("snyk_orgaudit", &batch(&["2026-11-20T10:00:00Z"])).unwrap();
    tx.commit("test", false).unwrap();
    assert!(!lake.root().join(orphan).exists());
    assert!(!dead.exists());
    assert_eq!(lake.snapshot().unwrap().files.len(), 1);
}

/// The parts of a snapshot a reader uses, comparable.
fn state(snapshot: &Snapshot) -> (u64, Vec<(String, u64)>, Vec<String>, u64) {
    let mut inputs: Vec<String> = snapshot.inputs.iter().cloned().collect();
    inputs.sort();
    (snapshot.last_commit, snapshot.files.values().map(|f| (f.path.clone(), f.commit)).collect(), inputs, snapshot.whole_len)
}

#[test]
fn a_checkpoint_reads_as_the_whole_log_and_a_rewritten_log_is_read_whole() {
    let lake = Lake::open(&scratch("checkpoint")).unwrap();
    for i in 0..230 {
        let mut tx = lake.begin().unwrap();
        if i % 50 == 0 {
            tx.write("snyk_orgaudit", &batch(&[&format!("2026-11-20T{:02}:00:00Z", i / 50)])).unwrap();
        }
        tx.consume(format!("test:{i}"));
        tx.commit("test", false).unwrap();
    }
    let checkpoint = lake.root().join(log::CHECKPOINT_FILE);
    assert!(checkpoint.is_file(), "a checkpoint after 100 lines");
    let fast = lake.snapshot().unwrap();
    assert!(fast.since_checkpoint < log::CHECKPOINT_EVERY, "only the lines after the checkpoint are parsed: {}", fast.since_checkpoint);
    let (whole, damaged) = Snapshot::read_tolerant(&lake.log_path()).unwrap();
    assert!(damaged.is_empty());
    assert_eq!(state(&fast), state(&whole));
    assert_eq!(fast.files.len(), 5);

    // The next commit appends after the checkpoint's offset correctly.
    let mut tx = lake.begin().unwrap();
    tx.consume("test:last".into());
    tx.commit("test", false).unwrap();
    assert_eq!(state(&lake.snapshot().unwrap()), state(&Snapshot::read_tolerant(&lake.log_path()).unwrap().0));

    // A log rewritten under the checkpoint (its offsets no longer fall on
    // line starts) is read whole, not misread.
    let log = std::fs::read_to_string(lake.log_path()).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    std::fs::write(lake.log_path(), format!("{}\n", lines[3..].join("\n"))).unwrap();
    let reread = lake.snapshot().unwrap();
    assert_eq!(state(&reread), state(&Snapshot::read_tolerant(&lake.log_path()).unwrap().0));
    assert!(!reread.inputs.contains("test:0"));
}

/// A local lake's folders, for the tests that look inside it.
impl Lake {
    fn root(&self) -> &Path {
        self.local_root("a test").unwrap()
    }

    fn log_path(&self) -> PathBuf {
        self.root().join(log::LOG_FILE)
    }
}
