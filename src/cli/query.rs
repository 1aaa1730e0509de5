//! `tarn tables`, `tarn query`, `tarn sql`, `tarn schema` and `tarn
//! quarantine`: reading the lake and its schemas.

use super::{Setup, open_session, runtime};
use anyhow::{Result, bail};
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tarn::lake::Lake;
use tarn::schema::Origin;
use tarn::sql::Format;

#[derive(Subcommand)]
pub enum SchemaCommand {
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

/// Limits of a query (`tarn query`, `tarn sql`); each error names its flag.
#[derive(clap::Args)]
pub struct LimitArgs {
    /// Memory the query's operators may hold (sorts and aggregates spill to
    /// disk past it), like 4GB [default: half the machine's memory].
    #[arg(long)]
    memory_limit: Option<String>,
    /// Bytes a result may hold, like 512MB [default: a quarter of the machine's memory, at most 1GB].
    #[arg(long)]
    max_result_size: Option<String>,
    /// Stop a query that runs longer, like 30s or 5m [default: no limit].
    #[arg(long)]
    timeout: Option<String>,
}

impl LimitArgs {
    pub fn limits(&self) -> Result<tarn::sql::Limits> {
        let mut limits = tarn::sql::Limits::default();
        if let Some(text) = &self.memory_limit {
            limits.memory = tarn::size::parse(text).map_err(|e| anyhow::anyhow!("--memory-limit: {e}"))?;
        }
        if let Some(text) = &self.max_result_size {
            limits.result = tarn::size::parse(text).map_err(|e| anyhow::anyhow!("--max-result-size: {e}"))?;
        }
        if let Some(text) = &self.timeout {
            limits.timeout = Some(tarn::duration::parse(text).map_err(|e| anyhow::anyhow!("--timeout: {e}"))?);
        }
        Ok(limits)
    }
}

#[derive(Subcommand)]
pub enum QuarantineCommand {
    /// Retry quarantined records under the current schemas (after a schema fix).
    Replay {
        #[arg(long)]
        log_type: Option<String>,
    },
}

pub fn tables(setup: &Setup) -> Result<ExitCode> {
    let lake = Lake::open_existing(&setup.config.lake)?;
    let summaries = lake.snapshot()?.summaries();
    if summaries.is_empty() {
        println!("the lake at {} is empty; add logs with `tarn ingest file`", lake.location());
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

pub fn query(setup: &Setup, sql: &str, format: Format, limits: tarn::sql::Limits) -> Result<ExitCode> {
    let lake = Lake::open_existing(&setup.config.lake)?;
    let runtime = runtime()?;
    let session = open_session(setup, &lake, &runtime, limits)?;
    let result = runtime.block_on(session.query(sql));
    drop(session);
    // A query stopped by --timeout leaves DataFusion tasks that may not
    // yield for minutes: exit without waiting for them.
    runtime.shutdown_background();
    let (schema, batches) = result?;
    let mut out = std::io::stdout().lock();
    tarn::sql::write_results(&mut out, format, &schema, &batches)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn shell(setup: &Setup, format: Format, limits: tarn::sql::Limits) -> Result<ExitCode> {
    let lake = Lake::open_existing(&setup.config.lake)?;
    let runtime = runtime()?;
    let session = open_session(setup, &lake, &runtime, limits)?;
    let failed = tarn::sql::shell::Shell::new(&session, &runtime, format).run();
    drop(session);
    runtime.shutdown_background();
    let failed = failed?;
    if failed > 0 {
        eprintln!("error: {failed} statement(s) failed");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn schema(setup: &Setup, command: SchemaCommand) -> Result<ExitCode> {
    match command {
        SchemaCommand::List => {
            for log_type in setup.registry.iter() {
                let origin = match &log_type.origin {
                    Origin::BuiltIn => "built-in".to_string(),
                    Origin::File(path) => path.display().to_string(),
                };
                println!("{:<24} {:<24} {}", log_type.name, log_type.table, origin);
            }
        }
        SchemaCommand::Check { files } => {
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
        }
        SchemaCommand::Show { log_type } => {
            let log_type = setup.registry.get(&log_type)?;
            println!("{}", log_type.source_text.trim_end());
            println!("\n# table {} columns:", log_type.table);
            for field in log_type.arrow_schema.fields() {
                println!("#   {}", field.name());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn quarantine(setup: &Setup, command: QuarantineCommand) -> Result<ExitCode> {
    let QuarantineCommand::Replay { log_type } = command;
    let lake = Lake::open_existing(&setup.config.lake)?;
    let report = tarn::ingest::replay_quarantine(&lake, &setup.registry, log_type.as_deref(), tarn::sources::adapt)?;
    println!("{} records landed in their tables; {} are still quarantined", report.landed, report.still_quarantined);
    Ok(ExitCode::SUCCESS)
}
