//! Snyk audit logs, as Panther's "Snyk log source" reads them: a group's and
//! its orgs' audit logs pulled from the REST API (or the legacy v1 API), each
//! from its checkpoint in the lake, into `Snyk.GroupAudit` / `Snyk.OrgAudit`.
//!
//! - `config`: what to pull and where the token is.
//! - `client`: HTTP, retries, and what each failure means for the user
//!   (`error`).
//! - `cursor`: the checkpoint that makes a restart neither skip nor repeat.
//! - `pull`: the polling loop, chunk commits and the drop-off alarm.
//! - `names`: REST item names → the v1 names the schemas use (also for files).

mod client;
mod config;
mod cursor;
mod error;
mod names;
mod pull;
#[cfg(test)]
mod tests;

pub use client::{backoff, rate_limit_wait};
pub use config::{Api, DEFAULT_API_URL, DEFAULT_TOKEN_ENV, SnykConfig};
pub use cursor::{Checkpoint, Cursor, FROM_API, FROM_EVENTBRIDGE, audit_key};
pub use error::SnykError;
pub use names::{rest_item_to_v1, schema_names, to_schema_names, v1_name};
pub use pull::{REST_VERSION, SnykReport, pull};
