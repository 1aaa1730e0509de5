//! A Snyk API inside the test process: a real HTTP/1.1 server on 127.0.0.1
//! that serves audit logs the way Snyk documents them (REST search with
//! `links.next` cursors, v1 numbered pages, group org listing, JSON:API
//! errors, 401 for a wrong token, 404 for an unknown id, 400 for a bad
//! parameter). Tests add faults (429s, 500s, cut connections, malformed
//! pages, a request that hangs) with a hook that sees each request first.
#![allow(dead_code)]

use chrono::{DateTime, Duration as TimeDelta, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub const TOKEN: &str = "f3a1c9e0-test-token-7d2b-4e55";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// 1-based, over the server's life.
    pub number: usize,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub authorization: Option<String>,
    pub body: String,
    pub at: Instant,
    /// The status sent (0 if none: a dropped or hung connection).
    pub status: u16,
}

impl Request {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn is_search(&self) -> bool {
        self.path.ends_with("/audit_logs/search") || self.path.ends_with("/audit")
    }
}

/// What the fault hook makes the server do instead of answering normally.
pub enum Fault {
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Close the connection without an answer.
    Drop,
    /// Hold the connection open without answering until the client goes away.
    Hang,
}

impl Fault {
    pub fn status(status: u16, headers: &[(&str, &str)], body: &str) -> Fault {
        Fault::Reply { status, headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), body: body.to_string() }
    }

    pub fn jsonapi_error(status: u16, detail: &str) -> Fault {
        Fault::status(status, &[], &jsonapi_error(status, detail))
    }

    /// A 429 with these headers.
    pub fn rate_limited(headers: &[(&str, &str)]) -> Fault {
        Fault::status(429, headers, &jsonapi_error(429, "Too many requests"))
    }
}

/// A record and its `created` time.
pub struct Served {
    pub created: DateTime<Utc>,
    pub record: Value,
}

fn add(log: &mut Vec<Served>, records: Vec<Value>) {
    log.extend(records.into_iter().map(|record| Served { created: created(&record), record }));
    log.sort_by_key(|s| s.created);
}

pub type Hook = Box<dyn FnMut(&Request) -> Option<Fault> + Send>;

#[derive(Default)]
pub struct State {
    /// Audit records of each org and group, as REST items (snake_case),
    /// oldest first.
    pub orgs: BTreeMap<String, Vec<Served>>,
    pub groups: BTreeMap<String, Vec<Served>>,
    /// The orgs of each group: (id, name).
    pub group_orgs: BTreeMap<String, Vec<(String, String)>>,
    pub requests: Vec<Request>,
    pub hook: Option<Hook>,
    /// Largest page of the org listing (the API allows 100).
    pub org_page_max: usize,
}

pub struct SnykApi {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

impl SnykApi {
    pub fn start() -> SnykApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State { org_page_max: 100, ..State::default() }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        SnykApi { url, state }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_org(&self, org: &str, records: Vec<Value>) {
        add(self.state().orgs.entry(org.to_string()).or_default(), records);
    }

    pub fn add_group(&self, group: &str, records: Vec<Value>) {
        add(self.state().groups.entry(group.to_string()).or_default(), records);
    }

    pub fn hook(&self, hook: impl FnMut(&Request) -> Option<Fault> + Send + 'static) {
        self.state().hook = Some(Box::new(hook));
    }

    /// A fault for the n-th audit-log request (from 1) from now on.
    pub fn on_search(&self, mut fault: impl FnMut(usize) -> Option<Fault> + Send + 'static) {
        let mut searched = 0;
        self.hook(move |request| {
            if !request.is_search() {
                return None;
            }
            searched += 1;
            fault(searched)
        });
    }

    pub fn clear_hook(&self) {
        self.state().hook = None;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state().requests.clone()
    }
}

/// Reads one request, answers it, closes the connection.
fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut request = Request {
        number: 0,
        method,
        path: path.to_string(),
        query: query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect(),
        authorization: headers.get("authorization").cloned(),
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
        status: 0,
    };
    let fault = {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        request.number = state.requests.len() + 1;
        let fault = state.hook.as_mut().and_then(|hook| hook(&request));
        let answer = match fault {
            Some(Fault::Reply { status, headers, body }) => Some((status, headers, body)),
            Some(other) => {
                state.requests.push(request.clone());
                drop(state);
                if let Fault::Hang = other {
                    let mut byte = [0u8; 1];
                    let _ = reader.get_mut().read(&mut byte);
                }
                return;
            }
            None => Some(answer(&state, &request)),
        };
        let (status, headers, body) = answer.unwrap();
        request.status = status;
        state.requests.push(request);
        (status, headers, body)
    };
    let (status, extra, body) = fault;
    let mut stream = stream;
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/vnd.api+json\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

pub fn jsonapi_error(status: u16, detail: &str) -> String {
    json!({"jsonapi": {"version": "1.0"}, "errors": [{"id": "0f12fd75-c80a-4c15-929b-f7794eb3dd4f", "status": status.to_string(), "detail": detail}]})
        .to_string()
}

type Answer = (u16, Vec<(String, String)>, String);

fn answer(state: &State, request: &Request) -> Answer {
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let error = |status: u16, detail: &str| (status, Vec::new(), jsonapi_error(status, detail));
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["rest", kind @ ("orgs" | "groups"), id, "audit_logs", "search"]) => {
            if request.authorization.as_deref() != Some(&format!("token {TOKEN}")) {
                return error(401, "Unauthorized");
            }
            let records = if *kind == "orgs" { state.orgs.get(*id) } else { state.groups.get(*id) };
            let Some(records) = records else { return error(404, "Not Found") };
            rest_search(request, kind, id, records).unwrap_or_else(|(status, detail)| error(status, &detail))
        }
        ("GET", ["rest", "groups", id, "orgs"]) => {
            if request.authorization.as_deref() != Some(&format!("token {TOKEN}")) {
                return error(401, "Unauthorized");
            }
            let Some(orgs) = state.group_orgs.get(*id) else { return error(404, "Group not found") };
            if request.param("version").is_none() {
                return error(400, "version is required");
            }
            let limit: usize = request.param("limit").and_then(|l| l.parse().ok()).unwrap_or(10).min(state.org_page_max);
            let start = match request.param("starting_after") {
                Some(after) => orgs.iter().position(|(o, _)| o == after).map_or(orgs.len(), |i| i + 1),
                None => 0,
            };
            let page = &orgs[start..(start + limit).min(orgs.len())];
            let data: Vec<Value> = page
                .iter()
                .map(|(org, name)| {
                    json!({"id": org, "type": "org", "attributes": {"name": name, "slug": name.to_lowercase().replace(' ', "-"), "group_id": id, "is_personal": false}})
                })
                .collect();
            let mut links = json!({});
            if start + limit < orgs.len() {
                let last = &page.last().unwrap().0;
                // Snyk's REST links here start at the API root, without /rest.
                links["next"] =
                    json!(format!("/groups/{id}/orgs?version={}&limit={limit}&starting_after={last}", request.param("version").unwrap()));
            }
            (200, Vec::new(), json!({"data": data, "jsonapi": {"version": "1.0"}, "links": links}).to_string())
        }
        ("POST", ["v1", kind @ ("org" | "group"), id, "audit"]) => {
            let v1_error = |status: u16, message: &str| {
                (status, Vec::new(), json!({"code": status, "error": message, "message": message}).to_string())
            };
            if request.authorization.as_deref() != Some(&format!("token {TOKEN}")) {
                return v1_error(401, "Not authorised");
            }
            let records = if *kind == "org" { state.orgs.get(*id) } else { state.groups.get(*id) };
            let Some(records) = records else { return v1_error(404, "Org not found") };
            v1_search(request, records).unwrap_or_else(|(status, message)| v1_error(status, &message))
        }
        _ => error(404, "Not Found"),
    }
}

fn time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

fn created(record: &Value) -> DateTime<Utc> {
    time(record["created"].as_str().unwrap_or_default()).unwrap_or_default()
}

/// `GET .../audit_logs/search` as Snyk documents it.
fn rest_search(request: &Request, kind: &str, id: &str, records: &[Served]) -> Result<Answer, (u16, String)> {
    const KNOWN: [&str; 10] =
        ["version", "from", "to", "size", "sort_order", "cursor", "user_id", "project_id", "events", "exclude_events"];
    if let Some((name, _)) = request.query.iter().find(|(k, _)| !KNOWN.contains(&k.as_str())) {
        return Err((400, format!("Unknown query parameter '{name}'")));
    }
    if request.param("version").is_none() {
        return Err((400, "version is required".into()));
    }
    let size: usize = request.param("size").unwrap_or("100").parse().map_err(|_| (400, "size must be a number".to_string()))?;
    if !(1..=100).contains(&size) {
        return Err((400, "size must be between 1 and 100".into()));
    }
    let ascending = match request.param("sort_order").unwrap_or("DESC") {
        "ASC" => true,
        "DESC" => false,
        other => return Err((400, format!("sort_order '{other}' is not ASC or DESC"))),
    };
    let events: Vec<&str> = request.query.iter().filter(|(k, _)| k == "events").map(|(_, v)| v.as_str()).collect();
    let excluded: Vec<&str> = request.query.iter().filter(|(k, _)| k == "exclude_events").map(|(_, v)| v.as_str()).collect();
    if !events.is_empty() && !excluded.is_empty() {
        return Err((400, "events and exclude_events cannot be used together".into()));
    }
    let yesterday = (Utc::now() - TimeDelta::days(1)).date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let from = match request.param("from") {
        Some(text) => time(text).ok_or((400, format!("from '{text}' is not RFC 3339")))?,
        None => yesterday,
    };
    let to = request.param("to").map(|text| time(text).ok_or((400, format!("to '{text}' is not RFC 3339")))).transpose()?;
    let wanted = |s: &Served| {
        let event = s.record["event"].as_str().unwrap_or_default();
        let in_range = s.created >= from && to.is_none_or(|to| s.created < to);
        in_range && if events.is_empty() { event != "api.access" && !excluded.contains(&event) } else { events.contains(&event) }
    };
    // The cursor is the position of the next record to look at, in the order asked for.
    let begin = match request.param("cursor") {
        Some(cursor) => {
            u8_hex_decode(cursor).and_then(|c| c.strip_prefix("i:").and_then(|o| o.parse().ok())).ok_or((400, "bad cursor".to_string()))?
        }
        None if ascending => records.partition_point(|s| s.created < from),
        None => records.len() - to.map_or(records.len(), |to| records.partition_point(|s| s.created < to)),
    };
    let at = |position: usize| if ascending { &records[position] } else { &records[records.len() - 1 - position] };
    let (mut page, mut position) = (Vec::new(), begin);
    while position < records.len() && page.len() < size {
        if wanted(at(position)) {
            page.push(&at(position).record);
        }
        position += 1;
    }
    let mut body = json!({"data": {"type": "audit_log_search", "items": page}, "jsonapi": {"version": "1.0"}, "links": {}});
    if (position..records.len()).any(|p| wanted(at(p))) {
        let mut params: Vec<(String, String)> = request.query.iter().filter(|(k, _)| k != "cursor").cloned().collect();
        params.push(("cursor".into(), hex(&format!("i:{position}"))));
        params.sort();
        let query: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        body["links"]["next"] = json!(format!("/rest/{kind}/{id}/audit_logs/search?{}", query.join("&")));
    }
    Ok((200, Vec::new(), body.to_string()))
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn u8_hex_decode(text: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> =
        (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
    String::from_utf8(bytes?).ok()
}

/// `POST /v1/{org|group}/{id}/audit`: whole days, 100 a page, an empty array past the end.
fn v1_search(request: &Request, records: &[Served]) -> Result<Answer, (u16, String)> {
    let day = |name: &str| {
        request
            .param(name)
            .map(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| (400, format!("{name} must be YYYY-MM-DD"))))
            .transpose()
    };
    let (from, to) = (day("from")?, day("to")?);
    let page: usize = request.param("page").unwrap_or("1").parse().map_err(|_| (400, "page must be a number".to_string()))?;
    let ascending = request.param("sortOrder").unwrap_or("DESC") == "ASC";
    let body: Value = if request.body.is_empty() {
        json!({})
    } else {
        serde_json::from_str(&request.body).map_err(|_| (400, "body is not JSON".to_string()))?
    };
    let filters = &body["filters"];
    let mut matching: Vec<Value> = records
        .iter()
        .filter(|s| {
            let date = s.created.date_naive();
            from.is_none_or(|f| date >= f) && to.is_none_or(|t| date <= t)
        })
        .map(|s| &s.record)
        .filter(|r| filters["event"].as_str().is_none_or(|e| r["event"] == e))
        .filter(|r| filters["excludeEvent"].as_str().is_none_or(|e| r["event"] != e))
        .map(to_v1)
        .collect();
    if !ascending {
        matching.reverse();
    }
    let items: Vec<Value> = matching.into_iter().skip((page.max(1) - 1) * 100).take(100).collect();
    Ok((200, Vec::new(), Value::Array(items).to_string()))
}

/// A REST item in the v1 shape: camelCase ids, null when absent.
pub fn to_v1(record: &Value) -> Value {
    let field = |name: &str| record.get(name).cloned().unwrap_or(Value::Null);
    json!({
        "groupId": field("group_id"),
        "orgId": field("org_id"),
        "userId": field("user_id"),
        "projectId": field("project_id"),
        "event": field("event"),
        "content": field("content"),
        "created": field("created"),
    })
}

/// Where a record was made: the group and, for org records, the org.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    pub group: &'a str,
    pub org: Option<&'a str>,
}

/// A uuid-shaped id that depends on `seed` and `n`.
pub fn uuid(seed: u64, n: u64) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut next = || {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 29;
        x
    };
    let (a, b) = (next(), next());
    tarn::uuid_v4(a, b)
}

/// Every event name the reference lists, and a few more Snyk sends.
pub const ORG_EVENTS: [&str; 9] = [
    "org.user.add",
    "org.user.role.edit",
    "org.service_account.create",
    "org.policy.edit",
    "org.project.ignore.create",
    "org.project.issue.create",
    "user.logged_in",
    "api.access",
    "org.integration.delete",
];
pub const GROUP_EVENTS: [&str; 6] =
    ["group.user.remove", "group.user.add", "group.sso.edit", "user.logged_in", "group.service_account.delete", "api.access"];

/// `count` realistic audit records from `start`, oldest first: varied
/// `content`, no `user_id` on system events, and runs of records sharing one
/// `created` instant, one of them across the 100-record page boundary.
pub fn records(scope: Scope, seed: u64, start: DateTime<Utc>, count: usize) -> Vec<Value> {
    let names: &[&str] = if scope.org.is_some() { &ORG_EVENTS } else { &GROUP_EVENTS };
    let mut time = start;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let n = i as u64;
        if i > 0 && !(i % 7 == 3 || (98..=103).contains(&i)) {
            time += TimeDelta::seconds(41) + TimeDelta::milliseconds((n * 37 % 1000) as i64);
        }
        let event = names[(n * 5 + seed) as usize % names.len()];
        let user = uuid(seed, n % 13);
        let mut record =
            json!({"created": time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "event": event, "group_id": scope.group});
        if let Some(org) = scope.org {
            record["org_id"] = json!(org);
        }
        let content = match event {
            "org.user.add" | "group.user.add" => {
                json!({"userPublicId": uuid(seed, 1000 + n), "role": "collaborator", "invitedBy": format!("admin{}@example.com", n % 3)})
            }
            "org.user.role.edit" => {
                json!({"userPublicId": uuid(seed, 1000 + n), "before": {"role": "collaborator"}, "after": {"role": if n.is_multiple_of(2) { "admin" } else { "collaborator" }}})
            }
            "org.service_account.create" => {
                json!({"serviceAccountName": format!("ci-bot-{n}"), "role": {"id": uuid(seed, 2000 + n), "name": "Org Admin"}, "authType": "api_key"})
            }
            "org.policy.edit" => {
                json!({"policyId": uuid(seed, 3000 + n), "changes": [{"path": "rules[0].severity", "old": "high", "new": "critical"}, {"path": "rules[1].enabled", "old": true, "new": false}]})
            }
            "org.project.ignore.create" => {
                json!({"issueId": format!("SNYK-JS-LODASH-{}", 567_000 + n), "reason": "not reachable from our code", "reasonType": "wont-fix", "expires": null, "path": [["lodash@4.17.15"], ["*"]]})
            }
            "org.project.issue.create" => json!({"action": "Returned from analysis", "issueCount": n % 17}),
            "user.logged_in" => {
                json!({"method": if n.is_multiple_of(2) { "SSO" } else { "password" }, "ip": format!("203.0.113.{}", n % 250)})
            }
            "api.access" => {
                json!({"url": format!("/api/v1/org/{}/projects?page={n}", scope.org.unwrap_or(scope.group)), "method": "GET", "userAgent": "snyk-cli/1.1290.0"})
            }
            "group.user.remove" => json!({"userPublicId": uuid(seed, 4000 + n), "email": format!("leaver{n}@example.com")}),
            "group.sso.edit" => json!({"before": {"enabled": false}, "after": {"enabled": true, "provider": "okta"}, "seq": n}),
            "group.service_account.delete" => json!({"serviceAccountId": uuid(seed, 5000 + n)}),
            _ => json!({"integrationId": uuid(seed, 6000 + n), "integrationType": "github"}),
        };
        // System events carry no user; an empty content is sent as {}.
        if event != "org.project.issue.create" {
            record["user_id"] = json!(user);
        }
        if event.starts_with("org.project") {
            record["project_id"] = json!(uuid(seed, 7000 + n % 29));
        }
        record["content"] = if n % 53 == 52 && event == "user.logged_in" { json!({"seq": n}) } else { content };
        out.push(record);
    }
    out
}
