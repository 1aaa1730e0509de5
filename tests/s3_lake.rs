//! Issue 15, part 2: the lake on S3 (`--lake s3://bucket/prefix`, or
//! `lake:` in tarn.yml) through the same commands as a local one, against
//! moto_server with the real AWS SDK's credential chain. Crashes and
//! concurrent writers on S3 are in tests/crash.rs; other engines reading an
//! S3 lake, optimize, vacuum and Delta checkpoints in tests/open_tables.rs.

mod common;

use common::engines::{Engine, count, query};
use common::{Scratch, sample};

#[test]
fn an_s3_lake_serves_the_same_commands_as_a_local_one() {
    let s = Scratch::on_s3("s3-commands");
    let generated = sample(&s.dir, 1_500, 100, 60);
    s.ok(&["ingest", "file", "sample/AWSLogs", "--log-type", "AWS.CloudTrail"]);
    s.ok(&["ingest", "file", "sample/snyk/org", "--log-type", "Snyk.OrgAudit"]);
    let lake = s.lake();
    assert!(lake.starts_with("s3://"));

    // Nothing of it on the local disk: the lake is the bucket.
    assert!(!s.path("lake").exists());
    let tables = s.ok(&["tables"]);
    assert!(tables.lines().any(|l| l.starts_with("aws_cloudtrail") && l.contains(" 1500 ")), "{tables}");
    assert_eq!(s.count("select count(distinct eventid) from aws_cloudtrail"), generated.cloudtrail_events);

    // Event data stores live in the lake: a store made here is queried by id.
    let created = s.ok(&["eds", "create", "--name", "trail-s3", "--category", "Management", "--table", "aws_cloudtrail"]);
    assert!(created.contains("created event data store trail-s3"), "{created}");
    let listed = s.ok(&["eds", "list"]);
    let id = listed.lines().find(|l| l.contains("trail-s3")).unwrap().split_whitespace().next().unwrap().to_string();
    assert_eq!(s.count(&format!("select count(*) from {id}")), 1_500);

    // Rules write their alerts into the S3 lake; a second run adds none.
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/aws_cloudtrail");
    let run = ["rules", "run", rules.to_str().unwrap(), "--since", "3650d"];
    s.ok(&run);
    let alerts = s.count("select count(*) from alerts");
    assert!(alerts > 0, "the starter rules alert on the sample");
    s.ok(&run);
    assert_eq!(s.count("select count(distinct alert_id) from alerts"), alerts);

    // `tarn ddl duckdb` names the S3 location; DuckDB runs it over moto.
    let script = s.ok(&["ddl", "duckdb"]);
    assert!(script.contains(&format!("delta_scan('{lake}/aws_cloudtrail')")), "{script}");
    let statements: Vec<&str> =
        script.lines().filter(|l| !l.starts_with("--") && !l.starts_with("INSTALL") && !l.starts_with("LOAD")).collect();
    let sql = format!("{}; select count(*) from aws_cloudtrail", statements.join(" ").trim_end_matches(';'));
    assert_eq!(query(Engine::DuckDb, &s.table("aws_cloudtrail"), &sql, &[]).0[0][0], serde_json::json!(1_500));

    // The same lake from tarn.yml, with no --lake and no TARN_LAKE.
    std::fs::write(s.path("tarn.yml"), format!("lake: {lake}\n")).unwrap();
    let mut from_config = s.tarn(&["query", "select count(*) from aws_cloudtrail", "--format", "csv"]);
    from_config.env_remove("TARN_LAKE");
    let output = from_config.output().unwrap();
    assert!(output.status.success(), "{}", common::text(&output.stderr));
    assert_eq!(common::text(&output.stdout).lines().nth(1), Some("1500"));

    // doctor checks an S3 lake: a lost object is found and named; repairs
    // stay with local lakes, said in one line.
    assert!(s.ok(&["doctor"]).contains("the lake is healthy"));
    let first = s.commits()[0]["add"][0]["path"].as_str().unwrap().to_string();
    s.delete_lake_file(&first);
    let doctor = s.tarn(&["doctor"]).output().unwrap();
    assert_eq!(doctor.status.code(), Some(1));
    assert!(common::text(&doctor.stdout).contains(&format!("{first} (table aws_cloudtrail")), "{}", common::text(&doctor.stdout));
    let (code, stderr) = s.fails(&["doctor", "--repair"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("works on a local lake only") && stderr.lines().count() == 1, "{stderr}");

    // A live object cut short is named too.
    let second = s.commits()[0]["add"][1]["path"].as_str().unwrap().to_string();
    let bytes = s.lake_files(&second).remove(&second).unwrap();
    common::moto::put_object(s.s3_lake.as_ref().unwrap(), &second, bytes[..bytes.len() / 2].to_vec());
    let doctor = common::text(&s.tarn(&["doctor"]).output().unwrap().stdout);
    assert!(doctor.contains(&format!("{second} (table aws_cloudtrail")) && doctor.contains("cut short"), "{doctor}");

    // A commit object that is not a commit stops every reader, in one line
    // that says what to do on S3.
    let next = s.commits().len() + 1;
    common::moto::put_object(s.s3_lake.as_ref().unwrap(), &format!("_tarn/log/{next:020}.json"), b"{\"id\": 1, garbage".to_vec());
    for args in [&["tables"][..], &["query", "select count(*) from aws_cloudtrail"]] {
        let (code, stderr) = s.fails(args);
        assert_eq!(code, 1);
        assert!(
            stderr.contains(&format!("_tarn/log/{next:020}.json is damaged"))
                && stderr.contains("object versions")
                && stderr.lines().count() == 1,
            "{stderr}"
        );
    }
}

#[test]
fn a_wrong_s3_location_is_one_line_that_says_what_to_check() {
    let s = Scratch::on_s3("s3-wrong");
    sample(&s.dir, 100, 100, 0);
    let bucket = s.lake().trim_start_matches("s3://").split('/').next().unwrap().to_string();
    // A read command never creates a lake: a prefix with none is said so.
    let (code, stderr) = s.fails(&["tables", "--lake", &format!("s3://{bucket}/nothing-here")]);
    assert_eq!(code, 1);
    assert!(stderr.contains("there is no lake at s3://") && stderr.lines().count() == 1, "{stderr}");
    // A bucket that does not exist: S3's own answer, without its XML.
    let (code, stderr) = s.fails(&["ingest", "file", "sample/AWSLogs", "--lake", "s3://no-such-bucket-anywhere/lake"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("S3 answered NoSuchBucket") && !stderr.contains("<?xml") && stderr.lines().count() == 1, "{stderr}");
    let (_, stderr) = s.fails(&["tables", "--lake", "s3:///lake"]);
    assert!(stderr.contains("write it as s3://bucket or s3://bucket/prefix"), "{stderr}");
    // Delta readers see nothing of a lake that does not exist; the real one
    // is untouched by the failed commands.
    s.ok(&["ingest", "file", "sample/AWSLogs", "--log-type", "AWS.CloudTrail"]);
    assert_eq!(count(Engine::DeltaRs, &s.table("aws_cloudtrail"), "select count(*) from t"), 100);
}
