//! Fuzzing on stable Rust: the four parsers that take text from outside —
//! the record reader (framing and decoding against a schema), the schema
//! loader, the rule loader (Sigma and tarn's format, compiled to SQL) and
//! the CloudTrail Lake dialect rewriter — each fed mutations of real inputs
//! for a time budget. A panic, or a case slower than [`SLOW`], fails the run
//! and is saved under `target/fuzz-crashes/` to replay; a case that never
//! ends is caught by a watchdog, which saves it and ends the run.
//!
//! The harness mutates seeds (bit flips, interesting bytes, cuts, repeats,
//! splices, tokens from a per-target dictionary) and keeps a mutant as a new
//! seed when it ends in an outcome not seen before (a new error kind): a
//! crude feedback that walks deeper into each parser than blind mutation.
//!
//! `TARN_FUZZ_SECONDS` sets each target's budget (default 5: the short run
//! in the test command); `scripts/fuzz.sh` runs each for 10 minutes on a
//! release build. `TARN_FUZZ_SEED` replays a run.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A case this slow is a hang.
const SLOW: Duration = Duration::from_secs(10);

fn budget() -> Duration {
    Duration::from_secs_f64(std::env::var("TARN_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0))
}

/// xorshift64*: reproducible from `TARN_FUZZ_SEED`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[u8] = b"\0\xff{}[]\"\\:,\n\r\t -01e.9\x80\xc3";

struct Fuzzer<'a> {
    name: &'static str,
    rng: Rng,
    corpus: Vec<Vec<u8>>,
    dictionary: &'a [&'a str],
    seen: HashSet<String>,
}

impl Fuzzer<'_> {
    fn mutate(&mut self) -> Vec<u8> {
        let mut input = self.corpus[self.rng.below(self.corpus.len())].clone();
        for _ in 0..1 + self.rng.below(6) {
            let at = self.rng.below(input.len() + 1);
            match self.rng.below(9) {
                0 if !input.is_empty() => {
                    let i = at.min(input.len() - 1);
                    input[i] ^= 1 << self.rng.below(8);
                }
                1 if !input.is_empty() => {
                    let i = at.min(input.len() - 1);
                    input[i] = INTERESTING[self.rng.below(INTERESTING.len())];
                }
                2 => {
                    let end = (at + 1 + self.rng.below(64)).min(input.len());
                    input.drain(at.min(end)..end);
                }
                3 => {
                    let end = (at + 1 + self.rng.below(256)).min(input.len());
                    let piece = input[at.min(end)..end].to_vec();
                    for _ in 0..1 + self.rng.below(4) {
                        input.splice(at..at, piece.iter().copied());
                    }
                }
                4 | 5 => {
                    let token = self.dictionary[self.rng.below(self.dictionary.len())].as_bytes();
                    input.splice(at..at, token.iter().copied());
                }
                6 => input.truncate(at),
                7 => {
                    let other = &self.corpus[self.rng.below(self.corpus.len())];
                    let from = self.rng.below(other.len());
                    let end = (from + self.rng.below(512)).min(other.len());
                    let piece = other[from..end].to_vec();
                    input.splice(at..at, piece);
                }
                _ => {
                    // The same token many times: depth and size.
                    let token = self.dictionary[self.rng.below(self.dictionary.len())].as_bytes();
                    let times = 1 + self.rng.below(2_000);
                    let repeated: Vec<u8> = token.iter().copied().cycle().take(token.len() * times).collect();
                    input.splice(at..at, repeated);
                }
            }
        }
        input.truncate(1 << 20);
        input
    }

    /// Runs `target` on mutants until the budget is spent; `target` returns
    /// an outcome label (an error's kind) used as feedback.
    fn run(mut self, budget: Duration, target: impl Fn(&[u8]) -> String) {
        let crashes_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
        let started = Instant::now();
        let (mut cases, mut crashes) = (0u64, Vec::new());
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        // A case that never ends is found by a watchdog: it saves the input
        // and ends the run, which otherwise would wait forever.
        let current = Arc::new(Mutex::new((Instant::now(), Arc::new(Vec::new()))));
        let finished = Arc::new(AtomicBool::new(false));
        let watchdog = {
            let (current, finished, name, dir) = (current.clone(), finished.clone(), self.name, crashes_dir.clone());
            std::thread::spawn(move || {
                while !finished.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(500));
                    let (began, input) = current.lock().unwrap().clone();
                    if began.elapsed() > SLOW * 3 {
                        std::fs::create_dir_all(&dir).unwrap();
                        let path = dir.join(format!("{name}-hang"));
                        std::fs::write(&path, input.as_slice()).unwrap();
                        eprintln!("fuzz {name}: a case ran longer than {:?}, a hang; input saved at {}", SLOW * 3, path.display());
                        std::process::exit(1);
                    }
                }
            })
        };
        while started.elapsed() < budget {
            let input = Arc::new(self.mutate());
            let began = Instant::now();
            *current.lock().unwrap() = (began, input.clone());
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(&input)));
            cases += 1;
            let took = began.elapsed();
            let failure = match &outcome {
                Err(panic) => Some(format!(
                    "panicked: {}",
                    panic.downcast_ref::<String>().map(String::as_str).or(panic.downcast_ref::<&str>().copied()).unwrap_or("?")
                )),
                Ok(_) if took > SLOW => Some(format!("took {took:?}")),
                Ok(_) => None,
            };
            if let Some(failure) = failure {
                std::fs::create_dir_all(&crashes_dir).unwrap();
                let path = crashes_dir.join(format!("{}-{cases}", self.name));
                std::fs::write(&path, input.as_slice()).unwrap();
                crashes.push(format!("{failure} (input saved at {})", path.display()));
                continue;
            }
            if let Ok(label) = outcome
                && self.seen.insert(label)
                && self.corpus.len() < 4_096
            {
                self.corpus.push(Arc::unwrap_or_clone(input));
            }
        }
        finished.store(true, Ordering::Relaxed);
        watchdog.join().unwrap();
        std::panic::set_hook(hook);
        eprintln!(
            "fuzz {}: {cases} cases in {:.0} s, {} outcomes, corpus {}, {} crashes",
            self.name,
            started.elapsed().as_secs_f64(),
            self.seen.len(),
            self.corpus.len(),
            crashes.len()
        );
        assert!(crashes.is_empty(), "fuzz {}: {}", self.name, crashes.join("\n"));
    }
}

/// Runs a fuzz target on a thread with the stack the `tarn` binary gives
/// its commands (deep inputs recurse there too).
fn fuzz(name: &'static str, seeds: Vec<Vec<u8>>, dictionary: &'static [&'static str], target: fn(&[u8]) -> String) {
    assert!(!seeds.is_empty(), "{name}: seeds are found");
    let seed = std::env::var("TARN_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(tarn::unique_seed) | 1;
    eprintln!("fuzz {name}: TARN_FUZZ_SEED={seed}");
    let fuzzer = Fuzzer { name, rng: Rng(seed), corpus: seeds, dictionary, seen: HashSet::new() };
    let budget = budget();
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || fuzzer.run(budget, target))
        .unwrap()
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
}

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let walked = tarn::walk::walk(&[dir.to_path_buf()], |_| ());
    walked.files.into_iter().filter(|f| f.extension().is_some_and(|e| e == extension)).collect()
}

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// An error's kind: its words without the quoted values and numbers in it.
fn kind(error: &impl std::fmt::Display) -> String {
    let (mut kept, mut quote) = (String::new(), None);
    for c in error.to_string().chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, c) if c.is_ascii_digit() => {}
            (None, c) => kept.push(c),
        }
    }
    kept.split_whitespace().take(8).collect::<Vec<_>>().join(" ")
}

#[test]
fn fuzz_record_reader() {
    use std::io::Read;
    let dir = std::env::temp_dir().join(format!("tarn-fuzz-records-{}", std::process::id()));
    let generated = common::sample(&dir, 40, 20, 20);
    let mut seeds: Vec<Vec<u8>> =
        ["tests/sql/data/cloudtrail.json", "tests/sql/data/snyk_org.json"].iter().map(|f| std::fs::read(repo(f)).unwrap()).collect();
    let mut gz = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(&generated.cloudtrail_files[0]).unwrap()).read_to_end(&mut gz).unwrap();
    seeds.push(gz);
    let _ = std::fs::remove_dir_all(&dir);
    const TOKENS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        "\"",
        "\\",
        "\\u0000",
        "\\ud800",
        "\"eventTime\":",
        "\"2026-11-17T10:00:00Z\"",
        "\"created\":",
        "1e308",
        "-9223372036854775809",
        "18446744073709551616",
        "1e17",
        "null",
        "true",
        "\"Records\":",
        "\n",
        ",",
        "\u{feff}",
        "\"eventTime\":1e300",
    ];
    fuzz("records", seeds, TOKENS, |input| {
        use tarn::formats::json::{Piece, read_from};
        use tarn::schema::{Provenance, Registry, RowBuilder};
        thread_local! {
            static REGISTRY: Registry = Registry::built_in();
        }
        REGISTRY.with(|registry| {
            let provenance = Provenance { source_id: "fuzz".into(), source_label: "fuzz".into(), source_file: None };
            let mut outcome = String::new();
            for log_type in ["AWS.CloudTrail", "Snyk.OrgAudit"] {
                let mut builder = RowBuilder::new(registry.get(log_type).unwrap());
                let result = read_from(input, false, 4096, &mut |piece| -> Result<(), String> {
                    match piece {
                        Piece::Record { bytes, .. } => {
                            if let Ok(text) = std::str::from_utf8(bytes)
                                && let Err(refusal) = builder.push(text, tarn::ingest::decode::unchanged, &provenance, 0)
                            {
                                outcome = kind(&refusal.0);
                            }
                            if builder.len() >= 16 {
                                builder.finish().map_err(|e| e.to_string())?;
                            }
                        }
                        Piece::Broken { reason, .. } => outcome = kind(&reason),
                    }
                    Ok(())
                });
                builder.finish().unwrap();
                if let Err(e) = result {
                    outcome = kind(&e);
                }
            }
            outcome
        })
    });
}

#[test]
fn fuzz_schema_loader() {
    let seeds: Vec<Vec<u8>> =
        files(&repo("schemas"), "yml").iter().chain(&files(&repo("tests/fixtures"), "yml")).map(|f| std::fs::read(f).unwrap()).collect();
    const TOKENS: &[&str] = &[
        "\n  - name: a\n    type: string",
        "\n    type: object\n    fields:",
        "type: array\n    element:",
        "$ref: ",
        "\ndefinitions:\n  ",
        "type: timestamp\n    timeFormats: [rfc3339]",
        "isEventTime: true",
        "indicators: [ip]",
        ":",
        "- ",
        "  ",
        "\n",
        "&a ",
        "*a",
        "<<: *a",
        "!!binary",
        "type: json",
        "timeFormat: '%Y%m%d%z'",
        "required: true",
        "name: ",
        "{",
        "[",
    ];
    fuzz("schemas", seeds, TOKENS, |input| {
        let text = String::from_utf8_lossy(input);
        match tarn::schema::LogType::from_yaml(&text, "fuzz.yml", tarn::schema::Origin::File(PathBuf::from("fuzz.yml"))) {
            Ok(log_type) => format!("ok {}", log_type.arrow_schema.fields().len().min(8)),
            Err(e) => kind(&e),
        }
    });
}

#[test]
fn fuzz_rule_loader() {
    let seeds: Vec<Vec<u8>> =
        files(&repo("rules"), "yml").iter().chain(&files(&repo("tests/rules"), "yml")).map(|f| std::fs::read(f).unwrap()).collect();
    const TOKENS: &[&str] = &[
        "\n  condition: ",
        "not ",
        " and ",
        " or ",
        "(",
        ")",
        "1 of selection*",
        "all of them",
        "|contains",
        "|all",
        "|re",
        "|cidr",
        "|startswith",
        "|base64offset",
        "|windash",
        "|fieldref",
        "\n    - ",
        "*",
        "?",
        "\\",
        "selection",
        "\n  selection:\n    eventName: x",
        "Threshold: ",
        "DedupPeriodMinutes: ",
        "9223372036854775807",
        "-1",
        "Detection:\n  - Key: a\n    Condition: Equals\n    Value: b",
        "\n  - Any:\n    - ",
        "{",
        "[",
    ];
    fuzz("rules", seeds, TOKENS, |input| {
        thread_local! {
            static REGISTRY: tarn::schema::Registry = tarn::schema::Registry::built_in();
        }
        let text = String::from_utf8_lossy(input);
        REGISTRY.with(|registry| match tarn::rules::parse_rule(Path::new("fuzz.yml"), &text, registry) {
            Ok(rule) => format!("ok {}", rule.queries.len()),
            Err(e) => kind(&e),
        })
    });
}

#[test]
fn fuzz_lake_dialect_rewriter() {
    let mut seeds = Vec::new();
    for slt in files(&repo("tests/sql"), "slt") {
        let text = std::fs::read_to_string(slt).unwrap();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if line.starts_with("query") || line.starts_with("statement") {
                let sql: Vec<&str> = lines.by_ref().take_while(|l| !l.trim().is_empty() && *l != "----").collect();
                seeds.push(sql.join("\n").into_bytes());
            }
        }
    }
    const TOKENS: &[&str] = &[
        "SELECT ",
        " FROM ",
        "5e2676f8-9fce-46ef-8142-3e36a94e6691",
        " WHERE ",
        "eventTime > '2026-11-17 00:00:00'",
        "(",
        ")",
        "'",
        "\"",
        "element_at(",
        "json_extract_scalar(",
        "count_if(",
        "from_iso8601_timestamp(",
        " OFFSET ",
        " LIMIT ",
        "--",
        "/*",
        "*/",
        ";",
        ",",
        "eventdata.",
        "userIdentity.arn",
        "CAST(",
        " AS ",
        "INTERVAL '1' DAY",
        " UNION ALL ",
        " WITH t AS (",
        "ARRAY[",
        "MAP(",
        "\\",
        "unnest(",
        "date_add('day', -1, now())",
    ];
    fuzz("dialect", seeds, TOKENS, |input| {
        use tarn::catalog::eds::{Category, EventDataStore};
        thread_local! {
            static STORES: Vec<EventDataStore> = vec![
                EventDataStore {
                    id: "5e2676f8-9fce-46ef-8142-3e36a94e6691".into(),
                    ..EventDataStore::new("trail", Category::Management, &["aws_cloudtrail"])
                },
                EventDataStore {
                    id: "0de7b2d6-aaaa-4bbb-8ccc-0123456789ab".into(),
                    ..EventDataStore::new("snyk", Category::ActivityAuditLog, &["snyk_orgaudit"])
                },
            ];
        }
        let sql = String::from_utf8_lossy(input);
        STORES.with(|stores| match tarn::sql::rewrite_text(&sql, stores) {
            Ok(rewritten) => format!("ok {}", rewritten.len().min(1) + rewritten.matches("SELECT").count().min(4)),
            Err(e) => kind(&e),
        })
    });
}
