//! Alerts to where people read them: the destinations of tarn.yml's
//! `alerts:` section, a webhook (a JSON POST that Slack's incoming webhooks
//! take, `text` first), an SNS topic (the AWS SDK's Publish; a FIFO topic
//! gets the delivery id as its deduplication id) or a file (one JSON line
//! per alert row).
//!
//! Each alert row is delivered once per destination. A delivery is an input
//! of the lake's ledger (`alert:<destination>:<alert>:<kind>:<count>`),
//! claimed in its own commit right after the destination took it, so a run
//! never sends what an earlier run sent. A crash between the two sends it
//! again at the next run: a file then finds its line already there, and a
//! webhook gets the same `Idempotency-Key` header (and `delivery_id`) to
//! drop the repeat. Failed sends are retried three times, then left for the
//! next run.

use super::{DeliveryError, RuleError};
use crate::ingest::Maintenance;
use crate::lake::Lake;
use crate::schema::Registry;
use crate::sql::{Format, Sql};
use serde::Deserialize;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// How long the ledger remembers a delivery: longer than any alert waits.
const REMEMBER: Duration = Duration::from_secs(90 * 24 * 3600);
/// Tries of one send before it is left for the next run.
const TRIES: u32 = 3;

/// One destination as tarn.yml writes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Destination {
    /// A JSON POST; the URL itself, or the variable that holds it (a Slack
    /// webhook URL is a secret).
    Webhook {
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        url_env: Option<String>,
    },
    /// One JSON line per alert row, appended.
    File { path: PathBuf },
    /// An SNS topic, with the standard AWS credential chain.
    Sns {
        topic_arn: String,
        #[serde(default)]
        region: Option<String>,
        #[serde(default)]
        endpoint_url: Option<String>,
    },
}

impl Destination {
    /// Paths relative to the config file's folder.
    pub fn resolve(&mut self, base: &std::path::Path) {
        if let Destination::File { path } = self
            && path.is_relative()
        {
            *path = base.join(&*path);
        }
    }

    /// Checks what can be checked without the environment.
    pub fn check(&self) -> Result<(), DeliveryError> {
        match self {
            Destination::Webhook { url: None, url_env: None } | Destination::Webhook { url: Some(_), url_env: Some(_) } => {
                Err(DeliveryError::Setup("a webhook takes url or url_env (one of them)".into()))
            }
            _ => Ok(()),
        }
    }
}

/// What a delivery did, per destination.
#[derive(Debug, Default)]
pub struct DeliveryReport {
    /// (destination, alert rows sent).
    pub sent: Vec<(String, usize)>,
    /// Sends that failed after their tries; they are tried again next run.
    pub failed: Vec<DeliveryError>,
}

/// Sends every alert row each destination has not taken yet.
pub async fn deliver(lake: &Lake, registry: &Registry, destinations: &[(String, Destination)]) -> Result<DeliveryReport, RuleError> {
    let mut report = DeliveryReport::default();
    if destinations.is_empty() {
        return Ok(report);
    }
    let rows = alert_rows(lake, registry).await?;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(|e| setup(e.to_string()))?;
    for (name, destination) in destinations {
        destination.check().map_err(|e| setup(format!("alerts.destinations.{name}: {e}")))?;
        let sns = match destination {
            Destination::Sns { region, endpoint_url, .. } => {
                let options = crate::sources::aws::AwsOptions { region: region.clone(), endpoint_url: endpoint_url.clone() };
                Some(crate::sources::aws::sns_client(&options).await)
            }
            _ => None,
        };
        let channel = Channel { http: &http, sns: sns.as_ref() };
        let seen = lake.snapshot()?.inputs;
        let mut sent = 0;
        for row in &rows {
            let id = delivery_id(row);
            let input = format!("alert:{name}:{id}");
            if seen.contains(&input) {
                continue;
            }
            if let Err(Refused(reason)) = send(&channel, destination, row, &id).await {
                report.failed.push(DeliveryError::Send { destination: name.clone(), reason });
                break;
            }
            #[cfg(feature = "fault-injection")]
            if std::env::var_os("TARN_FAIL_AFTER_DELIVERY").is_some() {
                // For tests: a crash between the send and its claim.
                std::process::abort();
            }
            let claim = Maintenance::begin(lake, "deliver alerts")?;
            let until = crate::now_micros().saturating_add(REMEMBER.as_micros() as i64);
            claim.chunk().claim(&input, Some(until));
            claim.commit()?;
            sent += 1;
        }
        report.sent.push((name.clone(), sent));
    }
    Ok(report)
}

fn setup(text: String) -> RuleError {
    RuleError::Deliver(DeliveryError::Setup(text))
}

/// The alert rows, oldest first, as JSON objects.
async fn alert_rows(lake: &Lake, registry: &Registry) -> Result<Vec<Value>, RuleError> {
    let sql = Sql::open(lake, registry, &[]).await.map_err(|e| setup(crate::error_line(&e)))?;
    let query = "SELECT alert_id, rule_id, severity, title, dedup_key, kind, first_seen, last_seen, count, row_ids \
                 FROM alerts ORDER BY p_event_time, alert_id, count";
    let (schema, batches) = sql.query(query).await.map_err(|e| setup(crate::error_line(&e)))?;
    let mut text = Vec::new();
    crate::sql::write_results(&mut text, Format::Ndjson, &schema, &batches).map_err(|e| setup(e.to_string()))?;
    Ok(text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).filter_map(|l| serde_json::from_slice(l).ok()).collect())
}

/// An alert row's identity: its alert, its kind and the alert's count then.
fn delivery_id(row: &Value) -> String {
    let text = |key: &str| row.get(key).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).unwrap_or_default();
    format!("{}:{}:{}", text("alert_id"), text("kind"), text("count"))
}

/// What a destination receives for one alert row: Slack's `text`, the row,
/// and the delivery id.
fn payload(row: &Value, id: &str) -> Value {
    let text = |key: &str| row.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let verb = if text("kind") == "updated" { "more matches" } else { "alert" };
    let line = format!(
        "[{}] {}: {} ({}, {} matches)",
        text("severity"),
        verb,
        text("title"),
        text("rule_id"),
        row.get("count").unwrap_or(&Value::Null)
    );
    serde_json::json!({ "text": line, "delivery_id": id, "alert": row })
}

/// Why a destination did not take an alert.
struct Refused(String);

impl From<String> for Refused {
    fn from(reason: String) -> Refused {
        Refused(reason)
    }
}

impl From<&str> for Refused {
    fn from(reason: &str) -> Refused {
        Refused(reason.to_string())
    }
}

/// The clients sends go through.
struct Channel<'a> {
    http: &'a reqwest::Client,
    sns: Option<&'a aws_sdk_sns::Client>,
}

async fn send(channel: &Channel<'_>, destination: &Destination, row: &Value, id: &str) -> Result<(), Refused> {
    let body = payload(row, id);
    let http = channel.http;
    match destination {
        Destination::File { path } => append_once(path, &body, id),
        Destination::Sns { topic_arn, .. } => {
            let Some(sns) = channel.sns else { return Err("no SNS client".into()) };
            let subject: String = body["text"].as_str().unwrap_or("tarn alert").chars().filter(|c| !c.is_control()).take(100).collect();
            let mut publish = sns.publish().topic_arn(topic_arn).subject(subject).message(body.to_string());
            if topic_arn.ends_with(".fifo") {
                let group = row.get("rule_id").and_then(Value::as_str).unwrap_or("tarn");
                let dedup: String = id.chars().filter(|c| c.is_ascii_alphanumeric()).take(128).collect();
                publish = publish.message_group_id(group).message_deduplication_id(dedup);
            }
            let mut last = String::new();
            for attempt in 0..TRIES {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                }
                match publish.clone().send().await {
                    Ok(_) => return Ok(()),
                    Err(e) => {
                        last = aws_sdk_sns::error::DisplayErrorContext(&e).to_string().split_whitespace().collect::<Vec<_>>().join(" ")
                    }
                }
            }
            Err(format!("SNS did not take the alert after {TRIES} tries: {last}").into())
        }
        Destination::Webhook { url, url_env } => {
            let url = match (url, url_env) {
                (Some(url), _) => url.clone(),
                (None, Some(var)) => std::env::var(var).map_err(|_| Refused(format!("set {var} to the webhook URL")))?,
                (None, None) => return Err("a webhook takes url or url_env".into()),
            };
            let mut last = String::new();
            for attempt in 0..TRIES {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                }
                match http
                    .post(&url)
                    .header("Idempotency-Key", id)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .send()
                    .await
                {
                    Ok(answer) if answer.status().is_success() => return Ok(()),
                    Ok(answer) if answer.status().is_client_error() && answer.status().as_u16() != 429 => {
                        return Err(format!("the webhook refused the alert: HTTP {}", answer.status()).into());
                    }
                    Ok(answer) => last = format!("HTTP {}", answer.status()),
                    Err(e) => last = crate::error_line(&e),
                }
            }
            Err(format!("the webhook did not take the alert after {TRIES} tries: {last}").into())
        }
    }
}

/// Appends the line unless the file holds this delivery already (sent
/// before a crash kept it from being claimed).
fn append_once(path: &std::path::Path, body: &Value, id: &str) -> Result<(), Refused> {
    let marker = format!("\"delivery_id\":{}", Value::String(id.to_string()));
    match std::fs::read_to_string(path) {
        Ok(text) if text.contains(&marker) => return Ok(()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display()).into()),
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Refused(format!("cannot open {}: {e}", path.display())))?;
    let line = format!("{body}\n");
    file.write_all(line.as_bytes()).and_then(|_| file.sync_data()).map_err(|e| Refused(format!("cannot write {}: {e}", path.display())))
}
