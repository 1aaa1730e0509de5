//! `tarn eds` and `tarn retention apply`, run as a user runs them.

mod common;

use common::Scratch;

const ID: &str = "5e2676f8-9fce-46ef-8142-3e36a94e6691";

fn generate(scratch: &Scratch, out: &str, events: u64, start: chrono::DateTime<chrono::Utc>, hours: u64) {
    let start = start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (events, hours) = (events.to_string(), hours.to_string());
    let args = ["generate", "--out", out, "--cloudtrail-events", &events, "--snyk-events", "0", "--start", &start, "--hours", &hours];
    scratch.ok(&args);
    scratch.ok(&["ingest", "file", &format!("{out}/AWSLogs")]);
}

#[test]
fn stores_are_created_queried_protected_and_deleted() {
    let scratch = Scratch::new("eds-cli");
    generate(&scratch, "sample", 3_000, chrono::Utc::now() - chrono::Duration::hours(30), 24);
    let listed = scratch.ok(&["eds", "list"]);
    assert!(listed.contains("cloudtrail") && listed.contains("Management") && listed.contains("aws_cloudtrail"), "{listed}");
    assert!(
        listed.contains("snyk-audit") && listed.contains("ActivityAuditLog") && listed.contains("snyk_orgaudit, snyk_groupaudit"),
        "{listed}"
    );
    assert_eq!(scratch.ok(&["eds", "list"]), listed, "the default ids are kept, not made anew");
    let default_id = listed.lines().find(|l| l.contains("cloudtrail ")).unwrap().split_whitespace().next().unwrap().to_string();
    assert!(tarn::catalog::eds::is_uuid(&default_id), "{default_id}");
    assert_eq!(scratch.count(&format!("select count(*) from {default_id}")), 3_000);

    let arn = format!("arn:aws:cloudtrail:eu-west-1:111122223333:eventdatastore/{}", ID.to_uppercase());
    let created = scratch.ok(&["eds", "create", "--name", "trail", "--category", "Management", "--table", "aws_cloudtrail", "--id", &arn]);
    assert!(created.contains(&format!("created event data store trail ({ID})")), "{created}");
    let shown = scratch.ok(&["eds", "show", "trail"]);
    assert!(shown.contains(&arn) && shown.contains("366 days") && shown.contains("termination protection: on"), "{shown}");
    assert_eq!(scratch.count(&format!("SELECT COUNT(*) FROM {arn}")), 3_000);
    let errors = scratch.count(&format!("SELECT count_if(errorCode IS NOT NULL) FROM {ID}"));
    assert_eq!(errors, scratch.count("select count(*) from aws_cloudtrail where errorcode is not null"));

    let (code, error) = scratch.fails(&["eds", "create", "--name", "trail", "--category", "Data", "--table", "aws_cloudtrail"]);
    assert_eq!(code, 1);
    assert!(error.contains("name trail is used twice"), "{error}");
    let (_, error) = scratch.fails(&["eds", "create", "--name", "x1y", "--category", "Data", "--table", "nope"]);
    assert!(error.starts_with("error: 'nope' is not a lake table (tables: "), "{error}");
    let (_, error) = scratch.fails(&[
        "eds",
        "create",
        "--name",
        "long",
        "--category",
        "Data",
        "--table",
        "aws_cloudtrail",
        "--retention-days",
        "3000",
        "--billing-mode",
        "fixed",
    ]);
    assert!(error.contains("retention_days 3000 is out of range: 7 to 2557 days with fixed billing"), "{error}");

    let (_, error) = scratch.fails(&["eds", "delete", ID]);
    assert!(error.contains("has termination protection; turn it off first: tarn eds update"), "{error}");
    scratch.ok(&["eds", "update", ID, "--termination-protection", "false", "--retention-days", "90"]);
    assert!(scratch.ok(&["eds", "show", ID]).contains("90 days"));
    assert!(scratch.ok(&["eds", "delete", "trail"]).contains("its tables and rows stay in the lake"));
    let (_, error) = scratch.fails(&["query", &format!("select count(*) from {ID}")]);
    assert!(error.contains("not found") && error.contains(&default_id), "{error}");
    assert_eq!(error.lines().count(), 1, "{error}");
    assert_eq!(scratch.count("select count(*) from aws_cloudtrail"), 3_000, "deleting a store keeps the rows");
}

#[test]
fn stores_in_the_config_replace_the_defaults_and_stay_as_written() {
    let scratch = Scratch::new("eds-config");
    let config = format!(
        "event_data_stores:\n  audit:\n    id: {ID}\n    category: ActivityAuditLog\n    tables: [snyk_orgaudit, snyk_groupaudit]\n    retention_days: 30\n  trail:\n    category: Management\n    tables: [aws_cloudtrail]\n"
    );
    std::fs::write(scratch.path("tarn.yml"), config).unwrap();
    let listed = scratch.ok(&["eds", "list"]);
    assert_eq!(listed.lines().count(), 3, "a header and the two stores of tarn.yml, no defaults: {listed}");
    let trail_id = tarn::catalog::eds::id_for_name("trail");
    assert!(listed.contains(ID) && listed.contains(&trail_id), "{listed}");
    let (_, error) = scratch.fails(&["eds", "delete", "audit"]);
    assert!(error.contains("is defined in tarn.yml; change it there (event_data_stores.audit)"), "{error}");
    assert_eq!(scratch.count(&format!("select count(*) from {trail_id}")), 0);

    std::fs::write(scratch.path("tarn.yml"), "event_data_stores:\n  audit:\n    category: Audit\n    tables: [x]\n").unwrap();
    let (_, error) = scratch.fails(&["eds", "list"]);
    assert!(error.contains("unknown variant `Audit`"), "{error}");
    std::fs::write(
        scratch.path("tarn.yml"),
        "event_data_stores:\n  trail:\n    id: 1234\n    category: Data\n    tables: [aws_cloudtrail]\n",
    )
    .unwrap();
    let (_, error) = scratch.fails(&["eds", "list"]);
    assert!(error.contains("event_data_stores.trail: id '1234' is neither a UUID nor an event data store ARN"), "{error}");
}

#[test]
fn retention_drops_whole_partitions_older_than_the_longest_keeping_store() {
    let scratch = Scratch::new("retention");
    let now = chrono::Utc::now();
    // 48 hours, 50 to 48 days ago; and the last 24 hours.
    generate(&scratch, "old", 4_800, now - chrono::Duration::days(50), 48);
    generate(&scratch, "recent", 2_400, now - chrono::Duration::hours(25), 24);
    assert_eq!(scratch.count("select count(*) from aws_cloudtrail"), 7_200);
    let old_partitions = scratch.count(&format!(
        "select count(*) from (select distinct year, month, day, hour from aws_cloudtrail where p_event_time < '{}')",
        (now - chrono::Duration::days(30)).format("%Y-%m-%d %H:%M:%S")
    ));
    assert!(old_partitions >= 10, "{old_partitions}");

    let store = |name: &str, days: &str| {
        scratch.ok(&["eds", "create", "--name", name, "--category", "Management", "--table", "aws_cloudtrail", "--retention-days", days]);
    };
    // The default store over aws_cloudtrail keeps 366 days; bring it to 30.
    scratch.ok(&["eds", "update", "cloudtrail", "--retention-days", "30"]);
    store("short", "30");
    store("long", "60");
    let report = scratch.ok(&["retention", "apply"]);
    assert!(report.contains("aws_cloudtrail: keeps 60 days; nothing older than"), "{report}");
    assert_eq!(scratch.count("select count(*) from aws_cloudtrail"), 7_200);

    scratch.ok(&["eds", "update", "long", "--retention-days", "30"]);
    let dry = scratch.ok(&["retention", "apply", "--dry-run"]);
    assert!(dry.contains(&format!("aws_cloudtrail: keeps 30 days; would drop {old_partitions} partitions older than")), "{dry}");
    assert!(dry.contains("4800 rows"), "{dry}");
    assert_eq!(scratch.count("select count(*) from aws_cloudtrail"), 7_200, "a dry run drops nothing");

    let report = scratch.ok(&["retention", "apply"]);
    assert!(report.contains(&format!("dropped {old_partitions} partitions")) && report.contains("4800 rows"), "{report}");
    assert!(report.contains("committed as lake commit"), "{report}");
    assert_eq!(scratch.count("select count(*) from aws_cloudtrail"), 2_400, "every recent row stays");
    assert_eq!(
        scratch.count(&format!(
            "select count(*) from aws_cloudtrail where p_event_time < '{}'",
            (now - chrono::Duration::days(30)).format("%Y-%m-%d")
        )),
        0
    );
    let old_month = (now - chrono::Duration::days(50)).format("year=%Y/month=%m/day=%d").to_string();
    assert!(!scratch.path("lake/aws_cloudtrail").join(&old_month).exists(), "the emptied partition directories are gone");
    let again = scratch.ok(&["retention", "apply"]);
    assert!(again.contains("nothing older than") && !again.contains("committed"), "{again}");
}
