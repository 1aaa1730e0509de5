//! The conventions of a command-line tool: shell completions and a man page
//! generated from the same clap definitions, `tarn config check`, and the
//! lake's upkeep: `tarn doctor`, `tarn optimize`, `tarn vacuum`.

use super::{Cli, Setup};
use anyhow::Result;
use clap::{CommandFactory, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tarn::config::{Config, DEFAULT_FILE, Source};

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Check tarn.yml (or --config, or the file given): keys, sources, stores,
    /// schema folders; prints what it found, or the problem and where.
    Check {
        /// The file to check (default: --config, else ./tarn.yml).
        file: Option<PathBuf>,
    },
}

pub fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    clap_complete::generate(shell, &mut Cli::command(), "tarn", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

pub fn man() -> Result<ExitCode> {
    clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
    Ok(ExitCode::SUCCESS)
}

pub fn config(config_file: Option<&Path>, command: ConfigCommand) -> Result<ExitCode> {
    let ConfigCommand::Check { file } = command;
    let path = file.or_else(|| config_file.map(Path::to_path_buf)).unwrap_or_else(|| PathBuf::from(DEFAULT_FILE));
    if !path.exists() {
        anyhow::bail!(
            "{} does not exist; tarn runs with its defaults without one (lake ./lake), see the README for its keys",
            path.display()
        );
    }
    let config = Config::load(Some(&path))?;
    tarn::schema::Registry::load(&config.schema_dirs)?;
    println!("{}: ok", path.display());
    println!("  lake: {}", config.lake.display());
    for dir in &config.schema_dirs {
        println!("  schemas: {}", dir.display());
    }
    for (name, source) in &config.sources {
        let what = match source {
            Source::Sqs(sqs) => format!("sqs {}", sqs.queue_url),
            Source::Snyk(snyk) => match (&snyk.org, &snyk.group) {
                (Some(org), _) => format!("snyk org {org}"),
                (_, Some(group)) => format!("snyk group {group}{}", if snyk.include_orgs { " and its orgs" } else { "" }),
                _ => "snyk".to_string(),
            },
        };
        println!("  source {name}: {what}");
    }
    for store in &config.event_data_stores {
        println!("  event data store {} ({}): {} over {}", store.name, store.id, store.category, store.tables.join(", "));
    }
    if config.apply_retention {
        println!("  apply_retention: on");
    }
    for schedule in &config.rules {
        println!("  rules {}: every {}, looking back {}", schedule.path.display(), schedule.every, schedule.since);
    }
    for (name, destination) in &config.alert_destinations {
        let what = match destination {
            tarn::rules::deliver::Destination::Webhook { url_env: Some(var), .. } => format!("webhook (URL in {var})"),
            tarn::rules::deliver::Destination::Webhook { .. } => "webhook".to_string(),
            tarn::rules::deliver::Destination::Sns { topic_arn, .. } => format!("sns {topic_arn}"),
            tarn::rules::deliver::Destination::File { path } => format!("file {}", path.display()),
        };
        println!("  alerts to {name}: {what}");
    }
    if let Some(serve) = &config.serve {
        println!("  serve: {} (credentials from {})", serve.listen, serve.access_key_id_env);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn doctor(setup: &Setup, repair: bool) -> Result<ExitCode> {
    use tarn::lake::{Lake, doctor};
    let lake = Lake::open_existing(&setup.config.lake)?;
    let checkup = doctor::check(&lake)?;
    println!("lake {}: {} commits, {} live files checked", lake.location(), checkup.commits, checkup.live_files);
    for finding in &checkup.findings {
        let kind = if finding.breaks_reads() { "problem" } else { "note" };
        println!("{kind}: {finding}");
    }
    let lost = checkup.rows_lost();
    if !repair {
        if checkup.findings.is_empty() {
            println!("the lake is healthy");
        } else if checkup.healthy() {
            println!(
                "reads work; `tarn doctor --repair` moves files no commit names to _tarn/lost+found/ and closes the lake to other users"
            );
        } else {
            let rows: Vec<String> = lost.iter().map(|(table, rows)| format!("{rows} rows of {table}")).collect();
            let rows = if rows.is_empty() { String::new() } else { format!(" ({} would be lost)", rows.join(", ")) };
            println!(
                "`tarn doctor --repair` drops what is damaged from the lake{rows}; restore the files from a backup first if you have one"
            );
        }
        return Ok(if checkup.healthy() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    if checkup.findings.is_empty() {
        println!("nothing to repair");
        return Ok(ExitCode::SUCCESS);
    }
    let done = doctor::repair(&lake)?;
    if let Some(old) = &done.old_log {
        let lines: Vec<String> = done.dropped_lines.iter().map(|l| l.to_string()).collect();
        println!(
            "repaired: dropped commit log line(s) {} (the log as it was is kept at {}); the inputs those commits consumed will be taken again by the next ingest",
            lines.join(", "),
            old.display()
        );
    }
    if let Some(commit) = done.commit {
        let mut by_table: std::collections::BTreeMap<&str, (usize, u64)> = Default::default();
        for file in &done.removed {
            let entry = by_table.entry(&file.table).or_default();
            entry.0 += 1;
            entry.1 += file.rows;
        }
        for (table, (files, rows)) in by_table {
            println!(
                "repaired: commit {commit} took {files} lost or damaged file(s) out of {table}: {rows} rows lost (what was left of them is in {})",
                done.lost_and_found.display()
            );
        }
    }
    if !done.moved.is_empty() {
        let rows: u64 = done.moved.iter().filter_map(|(_, rows)| *rows).sum();
        println!(
            "repaired: moved {} file(s) no commit names ({rows} rows tarn never read) to {}",
            done.moved.len(),
            done.lost_and_found.display()
        );
    }
    if !done.published.is_empty() {
        println!("repaired: the Delta logs of {} now show tarn's live files", done.published.join(", "));
    }
    if done.closed {
        println!("repaired: the lake's folder is now readable by its owner only");
    }
    println!("the lake answers again; `tarn doctor` checks it");
    Ok(ExitCode::SUCCESS)
}

pub fn optimize(setup: &Setup, table: Option<&str>, target_size: &str) -> Result<ExitCode> {
    use tarn::lake::Lake;
    let target = tarn::size::parse(target_size).map_err(|e| anyhow::anyhow!("--target-size: {e}"))?;
    let lake = Lake::open_existing(&setup.config.lake)?;
    if let Some(table) = table
        && !lake.snapshot()?.tables().iter().any(|t| t == table)
    {
        anyhow::bail!("the lake has no table {table}; `tarn tables` lists them");
    }
    let done = tarn::catalog::optimize::optimize(&lake, table, target as u64)?;
    match done.commit {
        Some(commit) => println!(
            "optimized {} partition(s): {} files became {} ({} rows) in commit {commit}; the old files stay until `tarn vacuum`",
            done.partitions, done.files_before, done.files_after, done.rows
        ),
        None => println!("nothing to optimize: no partition has two files smaller than {}", tarn::size::show(target)),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn vacuum(setup: &Setup, retain: &str, dry_run: bool) -> Result<ExitCode> {
    let retain = tarn::duration::parse(retain).map_err(|e| anyhow::anyhow!("--retain: {e}"))?;
    let lake = tarn::lake::Lake::open_existing(&setup.config.lake)?;
    let done = tarn::lake::vacuum::vacuum(&lake, retain, dry_run)?;
    let verb = if dry_run { "would delete" } else { "deleted" };
    println!(
        "{verb} {} file(s) ({}) out of the lake for more than {}; kept {} younger ones",
        done.files,
        tarn::size::show(done.bytes as usize),
        tarn::duration::show(retain),
        done.kept
    );
    Ok(ExitCode::SUCCESS)
}
