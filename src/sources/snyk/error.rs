//! What went wrong pulling from Snyk, as the user should read it: each
//! variant names the org or group and says what to check.

/// What went wrong talking to Snyk, as the user should read it.
#[derive(Debug, thiserror::Error)]
pub enum SnykError {
    #[error(
        "Snyk refused the API token ({status}{detail}) for {what}: check that {token_source} holds a valid token of a user or service account with the `View audit logs` permission{extra}"
    )]
    Refused { status: u16, detail: String, what: String, token_source: String, extra: String },
    #[error("Snyk does not know {what} (404{detail}): check the {kind} id, and the API host ({api_url}) for a regional account")]
    NotFound { what: String, kind: &'static str, detail: String, api_url: String },
    #[error("Snyk rejected the request for {what} ({status}{detail})")]
    Rejected { what: String, status: u16, detail: String },
    #[error("Snyk sent a page tarn cannot read for {what} ({reason}), {tries} times; nothing of it was ingested")]
    Malformed { what: String, reason: String, tries: u32 },
    #[error("gave up on {what} after {tries} tries: {reason}")]
    GaveUp { what: String, tries: u32, reason: String },
    #[error("{0}")]
    Setup(String),
}
