//! The `serve:` section of `tarn.yml`: where `tarn serve` (and `tarn run`)
//! listen for PutAuditEvents calls and the credentials callers sign with.
//! The secret is never in the file: it comes from an environment variable
//! or a file the section names (`TARN_ACCESS_KEY_ID`,
//! `TARN_SECRET_ACCESS_KEY` and `TARN_SESSION_TOKEN` unless told otherwise).
//!
//! ```yaml
//! serve:
//!   listen: 0.0.0.0:8443
//!   tls_cert: ./tls/cert.pem
//!   tls_key: ./tls/key.pem
//!   secret_access_key_file: ./secrets/tarn-secret
//!   dedupe_window: 24h
//!   commit_interval_ms: 200
//! ```

use super::ChannelSettings;
use super::sigv4::Credentials;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What is wrong with the `serve:` settings or the credentials they name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ServeConfigError(pub String);

impl From<String> for ServeConfigError {
    fn from(text: String) -> ServeConfigError {
        ServeConfigError(text)
    }
}

impl From<&str> for ServeConfigError {
    fn from(text: &str) -> ServeConfigError {
        ServeConfigError(text.to_string())
    }
}

/// The `serve:` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// `host:port`.
    pub listen: String,
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    #[serde(default = "access_key_env")]
    pub access_key_id_env: String,
    #[serde(default = "secret_env")]
    pub secret_access_key_env: String,
    /// A file that holds the secret (it wins over the variable).
    #[serde(default)]
    pub secret_access_key_file: Option<PathBuf>,
    #[serde(default = "token_env")]
    pub session_token_env: String,
    /// How long a resent event id is recognised (`24h`, `7d`).
    #[serde(default = "default_window")]
    pub dedupe_window: String,
    /// How long calls gather before their commit.
    #[serde(default = "default_interval")]
    pub commit_interval_ms: u64,
}

fn access_key_env() -> String {
    "TARN_ACCESS_KEY_ID".into()
}
fn secret_env() -> String {
    "TARN_SECRET_ACCESS_KEY".into()
}
fn token_env() -> String {
    "TARN_SESSION_TOKEN".into()
}
fn default_window() -> String {
    "24h".into()
}
fn default_interval() -> u64 {
    200
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            listen: "127.0.0.1:8443".into(),
            tls_cert: None,
            tls_key: None,
            access_key_id_env: access_key_env(),
            secret_access_key_env: secret_env(),
            secret_access_key_file: None,
            session_token_env: token_env(),
            dedupe_window: default_window(),
            commit_interval_ms: default_interval(),
        }
    }
}

impl ServeConfig {
    /// Paths relative to the config file's folder.
    pub fn resolve(&mut self, base: &Path) {
        let resolve = |p: &mut Option<PathBuf>| {
            if let Some(path) = p
                && path.is_relative()
            {
                *path = base.join(&*path);
            }
        };
        resolve(&mut self.tls_cert);
        resolve(&mut self.tls_key);
        resolve(&mut self.secret_access_key_file);
    }

    /// Checks what can be checked without the environment.
    pub fn check(&self) -> Result<(), ServeConfigError> {
        let listen = self.listen_addr()?;
        self.settings()?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("give both tls_cert and tls_key, or neither".into());
        }
        if !listen.ip().is_loopback() && self.tls_cert.is_none() {
            return Err(ServeConfigError(format!(
                "{listen} is not a loopback address, so tarn serves it only over TLS; give --tls-cert and --tls-key (tls_cert and tls_key under serve:), or listen on 127.0.0.1"
            )));
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<std::net::SocketAddr, ServeConfigError> {
        self.listen.parse().map_err(|_| ServeConfigError(format!("listen: '{}' is not host:port (like 127.0.0.1:8443)", self.listen)))
    }

    pub fn settings(&self) -> Result<ChannelSettings, ServeConfigError> {
        let window = crate::duration::parse(&self.dedupe_window).map_err(|e| format!("dedupe_window: {e}"))?;
        if !(1..=60_000).contains(&self.commit_interval_ms) {
            return Err(ServeConfigError(format!("commit_interval_ms: {} must be 1 to 60000", self.commit_interval_ms)));
        }
        Ok(ChannelSettings {
            dedupe_window: window,
            commit_interval: Duration::from_millis(self.commit_interval_ms),
            ..ChannelSettings::default()
        })
    }

    /// The credentials callers sign with, from the environment (and the
    /// secret's file).
    pub fn credentials(&self) -> Result<Credentials, ServeConfigError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let access_key_id = var(&self.access_key_id_env).ok_or_else(|| {
            format!("set {} to the access key id callers sign with (and {})", self.access_key_id_env, self.secret_access_key_env)
        })?;
        let secret_access_key = match &self.secret_access_key_file {
            Some(path) => std::fs::read_to_string(path)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("{}: cannot read the secret: {e}", path.display()))?,
            None => var(&self.secret_access_key_env)
                .ok_or_else(|| format!("set {} to the secret access key callers sign with", self.secret_access_key_env))?,
        };
        if secret_access_key.is_empty() {
            return Err("the secret access key is empty".into());
        }
        Ok(Credentials { access_key_id, secret_access_key, session_token: var(&self.session_token_env) })
    }
}
