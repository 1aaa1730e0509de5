//! Channels, as CloudTrail Lake has them: the named door through which a
//! partner (Snyk) or your own application puts audit events with
//! `PutAuditEvents`. A channel has a UUID and an ARN
//! (`arn:aws:cloudtrail:<region>:<account>:channel/<uuid>`), a source
//! (`Custom`, or the partner's source name), an optional external id every
//! call must present, and the ActivityAuditLog event data stores that show
//! its events. Channels live in the lake's catalog beside the stores
//! (`tarn channel create|list|show|delete`), so every tarn that serves the
//! lake knows them.

use serde::{Deserialize, Serialize};

/// The region and account a channel is owned by when none is given.
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_ACCOUNT: &str = "000000000000";

/// What is wrong with a channel's settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidChannel(pub String);

/// One channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// A lower-case UUID, the last part of the ARN.
    pub id: String,
    pub name: String,
    /// `Custom`, or the partner's source name (`Snyk`).
    pub source: String,
    pub region: String,
    /// The AWS account that owns the channel: an event's
    /// `recipientAccountId` must be this account.
    pub account: String,
    /// When set, every call must present it (Lake's resource-policy
    /// condition on `cloudtrail:ExternalId`, against a confused deputy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Ids of the ActivityAuditLog stores that show the channel's events.
    #[serde(default)]
    pub stores: Vec<String>,
    /// RFC 3339.
    #[serde(default)]
    pub created: String,
}

impl Channel {
    /// A new channel with a fresh id.
    pub fn new(name: &str, source: &str, region: &str, account: &str) -> Channel {
        Channel {
            id: crate::new_id(),
            name: name.to_string(),
            source: source.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            external_id: None,
            stores: Vec::new(),
            created: String::new(),
        }
    }

    pub fn arn(&self) -> String {
        format!("arn:aws:cloudtrail:{}:{}:channel/{}", self.region, self.account, self.id)
    }

    /// Checks the name, source, region, account and external id as Lake does.
    ///
    /// ```
    /// use tarn::catalog::channels::Channel;
    /// assert!(Channel::new("snyk-audit", "Snyk", "eu-west-1", "111122223333").check().is_ok());
    /// assert!(Channel::new("a b", "Custom", "eu-west-1", "111122223333").check().unwrap_err().0.contains("name"));
    /// ```
    pub fn check(&self) -> Result<(), InvalidChannel> {
        let invalid = |text: String| Err(InvalidChannel(text));
        let name_ok = (3..=128).contains(&self.name.len()) && self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !name_ok {
            return invalid(format!("name '{}' must be 3 to 128 letters, digits, '.', '_' or '-'", self.name));
        }
        if self.source.is_empty() || self.source.len() > 256 || self.source.chars().any(char::is_control) {
            return invalid(format!("source '{}' must be Custom or a partner's source name (1 to 256 characters)", self.source));
        }
        if self.account.len() != 12 || !self.account.bytes().all(|b| b.is_ascii_digit()) {
            return invalid(format!("account '{}' must be a 12-digit AWS account id", self.account));
        }
        let region_ok = !self.region.is_empty() && self.region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return invalid(format!("region '{}' is not an AWS region name (like eu-west-1)", self.region));
        }
        if let Some(external) = &self.external_id
            && !is_external_id(external)
        {
            return invalid(format!("external id '{external}' must be 2 to 1224 characters of letters, digits and +=,.@:/-_"));
        }
        Ok(())
    }
}

/// An external id as CloudTrail Data's model allows it.
pub fn is_external_id(text: &str) -> bool {
    (2..=1224).contains(&text.len()) && text.chars().all(|c| c.is_alphanumeric() || "_+=,.@:/-".contains(c))
}

/// What a `channelArn` parameter names: a channel's id, from its ARN or the
/// bare id, or None if it is neither.
///
/// ```
/// use tarn::catalog::channels::parse_channel;
/// let arn = "arn:aws:cloudtrail:eu-west-1:111122223333:channel/5E2676F8-9FCE-46EF-8142-3E36A94E6691";
/// assert_eq!(parse_channel(arn).as_deref(), Some("5e2676f8-9fce-46ef-8142-3e36a94e6691"));
/// assert_eq!(parse_channel("arn:aws:cloudtrail:eu-west-1:111122223333:eventdatastore/5e2676f8-9fce-46ef-8142-3e36a94e6691"), None);
/// ```
pub fn parse_channel(text: &str) -> Option<String> {
    let id = match text.strip_prefix("arn:") {
        Some(rest) => match rest.splitn(5, ':').collect::<Vec<_>>().as_slice() {
            [_partition, "cloudtrail", _region, _account, resource] => resource.strip_prefix("channel/")?,
            _ => return None,
        },
        None => text,
    };
    crate::is_uuid(id).then(|| id.to_ascii_lowercase())
}

/// `id (name, source)` for each channel, for error messages.
pub fn describe<'a>(channels: impl Iterator<Item = &'a Channel>) -> String {
    let listed: Vec<String> = channels.map(|c| format!("{} ({}, {})", c.id, c.name, c.source)).collect();
    if listed.is_empty() { "none (create one with `tarn channel create`)".to_string() } else { listed.join(", ") }
}
