//! Loading rule files: a file or a directory (searched recursively, in name
//! order), each file read as Sigma if it has a `logsource`, as tarn's format
//! otherwise; every file's problems are gathered before any rule runs.

use super::{FileProblem, Rule, RuleError, invalid, panther, problem, sigma};
use crate::schema::Registry;
use std::path::{Path, PathBuf};

/// Loads every rule under `path` (a rule file or a directory, searched
/// recursively for `.yml`/`.yaml` files, in name order). Every file's
/// problems are gathered; any problem fails the load.
pub fn load(path: &Path, registry: &Registry) -> Result<Vec<Rule>, Vec<RuleError>> {
    let (rules, problems) = load_lenient(path, registry)?;
    if problems.is_empty() { Ok(rules) } else { Err(problems) }
}

/// Loads every rule under `path` that loads; returns them and the problem
/// of each file that does not (a directory of rules from elsewhere runs
/// what it can). A path that is missing or cannot be walked is still an
/// error.
pub fn load_lenient(path: &Path, registry: &Registry) -> Result<(Vec<Rule>, Vec<RuleError>), Vec<RuleError>> {
    let mut files = Vec::new();
    rule_files(path, &mut files)?;
    files.sort();
    let mut rules: Vec<Rule> = Vec::new();
    let mut skipped = Vec::new();
    // Correlation rules name other rules: they are read once those are loaded.
    let mut correlations = Vec::new();
    for file in files {
        let loaded = match correlation_yaml(&file) {
            Some(value) => {
                correlations.push((file, value));
                continue;
            }
            None => load_file(&file, registry),
        };
        match loaded {
            Ok(rule) => match rules.iter().find(|r| r.id == rule.id) {
                Some(other) => skipped.push(invalid(
                    &file,
                    format!("RuleID: {} is also the id of {}; rule ids must be unique", rule.id, other.file.display()),
                )),
                None => rules.push(rule),
            },
            Err(error) => skipped.push(error),
        }
    }
    for (file, value) in correlations {
        match sigma::correlation(&file, &value, &mut rules, registry) {
            Ok(rule) if rules.iter().any(|r| r.id == rule.id) => {
                skipped.push(invalid(&file, format!("id: {} is also the id of another rule; rule ids must be unique", rule.id)));
            }
            Ok(rule) => rules.push(rule),
            Err(error) => skipped.push(error),
        }
    }
    Ok((rules, skipped))
}

/// The YAML of a Sigma correlation rule, or None for any other file (and
/// for one that does not read: its load reports that).
fn correlation_yaml(file: &Path) -> Option<serde_yaml::Value> {
    let text = std::fs::read_to_string(file).ok()?;
    let value: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
    value.get("correlation").is_some().then_some(value)
}

/// The rule files under `path`: the file itself, or a directory's `.yml`
/// and `.yaml` files, walked as input directories are (a symlink loop is
/// reported, not followed forever).
fn rule_files(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), Vec<RuleError>> {
    if path.is_file() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    if !path.exists() {
        return Err(vec![RuleError::Missing { path: path.to_path_buf() }]);
    }
    let walked = crate::walk::walk(&[path.to_path_buf()], |_| ());
    if !walked.problems.is_empty() {
        return Err(walked.problems.into_iter().map(|problem| RuleError::Walk { path: problem.path, why: problem.why }).collect());
    }
    files.extend(walked.files.into_iter().filter(|f| f.extension().is_some_and(|e| e == "yml" || e == "yaml")));
    Ok(())
}

/// Loads one rule file: Sigma if it has a `logsource`, tarn's format otherwise.
pub fn load_file(file: &Path, registry: &Registry) -> Result<Rule, RuleError> {
    let text = std::fs::read_to_string(file).map_err(|e| problem(file, FileProblem::Read(e)))?;
    parse_rule(file, &text, registry)
}

/// Reads one rule from its text (`file` names it in errors): Sigma if it
/// has a `logsource`, tarn's format otherwise.
pub fn parse_rule(file: &Path, text: &str, registry: &Registry) -> Result<Rule, RuleError> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| problem(file, FileProblem::Yaml(e)))?;
    if value.get("logsource").is_some() { sigma::parse(file, &value, registry) } else { panther::parse(file, text, registry) }
}
