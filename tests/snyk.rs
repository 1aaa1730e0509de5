//! The Snyk puller against a Snyk API served from the test process (see
//! `common/snyk_api.rs`): the lake must hold each served record exactly once,
//! whatever the server does and wherever tarn is stopped.

mod common;

use chrono::{Duration as TimeDelta, Utc};
use common::Scratch;
use common::snyk_api::{Fault, ORG_EVENTS, Request, Scope, SnykApi, TOKEN, records, to_v1};
use serde_json::Value;
use std::process::Output;
use std::time::Duration;

const GROUP: &str = "4a18d42f-0706-4ad0-b127-24078731fbed";

fn org_id(n: u64) -> String {
    common::snyk_api::uuid(77, n)
}

fn pull(scratch: &Scratch, api: &SnykApi, args: &[&str]) -> Output {
    let mut all = vec!["pull", "snyk", "--api-url", &api.url];
    all.extend_from_slice(args);
    scratch.tarn(&all).env("SNYK_TOKEN", TOKEN).output().unwrap()
}

fn out(output: &Output) -> (String, String) {
    (common::text(&output.stdout), common::text(&output.stderr))
}

fn pull_ok(scratch: &Scratch, api: &SnykApi, args: &[&str]) -> String {
    let output = pull(scratch, api, args);
    let (stdout, stderr) = out(&output);
    assert!(output.status.success(), "tarn pull snyk {args:?} failed ({:?}): {stderr}", output.status.code());
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN), "the token was printed");
    stdout
}

/// The records of a lake table, as sent (its `eventjson`), canonical and sorted.
fn lake(scratch: &Scratch, table: &str) -> Vec<String> {
    json_column(scratch, table, "eventjson")
}

/// A column of JSON text, each value canonical, sorted.
fn json_column(scratch: &Scratch, table: &str, column: &str) -> Vec<String> {
    if !scratch.path("lake/_tarn").is_dir() {
        return Vec::new(); // a puller that has not started yet: no lake, no rows
    }
    let output = scratch.ok(&["query", &format!("select {column} from {table}"), "--format", "ndjson"]);
    let mut records: Vec<String> = output
        .lines()
        .map(|line| {
            let row: Value = serde_json::from_str(line).unwrap();
            serde_json::from_str::<Value>(row[column].as_str().unwrap()).unwrap().to_string()
        })
        .collect();
    records.sort();
    records
}

fn canonical(records: &[Value]) -> Vec<String> {
    let mut texts: Vec<String> = records.iter().map(Value::to_string).collect();
    texts.sort();
    texts
}

fn without_api_access(records: &[Value]) -> Vec<Value> {
    records.iter().filter(|r| r["event"] != "api.access").cloned().collect()
}

fn spawn_pull(scratch: &Scratch, api: &SnykApi, args: &[&str]) -> std::process::Child {
    let mut all = vec!["pull", "snyk", "--api-url", &api.url];
    all.extend_from_slice(args);
    let piped = std::process::Stdio::piped;
    scratch.tarn(&all).env("SNYK_TOKEN", TOKEN).stdout(piped()).stderr(piped()).spawn().unwrap()
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let waited = std::time::Instant::now();
    while !done() {
        assert!(waited.elapsed() < Duration::from_secs(60), "gave up waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A new org (id from `n`) serving `count` records from `start`.
fn org_log(api: &SnykApi, n: u64, start: chrono::DateTime<Utc>, count: usize) -> (String, Vec<Value>) {
    let org = org_id(n);
    let served = records(Scope { group: GROUP, org: Some(&org) }, n, start, count);
    api.add_org(&org, served.clone());
    (org, served)
}

/// Gives the non-`api.access` records `first..first + n` one `created` instant,
/// so they straddle the page (and chunk) boundary they sit across.
fn same_instant(records: &mut [Value], first: usize, n: usize) {
    let positions: Vec<usize> =
        records.iter().enumerate().filter(|(_, r)| r["event"] != "api.access").map(|(i, _)| i).skip(first).take(n).collect();
    let instant = records[positions[0]]["created"].clone();
    for position in positions {
        records[position]["created"] = instant.clone();
    }
}

fn searches(api: &SnykApi) -> Vec<Request> {
    api.requests().into_iter().filter(Request::is_search).collect()
}

#[test]
fn rest_pages_land_each_record_once_and_a_rerun_takes_only_new_ones() {
    let scratch = Scratch::new("snyk-rest");
    let api = SnykApi::start();
    let org = org_id(1);
    let mut served = records(Scope { group: GROUP, org: Some(&org) }, 1, Utc::now() - TimeDelta::days(3), 1_234);
    same_instant(&mut served, 197, 6);
    // A record its schema refuses (no `event`) lands in quarantine; its neighbours land.
    let mut bad = served[500].clone();
    bad.as_object_mut().unwrap().remove("event");
    bad["content"] = serde_json::json!({"note": "no event name"});
    served.insert(501, bad.clone());
    api.add_org(&org, served.clone());

    let stdout = pull_ok(&scratch, &api, &["--org", &org, "--once"]);
    let expected = without_api_access(&served);
    assert_eq!(expected[199]["created"], expected[200]["created"], "pages 2 and 3 share an instant");
    let mut landed = lake(&scratch, "snyk_orgaudit");
    landed.extend(json_column(&scratch, "quarantine", "raw"));
    landed.sort();
    assert_eq!(landed, canonical(&expected));
    assert_eq!(scratch.count("select count(*) from quarantine"), 1);
    let reason = &scratch.rows("select reason from quarantine")[0][0];
    assert!(reason.contains("event"), "{reason}");
    assert!(stdout.contains(&format!("{} rows", expected.len() - 1)), "{stdout}");

    // The contract: REST search, version, ASC, 100 a page, the token header, no api.access.
    let requests = searches(&api);
    assert_eq!(requests.len(), expected.len().div_ceil(100), "one request a page");
    for request in &requests {
        assert_eq!(request.path, format!("/rest/orgs/{org}/audit_logs/search"));
        assert_eq!(request.param("version"), Some("2024-04-29"));
        assert_eq!(request.param("sort_order"), Some("ASC"));
        assert_eq!(request.param("size"), Some("100"));
        assert_eq!(request.param("events"), None);
        assert_eq!(request.authorization.as_deref(), Some(format!("token {TOKEN}").as_str()));
    }
    assert!(requests[1].param("cursor").is_some(), "later pages follow links.next");
    let events: Vec<String> =
        scratch.rows("select distinct event from snyk_orgaudit order by 1").into_iter().map(|r| r[0].clone()).collect();
    let mut names: Vec<&str> = ORG_EVENTS.iter().copied().filter(|e| *e != "api.access").collect();
    names.sort();
    assert_eq!(events, names);
    let system = expected.iter().filter(|r| r["event"] == "org.project.issue.create").count() as u64;
    assert!(system > 0);
    assert_eq!(scratch.count("select count(*) from snyk_orgaudit where event = 'org.project.issue.create' and userid is null"), system);
    assert_eq!(scratch.count("select count(*) from snyk_orgaudit where orgid is null or groupid is null"), 0, "REST names mapped");

    // Nothing new: one page asked from the checkpoint's instant, nothing added.
    let before = api.requests().len();
    let stdout = pull_ok(&scratch, &api, &["--org", &org, "--once"]);
    assert!(stdout.contains(" 0 rows in 0 commits"), "{stdout}");
    assert_eq!(api.requests().len() - before, 1);
    assert_eq!(lake(&scratch, "snyk_orgaudit").len(), expected.len() - 1);

    // New records, the first ones at exactly the newest instant already held.
    let newest = expected.last().unwrap()["created"].as_str().unwrap().to_string();
    let newest = chrono::DateTime::parse_from_rfc3339(&newest).unwrap().with_timezone(&Utc);
    let more = records(Scope { group: GROUP, org: Some(&org) }, 2, newest, 120);
    assert_eq!(more[0]["created"], expected.last().unwrap()["created"]);
    api.add_org(&org, more.clone());
    pull_ok(&scratch, &api, &["--org", &org, "--once"]);
    let mut all = expected.clone();
    all.extend(without_api_access(&more));
    all.retain(|r| *r != bad);
    assert_eq!(lake(&scratch, "snyk_orgaudit"), canonical(&all));

    // The token is nowhere in the lake.
    assert_eq!(scratch.count(&format!("select count(*) from snyk_orgaudit where eventjson like '%{TOKEN}%'")), 0);
    for entry in walk(&scratch.path("lake")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(!bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "{} holds the token", entry.display());
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

#[test]
fn api_access_events_come_only_on_request() {
    let scratch = Scratch::new("snyk-api-access");
    let api = SnykApi::start();
    let org = org_id(2);
    let served = records(Scope { group: GROUP, org: Some(&org) }, 3, Utc::now() - TimeDelta::days(2), 400);
    let access = served.iter().filter(|r| r["event"] == "api.access").count();
    assert!(access > 20);
    api.add_org(&org, served.clone());
    pull_ok(&scratch, &api, &["--org", &org, "--once", "--include-api-access"]);
    assert_eq!(lake(&scratch, "snyk_orgaudit"), canonical(&served));
    let asked: Vec<Request> = searches(&api).into_iter().filter(|r| r.param("events") == Some("api.access")).collect();
    assert_eq!(asked.len(), access.div_ceil(100), "api.access events are asked for by name");
    let from = |request: &Request| chrono::DateTime::parse_from_rfc3339(request.param("from").unwrap()).unwrap().with_timezone(&Utc);
    let reach = Utc::now() - from(&searches(&api)[0]);
    assert!((reach - TimeDelta::days(7)).num_seconds().abs() < 300, "a first run reaches back 7 days: {reach}");

    // A --from beyond what Snyk keeps starts at 90 days.
    let other = org_id(21);
    let old = without_api_access(&records(Scope { group: GROUP, org: Some(&other) }, 21, Utc::now() - TimeDelta::days(80), 10));
    api.add_org(&other, old.clone());
    let output = pull(&scratch, &api, &["--org", &other, "--once", "--from", "2020-01-01"]);
    let (_, stderr) = out(&output);
    assert!(output.status.success() && stderr.contains("Snyk keeps 90 days of audit logs; starting at"), "{stderr}");
    let first = searches(&api).into_iter().find(|r| r.path.contains(&other)).unwrap();
    let reach = Utc::now() - from(&first);
    assert!(reach > TimeDelta::days(90) - TimeDelta::minutes(5) && reach <= TimeDelta::days(90), "{reach}");
    assert_eq!(scratch.count(&format!("select count(*) from snyk_orgaudit where orgid = '{other}'")), old.len() as u64);
}

#[test]
fn a_429_storm_waits_as_snyk_says() {
    let scratch = Scratch::new("snyk-429");
    let api = SnykApi::start();
    let (org, served) = org_log(&api, 3, Utc::now() - TimeDelta::days(1), 450);
    api.on_search(|n| match n {
        1..=3 => Some(Fault::rate_limited(&[("Retry-After", "1")])),
        5 | 6 => Some(Fault::rate_limited(&[("X-RateLimit-Reset", "2")])),
        _ => None,
    });
    let output = pull(&scratch, &api, &["--org", &org, "--once"]);
    let (_, stderr) = out(&output);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(lake(&scratch, "snyk_orgaudit"), canonical(&without_api_access(&served)));
    assert!(stderr.contains("rate limited (429: Too many requests); waiting 1.0s as Snyk asks"), "{stderr}");
    let requests = searches(&api);
    let mut limited = 0;
    for pair in requests.windows(2) {
        if pair[0].status == 429 {
            limited += 1;
            let waited = pair[1].at - pair[0].at;
            let asked = if pair[0].number <= 3 { 1.0 } else { 2.0 };
            assert!(waited.as_secs_f64() >= asked - 0.05, "request {} came {waited:?} after a 429 asking {asked}s", pair[1].number);
            assert_eq!(pair[1].path, pair[0].path);
        }
    }
    assert_eq!(limited, 5);
}

#[test]
fn server_errors_and_cut_connections_are_retried() {
    let scratch = Scratch::new("snyk-500");
    let api = SnykApi::start();
    let (org, served) = org_log(&api, 4, Utc::now() - TimeDelta::days(1), 700);
    api.on_search(|n| match n {
        2..=4 => Some(Fault::jsonapi_error(500, "Internal Server Error")),
        6 => Some(Fault::Drop),
        8 => Some(Fault::status(502, &[("Content-Type", "text/html")], "<html><body>Bad gateway</body></html>")),
        _ => None,
    });
    let output = pull(&scratch, &api, &["--org", &org, "--once"]);
    let (_, stderr) = out(&output);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(lake(&scratch, "snyk_orgaudit"), canonical(&without_api_access(&served)));
    assert!(stderr.contains("HTTP 500: Internal Server Error; retrying in"), "{stderr}");
    assert!(stderr.contains("HTTP 502; retrying in"), "{stderr}");
    assert!(stderr.contains("the connection broke") || stderr.contains("the request failed"), "{stderr}");
}

#[test]
fn a_refused_token_stops_with_what_to_fix() {
    let scratch = Scratch::new("snyk-401");
    let api = SnykApi::start();
    let org = org_id(5);
    api.add_org(&org, records(Scope { group: GROUP, org: Some(&org) }, 6, Utc::now() - TimeDelta::days(1), 50));
    let wrong = "0000-wrong-token-9999";
    let output = scratch.tarn(&["pull", "snyk", "--api-url", &api.url, "--org", &org, "--once"]).env("SNYK_TOKEN", wrong).output().unwrap();
    let (_, stderr) = out(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(&format!("Snyk refused the API token (401: Unauthorized) for org {org}")), "{stderr}");
    assert!(stderr.contains("check that SNYK_TOKEN holds a valid token") && stderr.contains("`View audit logs`"), "{stderr}");
    assert!(!stderr.contains(wrong));
    assert_eq!(searches(&api).len(), 1, "a 401 is not retried");

    // A token without the permission on this org.
    api.hook(|request| request.is_search().then(|| Fault::jsonapi_error(403, "Forbidden: missing permission org.audit.read")));
    let output = pull(&scratch, &api, &["--org", &org, "--once", "--token-env", "SNYK_TOKEN"]);
    let (_, stderr) = out(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("(403: Forbidden: missing permission org.audit.read)") && stderr.contains("on this org"), "{stderr}");

    // No token at all.
    let output = scratch.tarn(&["pull", "snyk", "--api-url", &api.url, "--org", &org, "--once"]).env_remove("SNYK_TOKEN").output().unwrap();
    let (_, stderr) = out(&output);
    assert!(stderr.starts_with("error: snyk: no Snyk API token: SNYK_TOKEN is not set"), "{stderr}");
    assert_eq!(scratch.count("select count(*) from snyk_orgaudit"), 0);
}

#[test]
fn an_unknown_org_says_the_id_is_wrong() {
    let scratch = Scratch::new("snyk-404");
    let api = SnykApi::start();
    let unknown = org_id(404);
    let output = pull(&scratch, &api, &["--org", &unknown, "--once"]);
    let (_, stderr) = out(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains(&format!("Snyk does not know org {unknown} (404: Not Found): check the org id")), "{stderr}");
    assert!(stderr.contains(&api.url), "names the API host: {stderr}");
}

#[test]
fn a_malformed_page_is_reported_and_nothing_of_it_lands() {
    let scratch = Scratch::new("snyk-malformed");
    let api = SnykApi::start();
    let (org, served) = org_log(&api, 6, Utc::now() - TimeDelta::days(2), 800);
    let expected = without_api_access(&served);
    // From the 4th page on, every page is cut short.
    api.on_search(|n| (n >= 4).then(|| Fault::status(200, &[], r#"{"data":{"type":"audit_log_search","items":[{"created":"2026-11-"#)));
    let output = pull(&scratch, &api, &["--org", &org, "--once", "--chunk-size", "100"]);
    let (_, stderr) = out(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Snyk sent a page tarn cannot read") && stderr.contains("nothing of it was ingested"), "{stderr}");
    assert!(stderr.contains("cursor="), "names the page: {stderr}");
    assert_eq!(lake(&scratch, "snyk_orgaudit"), canonical(&expected[..300]), "the pages before it, whole");
    assert_eq!(searches(&api).iter().filter(|r| r.status == 200).count(), 6, "three good pages, the bad one tried three times");

    api.clear_hook();
    pull_ok(&scratch, &api, &["--org", &org, "--once"]);
    assert_eq!(lake(&scratch, "snyk_orgaudit"), canonical(&expected));
}

#[test]
fn v1_pages_by_number_until_an_empty_array() {
    let scratch = Scratch::new("snyk-v1");
    let api = SnykApi::start();
    let served = records(Scope { group: GROUP, org: None }, 8, Utc::now() - TimeDelta::days(2), 450);
    api.add_group(GROUP, served.clone());
    let expected: Vec<Value> = without_api_access(&served).iter().map(to_v1).collect();
    pull_ok(&scratch, &api, &["--group", GROUP, "--api", "v1", "--once"]);
    assert_eq!(lake(&scratch, "snyk_groupaudit"), canonical(&expected));
    let requests = searches(&api);
    let pages: Vec<String> = requests.iter().map(|r| r.param("page").unwrap().to_string()).collect();
    let wanted: Vec<String> = (1..=expected.len().div_ceil(100) + 1).map(|p| p.to_string()).collect();
    assert_eq!(pages, wanted, "numbered pages until the empty one");
    let today = Utc::now().format("%Y-%m-%d").to_string();
    let first_day = (Utc::now() - TimeDelta::days(7)).format("%Y-%m-%d").to_string();
    for request in &requests {
        assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", format!("/v1/group/{GROUP}/audit").as_str()));
        assert_eq!((request.param("from"), request.param("to")), (Some(first_day.as_str()), Some(today.as_str())), "whole days");
        assert_eq!(request.param("sortOrder"), Some("ASC"));
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["filters"]["excludeEvent"], "api.access");
    }

    // Asked again, v1 serves the whole first day again: the checkpoint skips what the lake holds.
    let stdout = pull_ok(&scratch, &api, &["--group", GROUP, "--api", "v1", "--once"]);
    assert!(stdout.contains(" 0 rows in 0 commits"), "{stdout}");
    assert_eq!(lake(&scratch, "snyk_groupaudit"), canonical(&expected));
}

#[test]
fn a_group_and_its_orgs_including_orgs_added_later() {
    let scratch = Scratch::new("snyk-group");
    let api = SnykApi::start();
    let start = Utc::now() - TimeDelta::days(2);
    let group_records = records(Scope { group: GROUP, org: None }, 9, start, 230);
    api.add_group(GROUP, group_records.clone());
    let orgs: Vec<String> = (10..13).map(org_id).collect();
    let (mut org_records, mut per_org) = (Vec::new(), Vec::new());
    for (n, org) in orgs.iter().enumerate() {
        let served = without_api_access(&records(Scope { group: GROUP, org: Some(org) }, 10 + n as u64, start, [150, 0, 260][n]));
        api.add_org(org, served.clone());
        per_org.push(served.len());
        org_records.extend(served);
    }
    {
        let mut state = api.state();
        state.group_orgs.insert(GROUP.into(), orgs.iter().enumerate().map(|(n, o)| (o.clone(), format!("Team {n}"))).collect());
        state.org_page_max = 2; // the listing takes two pages
    }
    let stdout = pull_ok(&scratch, &api, &["--group", GROUP, "--include-orgs", "--once"]);
    assert!(stdout.contains("4 audit logs"), "{stdout}");
    assert_eq!(lake(&scratch, "snyk_groupaudit"), canonical(&without_api_access(&group_records)));
    assert_eq!(lake(&scratch, "snyk_orgaudit"), canonical(&org_records));
    let labels = scratch.rows("select p_source_label, count(*) from snyk_orgaudit group by 1 order by 1");
    let wanted: Vec<Vec<String>> =
        [(0, "snyk/team-0"), (2, "snyk/team-2")].iter().map(|(n, label)| vec![label.to_string(), per_org[*n].to_string()]).collect();
    assert_eq!(labels, wanted, "each org's rows carry its slug");
    let listings: Vec<Request> = api.requests().into_iter().filter(|r| r.path.ends_with("/orgs")).collect();
    assert_eq!(listings.len(), 2);
    assert_eq!(listings[1].path, format!("/rest/groups/{GROUP}/orgs"), "links.next without /rest is joined to the API root");

    // A new org joins the group; one org refuses the token (a warning, the others go on).
    let new_org = org_id(13);
    let new_records = records(Scope { group: GROUP, org: Some(&new_org) }, 13, start, 80);
    api.add_org(&new_org, new_records.clone());
    api.state().group_orgs.get_mut(GROUP).unwrap().push((new_org.clone(), "Team 3".into()));
    let refused = orgs[0].clone();
    api.hook(move |request| request.path.contains(&refused).then(|| Fault::jsonapi_error(403, "Forbidden")));
    let output = pull(&scratch, &api, &["--group", GROUP, "--include-orgs", "--once"]);
    let (_, stderr) = out(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("warning: snyk: skipped: Snyk refused the API token (403: Forbidden) for org {}", orgs[0])),
        "{stderr}"
    );
    org_records.extend(without_api_access(&new_records));
    assert_eq!(lake(&scratch, "snyk_orgaudit"), canonical(&org_records));
}

#[test]
fn killed_mid_pull_then_restarted_holds_each_record_once() {
    let scratch = Scratch::new("snyk-restart");
    let api = SnykApi::start();
    let org = org_id(20);
    let mut served = records(Scope { group: GROUP, org: Some(&org) }, 20, Utc::now() - TimeDelta::days(3), 1_500);
    // Chunks of 200 end inside runs of one instant: the checkpoint holds several ids.
    for boundary in [200, 400, 600, 800] {
        same_instant(&mut served, boundary - 3, 7);
    }
    api.add_org(&org, served.clone());
    let expected = without_api_access(&served);
    let mut held = 0;
    // Killed while waiting for the 2nd, 3rd, 5th search request of a run (after 1, 2 and 4
    // pages: mid-chunk and just after a commit), from wherever the last run left the lake.
    for hang_at in [2usize, 3, 5, 4] {
        api.on_search(move |n| (n == hang_at).then_some(Fault::Hang));
        let before = searches(&api).len();
        let mut child = spawn_pull(&scratch, &api, &["--org", &org, "--once", "--chunk-size", "200"]);
        wait_until(&format!("tarn reaches request {hang_at}"), || searches(&api).len() >= before + hang_at);
        child.kill().unwrap();
        child.wait().unwrap();
        // Whole commits only: a prefix of the served records, nothing twice.
        let landed = lake(&scratch, "snyk_orgaudit");
        let mut distinct = landed.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), landed.len(), "a record landed twice after the kill at request {hang_at}");
        assert_eq!(landed, canonical(&expected[..landed.len()]), "the lake holds the oldest records, whole chunks");
        assert!(landed.len() >= held, "commits are never lost");
        held = landed.len();
    }
    assert!(held > 0 && held < expected.len());
    let log = std::fs::read_to_string(scratch.path("lake/_tarn/log.jsonl")).unwrap();
    let checkpoints: Vec<Value> =
        log.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["checkpoints"][format!("snyk:org:{org}")].clone()).collect();
    assert!(
        checkpoints.iter().any(|c| c["ids"].as_array().is_some_and(|ids| ids.len() == 3)),
        "a checkpoint inside a run: {checkpoints:?}"
    );
    api.clear_hook();
    pull_ok(&scratch, &api, &["--org", &org, "--once", "--chunk-size", "200"]);
    assert_eq!(lake(&scratch, "snyk_orgaudit"), canonical(&expected));
}

#[test]
fn a_quiet_source_raises_one_drop_off_alarm_per_silence() {
    let scratch = Scratch::new("snyk-alarm");
    let api = SnykApi::start();
    let org = org_id(30);
    let start = Utc::now() - TimeDelta::hours(10) - TimeDelta::seconds(41 * 40);
    let served = records(Scope { group: GROUP, org: Some(&org) }, 30, start, 40);
    api.add_org(&org, served);
    let args = ["--org", org.as_str(), "--once", "--alarm-after", "6h"];
    for run in 0..2 {
        let output = pull(&scratch, &api, &args);
        let (stdout, stderr) = out(&output);
        assert_eq!(output.status.code(), Some(3), "run {run}: {stderr}");
        assert!(stderr.contains(&format!("error: snyk: log drop-off: no events from Snyk org {org} (snyk) for 10h")), "{stderr}");
        assert!(stderr.contains("(alarm after 6h)"), "{stderr}");
        assert!(stdout.contains("1 silent past the alarm"), "{stdout}");
    }
    let rows = scratch
        .rows("select alarm, p_source_id, p_log_type, threshold_seconds, silent_seconds >= 36000, last_event_time is not null from alarms");
    let wanted = vec![["log drop-off", &format!("snyk:org:{org}"), "Snyk.OrgAudit", "21600", "true", "true"].map(str::to_string).to_vec()];
    assert_eq!(rows, wanted, "one alarm row for one silence");

    // Events flow again: no alarm, exit 0.
    api.add_org(&org, records(Scope { group: GROUP, org: Some(&org) }, 31, Utc::now() - TimeDelta::minutes(5), 3));
    let output = pull(&scratch, &api, &args);
    let (_, stderr) = out(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("drop-off"), "{stderr}");
    assert_eq!(scratch.count("select count(*) from alarms"), 1);
}

#[test]
fn tarn_run_pulls_a_configured_source_with_its_token_from_a_file() {
    let scratch = Scratch::new("snyk-config");
    let api = SnykApi::start();
    let (org, served) = org_log(&api, 40, Utc::now() - TimeDelta::days(20), 300);
    std::fs::write(scratch.path("snyk-token"), format!("{TOKEN}\n")).unwrap();
    let config = format!(
        "sources:\n  audit:\n    type: snyk\n    org: {org}\n    api_url: {}\n    token_file: snyk-token\n    from: {}\n",
        api.url,
        (Utc::now() - TimeDelta::days(30)).format("%Y-%m-%d")
    );
    std::fs::write(scratch.path("tarn.yml"), config).unwrap();
    let output = scratch.tarn(&["run", "--once"]).env_remove("SNYK_TOKEN").output().unwrap();
    let (stdout, stderr) = out(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.starts_with("audit: 1 audit logs"), "{stdout}");
    assert_eq!(lake(&scratch, "snyk_orgaudit"), canonical(&without_api_access(&served)), "--from reached back 30 days");
    let labelled = format!("select count(*) from snyk_orgaudit where p_source_label = 'audit' and p_source_id = 'snyk:org:{org}'");
    assert_eq!(scratch.count(&labelled), without_api_access(&served).len() as u64, "rows carry the source's name and key");

    // The token in the config text is refused, and not echoed.
    std::fs::write(scratch.path("tarn.yml"), format!("sources:\n  audit:\n    type: snyk\n    org: {org}\n    token: {TOKEN}\n")).unwrap();
    let (code, stderr) = scratch.fails(&["run", "--once"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("sources.audit: a Snyk source must not hold the token itself"), "{stderr}");
    assert!(!stderr.contains(TOKEN));
}

#[test]
fn polling_picks_up_new_records_until_sigterm() {
    let scratch = Scratch::new("snyk-poll");
    let api = SnykApi::start();
    let org = org_id(50);
    let first = records(Scope { group: GROUP, org: Some(&org) }, 50, Utc::now() - TimeDelta::hours(6), 100);
    api.add_org(&org, first.clone());
    let child = spawn_pull(&scratch, &api, &["--org", &org, "--frequency", "1"]);
    let wait_for = |n: usize| wait_until(&format!("{n} rows"), || lake(&scratch, "snyk_orgaudit").len() >= n);
    let mut expected = without_api_access(&first);
    wait_for(expected.len());
    let later = records(Scope { group: GROUP, org: Some(&org) }, 51, Utc::now() - TimeDelta::minutes(30), 60);
    api.add_org(&org, later.clone());
    expected.extend(without_api_access(&later));
    wait_for(expected.len());
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = out(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.starts_with("snyk: 1 audit logs"), "{stdout}");
    assert_eq!(lake(&scratch, "snyk_orgaudit"), canonical(&expected));
}

#[test]
fn sigterm_during_a_long_429_wait_commits_what_was_gathered() {
    let scratch = Scratch::new("snyk-stop");
    let api = SnykApi::start();
    let (org, served) = org_log(&api, 60, Utc::now() - TimeDelta::days(1), 500);
    let expected = without_api_access(&served);
    api.on_search(|n| (n == 3).then(|| Fault::rate_limited(&[("Retry-After", "600")])));
    let child = spawn_pull(&scratch, &api, &["--org", &org, "--once"]);
    wait_until("tarn gets the 429", || searches(&api).len() >= 3);
    std::thread::sleep(Duration::from_millis(300));
    let stopped = std::time::Instant::now();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let output = child.wait_with_output().unwrap();
    let (_, stderr) = out(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stopped.elapsed() < Duration::from_secs(10), "waited out the 429 instead of stopping: {:?}", stopped.elapsed());
    assert!(stderr.contains("waiting 600.0s as Snyk asks"), "{stderr}");
    assert_eq!(lake(&scratch, "snyk_orgaudit"), canonical(&expected[..200]), "the two pages fetched before the stop");
    api.clear_hook();
    pull_ok(&scratch, &api, &["--org", &org, "--once"]);
    assert_eq!(lake(&scratch, "snyk_orgaudit"), canonical(&expected));
}

#[test]
/// With every library's tracing on (reqwest, hyper, rustls), the Snyk token
/// reaches no log line, no error and no lake file.
fn the_token_never_reaches_logs_errors_or_the_lake_at_trace_level() {
    let scratch = Scratch::new("snyk-trace");
    let api = SnykApi::start();
    let org = org_id(9);
    api.add_org(&org, records(Scope { group: GROUP, org: Some(&org) }, 9, Utc::now() - TimeDelta::days(1), 20));
    let output = scratch
        .tarn(&["pull", "snyk", "--api-url", &api.url, "--org", &org, "--once"])
        .env("SNYK_TOKEN", TOKEN)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let (stdout, stderr) = out(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("hyper") || stderr.contains("reqwest"), "the HTTP client's tracing is on");
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN), "the token was logged");
    assert!(api.requests().iter().any(|r| r.authorization.as_deref().is_some_and(|a| a.contains(TOKEN))), "the token was sent");
    // A refused token, at trace level too.
    let wrong = "0000-wrong-token-trace-9999";
    let output = scratch
        .tarn(&["pull", "snyk", "--api-url", &api.url, "--org", &org, "--once"])
        .env("SNYK_TOKEN", wrong)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let (_, stderr) = out(&output);
    assert!(!stderr.contains(wrong), "the refused token was logged");
    let mut dirs = vec![scratch.path("lake")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            } else {
                let bytes = std::fs::read(entry.path()).unwrap();
                assert!(!bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "the token is in {}", entry.path().display());
            }
        }
    }
}
