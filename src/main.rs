//! The `tarn` command: parses arguments, calls the library, prints.

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tarn::config::{Config, Source};
use tarn::ingest::{IngestOptions, IngestReport};
use tarn::lake::Lake;
use tarn::schema::{Origin, Registry};
use tarn::sources::aws::AwsOptions;
use tarn::sources::snyk::{Api, DEFAULT_API_URL, DEFAULT_TOKEN_ENV, Level, SnykConfig, SnykReport};
use tarn::sources::sqs::{PullReport, SqsConfig};
use tarn::sql::{Format, Sql};

#[derive(Parser)]
#[command(name = "tarn", version, about = "A local security data lake: CloudTrail and Snyk audit logs in Parquet, queried with SQL")]
struct Cli {
    /// Config file (default: ./tarn.yml if it exists).
    #[arg(long, global = true, env = "TARN_CONFIG")]
    config: Option<PathBuf>,
    /// Lake directory (overrides the config; default ./lake).
    #[arg(long, global = true, env = "TARN_LAKE")]
    lake: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest logs into the lake.
    #[command(subcommand)]
    Ingest(IngestCommand),
    /// List the lake's tables: rows, time range, partitions, files.
    Tables,
    /// Run one SQL query and print the result.
    Query {
        sql: String,
        #[arg(long, short, value_enum, default_value = "table")]
        format: Format,
    },
    /// The interactive SQL shell.
    Sql {
        #[arg(long, short, value_enum, default_value = "table")]
        format: Format,
    },
    /// Log schemas: list, check a file, show one.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Quarantined records.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// Pull logs from a source.
    #[command(subcommand)]
    Pull(PullCommand),
    /// Run every source configured in tarn.yml (until stopped, or once).
    Run {
        /// Drain each source once, commit, and exit.
        #[arg(long)]
        once: bool,
    },
    /// Event data stores (CloudTrail Lake's): queries name them by id.
    #[command(subcommand)]
    Eds(EdsCommand),
    /// Retention: drop partitions older than every store that shows them keeps.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Detection rules: test them offline, run them over the lake, start a new one.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Write realistic sample CloudTrail and Snyk logs.
    Generate {
        #[arg(long, default_value = "sample")]
        out: PathBuf,
        #[arg(long, default_value_t = 20_000)]
        cloudtrail_events: u64,
        #[arg(long, default_value_t = 250)]
        events_per_file: u64,
        #[arg(long, default_value_t = 2_000)]
        snyk_events: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// First event time (RFC 3339).
        #[arg(long, default_value = "2026-11-17T00:00:00Z")]
        start: String,
        /// Hours the events spread over.
        #[arg(long, default_value_t = 72)]
        hours: u64,
    },
    /// Generate a sample, ingest it and run a few queries: tarn's main job, with no account needed.
    Demo {
        /// Where the sample logs go (the lake is --lake, default ./lake).
        #[arg(long, default_value = "sample")]
        sample: PathBuf,
    },
}

#[derive(Subcommand)]
enum IngestCommand {
    /// Ingest local files or directories (gzip or plain JSON, arrays, NDJSON, CloudTrail, Snyk pages).
    File {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The log type (AWS.CloudTrail, Snyk.GroupAudit, ...); CloudTrail keys are recognised without it.
        #[arg(long)]
        log_type: Option<String>,
        /// Ingest files again even if the lake already holds them.
        #[arg(long)]
        force: bool,
        /// Records per commit.
        #[arg(long, default_value_t = 500_000)]
        chunk_size: u64,
        /// The p_source_label of the rows.
        #[arg(long, default_value = "tarn ingest file")]
        label: String,
    },
}

#[derive(Subcommand)]
enum PullCommand {
    /// CloudTrail objects announced on an SQS queue (S3, SNS, CloudTrail or EventBridge notifications).
    Sqs {
        #[arg(long)]
        queue_url: String,
        /// Records gathered before a commit.
        #[arg(long, default_value_t = 10_000)]
        chunk_size: u64,
        /// Seconds to wait between polls when the queue is empty.
        #[arg(long, default_value_t = 10)]
        frequency: u64,
        /// Delete each message once its objects are committed.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        delete_consumed_messages: bool,
        /// Drain the queue, commit, and exit.
        #[arg(long)]
        once: bool,
        /// The log type of objects whose keys are not CloudTrail's.
        #[arg(long)]
        log_type: Option<String>,
        /// Receives of a message whose object cannot be read before it is quarantined.
        #[arg(long, default_value_t = 5)]
        max_receives: u32,
        /// Seconds a received message stays hidden while it is worked on.
        #[arg(long, default_value_t = 300)]
        visibility_timeout: u32,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Snyk audit logs of an org or a group (and its orgs), from the REST or v1 API; resumes where the lake stands.
    Snyk {
        /// The org whose audit log to pull (into Snyk.OrgAudit).
        #[arg(long, required_unless_present = "group", conflicts_with = "group")]
        org: Option<String>,
        /// The group whose audit log to pull (into Snyk.GroupAudit).
        #[arg(long)]
        group: Option<String>,
        /// With --group: every org of the group too (new orgs are found at each poll).
        #[arg(long, requires = "group")]
        include_orgs: bool,
        #[arg(long, value_enum, default_value = "rest")]
        api: Api,
        /// The API host: regional ones are https://api.eu.snyk.io, https://api.au.snyk.io, https://api.us.snyk.io.
        #[arg(long, default_value = DEFAULT_API_URL)]
        api_url: String,
        /// The environment variable that holds the API token.
        #[arg(long, default_value = DEFAULT_TOKEN_ENV)]
        token_env: String,
        /// A file that holds the API token (instead of the variable).
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Where to start when the lake holds nothing of a log yet: YYYY-MM-DD or RFC 3339 (default 7 days ago).
        #[arg(long)]
        from: Option<String>,
        /// Also pull api.access events, which Snyk leaves out by default.
        #[arg(long)]
        include_api_access: bool,
        /// Catch up, commit, and exit.
        #[arg(long)]
        once: bool,
        /// Seconds between polls once caught up.
        #[arg(long, default_value_t = 60)]
        frequency: u64,
        /// Records per commit.
        #[arg(long, default_value_t = 10_000)]
        chunk_size: u64,
        /// Alarm when a log has had no events for this long (6h, 30m, 2d): an error line, a row in `alarms`, exit code 3 with --once.
        #[arg(long)]
        alarm_after: Option<String>,
    },
    /// Backfill CloudTrail objects from a bucket, listed by date prefix.
    S3 {
        #[arg(long)]
        bucket: String,
        /// For example AWSLogs/111111111111/CloudTrail/ (or any level above it).
        #[arg(long, default_value = "AWSLogs/")]
        prefix: String,
        /// First day (YYYY-MM-DD, UTC).
        #[arg(long)]
        from: String,
        /// Last day, included (default: today).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        log_type: Option<String>,
        #[arg(long, default_value_t = 100_000)]
        chunk_size: u64,
        #[command(flatten)]
        aws: AwsArgs,
    },
}

#[derive(clap::Args)]
struct AwsArgs {
    /// AWS region (default: the standard AWS resolution).
    #[arg(long)]
    region: Option<String>,
    /// An S3/SQS-compatible endpoint (also AWS_ENDPOINT_URL); uses path-style S3 addressing.
    #[arg(long)]
    endpoint_url: Option<String>,
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// Every known log type and where its schema comes from.
    List,
    /// Check schema files; prints each problem with its file and field.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print a log type's schema and its table's columns.
    Show { log_type: String },
}

#[derive(Subcommand)]
enum QuarantineCommand {
    /// Retry quarantined records under the current schemas (after a schema fix).
    Replay {
        #[arg(long)]
        log_type: Option<String>,
    },
}

#[derive(Subcommand)]
enum EdsCommand {
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
        category: tarn::eds::Category,
        /// A lake table the store shows (repeat for several).
        #[arg(long = "table", required = true)]
        tables: Vec<String>,
        /// A UUID or an event data store ARN (a store carried over from Lake keeps its id); generated if absent.
        #[arg(long)]
        id: Option<String>,
        #[arg(long, default_value_t = tarn::eds::DEFAULT_RETENTION_DAYS)]
        retention_days: u32,
        #[arg(long, value_enum, default_value = "extendable")]
        billing_mode: tarn::eds::BillingMode,
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
enum RulesCommand {
    /// Run every rule's inline tests, offline; exits 1 if one fails.
    Test {
        /// A rule file or a directory of rules.
        path: PathBuf,
        /// Also write the results as JUnit XML.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
    /// Run the rules over the lake's recent rows; alerts go to stdout and the `alerts` table.
    Run {
        /// A rule file or a directory of rules.
        path: PathBuf,
        /// How far back to look (rows a rule already judged are not judged again).
        #[arg(long, default_value = "24h")]
        since: String,
        /// Exit 4 when an alert is raised (a CI gate).
        #[arg(long)]
        fail_on_alert: bool,
        #[arg(long, short, value_enum, default_value = "table")]
        format: Format,
    },
    /// Write a new rule file, with a test that matches and one that does not.
    New {
        /// The rule id; the file is <dir>/<name>.yml.
        name: String,
        #[arg(long)]
        log_type: String,
        #[arg(long, default_value = "rules")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Drop whole hour partitions older than the longest retention of the stores over each table.
    Apply {
        /// Say what would be dropped, drop nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            // Library errors already name their cause; add only what a context adds.
            let mut text = String::new();
            for cause in error.chain().map(|e| e.to_string()) {
                if !text.contains(&cause) {
                    text = if text.is_empty() { cause } else { format!("{text}: {cause}") };
                }
            }
            eprintln!("error: {}", text.split_whitespace().collect::<Vec<_>>().join(" "));
            ExitCode::FAILURE
        }
    }
}

struct Setup {
    config: Config,
    registry: Registry,
}

fn setup(cli: &Cli) -> Result<Setup> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(lake) = &cli.lake {
        config.lake = lake.clone();
    }
    let registry = Registry::load(&config.schema_dirs)?;
    Ok(Setup { config, registry })
}

/// The event data stores of the config and the lake.
fn catalog(config: &Config, lake: &Lake) -> Result<tarn::eds::Catalog> {
    Ok(tarn::eds::Catalog::load(lake, &config.event_data_stores)?)
}

/// A query session over the lake and its event data stores.
fn open_session(config: &Config, lake: &Lake, registry: &Registry, runtime: &tokio::runtime::Runtime) -> Result<Sql> {
    let stores: Vec<_> = catalog(config, lake)?.stores().cloned().collect();
    Ok(runtime.block_on(Sql::open(lake, registry, &stores))?)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the query runtime")
}

fn run(cli: Cli) -> Result<ExitCode> {
    let Setup { config, registry } = setup(&cli)?;
    match cli.command {
        Command::Ingest(IngestCommand::File { paths, log_type, force, chunk_size, label }) => {
            if let Some(name) = &log_type {
                registry.get(name)?;
            }
            let lake = Lake::open(&config.lake)?;
            let options =
                IngestOptions { log_type, force, chunk_records: chunk_size.max(1), source_label: label, ..IngestOptions::default() };
            let report = tarn::ingest::ingest_files(&lake, &registry, &paths, &options, &mut |problem| eprintln!("warning: {problem}"))?;
            print_ingest(&report);
            Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        Command::Tables => {
            let lake = Lake::open(&config.lake)?;
            let summaries = lake.snapshot()?.summaries();
            if summaries.is_empty() {
                println!("the lake at {} is empty; add logs with `tarn ingest file`", lake.root().display());
            }
            let time = |micros: i64| {
                chrono::DateTime::from_timestamp_micros(micros).map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
            };
            println!("{:<24} {:>12} {:<19}   {:<19} {:>10} {:>7} {:>10}", "table", "rows", "from", "to", "partitions", "files", "MiB");
            for s in summaries {
                println!(
                    "{:<24} {:>12} {:<19} – {:<19} {:>10} {:>7} {:>10.1}",
                    s.table,
                    s.rows,
                    time(s.min_time),
                    time(s.max_time),
                    s.partitions,
                    s.files,
                    s.bytes as f64 / 1_048_576.0
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Query { sql, format } => {
            let lake = Lake::open(&config.lake)?;
            let runtime = runtime()?;
            let session = open_session(&config, &lake, &registry, &runtime)?;
            let (schema, batches) = runtime.block_on(session.query(&sql))?;
            let mut out = std::io::stdout().lock();
            tarn::sql::write_results(&mut out, format, &schema, &batches)?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sql { format } => {
            let lake = Lake::open(&config.lake)?;
            let runtime = runtime()?;
            let session = open_session(&config, &lake, &registry, &runtime)?;
            tarn::sql::shell::Shell::new(&session, &runtime, format).run()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema(SchemaCommand::List) => {
            for log_type in registry.iter() {
                let origin = match &log_type.origin {
                    Origin::BuiltIn => "built-in".to_string(),
                    Origin::File(path) => path.display().to_string(),
                };
                println!("{:<24} {:<24} {}", log_type.name, log_type.table, origin);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema(SchemaCommand::Check { files }) => {
            let mut bad = 0;
            for file in &files {
                match tarn::schema::load_file(file) {
                    Ok(log_type) => println!("{}: ok ({} → table {})", file.display(), log_type.name, log_type.table),
                    Err(e) => {
                        bad += 1;
                        eprintln!("error: {e}");
                    }
                }
            }
            if bad > 0 {
                bail!("{bad} of {} schema files have problems", files.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema(SchemaCommand::Show { log_type }) => {
            let log_type = registry.get(&log_type)?;
            println!("{}", log_type.source_text.trim_end());
            println!("\n# table {} columns:", log_type.table);
            for field in log_type.arrow_schema.fields() {
                println!("#   {}", field.name());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Quarantine(QuarantineCommand::Replay { log_type }) => {
            let lake = Lake::open(&config.lake)?;
            let report = tarn::ingest::replay_quarantine(&lake, &registry, log_type.as_deref())?;
            println!("{} records landed in their tables; {} are still quarantined", report.landed, report.still_quarantined);
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate { out, cloudtrail_events, events_per_file, snyk_events, seed, start, hours } => {
            let mut plan = tarn::generate::Plan::new(&out);
            plan.cloudtrail_events = cloudtrail_events;
            plan.events_per_file = events_per_file.max(1);
            plan.snyk_events = snyk_events;
            plan.seed = seed;
            plan.hours = hours;
            plan.start = chrono::DateTime::parse_from_rfc3339(&start)
                .map_err(|e| anyhow!("--start '{start}' is not an RFC 3339 time ({e}); write it like 2026-11-17T00:00:00Z"))?
                .with_timezone(&chrono::Utc);
            let generated = tarn::generate::generate(&plan).with_context(|| format!("writing to {}", out.display()))?;
            println!(
                "wrote {} CloudTrail events in {} files ({:.1} MB uncompressed) and {} Snyk audit events in {} files under {}",
                generated.cloudtrail_events,
                generated.cloudtrail_files.len(),
                generated.cloudtrail_bytes as f64 / 1e6,
                generated.snyk_events,
                generated.snyk_group_files.len() + generated.snyk_org_files.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Eds(command) => eds(&config, &registry, command),
        Command::Retention(RetentionCommand::Apply { dry_run }) => {
            let lake = Lake::open(&config.lake)?;
            let catalog = catalog(&config, &lake)?;
            let stores: Vec<_> = catalog.stores().cloned().collect();
            let report = tarn::lake::retention::apply(&lake, &stores, tarn::now_micros(), dry_run)?;
            for line in report.lines() {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { sample } => demo(&config, &registry, &sample),
        Command::Rules(command) => rules(&config, &registry, command),
        Command::Pull(PullCommand::Sqs {
            queue_url,
            chunk_size,
            frequency,
            delete_consumed_messages,
            once,
            log_type,
            max_receives,
            visibility_timeout,
            aws,
        }) => {
            let source = SqsConfig {
                queue_url,
                region: aws.region,
                endpoint_url: aws.endpoint_url,
                chunk_size,
                frequency,
                delete_consumed_messages,
                log_type,
                max_receives,
                visibility_timeout,
            };
            let lake = Lake::open(&config.lake)?;
            run_sources(&lake, &registry, vec![("sqs".to_string(), Source::Sqs(source))], once)
        }
        Command::Pull(PullCommand::Snyk {
            org,
            group,
            include_orgs,
            api,
            api_url,
            token_env,
            token_file,
            from,
            include_api_access,
            once,
            frequency,
            chunk_size,
            alarm_after,
        }) => {
            let mut source = SnykConfig::new(org, group);
            source.include_orgs = include_orgs;
            source.api = api;
            source.api_url = api_url;
            source.token_env = token_env;
            source.token_file = token_file;
            source.from = from;
            source.include_api_access = include_api_access;
            source.frequency = frequency;
            source.chunk_size = chunk_size;
            source.alarm_after = alarm_after;
            source.check().map_err(|e| anyhow!(e))?;
            let lake = Lake::open(&config.lake)?;
            run_sources(&lake, &registry, vec![("snyk".to_string(), Source::Snyk(source))], once)
        }
        Command::Pull(PullCommand::S3 { bucket, prefix, from, to, log_type, chunk_size, aws }) => {
            let day = |text: &str| {
                chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| anyhow!("'{text}' is not a day; write it like 2026-11-01"))
            };
            let from = day(&from)?;
            let to = match to {
                Some(to) => day(&to)?,
                None => chrono::Utc::now().date_naive(),
            };
            let lake = Lake::open(&config.lake)?;
            let runtime = runtime()?;
            let options = IngestOptions {
                log_type,
                chunk_records: chunk_size.max(1),
                source_id: format!("s3:{bucket}"),
                source_label: format!("s3://{bucket}/{prefix}"),
                ..IngestOptions::default()
            };
            let report = runtime.block_on(async {
                let (s3, _) = tarn::sources::aws::clients(&AwsOptions { region: aws.region, endpoint_url: aws.endpoint_url }).await;
                let range = tarn::sources::s3::BackfillRange { bucket: bucket.clone(), prefix: prefix.clone(), from, to };
                tarn::sources::s3::backfill(&lake, &registry, &s3, &range, &options, &mut |p| eprintln!("warning: {p}")).await
            })?;
            println!(
                "listed {} objects; ingested {} rows from {} objects in {} commits; {} already in the lake; {} skipped; {} quarantined; {} failed",
                report.listed,
                report.rows,
                report.objects,
                report.commits,
                report.already_ingested,
                report.skipped,
                report.quarantined,
                report.failed.len()
            );
            Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
        Command::Run { once } => {
            if config.sources.is_empty() {
                bail!("no sources in the config; add them under `sources:` in tarn.yml (see the README), or use `tarn pull`");
            }
            let lake = Lake::open(&config.lake)?;
            if config.apply_retention {
                let stores: Vec<_> = catalog(&config, &lake)?.stores().cloned().collect();
                apply_retention(&lake, &stores)?;
                if !once {
                    let lake = lake.clone();
                    std::thread::spawn(move || {
                        loop {
                            std::thread::sleep(std::time::Duration::from_secs(3600));
                            if let Err(e) = apply_retention(&lake, &stores) {
                                eprintln!("warning: retention: {e}");
                            }
                        }
                    });
                }
            }
            run_sources(&lake, &registry, config.sources.into_iter().collect(), once)
        }
    }
}

/// Applies the stores' retention now (for `tarn run` with `apply_retention: true`).
fn apply_retention(lake: &Lake, stores: &[tarn::eds::EventDataStore]) -> Result<()> {
    let report = tarn::lake::retention::apply(lake, stores, tarn::now_micros(), false)?;
    for line in report.lines() {
        eprintln!("retention: {line}");
    }
    Ok(())
}

/// Exit code of `rules run --fail-on-alert` when a rule raised an alert.
const EXIT_ALERT: u8 = 4;

fn load_rules(path: &std::path::Path, registry: &Registry) -> Result<Vec<tarn::rules::Rule>> {
    tarn::rules::load(path, registry).map_err(|errors| {
        for error in &errors {
            eprintln!("error: {error}");
        }
        anyhow!("{} rule file(s) could not be loaded", errors.len())
    })
}

fn rules(config: &Config, registry: &Registry, command: RulesCommand) -> Result<ExitCode> {
    match command {
        RulesCommand::Test { path, junit } => {
            let rules = load_rules(&path, registry)?;
            // Offline: the stores of tarn.yml, not the lake's catalog.
            let report = runtime()?.block_on(tarn::rules::test_rules(&rules, registry, &config.event_data_stores));
            for outcome in &report.outcomes {
                if let Some(failure) = outcome.failure() {
                    println!("FAIL {} / {}: {failure}", outcome.rule, outcome.test);
                }
            }
            for rule in &report.untested {
                println!("warning: rule {rule} has no tests");
            }
            let failed = report.failed();
            println!("{} rules, {} tests: {} passed, {failed} failed", rules.len(), report.outcomes.len(), report.outcomes.len() - failed);
            if let Some(junit) = junit {
                std::fs::write(&junit, tarn::rules::junit_xml(&report)).with_context(|| format!("writing {}", junit.display()))?;
            }
            Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        RulesCommand::Run { path, since, fail_on_alert, format } => {
            let since = tarn::duration::parse(&since).map_err(|e| anyhow!("--since: {e}"))?;
            let rules = load_rules(&path, registry)?;
            let lake = Lake::open(&config.lake)?;
            let stores: Vec<_> = catalog(config, &lake)?.stores().cloned().collect();
            let now = tarn::now_micros();
            let from = now - since.as_micros() as i64;
            let report = runtime()?.block_on(tarn::rules::run_rules(&lake, registry, &stores, &rules, from, now))?;
            let batch = tarn::rules::alerts_batch(&report.alerts)?;
            let mut out = std::io::stdout().lock();
            tarn::sql::write_results(&mut out, format, &batch.schema(), &[batch])?;
            out.flush()?;
            for error in &report.errors {
                eprintln!("error: {error}");
            }
            eprintln!(
                "{} rules run ({} disabled), {} new matches, {} alerts raised, {} updated{}",
                report.rules_run,
                report.disabled,
                report.matches,
                report.raised(),
                report.alerts.len() - report.raised(),
                report.commit.map(|c| format!("; commit {c}")).unwrap_or_default()
            );
            Ok(if !report.errors.is_empty() {
                ExitCode::FAILURE
            } else if fail_on_alert && report.raised() > 0 {
                ExitCode::from(EXIT_ALERT)
            } else {
                ExitCode::SUCCESS
            })
        }
        RulesCommand::New { name, log_type, dir } => {
            registry.get(&log_type)?;
            let file = dir.join(format!("{name}.yml"));
            if file.exists() {
                bail!("{} already exists; choose another name", file.display());
            }
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            std::fs::write(&file, tarn::rules::skeleton(&name, &log_type)).with_context(|| format!("writing {}", file.display()))?;
            println!("wrote {}; run `tarn rules test {}`", file.display(), file.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Exit code of a `--once` run in which a source raised a drop-off alarm.
const EXIT_ALARM: u8 = 3;

/// Pulls every source at once until SIGINT/SIGTERM (or, with `once`, until
/// each is drained); the chunk in flight is committed and acknowledged first.
fn run_sources(lake: &Lake, registry: &Registry, sources: Vec<(String, Source)>, once: bool) -> Result<ExitCode> {
    let runtime = runtime()?;
    runtime.block_on(async {
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            let newline = if std::io::IsTerminal::is_terminal(&std::io::stderr()) { "\n" } else { "" };
            eprintln!("{newline}stopping: finishing the chunk in flight");
            let _ = stop_tx.send(true);
        });
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        let pulls = sources.into_iter().map(|(name, source)| {
            let stop = stop.clone();
            async move {
                let outcome = match source {
                    Source::Sqs(sqs) => {
                        let mut progress = |line: &str, r: &PullReport| {
                            let counts = format!("{} messages, {} objects, {} rows, {} quarantined", r.messages, r.objects, r.rows, r.quarantined);
                            show_progress(terminal, &name, Level::Info, line, &counts);
                        };
                        tarn::sources::sqs::pull(lake, registry, &sqs, once, stop, &mut progress).await.map(|r| {
                            let summary = format!(
                                "{} messages ({} empty, {} deleted, {} left to retry); {} objects, {} rows in {} commits; {} already in the lake; {} skipped; {} quarantined",
                                r.messages, r.empty_messages, r.deleted, r.retried, r.objects, r.rows, r.commits, r.already_ingested, r.skipped, r.quarantined
                            );
                            (summary, 0)
                        })
                    }
                    Source::Snyk(snyk) => {
                        let mut progress = |level: Level, line: &str, r: &SnykReport| {
                            let counts = format!("{} pages, {} rows, {} quarantined", r.pages, r.rows, r.quarantined);
                            show_progress(terminal, &name, level, line, &counts);
                        };
                        tarn::sources::snyk::pull(lake, registry, &snyk, &name, once, stop, &mut progress).await.map(|r| {
                            let summary = format!(
                                "{} audit logs, {} pages, {} records: {} rows in {} commits; {} already in the lake; {} quarantined; {} silent past the alarm ({} alarms raised)",
                                r.logs, r.pages, r.records, r.rows, r.commits, r.already_ingested, r.quarantined, r.silent, r.alarms_raised
                            );
                            (summary, r.silent)
                        })
                    }
                };
                (name, outcome)
            }
        });
        let (mut failed, mut silent) = (false, 0);
        for (name, outcome) in futures::future::join_all(pulls).await {
            if terminal {
                eprintln!();
            }
            match outcome {
                Ok((summary, quiet)) => {
                    silent += quiet;
                    println!("{name}: {summary}");
                }
                Err(e) => {
                    failed = true;
                    eprintln!("error: {name}: {}", e.to_string().split_whitespace().collect::<Vec<_>>().join(" "));
                }
            }
        }
        Ok(if failed {
            ExitCode::FAILURE
        } else if once && silent > 0 {
            ExitCode::from(EXIT_ALARM)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// A puller's line: progress redrawn in place on a terminal, warnings and
/// alarms always on lines of their own.
fn show_progress(terminal: bool, name: &str, level: Level, line: &str, counts: &str) {
    match level {
        Level::Error => eprintln!("{}error: {name}: {line}", if terminal { "\r\x1b[K" } else { "" }),
        Level::Warning => eprintln!("{}warning: {name}: {line}", if terminal { "\r\x1b[K" } else { "" }),
        Level::Info if terminal => {
            eprint!("\r\x1b[K{name}: {counts}{}", if line.is_empty() { String::new() } else { format!(" — {line}") })
        }
        Level::Info if !line.is_empty() => eprintln!("{name}: {line}"),
        Level::Info => {}
    }
}

fn print_ingest(report: &IngestReport) {
    println!(
        "ingested {} rows from {} files in {} commits; {} records quarantined; {} files already in the lake; {} files failed ({:.1} MB read)",
        report.rows,
        report.files,
        report.commits,
        report.quarantined,
        report.already_ingested,
        report.failed.len(),
        report.bytes as f64 / 1e6
    );
}

fn eds(config: &Config, registry: &Registry, command: EdsCommand) -> Result<ExitCode> {
    use tarn::eds::EventDataStore;
    let lake = Lake::open(&config.lake)?;
    let mut catalog = catalog(config, &lake)?;
    let known_tables = |tables: &[String]| -> Result<()> {
        for table in tables {
            if !registry.iter().any(|t| &t.table == table) {
                let names: Vec<&str> = registry.iter().map(|t| t.table.as_str()).collect();
                bail!("'{table}' is not a lake table (tables: {})", names.join(", "));
            }
        }
        Ok(())
    };
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
            known_tables(&tables)?;
            let (id, arn) = match id {
                Some(given) => tarn::eds::parse_given_id(&given).map_err(|e| anyhow!("--{e}"))?,
                None => (tarn::eds::new_id(), None),
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

fn demo(config: &Config, registry: &Registry, sample: &std::path::Path) -> Result<ExitCode> {
    println!("1. Generating sample logs under {} ...", sample.display());
    let generated = tarn::generate::generate(&tarn::generate::Plan::new(sample))?;
    println!(
        "   {} CloudTrail events in {} gzip files (as S3 holds them), {} Snyk audit events (v1 arrays and REST pages)",
        generated.cloudtrail_events,
        generated.cloudtrail_files.len(),
        generated.snyk_events
    );
    let lake = Lake::open(&config.lake)?;
    println!("2. Ingesting into the lake at {} ...", lake.root().display());
    let mut problems = |p: &str| eprintln!("warning: {p}");
    let steps = [
        (sample.join("AWSLogs"), None),
        (sample.join("snyk/group"), Some("Snyk.GroupAudit")),
        (sample.join("snyk/org"), Some("Snyk.OrgAudit")),
    ];
    for (path, log_type) in steps {
        let options = IngestOptions { log_type: log_type.map(str::to_string), ..IngestOptions::default() };
        let report = tarn::ingest::ingest_files(&lake, registry, std::slice::from_ref(&path), &options, &mut problems)?;
        print!("   {}: ", path.display());
        print_ingest(&report);
    }
    let runtime = runtime()?;
    let session = open_session(config, &lake, registry, &runtime)?;
    let mut queries: Vec<String> = [
        "select eventsource, eventname, count(*) as events from aws_cloudtrail group by 1, 2 order by 3 desc limit 8",
        "select useridentity.arn as who, sourceipaddress, errorcode, count(*) as denied from aws_cloudtrail where errorcode like '%AccessDenied%' or errorcode like '%Unauthorized%' group by 1, 2, 3 order by 4 desc limit 5",
        "select eventtime, useridentity.username as username, sourceipaddress from aws_cloudtrail where eventname = 'ConsoleLogin' and useridentity.sessioncontext.attributes.mfaauthenticated = false order by eventtime limit 5",
        "select event, count(*) as events, count(distinct userid) as users from snyk_groupaudit group by 1 order by 2 desc limit 6",
    ]
    .map(str::to_string)
    .to_vec();
    if let Some(store) = catalog(config, &lake)?.stores().find(|s| s.category.is_cloudtrail()) {
        queries.push(format!(
            "SELECT eventName, errorCode, COUNT(*) FROM {} WHERE eventTime > '2026-11-17 00:00:00' AND errorCode IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 5 -- CloudTrail Lake SQL through the event data store '{}' (tarn eds list)",
            store.id, store.name
        ));
    }
    println!("3. Querying (try your own: tarn query \"...\" or the shell: tarn sql)");
    for query in &queries {
        println!("\n> {query}");
        let (schema, batches) = runtime.block_on(session.query(query))?;
        tarn::sql::write_results(&mut std::io::stdout().lock(), Format::Table, &schema, &batches)?;
    }
    println!();
    println!("tables now in the lake:");
    for s in lake.snapshot()?.summaries() {
        println!("   {:<20} {:>8} rows in {} partitions", s.table, s.rows, s.partitions);
    }
    Ok(ExitCode::SUCCESS)
}
