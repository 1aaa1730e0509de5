//! `tarn generate` and `tarn demo`: sample logs, and tarn's main job shown
//! on them with no account needed.

use super::{Setup, open_session, runtime, stores};
use anyhow::{Context, Result, anyhow};
use std::path::PathBuf;
use std::process::ExitCode;
use tarn::lake::Lake;
use tarn::sources::IngestOptions;
use tarn::sql::Format;

/// `tarn generate`'s flags.
#[derive(clap::Args)]
pub struct GenerateArgs {
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
}

pub fn generate(args: GenerateArgs) -> Result<ExitCode> {
    let GenerateArgs { out, cloudtrail_events, events_per_file, snyk_events, seed, start, hours } = args;
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

pub fn demo(setup: &Setup, sample: &std::path::Path) -> Result<ExitCode> {
    let (config, registry) = (&setup.config, &setup.registry);
    println!("1. Generating sample logs under {} ...", sample.display());
    let generated = tarn::generate::generate(&tarn::generate::Plan::new(sample))?;
    println!(
        "   {} CloudTrail events in {} gzip files (as S3 holds them), {} Snyk audit events (v1 arrays and REST pages)",
        generated.cloudtrail_events,
        generated.cloudtrail_files.len(),
        generated.snyk_events
    );
    let lake = Lake::open(&config.lake)?;
    println!("2. Ingesting into the lake at {} ...", lake.location());
    let steps = [
        (sample.join("AWSLogs"), None),
        (sample.join("snyk/group"), Some("Snyk.GroupAudit")),
        (sample.join("snyk/org"), Some("Snyk.OrgAudit")),
    ];
    for (path, log_type) in steps {
        let options = IngestOptions { log_type: log_type.map(str::to_string), ..IngestOptions::default() };
        let report = tarn::sources::file::ingest_files(&lake, registry, std::slice::from_ref(&path), &options)?;
        println!("   {}: {}", path.display(), super::ingest::ingest_line(&report));
    }
    let runtime = runtime()?;
    let session = open_session(setup, &lake, &runtime, tarn::sql::Limits::default())?;
    let mut queries: Vec<String> = [
        "select eventsource, eventname, count(*) as events from aws_cloudtrail group by 1, 2 order by 3 desc limit 8",
        "select useridentity.arn as who, sourceipaddress, errorcode, count(*) as denied from aws_cloudtrail where errorcode like '%AccessDenied%' or errorcode like '%Unauthorized%' group by 1, 2, 3 order by 4 desc limit 5",
        "select eventtime, useridentity.username as username, sourceipaddress from aws_cloudtrail where eventname = 'ConsoleLogin' and useridentity.sessioncontext.attributes.mfaauthenticated = false order by eventtime limit 5",
        "select event, count(*) as events, count(distinct userid) as users from snyk_groupaudit group by 1 order by 2 desc limit 6",
    ]
    .map(str::to_string)
    .to_vec();
    if let Some(store) = stores(config, &lake)?.iter().find(|s| s.category.is_cloudtrail()) {
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
