//! Talking to the Snyk API: the token header, retries and what each failure
//! means for the user. 429s wait as the server says (`Retry-After`, then
//! `X-RateLimit-Reset`, else about a minute); 5xx, dropped connections,
//! timeouts and pages that are not what the API documents are retried with
//! capped exponential backoff and jitter. 401/403/404 stop at once with what
//! to fix. The token appears in no message.

use super::config::Token;
use super::error::SnykError;
use reqwest::{Method, StatusCode, Url};
use std::time::Duration;

/// Tries of a request that fails with a 5xx or a transport error, before
/// giving up.
const MAX_TRIES: u32 = 8;
/// Tries of a page whose body is not what the API documents.
const MALFORMED_TRIES: u32 = 3;
/// 429s in a row before giving up.
const MAX_RATE_LIMITED: u32 = 30;
const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// The wait after a 429 that says nothing of when to come back.
const RATE_LIMIT_DEFAULT: Duration = Duration::from_secs(60);
/// The longest a 429 makes us wait, whatever it says.
const RATE_LIMIT_CAP: Duration = Duration::from_secs(900);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A request's answer: the body of a 200, as read by the caller.
pub struct Page<T> {
    pub value: T,
    /// What the request was, for messages and `p_source_file` (no host, no token).
    pub shown: String,
}

/// What a caller says about a failed page.
pub struct Target<'a> {
    /// `org 0de7...`, for messages.
    pub what: &'a str,
    /// `org` or `group`.
    pub kind: &'static str,
}

pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Token,
    /// Where the token came from, for messages.
    token_source: String,
}

/// Something a retry can fix, or not.
enum Failure {
    /// Wait this long, then try again (a 429).
    RateLimited(Duration, String),
    /// Back off, then try again (5xx, transport, malformed body).
    Transient(String),
    Final(SnykError),
}

impl Client {
    pub fn new(api_url: &str, token: Token, token_source: String) -> Result<Client, SnykError> {
        // One TLS provider for the process; the AWS SDK configures its own.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("tarn/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SnykError::Setup(format!("cannot start an HTTPS client: {e}")))?;
        let mut base = Url::parse(api_url).map_err(|e| SnykError::Setup(format!("api_url '{api_url}' is not a URL: {e}")))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Client { http, base, token, token_source })
    }

    pub fn api_url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The URL of `path` (`rest/orgs/...`, or a `links.next` path from the
    /// host root, with or without `/rest`) on the API host.
    pub fn url(&self, path: &str) -> Result<Url, SnykError> {
        let joined = if path.starts_with("http://") || path.starts_with("https://") {
            Url::parse(path)
        } else if let Some(rest) = path.strip_prefix('/') {
            let rest = if rest.starts_with("rest/") || rest.starts_with("v1/") { rest.to_string() } else { format!("rest/{rest}") };
            self.base.join(&rest)
        } else {
            self.base.join(path)
        };
        joined.map_err(|e| SnykError::Setup(format!("cannot make a URL of '{path}': {e}")))
    }

    /// Sends the request until it succeeds with a body `read` accepts, or
    /// fails in a way no retry fixes. Each retry is a warning naming the target.
    pub async fn fetch<T>(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        target: &Target<'_>,
        read: impl Fn(&[u8]) -> Result<T, String>,
    ) -> Result<Page<T>, SnykError> {
        let shown = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        };
        let (mut tries, mut rate_limited, mut malformed) = (0u32, 0u32, 0u32);
        loop {
            let failure = match self.send(method.clone(), url.clone(), body, target).await {
                Ok(bytes) => match read(&bytes) {
                    Ok(value) => return Ok(Page { value, shown }),
                    Err(reason) => {
                        malformed += 1;
                        if malformed >= MALFORMED_TRIES {
                            return Err(SnykError::Malformed { what: format!("{} ({shown})", target.what), reason, tries: malformed });
                        }
                        Failure::Transient(format!("a malformed page: {reason}"))
                    }
                },
                Err(failure) => failure,
            };
            match failure {
                Failure::Final(error) => return Err(error),
                Failure::RateLimited(wait, reason) => {
                    rate_limited += 1;
                    if rate_limited >= MAX_RATE_LIMITED {
                        return Err(SnykError::GaveUp {
                            what: target.what.to_string(),
                            tries: rate_limited,
                            reason: format!("{reason}; the token's quota (1620 requests a minute) may be used by another client"),
                        });
                    }
                    tracing::warn!("{}: {reason}; waiting {:.1}s as Snyk asks", target.what, wait.as_secs_f64());
                    tokio::time::sleep(wait).await;
                }
                Failure::Transient(reason) => {
                    tries += 1;
                    if tries >= MAX_TRIES {
                        return Err(SnykError::GaveUp { what: format!("{} ({shown})", target.what), tries, reason });
                    }
                    let wait = backoff(tries, crate::unique_seed());
                    tracing::warn!("{}: {reason}; retrying in {:.1}s", target.what, wait.as_secs_f64());
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn send(&self, method: Method, url: Url, body: Option<&serde_json::Value>, target: &Target<'_>) -> Result<Vec<u8>, Failure> {
        let mut request = self
            .http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, self.token.header())
            .header(reqwest::header::ACCEPT, "application/vnd.api+json, application/json");
        if let Some(body) = body {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_string());
        }
        let response = request.send().await.map_err(|e| Failure::Transient(transport_text(&e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|e| Failure::Transient(transport_text(&e)))?.to_vec();
        if status.is_success() {
            return Ok(bytes);
        }
        let detail = error_detail(&bytes).map(|d| format!(": {d}")).unwrap_or_default();
        let code = status.as_u16();
        Err(match status {
            StatusCode::TOO_MANY_REQUESTS => {
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
                let wait = rate_limit_wait(header("retry-after").as_deref(), header("x-ratelimit-reset").as_deref(), chrono::Utc::now());
                Failure::RateLimited(wait, format!("rate limited (429{detail})"))
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Failure::Final(SnykError::Refused {
                status: code,
                detail,
                what: target.what.to_string(),
                token_source: self.token_source.clone(),
                extra: if code == 403 { format!(" on this {}", target.kind) } else { String::new() },
            }),
            StatusCode::NOT_FOUND => Failure::Final(SnykError::NotFound {
                what: target.what.to_string(),
                kind: target.kind,
                detail,
                api_url: self.api_url().to_string(),
            }),
            StatusCode::REQUEST_TIMEOUT => Failure::Transient(format!("HTTP {code}{detail}")),
            s if s.is_server_error() => Failure::Transient(format!("HTTP {code}{detail}")),
            _ => Failure::Final(SnykError::Rejected { what: target.what.to_string(), status: code, detail }),
        })
    }
}

/// A transport error without the URL's query or any header.
fn transport_text(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else if error.is_body() || error.is_decode() {
        "the connection broke while reading the answer"
    } else {
        "the request failed"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    let mut root = String::new();
    while let Some(cause) = source {
        root = cause.to_string();
        source = cause.source();
    }
    if root.is_empty() { kind.to_string() } else { format!("{kind}: {root}") }
}

/// The `detail` (or v1 `message`) of an error document.
fn error_detail(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let detail = value
        .get("errors")
        .and_then(|e| e.get(0))
        .and_then(|e| e.get("detail").and_then(text).or_else(|| e.get("title").and_then(text)))
        .or_else(|| value.get("message").and_then(text))
        .or_else(|| value.get("error").and_then(text))?;
    Some(detail.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// How long to wait after a 429: `Retry-After` (seconds or an HTTP date),
/// else `X-RateLimit-Reset` (seconds to wait, or the epoch second of the
/// reset), else about a minute; never more than 15 minutes.
pub fn rate_limit_wait(retry_after: Option<&str>, reset: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> Duration {
    let seconds_or_date = |text: &str| -> Option<Duration> {
        let text = text.trim();
        if let Ok(seconds) = text.parse::<f64>() {
            if seconds < 0.0 || !seconds.is_finite() {
                return None;
            }
            // Large numbers are an epoch second, small ones a delay.
            if seconds > 1e9 {
                return Some(Duration::from_secs_f64((seconds - now.timestamp() as f64).max(0.0)));
            }
            return Some(Duration::from_secs_f64(seconds));
        }
        let date = chrono::DateTime::parse_from_rfc2822(text).ok()?;
        Some((date.with_timezone(&chrono::Utc) - now).to_std().unwrap_or_default())
    };
    retry_after.and_then(seconds_or_date).or_else(|| reset.and_then(seconds_or_date)).unwrap_or(RATE_LIMIT_DEFAULT).min(RATE_LIMIT_CAP)
}

/// The wait before try `tries + 1`: the base doubled each try, capped, with
/// jitter between half and all of it (from `seed`).
pub fn backoff(tries: u32, seed: u64) -> Duration {
    let full = BACKOFF_BASE.saturating_mul(1u32 << tries.saturating_sub(1).min(16)).min(BACKOFF_CAP);
    let jitter = 0.5 + (seed % 1000) as f64 / 2000.0;
    full.mul_f64(jitter)
}
