//! `tarn ingest file`, `tarn pull sqs|snyk|s3` and `tarn run`: the commands
//! that bring records into the lake, and the lines they print.

use super::{Setup, runtime, stores};
use anyhow::{Result, anyhow, bail};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tarn::config::Source;
use tarn::daemon::Daemon;
use tarn::daemon::serve::{ServeOptions, Server};
use tarn::lake::Lake;
use tarn::sources::aws::AwsOptions;
use tarn::sources::aws::s3::BackfillRange;
use tarn::sources::aws::sqs::SqsConfig;
use tarn::sources::snyk::SnykConfig;
use tarn::sources::{IngestOptions, IngestReport};

#[derive(Subcommand)]
pub enum IngestCommand {
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
        #[arg(long, default_value_t = IngestOptions::default().chunk_records)]
        chunk_size: u64,
        /// The p_source_label of the rows.
        #[arg(long, default_value = "tarn ingest file")]
        label: String,
        /// Records larger than this are quarantined with their size and first bytes (bytes, or KB/MB/GB).
        #[arg(long, default_value = "16MB", value_parser = tarn::formats::json::parse_record_size)]
        max_record_size: usize,
        /// Land the complete records of a file that is cut short (a gzip or JSON that ends early) instead of skipping it.
        #[arg(long)]
        accept_partial: bool,
    },
}

#[derive(Subcommand)]
pub enum PullCommand {
    /// CloudTrail objects announced on an SQS queue (S3, SNS, CloudTrail or EventBridge notifications).
    Sqs {
        #[command(flatten)]
        config: SqsConfig,
        /// Drain the queue, commit, and exit.
        #[arg(long)]
        once: bool,
    },
    /// Snyk audit logs of an org or a group (and its orgs), from the REST or v1 API; resumes where the lake stands.
    Snyk {
        #[command(flatten)]
        config: SnykConfig,
        /// Catch up, commit, and exit.
        #[arg(long)]
        once: bool,
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
        /// Records larger than this are quarantined with their size and first bytes (bytes, or KB/MB/GB).
        #[arg(long, default_value = "16MB", value_parser = tarn::formats::json::parse_record_size)]
        max_record_size: usize,
        /// AWS region (default: the standard AWS resolution).
        #[arg(long)]
        region: Option<String>,
        /// An S3/SQS-compatible endpoint (also AWS_ENDPOINT_URL); uses path-style S3 addressing.
        #[arg(long)]
        endpoint_url: Option<String>,
    },
}

pub fn ingest(setup: &Setup, command: IngestCommand) -> Result<ExitCode> {
    let IngestCommand::File { paths, log_type, force, chunk_size, label, max_record_size, accept_partial } = command;
    if let Some(name) = &log_type {
        setup.registry.get(name)?;
    }
    let lake = Lake::open(&setup.config.lake)?;
    let shown = super::progress::show("files");
    let options = IngestOptions {
        log_type,
        force,
        chunk_records: chunk_size.max(1),
        source_label: label,
        max_record: max_record_size,
        accept_partial,
        progress: Some(shown.progress()),
        ..IngestOptions::default()
    };
    let report = tarn::sources::file::ingest_files(&lake, &setup.registry, &paths, &options)?;
    drop(shown);
    println!("{}", ingest_line(&report));
    Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// The summary line of a file ingest.
pub fn ingest_line(report: &IngestReport) -> String {
    format!(
        "ingested {} rows from {} files in {} commits; {} records quarantined; {} files already in the lake; {} files failed ({:.1} MB read)",
        report.rows,
        report.files,
        report.commits,
        report.quarantined,
        report.already_ingested,
        report.failed.len(),
        report.bytes as f64 / 1e6
    )
}

pub fn pull(setup: Setup, command: PullCommand) -> Result<ExitCode> {
    match command {
        PullCommand::Sqs { config, once } => run_sources(setup, vec![("sqs".into(), Source::Sqs(config))], once, false, None),
        PullCommand::Snyk { config, once } => {
            config.check()?;
            run_sources(setup, vec![("snyk".into(), Source::Snyk(config))], once, false, None)
        }
        PullCommand::S3 { bucket, prefix, from, to, log_type, chunk_size, max_record_size, region, endpoint_url } => {
            let day = |text: &str| {
                chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| anyhow!("'{text}' is not a day; write it like 2026-11-01"))
            };
            let from = day(&from)?;
            let to = match to {
                Some(to) => day(&to)?,
                None => chrono::Utc::now().date_naive(),
            };
            let lake = Lake::open(&setup.config.lake)?;
            let range = BackfillRange { bucket, prefix, from, to };
            let shown = super::progress::show("objects");
            let options = IngestOptions {
                max_record: max_record_size,
                progress: Some(shown.progress()),
                ..range.ingest_options(log_type, chunk_size)
            };
            let report = runtime()?.block_on(async {
                let (s3, _) = tarn::sources::aws::clients(&AwsOptions { region, endpoint_url }).await;
                tarn::sources::aws::s3::backfill(&lake, &setup.registry, &s3, &range, &options).await
            })?;
            drop(shown);
            println!(
                "listed {} objects; ingested {} rows from {} objects in {} commits; {} already in the lake; {} skipped; {} quarantined; {} failed",
                report.listed,
                report.ingested.rows,
                report.ingested.files,
                report.ingested.commits,
                report.ingested.already_ingested,
                report.skipped,
                report.ingested.quarantined,
                report.ingested.failed.len()
            );
            Ok(if report.ingested.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
        }
    }
}

pub fn run(setup: Setup, once: bool) -> Result<ExitCode> {
    if setup.config.sources.is_empty() && setup.config.serve.is_none() && setup.config.rules.is_empty() {
        bail!(
            "no sources in the config; add them under `sources:` (or a `serve:` section) in tarn.yml (see the README), or use `tarn pull`"
        );
    }
    let sources = setup.config.sources.clone().into_iter().collect();
    let retention = setup.config.apply_retention;
    // A run that drains its sources once does not serve.
    let serve = if once { None } else { setup.config.serve.clone() };
    run_sources(setup, sources, once, retention, serve)
}

/// `tarn serve`'s flags; each one overrides the `serve:` section of tarn.yml.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// host:port to listen on (port 0 picks a free port, printed at start).
    #[arg(long)]
    listen: Option<String>,
    /// A PEM certificate chain; required with --tls-key to listen off loopback.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// How long a resent event id adds no row (24h, 7d).
    #[arg(long)]
    dedupe_window: Option<String>,
    /// How long calls gather before one commit, in milliseconds.
    #[arg(long)]
    commit_interval_ms: Option<u64>,
}

/// `tarn serve`: PutAuditEvents for the lake's channels, until stopped.
pub fn serve(setup: Setup, args: ServeArgs) -> Result<ExitCode> {
    let mut serve = setup.config.serve.clone().unwrap_or_default();
    if let Some(listen) = args.listen {
        serve.listen = listen;
    }
    if args.tls_cert.is_some() {
        (serve.tls_cert, serve.tls_key) = (args.tls_cert, args.tls_key);
    }
    if let Some(window) = args.dedupe_window {
        serve.dedupe_window = window;
    }
    if let Some(interval) = args.commit_interval_ms {
        serve.commit_interval_ms = interval;
    }
    serve.check().map_err(|e| anyhow!("{e}"))?;
    run_sources(setup, Vec::new(), false, false, Some(serve))
}

/// Runs sources (and a server) with the daemon and prints each one's summary.
fn run_sources(
    setup: Setup,
    sources: Vec<(String, Source)>,
    once: bool,
    apply_retention: bool,
    serve: Option<tarn::sources::channel::ServeConfig>,
) -> Result<ExitCode> {
    let lake = Lake::open(&setup.config.lake)?;
    let retention = if apply_retention { Some(stores(&setup.config, &lake)?) } else { None };
    let runtime = runtime()?;
    let server = match serve {
        Some(serve) => {
            let options = ServeOptions {
                listen: serve.listen_addr().map_err(|e| anyhow!("{e}"))?,
                tls: serve.tls_cert.clone().zip(serve.tls_key.clone()),
                credentials: Some(serve.credentials().map_err(|e| anyhow!("serve: {e}"))?),
                channels: serve.settings().map_err(|e| anyhow!("{e}"))?,
            };
            let server = runtime.block_on(Server::bind(options))?;
            let scheme = if serve.tls_cert.is_some() { "https" } else { "http" };
            if let Some(addr) = server.local_addr() {
                println!("serving PutAuditEvents, /healthz and /metrics at {scheme}://{addr}");
            }
            Some((server, setup.config.event_data_stores.clone()))
        }
        None => None,
    };
    let (detections, destinations) = (setup.config.rules.clone(), setup.config.alert_destinations.clone());
    let daemon = Daemon { lake, registry: Arc::new(setup.registry), sources, once, retention, server, detections, destinations };
    let outcome = runtime.block_on(daemon.run())?;
    for source in &outcome.sources {
        super::log::end_progress();
        match &source.result {
            Ok(summary) => println!("{}: {summary}", source.name),
            Err(e) => tracing::error!(source = %source.name, "{}", tarn::error_line(e)),
        }
    }
    Ok(ExitCode::from(outcome.exit_code()))
}
