//! `tarn eds`, `tarn channel` and `tarn retention`: the event data store
//! catalog, the channels that feed it, and what it keeps.

use super::{Setup, stores};
use anyhow::{Result, anyhow};
use clap::Subcommand;
use std::process::ExitCode;
use tarn::catalog::channels::Channel;
use tarn::catalog::eds::{Catalog, EventDataStore};
use tarn::lake::Lake;

#[derive(Subcommand)]
pub enum EdsCommand {
    /// List the stores: id, name, category, tables, retention.
    List,
    /// Show one store (by id, ARN or name).
    Show { store: String },
    /// Create a store in the lake's catalog.
    Create {
        /// 3 to 128 letters, digits, '.', '_' or '-'.
        #[arg(long)]
        name: String,
        /// Management or Data (the CloudTrail columns), or ActivityAuditLog (Lake's integration columns).
        #[arg(long, value_enum, ignore_case = true)]
        category: tarn::catalog::eds::Category,
        /// A lake table the store shows (repeat for several).
        #[arg(long = "table", required = true)]
        tables: Vec<String>,
        /// A UUID or an event data store ARN (a store carried over from Lake keeps its id); generated if absent.
        #[arg(long)]
        id: Option<String>,
        #[arg(long, default_value_t = tarn::catalog::eds::DEFAULT_RETENTION_DAYS)]
        retention_days: u32,
        #[arg(long, value_enum, default_value = "extendable")]
        billing_mode: tarn::catalog::eds::BillingMode,
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        termination_protection: bool,
    },
    /// Change a store's name, retention or termination protection.
    Update {
        store: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        retention_days: Option<u32>,
        #[arg(long, action = clap::ArgAction::Set)]
        termination_protection: Option<bool>,
    },
    /// Delete a store (its tables and rows stay in the lake).
    Delete { store: String },
}

#[derive(Subcommand)]
pub enum ChannelCommand {
    /// Create a channel; prints its ARN, which callers give as channelArn.
    Create {
        /// 3 to 128 letters, digits, '.', '_' or '-'.
        #[arg(long)]
        name: String,
        /// Custom (your own application), Snyk, or another partner's source name.
        #[arg(long)]
        source: String,
        /// Every call must present this external id (Snyk uses your Snyk org or group id).
        #[arg(long)]
        external_id: Option<String>,
        /// An ActivityAuditLog event data store that shows the channel's events (repeat for several).
        #[arg(long = "store")]
        stores: Vec<String>,
        /// The AWS account that owns the channel: events must name it as recipientAccountId.
        #[arg(long, default_value = tarn::catalog::channels::DEFAULT_ACCOUNT)]
        account: String,
        #[arg(long, default_value = tarn::catalog::channels::DEFAULT_REGION)]
        region: String,
    },
    /// List the channels.
    List,
    /// Show one channel (by ARN, id or name).
    Show { channel: String },
    /// Delete a channel (the events it put in stay in the lake).
    Delete { channel: String },
}

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// Drop whole hour partitions older than the longest retention of the stores over each table.
    Apply {
        /// Say what would be dropped, drop nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn eds(setup: &Setup, command: EdsCommand) -> Result<ExitCode> {
    let (config, registry) = (&setup.config, &setup.registry);
    let lake = Lake::open(&config.lake)?;
    let mut catalog = Catalog::load(&lake, &config.event_data_stores)?;
    let show = |store: &EventDataStore| {
        println!("id:                     {}", store.id);
        println!("arn:                    {}", store.arn());
        println!("name:                   {}", store.name);
        println!("category:               {}", store.category);
        println!("tables:                 {}", store.tables.join(", "));
        println!("retention:              {} days ({:?} billing)", store.retention_days, store.billing_mode);
        println!("termination protection: {}", if store.termination_protection { "on" } else { "off" });
        println!("defined in:             {}", if store.from_config { "tarn.yml" } else { "the lake catalog" });
        if !store.created.is_empty() {
            println!("created:                {}", store.created);
        }
    };
    match command {
        EdsCommand::List => {
            println!("{:<36}  {:<20} {:<16} {:>9}  {:<10} tables", "id", "name", "category", "retention", "protected");
            for store in catalog.stores() {
                println!(
                    "{:<36}  {:<20} {:<16} {:>4} days  {:<10} {}",
                    store.id,
                    store.name,
                    store.category.to_string(),
                    store.retention_days,
                    if store.termination_protection { "yes" } else { "no" },
                    store.tables.join(", ")
                );
            }
        }
        EdsCommand::Show { store } => show(catalog.find(&store)?),
        EdsCommand::Create { name, category, tables, id, retention_days, billing_mode, termination_protection } => {
            let (id, arn) = match id {
                Some(given) => tarn::catalog::eds::parse_given_id(&given).map_err(|e| anyhow!("--{e}"))?,
                None => (tarn::catalog::eds::new_id(), None),
            };
            let tables: Vec<&str> = tables.iter().map(String::as_str).collect();
            let store = EventDataStore {
                id,
                arn,
                retention_days,
                billing_mode,
                termination_protection,
                ..EventDataStore::new(&name, category, &tables)
            };
            let known: Vec<&str> = registry.iter().map(|t| t.table.as_str()).collect();
            store.check_tables(&known)?;
            let created = catalog.create(store)?;
            println!("created event data store {} ({})", created.name, created.id);
            println!("query it with: tarn query \"SELECT count(*) FROM {}\"", created.id);
        }
        EdsCommand::Update { store, name, retention_days, termination_protection } => {
            let updated = catalog.update(&store, |s| {
                if let Some(name) = name {
                    s.name = name;
                }
                if let Some(days) = retention_days {
                    s.retention_days = days;
                }
                if let Some(on) = termination_protection {
                    s.termination_protection = on;
                }
            })?;
            show(&updated);
        }
        EdsCommand::Delete { store } => {
            let deleted = catalog.delete(&store)?;
            println!("deleted event data store {} ({}); its tables and rows stay in the lake", deleted.name, deleted.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn channel(setup: &Setup, command: ChannelCommand) -> Result<ExitCode> {
    let lake = Lake::open(&setup.config.lake)?;
    let mut catalog = Catalog::load(&lake, &setup.config.event_data_stores)?;
    let show = |channel: &Channel| {
        println!("arn:         {}", channel.arn());
        println!("name:        {}", channel.name);
        println!("source:      {}", channel.source);
        println!("external id: {}", channel.external_id.as_deref().unwrap_or("(none)"));
        println!(
            "stores:      {}",
            if channel.stores.is_empty() {
                "(none; events are in table aws_activityauditlog)".to_string()
            } else {
                channel.stores.join(", ")
            }
        );
        if !channel.created.is_empty() {
            println!("created:     {}", channel.created);
        }
    };
    match command {
        ChannelCommand::Create { name, source, external_id, stores, account, region } => {
            let channel = Channel { external_id, ..Channel::new(&name, &source, &region, &account) };
            let created = catalog.create_channel(channel, &stores)?;
            println!("{}", created.arn());
        }
        ChannelCommand::List => {
            println!("{:<36}  {:<24} {:<10} {:<8} arn", "id", "name", "source", "stores");
            for c in catalog.channels() {
                println!("{:<36}  {:<24} {:<10} {:<8} {}", c.id, c.name, c.source, c.stores.len(), c.arn());
            }
        }
        ChannelCommand::Show { channel } => show(catalog.channel(&channel)?),
        ChannelCommand::Delete { channel } => {
            let deleted = catalog.delete_channel(&channel)?;
            println!("deleted channel {} ({}); the events it put in stay in the lake", deleted.name, deleted.arn());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn retention(setup: &Setup, command: RetentionCommand) -> Result<ExitCode> {
    let RetentionCommand::Apply { dry_run } = command;
    let lake = Lake::open(&setup.config.lake)?;
    let stores = stores(&setup.config, &lake)?;
    let report = tarn::catalog::retention::apply(&lake, &stores, tarn::now_micros(), dry_run)?;
    for line in report.lines() {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn ddl(setup: &Setup, engine: tarn::catalog::ddl::Engine, location: Option<String>, database: &str) -> Result<ExitCode> {
    if database.is_empty() || !database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        anyhow::bail!("--database: '{database}' is not a plain name; use letters, digits and _");
    }
    let lake = Lake::open_existing(&setup.config.lake)?;
    let tables = lake.snapshot()?.tables();
    if tables.is_empty() {
        anyhow::bail!("the lake at {} has no tables yet; add logs with `tarn ingest file` first", lake.location());
    }
    let location = location.unwrap_or_else(|| lake.location());
    print!("{}", tarn::catalog::ddl::ddl(engine, &location, database, &tables));
    Ok(ExitCode::SUCCESS)
}
