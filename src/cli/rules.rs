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
        /// Test nothing if a rule file cannot be loaded (else those are skipped, and the exit code is 1).
        #[arg(long)]
        strict: bool,
    },
    /// Run the rules over the lake's recent rows; alerts go to stdout and the `alerts` table.
    Run {
        /// A rule file or a directory of rules.
        path: PathBuf,
        /// How far back to look (rows a rule already judged are not judged again).
        #[arg(long, default_value = "24h", conflicts_with = "from")]
        since: String,
        /// Judge every row from this time (a day or RFC 3339), an incident
        /// window: the scheduled runs' watermarks do not move.
        #[arg(long)]
        from: Option<String>,
        /// With --from: up to this time (default: now).
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Judge and print, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Run nothing if a rule file cannot be loaded (else those are skipped with a warning).
        #[arg(long)]
        strict: bool,
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
    /// Judge the last --days of the lake, write nothing, and print each rule's alerts: its noise before it merges.
    Backtest {
        /// A rule file or a directory of rules.
        path: PathBuf,
        #[arg(long, default_value_t = 30)]
        days: u32,
        #[arg(long, default_value = "10m")]
        timeout: String,
        /// Run nothing if a rule file cannot be loaded.
        #[arg(long)]
        strict: bool,
    },
    /// Print what the rules cover (ATT&CK tactic → rules) as markdown, for rules/README.md.
    Coverage {
        /// A rule file or a directory of rules.
        path: PathBuf,
        /// Print nothing; exit 1 if this file is not what would be printed.
        #[arg(long)]
        check: Option<PathBuf>,
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

/// The rules under `path` and how many files were skipped: with `strict`
/// none (a file that cannot load fails the command), else each is a
/// warning. Each rule's load warnings are printed too.
fn load_rules(path: &std::path::Path, registry: &Registry, strict: bool) -> Result<(Vec<tarn::rules::Rule>, usize)> {
    let failed = |errors: Vec<tarn::rules::RuleError>| {
        for error in &errors {
            eprintln!("error: {error}");
        }
        anyhow!("{} rule file(s) could not be loaded", errors.len())
    };
    let (rules, skipped) = if strict {
        (tarn::rules::load(path, registry).map_err(failed)?, Vec::new())
    } else {
        tarn::rules::load_lenient(path, registry).map_err(failed)?
    };
    for error in &skipped {
        eprintln!("warning: {error}; skipped (--strict stops instead)");
    }
    for rule in &rules {
        for warning in &rule.warnings {
            eprintln!("warning: {}: {warning}", rule.file.display());
        }
    }
    Ok((rules, skipped.len()))
}

/// `tarn rules run`'s flags.
pub struct RunArgs {
    path: PathBuf,
    since: String,
    from: Option<String>,
    to: Option<String>,
    dry_run: bool,
    strict: bool,
    fail_on_alert: bool,
    format: Format,
    timeout: String,
}

/// `tarn rules run`: judge, commit, send, print.
fn run(setup: &Setup, args: RunArgs) -> Result<ExitCode> {
    let (config, registry) = (&setup.config, &setup.registry);
    let RunArgs { path, since, from, to, dry_run, strict, fail_on_alert, format, timeout } = args;
    let since = tarn::duration::parse(&since).map_err(|e| anyhow!("--since: {e}"))?;
    let timeout = tarn::duration::parse(&timeout).map_err(|e| anyhow!("--timeout: {e}"))?;
    let (rules, _) = load_rules(&path, registry, strict)?;
    let lake = Lake::open_existing(&config.lake)?;
    let stores = stores(config, &lake)?;
    let now = tarn::now_micros();
    let (from, mode) = match from {
        Some(from) => {
            let from = instant("--from", &from)?;
            let to = to.as_deref().map(|t| instant("--to", t)).transpose()?.unwrap_or(now);
            if to <= from {
                bail!("--to must be after --from");
            }
            (from, tarn::rules::Mode::Window { to, write: !dry_run })
        }
        None => (now - since.as_micros() as i64, tarn::rules::Mode::Scheduled { write: !dry_run }),
    };
    let runtime = runtime()?;
    let report = runtime.block_on(tarn::rules::run_rules(&lake, registry, &stores, &rules, (from, now), mode, Some(timeout)));
    let writes = !matches!(mode, tarn::rules::Mode::Scheduled { write: false } | tarn::rules::Mode::Window { write: false, .. });
    let delivered = match (&report, writes) {
        (Ok(_), true) => Some(runtime.block_on(tarn::rules::deliver::deliver(&lake, registry, &config.alert_destinations))),
        _ => None,
    };
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
    let mut delivery_failed = false;
    if let Some(delivery) = delivered.transpose()? {
        for (destination, sent) in delivery.sent.iter().filter(|(_, sent)| *sent > 0) {
            eprintln!("sent {sent} alert row(s) to {destination}");
        }
        for failure in &delivery.failed {
            eprintln!("error: alerts: {failure}; the next run sends it again");
        }
        delivery_failed = !delivery.failed.is_empty();
    }
    eprintln!(
        "{} rules run ({} disabled), {} new matches, {} alerts raised, {} updated{}",
        report.rules_run,
        report.disabled,
        report.matches,
        report.raised(),
        report.alerts.len() - report.raised(),
        match (report.commit, mode) {
            (_, tarn::rules::Mode::Scheduled { write: false } | tarn::rules::Mode::Window { write: false, .. }) => {
                "; nothing written (--dry-run)".to_string()
            }
            (Some(c), tarn::rules::Mode::Window { .. }) => format!("; commit {c} (the scheduled runs' watermarks did not move)"),
            (Some(c), _) => format!("; commit {c}"),
            (None, _) => String::new(),
        }
    );
    Ok(if !report.errors.is_empty() || delivery_failed {
        ExitCode::FAILURE
    } else if fail_on_alert && report.raised() > 0 {
        ExitCode::from(EXIT_ALERT)
    } else {
        ExitCode::SUCCESS
    })
}

/// A time given as a day (`2026-11-20`, midnight UTC) or RFC 3339.
fn instant(flag: &str, text: &str) -> Result<i64> {
    tarn::duration::instant(text)
        .ok_or_else(|| anyhow!("{flag}: '{text}' is not a day or a time; write it like 2026-11-20 or 2026-11-20T14:00:00Z"))
}

pub fn rules(setup: &Setup, command: RulesCommand) -> Result<ExitCode> {
    let (config, registry) = (&setup.config, &setup.registry);
    match command {
        RulesCommand::Test { path, junit, strict } => {
            let (rules, skipped) = load_rules(&path, registry, strict)?;
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
            if skipped > 0 {
                println!("{skipped} rule file(s) skipped: they could not be loaded");
            }
            Ok(if failed == 0 && skipped == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        RulesCommand::Backtest { path, days, timeout, strict } => {
            let timeout = tarn::duration::parse(&timeout).map_err(|e| anyhow!("--timeout: {e}"))?;
            let (rules, _) = load_rules(&path, registry, strict)?;
            let lake = Lake::open_existing(&config.lake)?;
            let stores = stores(config, &lake)?;
            let now = tarn::now_micros();
            let from = now - i64::from(days) * 86_400_000_000;
            let mode = tarn::rules::Mode::Window { to: now, write: false };
            let runtime = runtime()?;
            let report = runtime.block_on(tarn::rules::run_rules(&lake, registry, &stores, &rules, (from, now), mode, Some(timeout)));
            runtime.shutdown_background();
            let report = report?;
            print!("{}", tarn::rules::backtest_summary(&rules, &report));
            for error in &report.errors {
                eprintln!("error: {error}");
            }
            eprintln!(
                "{} rules over the last {days} days: {} alerts from {} matches; nothing written",
                report.rules_run,
                report.raised(),
                report.matches
            );
            Ok(if report.errors.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        RulesCommand::Run { path, since, from, to, dry_run, strict, fail_on_alert, format, timeout } => {
            run(setup, RunArgs { path, since, from, to, dry_run, strict, fail_on_alert, format, timeout })
        }
        RulesCommand::Coverage { path, check } => {
            let (rules, _) = load_rules(&path, registry, true)?;
            let markdown = tarn::rules::coverage_markdown(&rules, &path);
            match check {
                None => print!("{markdown}"),
                Some(file) => {
                    let current = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
                    if current != markdown {
                        bail!(
                            "{} is not the coverage of {}; write it again: tarn rules coverage {} > {}",
                            file.display(),
                            path.display(),
                            path.display(),
                            file.display()
                        );
                    }
                    println!("{} is current ({} rules)", file.display(), rules.len());
                }
            }
            Ok(ExitCode::SUCCESS)
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
