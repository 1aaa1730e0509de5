//! What to pull from Snyk: `tarn pull snyk` flags or a `type: snyk` source in
//! `tarn.yml`. The API token is read from an environment variable or a file
//! the config names, never from the config text.

use super::error::SnykError;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// A Snyk audit-log source. The same fields are `tarn pull snyk`'s flags and
/// a `type: snyk` source's keys, with one set of defaults.
#[derive(Debug, Clone, PartialEq, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct SnykConfig {
    /// An organization id (its audit log goes to `Snyk.OrgAudit`).
    #[serde(default)]
    #[arg(long, required_unless_present = "group", conflicts_with = "group")]
    pub org: Option<String>,
    /// A group id (its audit log goes to `Snyk.GroupAudit`).
    #[serde(default)]
    #[arg(long)]
    pub group: Option<String>,
    /// With `group`: pull every org of the group too, found anew each poll.
    #[serde(default)]
    #[arg(long, requires = "group")]
    pub include_orgs: bool,
    #[serde(default)]
    #[arg(long, value_enum, default_value = "rest")]
    pub api: Api,
    /// `https://api.snyk.io`, or a regional host (`https://api.eu.snyk.io`).
    #[serde(default = "default_api_url")]
    #[arg(long, default_value = DEFAULT_API_URL)]
    pub api_url: String,
    /// The environment variable holding the API token.
    #[serde(default = "default_token_env")]
    #[arg(long, default_value = DEFAULT_TOKEN_ENV)]
    pub token_env: String,
    /// A file holding the API token (wins over `token_env`).
    #[serde(default)]
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Where a source with no checkpoint starts: `YYYY-MM-DD` or RFC 3339
    /// (default: 7 days ago; Snyk keeps 90).
    #[serde(default)]
    #[arg(long)]
    pub from: Option<String>,
    /// Also pull `api.access` events, which Snyk leaves out by default.
    #[serde(default)]
    #[arg(long)]
    pub include_api_access: bool,
    /// Seconds between polls once caught up.
    #[serde(default = "default_frequency")]
    #[arg(long, default_value_t = default_frequency())]
    pub frequency: u64,
    /// Records gathered before a commit.
    #[serde(default = "default_chunk_size")]
    #[arg(long, default_value_t = default_chunk_size())]
    pub chunk_size: u64,
    /// Raise a drop-off alarm when a source has had no events for this long (`6h`).
    #[serde(default)]
    #[arg(long)]
    pub alarm_after: Option<String>,
    /// How long a record is remembered so the same record carried by
    /// EventBridge (a `type: sqs` source) adds no second row (`24h`).
    #[serde(default = "default_dedupe_window")]
    #[arg(long, default_value = "24h")]
    pub dedupe_window: String,
    /// Only here to refuse it with a clear message.
    #[serde(default)]
    #[arg(skip)]
    token: Option<serde::de::IgnoredAny>,
}

/// Which Snyk API to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// `/rest/.../audit_logs/search`, cursor pages.
    #[default]
    Rest,
    /// The legacy `POST /v1/.../audit`, whole days, numbered pages.
    V1,
}

pub const DEFAULT_API_URL: &str = "https://api.snyk.io";
pub const DEFAULT_TOKEN_ENV: &str = "SNYK_TOKEN";

fn default_api_url() -> String {
    DEFAULT_API_URL.to_string()
}
fn default_token_env() -> String {
    DEFAULT_TOKEN_ENV.to_string()
}
fn default_dedupe_window() -> String {
    "24h".into()
}

fn default_frequency() -> u64 {
    60
}
fn default_chunk_size() -> u64 {
    10_000
}

/// The API token, kept out of `Debug` output.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// The `Authorization` header value: `token <key>` for an API token,
    /// `bearer <jwt>` for an OAuth access token.
    pub(super) fn header(&self) -> String {
        if self.0.split('.').count() == 3 { format!("bearer {}", self.0) } else { format!("token {}", self.0) }
    }
}

impl SnykConfig {
    /// A source for one org or group, everything else at its default.
    pub fn new(org: Option<String>, group: Option<String>) -> SnykConfig {
        SnykConfig {
            org,
            group,
            include_orgs: false,
            api: Api::Rest,
            api_url: default_api_url(),
            token_env: default_token_env(),
            token_file: None,
            from: None,
            include_api_access: false,
            frequency: default_frequency(),
            chunk_size: default_chunk_size(),
            alarm_after: None,
            dedupe_window: default_dedupe_window(),
            token: None,
        }
    }

    /// Checks what serde cannot: one of org and group, ids that are ids,
    /// durations and dates that parse.
    pub fn check(&self) -> Result<(), SnykError> {
        self.problem().map_err(SnykError::Setup)
    }

    fn problem(&self) -> Result<(), String> {
        if self.token.is_some() {
            return Err(format!(
                "a Snyk source must not hold the token itself; set `token_env` (an environment variable, default {DEFAULT_TOKEN_ENV}) or `token_file`"
            ));
        }
        match (&self.org, &self.group) {
            (Some(_), Some(_)) => return Err("give an org or a group, not both (use include_orgs to pull a group's orgs)".into()),
            (None, None) => return Err("give the org or group whose audit log to pull (--org ID or --group ID)".into()),
            (Some(_), None) if self.include_orgs => return Err("include_orgs goes with a group, not an org".into()),
            _ => {}
        }
        for (kind, id) in [("org", &self.org), ("group", &self.group)] {
            if let Some(id) = id
                && (id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
            {
                return Err(format!("'{id}' is not a Snyk {kind} id; copy it from the {kind}'s settings page (a UUID like 0de7b2d6-...)"));
            }
        }
        if !self.api_url.starts_with("http://") && !self.api_url.starts_with("https://") {
            return Err(format!("api_url '{}' must start with https:// (for example {DEFAULT_API_URL})", self.api_url));
        }
        self.alarm_after().map_err(|e| e.to_string())?;
        self.dedupe_window().map_err(|e| e.to_string())?;
        self.from().map_err(|e| e.to_string())?;
        Ok(())
    }

    pub fn dedupe_window(&self) -> Result<Duration, SnykError> {
        crate::duration::parse(&self.dedupe_window).map_err(|e| SnykError::Setup(format!("dedupe_window: {e}")))
    }

    pub fn alarm_after(&self) -> Result<Option<Duration>, SnykError> {
        self.alarm_after
            .as_deref()
            .map(|text| crate::duration::parse(text).map_err(|e| SnykError::Setup(format!("alarm_after: {e}"))))
            .transpose()
    }

    /// `from` in microseconds since the epoch.
    pub fn from(&self) -> Result<Option<i64>, SnykError> {
        let Some(text) = self.from.as_deref() else { return Ok(None) };
        crate::duration::instant(text).map(Some).ok_or_else(|| {
            SnykError::Setup(format!("from: '{text}' is not a day or a time; write it like 2026-10-01 or 2026-10-01T12:00:00Z"))
        })
    }

    /// Reads the API token from `token_file` or the `token_env` variable.
    pub fn token(&self) -> Result<Token, SnykError> {
        let token = match &self.token_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| SnykError::Setup(format!("cannot read the Snyk token file {}: {e}", path.display())))?
                .trim()
                .to_string(),
            None => std::env::var(&self.token_env).unwrap_or_default().trim().to_string(),
        };
        if token.is_empty() {
            let (problem, fix) = match &self.token_file {
                Some(path) => (format!("the token file {} is empty", path.display()), "put in it".to_string()),
                None => (format!("{} is not set", self.token_env), format!("export {}", self.token_env)),
            };
            return Err(SnykError::Setup(format!(
                "no Snyk API token: {problem}; {fix} the API token of a user or service account that has the `View audit logs` permission"
            )));
        }
        Ok(Token(token))
    }
}
