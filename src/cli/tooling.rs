//! The conventions of a command-line tool: shell completions and a man page
//! generated from the same clap definitions, and `tarn config check`.

use super::Cli;
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
    Ok(ExitCode::SUCCESS)
}
