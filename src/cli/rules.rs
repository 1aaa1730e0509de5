//! `tarn rules test|run|new`: detections as code, and the lines and exit
//! codes CI reads.

use super::{Setup, runtime, stores};
use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tarn::lake::Lake;
use tarn::schema::Registry;
use tarn::sql::Format;

#[derive(Subcommand)]
pub enum RulesCommand {
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
        /// Stop a rule that runs longer, like 30s or 5m; the other rules go on
        /// (so CI never hangs on one rule).
        #[arg(long, default_value = "10m")]
        timeout: String,
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

pub fn rules(setup: &Setup, command: RulesCommand) -> Result<ExitCode> {
    let (config, registry) = (&setup.config, &setup.registry);
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
        RulesCommand::Run { path, since, fail_on_alert, format, timeout } => {
            let since = tarn::duration::parse(&since).map_err(|e| anyhow!("--since: {e}"))?;
            let timeout = tarn::duration::parse(&timeout).map_err(|e| anyhow!("--timeout: {e}"))?;
            let rules = load_rules(&path, registry)?;
            let lake = Lake::open_existing(&config.lake)?;
            let stores = stores(config, &lake)?;
            let now = tarn::now_micros();
            let from = now - since.as_micros() as i64;
            let runtime = runtime()?;
            let report = runtime.block_on(tarn::rules::run_rules(&lake, registry, &stores, &rules, (from, now), Some(timeout)));
            // A rule stopped by --timeout leaves tasks behind; do not wait for them.
            runtime.shutdown_background();
            let report = report?;
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
