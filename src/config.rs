//! `tarn.yml`: where the lake is and where extra schemas live. Every setting
//! has a default, so tarn runs with no config file at all (lake `./lake`).
//!
//! ```yaml
//! lake: ./lake            # relative paths are relative to this file; or s3://bucket/prefix
//! schema_dirs: [./schemas-custom]
//! sources:                # what `tarn run` pulls
//!   trail:
//!     type: sqs
//!     queue_url: https://sqs.eu-west-1.amazonaws.com/111111111111/cloudtrail-notify
//!     chunk_size: 10000
//!     frequency: 10
//!     delete_consumed_messages: true
//!   snyk:
//!     type: snyk
//!     group: 4a18d42f-0706-4ad0-b127-24078731fbed
//!     include_orgs: true
//!     token_env: SNYK_TOKEN     # or token_file: ./snyk-token (never the token itself)
//!     alarm_after: 6h
//! event_data_stores:      # CloudTrail Lake stores; queries name them by id
//!   trail:
//!     id: 5e2676f8-9fce-46ef-8142-3e36a94e6691   # or the store's ARN; derived from the name if absent
//!     category: Management                       # Management | Data | ActivityAuditLog
//!     tables: [aws_cloudtrail]
//!     retention_days: 366                        # 7..3653 (7..2557 with billing_mode: fixed)
//!     termination_protection: true
//! apply_retention: true   # `tarn run` drops partitions older than the stores keep
//! rules:                  # what `tarn run` runs every so often (after each drain with --once)
//!   - {path: ./rules, every: 15m, since: 24h}
//! alerts:                 # where `tarn rules run` sends alerts, each row once per destination
//!   destinations:
//!     slack: {type: webhook, url_env: SLACK_WEBHOOK_URL}
//!     archive: {type: file, path: ./alerts.ndjson}
//! serve:                  # `tarn serve`, and `tarn run` too: PutAuditEvents, /healthz, /metrics
//!   listen: 127.0.0.1:8443
//!   dedupe_window: 24h
//! ```

use crate::catalog::eds::{EventDataStore, StoreConfig};
use crate::sources::aws::sqs::SqsConfig;
use crate::sources::channel::ServeConfig;
use crate::sources::snyk::SnykConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub lake: PathBuf,
    pub schema_dirs: Vec<PathBuf>,
    /// Named sources for `tarn run`.
    pub sources: BTreeMap<String, Source>,
    /// Event data stores defined here (the lake's own catalog holds the others).
    pub event_data_stores: Vec<EventDataStore>,
    /// Whether `tarn run` applies the stores' retention as it goes.
    pub apply_retention: bool,
    /// Where `tarn serve` and `tarn run` listen for channel calls.
    pub serve: Option<ServeConfig>,
    /// Where `tarn rules run` sends its alerts, by name.
    pub alert_destinations: Vec<(String, crate::rules::deliver::Destination)>,
    /// Rules `tarn run` runs on a schedule.
    pub rules: Vec<crate::rules::schedule::RuleSchedule>,
}

/// A configured source; `type` says which.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Source {
    Sqs(SqsConfig),
    Snyk(SnykConfig),
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read it")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    lake: Option<PathBuf>,
    #[serde(default)]
    schema_dirs: Vec<PathBuf>,
    #[serde(default)]
    sources: BTreeMap<String, Source>,
    #[serde(default)]
    event_data_stores: BTreeMap<String, StoreConfig>,
    #[serde(default)]
    apply_retention: bool,
    #[serde(default)]
    serve: Option<ServeConfig>,
    #[serde(default)]
    alerts: Option<AlertsSection>,
    #[serde(default)]
    rules: Vec<crate::rules::schedule::RuleSchedule>,
}

/// `alerts:` in tarn.yml.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsSection {
    #[serde(default)]
    destinations: BTreeMap<String, crate::rules::deliver::Destination>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            lake: PathBuf::from("lake"),
            schema_dirs: Vec::new(),
            sources: BTreeMap::new(),
            event_data_stores: Vec::new(),
            apply_retention: false,
            serve: None,
            alert_destinations: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// The config file used when none is named: `./tarn.yml`, if it exists.
pub const DEFAULT_FILE: &str = "tarn.yml";

impl Config {
    /// Loads `path`, or `./tarn.yml` if `path` is None and that file exists,
    /// else the defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match path {
            Some(path) => path.to_path_buf(),
            None if Path::new(DEFAULT_FILE).exists() => PathBuf::from(DEFAULT_FILE),
            None => return Ok(Config::default()),
        };
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
        Config::parse(&text, path.parent().unwrap_or(Path::new("."))).map_err(|reason| ConfigError::Invalid { path: shown, reason })
    }

    /// Parses config text; relative paths are taken from `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let file: File = serde_yaml::from_str(text).map_err(|e| e.to_string().replace('\n', " "))?;
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        // A lake on S3 is a URL, not a path relative to this file.
        let resolve_lake =
            |p: PathBuf| if p.to_str().is_some_and(|l| l.starts_with(crate::lake::store::S3_SCHEME)) { p } else { resolve(p) };
        let mut sources = file.sources;
        for (name, source) in &mut sources {
            if let Source::Snyk(snyk) = source {
                snyk.check().map_err(|e| format!("sources.{name}: {e}"))?;
                snyk.token_file = snyk.token_file.take().map(resolve);
            }
        }
        let event_data_stores = file
            .event_data_stores
            .iter()
            .map(|(name, store)| store.to_store(name).map_err(|e| format!("event_data_stores.{name}: {e}")))
            .collect::<Result<_, _>>()?;
        let mut serve = file.serve;
        if let Some(serve) = &mut serve {
            serve.check().map_err(|e| format!("serve: {e}"))?;
            serve.resolve(base);
        }
        let mut alert_destinations: Vec<(String, crate::rules::deliver::Destination)> =
            file.alerts.map(|a| a.destinations.into_iter().collect()).unwrap_or_default();
        for (name, destination) in &mut alert_destinations {
            destination.check().map_err(|e| format!("alerts.destinations.{name}: {e}"))?;
            destination.resolve(base);
        }
        let mut rules = file.rules;
        for (i, schedule) in rules.iter_mut().enumerate() {
            schedule.every().map_err(|e| format!("rules[{i}].every: {e}"))?;
            schedule.since().map_err(|e| format!("rules[{i}].since: {e}"))?;
            schedule.path = resolve(std::mem::take(&mut schedule.path));
        }
        Ok(Config {
            rules,
            alert_destinations,
            serve,
            lake: resolve_lake(file.lake.unwrap_or_else(|| PathBuf::from("lake"))),
            schema_dirs: file.schema_dirs.into_iter().map(resolve).collect(),
            sources,
            event_data_stores,
            apply_retention: file.apply_retention,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_config_file() {
        let config = Config::parse("lake: data/lake\nschema_dirs: [s, /abs]\n", Path::new("/etc/tarn")).unwrap();
        assert_eq!(config.lake, PathBuf::from("/etc/tarn/data/lake"));
        let on_s3 = Config::parse("lake: s3://bucket/security/lake\n", Path::new("/etc/tarn")).unwrap();
        assert_eq!(on_s3.lake, PathBuf::from("s3://bucket/security/lake"));
        assert_eq!(config.schema_dirs, vec![PathBuf::from("/etc/tarn/s"), PathBuf::from("/abs")]);
    }

    #[test]
    fn an_unknown_key_is_an_error() {
        let error = Config::parse("lake_dir: x\n", Path::new(".")).unwrap_err();
        assert!(
            error.starts_with(
                "unknown field `lake_dir`, expected one of `lake`, `schema_dirs`, `sources`, `event_data_stores`, `apply_retention`, `serve`, `alerts`, `rules`"
            ),
            "{error}"
        );
    }

    #[test]
    fn sources_are_named_and_typed() {
        let config =
            Config::parse("sources:\n  trail:\n    type: sqs\n    queue_url: https://q\n    frequency: 2\n", Path::new(".")).unwrap();
        let Source::Sqs(sqs) = &config.sources["trail"] else { panic!("an sqs source") };
        assert_eq!((sqs.queue_url.as_str(), sqs.frequency, sqs.chunk_size, sqs.delete_consumed_messages), ("https://q", 2, 10_000, true));
        let error =
            Config::parse("sources:\n  trail:\n    type: sqs\n    queue_url: https://q\n    chunk: 5\n", Path::new(".")).unwrap_err();
        assert!(error.contains("unknown field `chunk`"), "{error}");
        let error = Config::parse("sources:\n  trail:\n    type: kafka\n", Path::new(".")).unwrap_err();
        assert!(error.contains("unknown variant `kafka`"), "{error}");
    }

    #[test]
    fn a_snyk_source_names_where_its_token_is() {
        let text = "sources:\n  audit:\n    type: snyk\n    group: 4a18d42f-0706\n    include_orgs: true\n    token_file: secrets/snyk\n";
        let config = Config::parse(text, Path::new("/etc/tarn")).unwrap();
        let Source::Snyk(snyk) = &config.sources["audit"] else { panic!("a snyk source") };
        assert_eq!(snyk.group.as_deref(), Some("4a18d42f-0706"));
        assert!(snyk.include_orgs);
        assert_eq!(snyk.token_file, Some(PathBuf::from("/etc/tarn/secrets/snyk")));
        assert_eq!(snyk.api_url, "https://api.snyk.io");
    }

    #[test]
    fn a_snyk_token_in_the_config_is_refused() {
        let text = "sources:\n  audit:\n    type: snyk\n    org: 0de7b2d6\n    token: 1234-5678-secret\n";
        let error = Config::parse(text, Path::new(".")).unwrap_err();
        assert!(error.starts_with("sources.audit: a Snyk source must not hold the token itself; set `token_env`"), "{error}");
        assert!(!error.contains("1234-5678-secret"), "{error}");
    }

    #[test]
    fn a_snyk_source_needs_one_org_or_group() {
        let error = Config::parse("sources:\n  audit:\n    type: snyk\n", Path::new(".")).unwrap_err();
        assert!(error.contains("give the org or group"), "{error}");
        let text = "sources:\n  audit:\n    type: snyk\n    org: 0de7\n    include_orgs: true\n";
        assert!(Config::parse(text, Path::new(".")).unwrap_err().contains("include_orgs goes with a group"));
        let text = "sources:\n  audit:\n    type: snyk\n    org: ../../etc\n";
        assert!(Config::parse(text, Path::new(".")).unwrap_err().contains("is not a Snyk org id"));
        let text = "sources:\n  audit:\n    type: snyk\n    org: 0de7\n    alarm_after: soon\n";
        assert!(Config::parse(text, Path::new(".")).unwrap_err().contains("alarm_after: 'soon' is not a duration"));
    }
}
