//! The command line: clap's argument types (library configs flattened in
//! where a command takes one), one module per group of commands, and the
//! output they print. `anyhow` lives here, at the binary's edge, and nowhere
//! in the library.

mod catalog;
mod demo;
mod ingest;
pub mod log;
mod progress;
mod query;
mod rules;
mod tooling;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tarn::config::Config;
use tarn::lake::Lake;
use tarn::schema::Registry;
use tarn::sql::Sql;

#[derive(Parser)]
#[command(name = "tarn", version, about = "A local security data lake: CloudTrail and Snyk audit logs in Parquet, queried with SQL")]
pub struct Cli {
    /// Config file (default: ./tarn.yml if it exists).
    #[arg(long, global = true, env = "TARN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Lake directory, or s3://bucket/prefix for a lake on S3 (overrides the config; default ./lake).
    #[arg(long, global = true, env = "TARN_LAKE")]
    pub lake: Option<PathBuf>,
    /// How tarn reports what it does on stderr: lines for people, or JSON
    /// objects for a log pipeline. RUST_LOG (e.g. `tarn=debug`) shows more.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: log::LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Ingest logs into the lake.
    #[command(subcommand)]
    Ingest(ingest::IngestCommand),
    /// List the lake's tables: rows, time range, partitions, files.
    Tables,
    /// Run one SQL query and print the result.
    Query {
        sql: String,
        #[arg(long, short, value_enum, default_value = "table")]
        format: tarn::sql::Format,
        #[command(flatten)]
        limits: query::LimitArgs,
    },
    /// The interactive SQL shell.
    Sql {
        #[arg(long, short, value_enum, default_value = "table")]
        format: tarn::sql::Format,
        #[command(flatten)]
        limits: query::LimitArgs,
    },
    /// Log schemas: list, check a file, show one.
    #[command(subcommand)]
    Schema(query::SchemaCommand),
    /// Quarantined records.
    #[command(subcommand)]
    Quarantine(query::QuarantineCommand),
    /// Pull logs from a source.
    #[command(subcommand)]
    Pull(ingest::PullCommand),
    /// Run every source configured in tarn.yml (until stopped, or once).
    Run {
        /// Drain each source once, commit, and exit.
        #[arg(long)]
        once: bool,
    },
    /// Serve CloudTrail Data's PutAuditEvents for the lake's channels (SigV4-signed,
    /// as boto3 and the AWS CLI call it), with /healthz and /metrics, until stopped.
    Serve(ingest::ServeArgs),
    /// Channels (CloudTrail Lake's): where partners and your applications put events.
    #[command(subcommand)]
    Channel(catalog::ChannelCommand),
    /// Event data stores (CloudTrail Lake's): queries name them by id.
    #[command(subcommand)]
    Eds(catalog::EdsCommand),
    /// Retention: drop partitions older than every store that shows them keeps.
    #[command(subcommand)]
    Retention(catalog::RetentionCommand),
    /// Rewrite each partition's small files into files of about --target-size,
    /// in one commit (the old files stay until `tarn vacuum`).
    Optimize {
        /// Only this table.
        #[arg(long)]
        table: Option<String>,
        #[arg(long, default_value = "128MB")]
        target_size: String,
    },
    /// Delete files the lake no longer names once they have been out of it
    /// for --retain (readers and other engines' time travel may still need them).
    Vacuum {
        #[arg(long, default_value = "7d")]
        retain: String,
        /// Say what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print what registers the lake's Delta tables in another engine
    /// (Athena/Glue, Trino, Spark, DuckDB).
    Ddl {
        #[arg(value_enum)]
        engine: tarn::catalog::ddl::Engine,
        /// Where the engine finds the lake (default: the lake's path), e.g.
        /// s3://bucket/prefix after `aws s3 sync`.
        #[arg(long)]
        location: Option<String>,
        /// The database (schema) the tables go in.
        #[arg(long, default_value = "tarn")]
        database: String,
    },
    /// Detection rules: test them offline, run them over the lake, start a new one.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Write realistic sample CloudTrail and Snyk logs.
    Generate(demo::GenerateArgs),
    /// Generate a sample, ingest it and run a few queries: tarn's main job, with no account needed.
    Demo {
        /// Where the sample logs go (the lake is --lake, default ./lake).
        #[arg(long, default_value = "sample")]
        sample: PathBuf,
    },
    /// tarn.yml: check it.
    #[command(subcommand)]
    Config(tooling::ConfigCommand),
    /// Check the lake against its commit log (every line, every live file:
    /// present, its size, its Parquet footer); exits 1 if reads are broken.
    Doctor {
        /// Drop damaged log lines, take lost or damaged files out of the lake
        /// in one commit (saying how many rows are lost), and move files no
        /// commit names to _tarn/lost+found/.
        #[arg(long)]
        repair: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print tarn's man page (roff), e.g. `tarn man > tarn.1`.
    Man,
}

/// What every command starts from: the config and the schemas.
pub struct Setup {
    pub config: Config,
    pub registry: Registry,
}

fn setup(config_file: Option<&Path>, lake: Option<&Path>) -> Result<Setup> {
    let mut config = Config::load(config_file)?;
    if let Some(lake) = lake {
        config.lake = lake.to_path_buf();
    }
    let registry = Registry::load(&config.schema_dirs)?;
    Ok(Setup { config, registry })
}

/// The event data stores of the config and the lake.
fn stores(config: &Config, lake: &Lake) -> Result<Vec<tarn::catalog::eds::EventDataStore>> {
    Ok(tarn::catalog::eds::Catalog::load(lake, &config.event_data_stores)?.stores().cloned().collect())
}

/// A query session over the lake and its event data stores.
fn open_session(setup: &Setup, lake: &Lake, runtime: &tokio::runtime::Runtime, limits: tarn::sql::Limits) -> Result<Sql> {
    let stores = stores(&setup.config, lake)?;
    Ok(runtime.block_on(Sql::open_limited(lake, &setup.registry, &stores, limits))?)
}

/// Stack of the thread a command runs on and of the runtime's workers:
/// planning deep expressions recurses. Reserved, not used: pages are touched
/// only as deep as the work goes.
pub const STACK_BYTES: usize = 256 << 20;

fn runtime() -> Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(STACK_BYTES).build().context("starting the query runtime")
}

/// Runs a parsed command line; the exit code, or the error to print.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let Cli { config: config_file, lake, command, .. } = cli;
    let setup = || setup(config_file.as_deref(), lake.as_deref());
    match command {
        Command::Completions { shell } => tooling::completions(shell),
        Command::Man => tooling::man(),
        Command::Config(command) => tooling::config(config_file.as_deref(), command),
        Command::Doctor { repair } => tooling::doctor(&setup()?, repair),
        Command::Optimize { table, target_size } => tooling::optimize(&setup()?, table.as_deref(), &target_size),
        Command::Vacuum { retain, dry_run } => tooling::vacuum(&setup()?, &retain, dry_run),
        Command::Ingest(command) => ingest::ingest(&setup()?, command),
        Command::Pull(command) => ingest::pull(setup()?, command),
        Command::Run { once } => ingest::run(setup()?, once),
        Command::Tables => query::tables(&setup()?),
        Command::Query { sql, format, limits } => query::query(&setup()?, &sql, format, limits.limits()?),
        Command::Sql { format, limits } => query::shell(&setup()?, format, limits.limits()?),
        Command::Schema(command) => query::schema(&setup()?, command),
        Command::Quarantine(command) => query::quarantine(&setup()?, command),
        Command::Eds(command) => catalog::eds(&setup()?, command),
        Command::Channel(command) => catalog::channel(&setup()?, command),
        Command::Serve(args) => ingest::serve(setup()?, args),
        Command::Retention(command) => catalog::retention(&setup()?, command),
        Command::Ddl { engine, location, database } => catalog::ddl(&setup()?, engine, location, &database),
        Command::Rules(command) => rules::rules(&setup()?, command),
        Command::Generate(args) => {
            setup()?; // like every lake command, it refuses a broken tarn.yml
            demo::generate(args)
        }
        Command::Demo { sample } => demo::demo(&setup()?, &sample),
    }
}
