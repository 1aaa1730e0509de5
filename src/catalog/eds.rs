//! Event data stores, as CloudTrail Lake has them: a named store with a UUID
//! id, one event category, the lake tables it draws from and a retention
//! period. A query names a store by its id (`FROM 5e2676f8-…`), so queries
//! written for Lake run with only the id changed; `sql` shows each store as
//! a view with Lake's column set, and `retention` drops what a store no
//! longer keeps.
//!
//! Stores come from two places: `event_data_stores:` in `tarn.yml` (read-only
//! to the CLI) and the lake's own catalog, `_tarn/event_data_stores.json`,
//! which `tarn eds create|update|delete` edit under the lake lock. A lake
//! whose catalog does not exist yet, with no stores in the config, gets two
//! defaults: a CloudTrail store over `aws_cloudtrail` and an
//! ActivityAuditLog store over the Snyk tables.

use super::channels::{self, Channel};
use crate::lake::{Lake, LakeError};
use serde::{Deserialize, Serialize};

/// The catalog file under the lake's `_tarn/`.
const CATALOG_KEY: &str = "_tarn/event_data_stores.json";

/// Lake's retention bounds, in days.
pub const MIN_RETENTION_DAYS: u32 = 7;
pub const MAX_FIXED_RETENTION_DAYS: u32 = 2557;
pub const MAX_EXTENDABLE_RETENTION_DAYS: u32 = 3653;
/// Lake's default retention for extendable pricing, in days.
pub const DEFAULT_RETENTION_DAYS: u32 = 366;

/// What a store holds, which decides the columns it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[value(rename_all = "PascalCase")]
pub enum Category {
    /// CloudTrail management events (the CloudTrail Lake schema).
    Management,
    /// CloudTrail data events (the CloudTrail Lake schema).
    Data,
    /// Events from integrations such as Snyk (Lake's `eventdata.*` schema).
    ActivityAuditLog,
}

impl Category {
    /// True for the categories shown with the CloudTrail column set.
    pub fn is_cloudtrail(self) -> bool {
        matches!(self, Category::Management | Category::Data)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            Category::Management => "Management",
            Category::Data => "Data",
            Category::ActivityAuditLog => "ActivityAuditLog",
        })
    }
}

/// A table a store names that the lake does not have.
#[derive(Debug, thiserror::Error)]
#[error("'{table}' is not a lake table (tables: {known})")]
pub struct UnknownTable {
    pub table: String,
    pub known: String,
}

/// Lake's two pricing options, which bound the retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum BillingMode {
    /// Up to 3653 days (Lake's default).
    #[default]
    Extendable,
    /// Up to 2557 days.
    Fixed,
}

impl BillingMode {
    pub fn max_retention_days(self) -> u32 {
        match self {
            BillingMode::Extendable => MAX_EXTENDABLE_RETENTION_DAYS,
            BillingMode::Fixed => MAX_FIXED_RETENTION_DAYS,
        }
    }
}

/// One event data store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDataStore {
    /// A lower-case UUID: the last part of the ARN and the name queries use.
    pub id: String,
    /// The ARN the store was created with, if it was given one (a store
    /// carried over from Lake keeps its ARN); else tarn shows a local one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    pub name: String,
    pub category: Category,
    pub tables: Vec<String>,
    pub retention_days: u32,
    #[serde(default)]
    pub billing_mode: BillingMode,
    pub termination_protection: bool,
    /// RFC 3339.
    #[serde(default)]
    pub created: String,
    /// Defined in `tarn.yml` (the CLI does not change it).
    #[serde(skip)]
    pub from_config: bool,
    /// ARNs of the channels that deliver to it (from the channels, not
    /// stored with the store).
    #[serde(skip)]
    pub channels: Vec<String>,
}

impl EventDataStore {
    /// A store with Lake's defaults: a new id, 366 days of extendable
    /// retention, termination protection on.
    pub fn new(name: &str, category: Category, tables: &[&str]) -> EventDataStore {
        EventDataStore {
            id: new_id(),
            arn: None,
            name: name.to_string(),
            category,
            tables: tables.iter().map(|t| t.to_string()).collect(),
            retention_days: DEFAULT_RETENTION_DAYS,
            billing_mode: BillingMode::Extendable,
            termination_protection: true,
            created: String::new(),
            from_config: false,
            channels: Vec::new(),
        }
    }

    /// The store's ARN: the one it was given, or a local one.
    pub fn arn(&self) -> String {
        self.arn.clone().unwrap_or_else(|| format!("arn:aws:cloudtrail:local:000000000000:eventdatastore/{}", self.id))
    }

    /// Checks that every table the store draws from is one of `known`.
    pub fn check_tables(&self, known: &[&str]) -> Result<(), UnknownTable> {
        match self.tables.iter().find(|table| !known.contains(&table.as_str())) {
            Some(table) => Err(UnknownTable { table: table.clone(), known: known.join(", ") }),
            None => Ok(()),
        }
    }

    /// Checks the fields Lake checks: name, retention, tables.
    pub fn check(&self) -> Result<(), String> {
        let name_ok = (3..=128).contains(&self.name.len())
            && self.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            && self.name.starts_with(|c: char| c.is_ascii_alphanumeric());
        if !name_ok {
            return Err(format!(
                "'{}' is not a store name: use 3 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit",
                self.name
            ));
        }
        let max = self.billing_mode.max_retention_days();
        if !(MIN_RETENTION_DAYS..=max).contains(&self.retention_days) {
            return Err(format!(
                "retention_days {} is out of range: {MIN_RETENTION_DAYS} to {max} days with {} billing",
                self.retention_days,
                match self.billing_mode {
                    BillingMode::Extendable => "extendable",
                    BillingMode::Fixed => "fixed",
                }
            ));
        }
        if self.tables.is_empty() {
            return Err("a store draws from at least one table: give `tables`".to_string());
        }
        Ok(())
    }
}

/// Reads a store id given as a UUID or an event data store ARN; returns the
/// lower-case UUID.
///
/// ```
/// use tarn::catalog::eds::parse_id;
/// let arn = "arn:aws:cloudtrail:eu-west-1:111122223333:eventdatastore/5E2676F8-9FCE-46EF-8142-3E36A94E6691";
/// assert_eq!(parse_id(arn).as_deref(), Some("5e2676f8-9fce-46ef-8142-3e36a94e6691"));
/// assert_eq!(parse_id("my-store"), None);
/// ```
pub fn parse_id(text: &str) -> Option<String> {
    let uuid = match text.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            match parts.as_slice() {
                [_partition, "cloudtrail", _region, _account, resource] => resource.strip_prefix("eventdatastore/")?,
                _ => return None,
            }
        }
        None => text,
    };
    is_uuid(uuid).then(|| uuid.to_ascii_lowercase())
}

/// An id given by a user (`--id`, `id:`): a UUID or an ARN. Returns the
/// lower-case id, and the ARN if one was given (the store keeps showing it).
pub fn parse_given_id(given: &str) -> Result<(String, Option<String>), String> {
    let id = parse_id(given).ok_or_else(|| format!("id '{given}' is neither a UUID nor an event data store ARN"))?;
    Ok((id, given.starts_with("arn:").then(|| given.to_string())))
}

pub use crate::{is_uuid, new_id};

/// A UUID that always comes out the same for `name` (for a store in
/// `tarn.yml` given without an id, so its id is stable across runs).
pub fn id_for_name(name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("tarn event data store {name}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid_text(&bytes)
}

fn uuid_text(bytes: &[u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// A store as written in `tarn.yml` under `event_data_stores.<name>`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// A UUID or an ARN; derived from the name if absent.
    id: Option<String>,
    category: Category,
    tables: Vec<String>,
    #[serde(default = "default_retention")]
    retention_days: u32,
    #[serde(default)]
    billing_mode: BillingMode,
    #[serde(default = "default_true")]
    termination_protection: bool,
}

fn default_retention() -> u32 {
    DEFAULT_RETENTION_DAYS
}

fn default_true() -> bool {
    true
}

impl StoreConfig {
    /// The store this config entry names, checked.
    pub fn to_store(&self, name: &str) -> Result<EventDataStore, String> {
        let (id, arn) = match &self.id {
            Some(given) => parse_given_id(given)?,
            None => (id_for_name(name), None),
        };
        let store = EventDataStore {
            id,
            arn,
            tables: self.tables.clone(),
            retention_days: self.retention_days,
            billing_mode: self.billing_mode,
            termination_protection: self.termination_protection,
            from_config: true,
            ..EventDataStore::new(name, self.category, &[])
        };
        store.check()?;
        Ok(store)
    }
}

/// What can go wrong with the store catalog.
#[derive(Debug, thiserror::Error)]
pub enum EdsError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("{path} is damaged: {reason}; fix or remove it (removing it brings back the default stores)")]
    Damaged { path: String, reason: String },
    #[error("no event data store '{key}'; known stores: {known}")]
    NotFound { key: String, known: String },
    #[error("no channel '{key}'; known channels: {known}")]
    ChannelNotFound { key: String, known: String },
    #[error("channel {0}")]
    InvalidChannel(String),
    #[error("event data store {0}")]
    Invalid(String),
}

/// Every store tarn knows: those in `tarn.yml`, then those in the lake.
#[derive(Debug, Clone)]
pub struct Catalog {
    lake: Lake,
    configured: Vec<EventDataStore>,
    stored: Vec<EventDataStore>,
    channels: Vec<Channel>,
}

#[derive(Serialize, Deserialize, Default)]
struct CatalogFile {
    stores: Vec<EventDataStore>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    channels: Vec<Channel>,
}

impl Catalog {
    /// Reads the lake's catalog, creating it with the default stores if it
    /// does not exist and the config names no store.
    pub fn load(lake: &Lake, configured: &[EventDataStore]) -> Result<Catalog, EdsError> {
        let file = match read_catalog(lake)? {
            Some(file) => file,
            None if configured.is_empty() => {
                // Created only if absent, so two first runs (two machines on
                // one S3 lake too) do not make two sets of defaults.
                let defaults = CatalogFile { stores: default_stores(), channels: Vec::new() };
                let text = serde_json::to_vec_pretty(&defaults).map_err(|e| EdsError::Invalid(format!("cannot write the catalog: {e}")))?;
                if lake.store().create(CATALOG_KEY, text).map_err(LakeError::from)? {
                    defaults
                } else {
                    read_catalog(lake)?.unwrap_or_default()
                }
            }
            None => CatalogFile::default(),
        };
        let mut catalog = Catalog { lake: lake.clone(), configured: configured.to_vec(), stored: file.stores, channels: file.channels };
        catalog.check_unique()?;
        catalog.link_channels();
        Ok(catalog)
    }

    /// Every store, config first.
    pub fn stores(&self) -> impl Iterator<Item = &EventDataStore> {
        self.configured.iter().chain(&self.stored)
    }

    /// The store named by id, ARN or name.
    pub fn find(&self, key: &str) -> Result<&EventDataStore, EdsError> {
        let id = parse_id(key);
        self.stores().find(|s| Some(&s.id) == id.as_ref() || s.name == key).ok_or_else(|| self.not_found(key))
    }

    fn not_found(&self, key: &str) -> EdsError {
        EdsError::NotFound { key: key.to_string(), known: describe(self.stores()) }
    }

    fn check_unique(&self) -> Result<(), EdsError> {
        let stores: Vec<&EventDataStore> = self.stores().collect();
        for (i, a) in stores.iter().enumerate() {
            if let Some(b) = stores[i + 1..].iter().find(|b| b.id == a.id || b.name == a.name) {
                let (what, value) = if b.id == a.id { ("id", &a.id) } else { ("name", &a.name) };
                return Err(EdsError::Invalid(format!(
                    "{what} {value} is used twice ({} and {}); give each store its own {what}",
                    origin(a),
                    origin(b)
                )));
            }
        }
        Ok(())
    }

    /// Adds a store to the lake's catalog; returns it as saved.
    pub fn create(&mut self, mut store: EventDataStore) -> Result<EventDataStore, EdsError> {
        store.check().map_err(EdsError::Invalid)?;
        store.created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        self.edit(|file| {
            file.stores.push(store.clone());
            Ok(())
        })?;
        Ok(store)
    }

    /// Changes a store of the lake's catalog with `change`.
    pub fn update(&mut self, key: &str, change: impl FnOnce(&mut EventDataStore)) -> Result<EventDataStore, EdsError> {
        let id = self.editable(key)?.id.clone();
        let mut updated = None;
        self.edit(|file| {
            let store =
                file.stores.iter_mut().find(|s| s.id == id).ok_or_else(|| EdsError::Invalid(format!("{id} was deleted meanwhile")))?;
            change(store);
            store.check().map_err(EdsError::Invalid)?;
            updated = Some(store.clone());
            Ok(())
        })?;
        updated.ok_or_else(|| EdsError::Invalid(format!("{id} was deleted meanwhile")))
    }

    /// Deletes a store of the lake's catalog (its tables and rows stay).
    pub fn delete(&mut self, key: &str) -> Result<EventDataStore, EdsError> {
        let store = self.editable(key)?.clone();
        if store.termination_protection {
            return Err(EdsError::Invalid(format!(
                "{} ({}) has termination protection; turn it off first: tarn eds update {} --termination-protection false",
                store.name, store.id, store.id
            )));
        }
        self.edit(|file| {
            file.stores.retain(|s| s.id != store.id);
            Ok(())
        })?;
        Ok(store)
    }

    fn editable(&self, key: &str) -> Result<&EventDataStore, EdsError> {
        let store = self.find(key)?;
        if store.from_config {
            return Err(EdsError::Invalid(format!(
                "{} ({}) is defined in tarn.yml; change it there (event_data_stores.{})",
                store.name, store.id, store.name
            )));
        }
        Ok(store)
    }

    /// Reads the catalog again under the lock, applies `change`, checks and
    /// writes it back, so two CLI calls at once do not lose an edit.
    fn edit(&mut self, change: impl FnOnce(&mut CatalogFile) -> Result<(), EdsError>) -> Result<(), EdsError> {
        let _lock = self.lake.lock()?;
        // (On S3 there is no lock: two edits at the same moment from two
        // machines, the later write wins.)
        let mut file = read_catalog(&self.lake)?.unwrap_or_default();
        change(&mut file)?;
        let mut edited =
            Catalog { lake: self.lake.clone(), configured: self.configured.clone(), stored: file.stores, channels: file.channels };
        edited.check_unique()?;
        edited.link_channels();
        let file = CatalogFile { stores: edited.stored.clone(), channels: edited.channels.clone() };
        write_catalog(&self.lake, &file)?;
        *self = edited;
        Ok(())
    }

    /// Tells each store which channels deliver to it.
    fn link_channels(&mut self) {
        let channels = &self.channels;
        for store in self.configured.iter_mut().chain(&mut self.stored) {
            store.channels = channels.iter().filter(|c| c.stores.contains(&store.id)).map(Channel::arn).collect();
        }
    }

    /// Every channel.
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// The channel named by id, ARN or name.
    pub fn channel(&self, key: &str) -> Result<&Channel, EdsError> {
        let id = channels::parse_channel(key);
        self.channels
            .iter()
            .find(|c| Some(&c.id) == id.as_ref() || c.name == key)
            .ok_or_else(|| EdsError::ChannelNotFound { key: key.to_string(), known: channels::describe(self.channels.iter()) })
    }

    /// Adds a channel; `stores` (ids, ARNs or names) must be ActivityAuditLog
    /// stores. Returns the channel as saved.
    pub fn create_channel(&mut self, mut channel: Channel, stores: &[String]) -> Result<Channel, EdsError> {
        channel.check().map_err(|e| EdsError::InvalidChannel(e.0))?;
        for key in stores {
            let store = self.find(key)?;
            if store.category != Category::ActivityAuditLog {
                return Err(EdsError::InvalidChannel(format!(
                    "{}: store {} ({}) is a {} store; a channel delivers to ActivityAuditLog stores",
                    channel.name, store.name, store.id, store.category
                )));
            }
            if !channel.stores.contains(&store.id) {
                channel.stores.push(store.id.clone());
            }
        }
        channel.created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let name = channel.name.clone();
        self.edit(|file| {
            if file.channels.iter().any(|c| c.name == name) {
                return Err(EdsError::InvalidChannel(format!("{name} already exists; give the new channel another name")));
            }
            file.channels.push(channel.clone());
            Ok(())
        })?;
        Ok(channel)
    }

    /// Deletes a channel (the events it put in stay).
    pub fn delete_channel(&mut self, key: &str) -> Result<Channel, EdsError> {
        let channel = self.channel(key)?.clone();
        self.edit(|file| {
            file.channels.retain(|c| c.id != channel.id);
            Ok(())
        })?;
        Ok(channel)
    }
}

fn origin(store: &EventDataStore) -> String {
    if store.from_config { format!("{} in tarn.yml", store.name) } else { format!("{} in the lake", store.name) }
}

/// `id (name, category)` for each store, for error messages.
pub fn describe<'a>(stores: impl Iterator<Item = &'a EventDataStore>) -> String {
    let listed: Vec<String> = stores.map(|s| format!("{} ({}, {})", s.id, s.name, s.category)).collect();
    if listed.is_empty() { "none (create one with `tarn eds create`)".to_string() } else { listed.join(", ") }
}

/// The stores a new lake starts with.
fn default_stores() -> Vec<EventDataStore> {
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let cloudtrail = EventDataStore::new("cloudtrail", Category::Management, &["aws_cloudtrail"]);
    let snyk = EventDataStore::new("snyk-audit", Category::ActivityAuditLog, &["snyk_orgaudit", "snyk_groupaudit"]);
    [cloudtrail, snyk].map(|store| EventDataStore { created: created.clone(), ..store }).to_vec()
}

/// The catalog, or `None` if the lake has none yet.
fn read_catalog(lake: &Lake) -> Result<Option<CatalogFile>, EdsError> {
    let Some(text) = lake.store().read(CATALOG_KEY).map_err(LakeError::from)? else { return Ok(None) };
    let path = format!("{}/{CATALOG_KEY}", lake.location());
    let file: CatalogFile = serde_json::from_slice(&text).map_err(|e| EdsError::Damaged { path: path.clone(), reason: e.to_string() })?;
    for store in &file.stores {
        if !is_uuid(&store.id) {
            return Err(EdsError::Damaged { path, reason: format!("'{}' is not a UUID", store.id) });
        }
    }
    Ok(Some(file))
}

/// Replaces the catalog whole, so a crash leaves the old catalog or the new one.
fn write_catalog(lake: &Lake, file: &CatalogFile) -> Result<(), EdsError> {
    let text = serde_json::to_vec_pretty(file).map_err(|e| EdsError::Invalid(format!("cannot write the catalog: {e}")))?;
    lake.store().write(CATALOG_KEY, text).map_err(LakeError::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_4_uuids_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert!(is_uuid(&a) && is_uuid(&b), "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(&a[14..15], "4");
        assert_eq!(id_for_name("trail"), id_for_name("trail"));
        assert_ne!(id_for_name("trail"), id_for_name("trail2"));
    }

    #[test]
    fn an_arn_must_name_an_event_data_store() {
        assert_eq!(parse_id("arn:aws:cloudtrail:us-east-1:1:trail/5e2676f8-9fce-46ef-8142-3e36a94e6691"), None);
        assert_eq!(parse_id("5e2676f8-9fce-46ef-8142-3e36a94e669"), None);
        assert_eq!(parse_id("5e2676f8-9fce-46ef-8142-3e36a94e669g"), None);
    }

    #[test]
    fn retention_follows_the_billing_mode() {
        let config: StoreConfig = serde_yaml::from_str("category: Management\ntables: [aws_cloudtrail]\nretention_days: 3000\n").unwrap();
        assert_eq!(config.to_store("trail").unwrap().retention_days, 3000);
        let fixed: StoreConfig =
            serde_yaml::from_str("category: Management\ntables: [aws_cloudtrail]\nretention_days: 3000\nbilling_mode: fixed\n").unwrap();
        let error = fixed.to_store("trail").unwrap_err();
        assert_eq!(error, "retention_days 3000 is out of range: 7 to 2557 days with fixed billing");
        let short: StoreConfig = serde_yaml::from_str("category: Data\ntables: [aws_cloudtrail]\nretention_days: 6\n").unwrap();
        assert!(short.to_store("trail").unwrap_err().contains("7 to 3653 days"));
        assert!(short.to_store("a b").unwrap_err().contains("is not a store name"));
    }
}
