//! The analyst shell (`tarn sql`): statements end with `;` and may span
//! lines; `\d`, `\d <table>`, `\timing`, `\format <f>`, `\q`; tab completion of
//! keywords, tables and columns; history kept across sessions; Ctrl-C cancels
//! the running query and leaves the shell open. When standard input is not a
//! terminal the same statements are read from it without prompts.

use super::{Format, Sql, write_results};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "LEFT JOIN",
    "INNER JOIN",
    "ON",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS NULL",
    "IS NOT NULL",
    "LIKE",
    "ILIKE",
    "BETWEEN",
    "DISTINCT",
    "COUNT",
    "SUM",
    "MIN",
    "MAX",
    "AVG",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "WITH",
    "UNION",
    "UNION ALL",
    "EXPLAIN",
    "DESC",
    "ASC",
    "CAST",
    "INTERVAL",
    "NOW()",
    "DATE_TRUNC",
    "SHOW TABLES",
    "SHOW COLUMNS",
];

/// Shell state: output format and timing.
pub struct Shell<'a> {
    sql: &'a Sql,
    runtime: &'a tokio::runtime::Runtime,
    format: Format,
    timing: bool,
    /// Statements and commands that failed (or were cancelled).
    failed: usize,
}

struct Completion {
    words: Vec<String>,
}

impl Completer for Completion {
    type Candidate = String;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<String>)> {
        let start = line[..pos].rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')).map_or(0, |i| i + 1);
        let prefix = line[start..pos].to_lowercase();
        if prefix.is_empty() {
            return Ok((pos, Vec::new()));
        }
        let mut found: Vec<String> = self.words.iter().filter(|w| w.to_lowercase().starts_with(&prefix)).cloned().collect();
        found.dedup();
        Ok((start, found))
    }
}

impl Hinter for Completion {
    type Hint = String;
}
impl Highlighter for Completion {}
impl Validator for Completion {}
impl Helper for Completion {}

impl<'a> Shell<'a> {
    pub fn new(sql: &'a Sql, runtime: &'a tokio::runtime::Runtime, format: Format) -> Shell<'a> {
        Shell { sql, runtime, format, timing: false, failed: 0 }
    }

    /// Runs until `\q`, Ctrl-D or the end of input. Returns how many
    /// statements failed when the input is not a terminal (a script: each
    /// statement runs, and the caller's exit code says whether all did), and
    /// 0 at a terminal, where each error was seen as it came.
    pub fn run(&mut self) -> std::io::Result<usize> {
        if std::io::stdin().is_terminal() {
            self.run_terminal()?;
            Ok(0)
        } else {
            self.run_piped()?;
            Ok(self.failed)
        }
    }

    fn run_piped(&mut self) -> std::io::Result<()> {
        let mut buffer = String::new();
        for line in std::io::stdin().lock().lines() {
            if !self.feed(&mut buffer, &line?) {
                break;
            }
        }
        if !buffer.trim().is_empty() {
            self.execute(buffer.trim());
        }
        Ok(())
    }

    fn run_terminal(&mut self) -> std::io::Result<()> {
        let mut words: Vec<String> = KEYWORDS.iter().map(|k| k.to_string()).collect();
        for (table, schema) in self.sql.tables() {
            words.push(table.clone());
            words.extend(schema.fields().iter().map(|f| f.name().clone()));
        }
        words.sort();
        words.dedup();
        let mut editor: Editor<Completion, _> = Editor::new().map_err(std::io::Error::other)?;
        editor.set_helper(Some(Completion { words }));
        let history = history_path();
        let _ = editor.load_history(&history);
        println!("tarn SQL shell. End statements with ';'. \\? for help, \\q to quit.");
        let mut buffer = String::new();
        loop {
            let prompt = if buffer.is_empty() { "tarn> " } else { "   ...> " };
            match editor.readline(prompt) {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = editor.add_history_entry(line.as_str());
                    }
                    if !self.feed(&mut buffer, &line) {
                        break;
                    }
                }
                Err(ReadlineError::Interrupted) => {
                    // Ctrl-C at the prompt drops the statement being typed.
                    buffer.clear();
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => {
                    eprintln!("error: {e}");
                    break;
                }
            }
        }
        if let Some(dir) = history.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.save_history(&history);
        Ok(())
    }

    /// Takes one input line; returns false to quit.
    fn feed(&mut self, buffer: &mut String, line: &str) -> bool {
        let trimmed = line.trim();
        if buffer.trim().is_empty() {
            if let Some(command) = trimmed.strip_prefix('\\') {
                return self.command(command.trim().trim_end_matches(';'));
            }
            if matches!(trimmed.to_lowercase().trim_end_matches(';'), "exit" | "quit") {
                return false;
            }
        }
        buffer.push_str(line);
        buffer.push('\n');
        if trimmed.ends_with(';') {
            let statement = buffer.trim().trim_end_matches(';').trim().to_string();
            buffer.clear();
            if !statement.is_empty() {
                self.execute(&statement);
            }
        }
        true
    }

    fn command(&mut self, command: &str) -> bool {
        let mut parts = command.split_whitespace();
        match (parts.next().unwrap_or(""), parts.next()) {
            ("q", _) => return false,
            ("d", None) => {
                for (table, schema) in self.sql.tables() {
                    println!("{table}  ({} columns)", schema.fields().len());
                }
            }
            ("d", Some(name)) => match self.sql.tables().iter().find(|(t, _)| t.eq_ignore_ascii_case(name)) {
                Some((table, schema)) => describe(table, schema),
                None => {
                    self.failed += 1;
                    eprintln!("error: no table '{name}'; \\d lists the tables");
                }
            },
            ("timing", _) => {
                self.timing = !self.timing;
                println!("timing is {}", if self.timing { "on" } else { "off" });
            }
            ("format", Some(name)) => match Format::parse(name) {
                Some(format) => {
                    self.format = format;
                    println!("output format is {name}");
                }
                None => {
                    self.failed += 1;
                    eprintln!("error: unknown format '{name}'; use table, csv, json or ndjson");
                }
            },
            ("?" | "h" | "help", _) => println!(
                "\\d              list tables\n\\d <table>      describe a table\n\\timing         toggle query timing\n\\format <f>     table, csv, json or ndjson\n\\q              quit\nStatements end with ';'. Ctrl-C cancels a running query."
            ),
            (other, _) => {
                self.failed += 1;
                eprintln!("error: unknown command '\\{other}'; \\? lists the commands");
            }
        }
        true
    }

    fn execute(&mut self, statement: &str) {
        let started = Instant::now();
        let outcome = self.runtime.block_on(async {
            tokio::select! {
                result = self.sql.query(statement) => Some(result),
                _ = tokio::signal::ctrl_c() => None,
            }
        });
        match outcome {
            // Cancelled on purpose: not a failure of the script.
            None => eprintln!("query cancelled"),
            Some(Err(e)) => {
                self.failed += 1;
                eprintln!("error: {e}");
            }
            Some(Ok((schema, batches))) => {
                let mut out = std::io::stdout().lock();
                if let Err(e) = write_results(&mut out, self.format, &schema, &batches) {
                    self.failed += 1;
                    eprintln!("error: {e}");
                }
                let _ = out.flush();
                if self.timing {
                    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                    println!("{rows} rows in {:.3} s", started.elapsed().as_secs_f64());
                }
            }
        }
    }
}

fn describe(table: &str, schema: &SchemaRef) {
    println!("table {table}");
    let width = schema.fields().iter().map(|f| f.name().len()).max().unwrap_or(0);
    for field in schema.fields() {
        println!("  {:width$}  {}", field.name(), type_name(field.data_type()));
    }
}

/// A compact, SQL-ish type name: `struct<type: string, arn: string>`.
fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::Float64 => "double".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::List(item) => format!("array<{}>", type_name(item.data_type())),
        DataType::Struct(fields) => {
            let inner: Vec<String> = fields.iter().map(|f| format!("{}: {}", f.name(), type_name(f.data_type()))).collect();
            format!("struct<{}>", inner.join(", "))
        }
        other => other.to_string().to_lowercase(),
    }
}

fn history_path() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".tarn_history")
}
