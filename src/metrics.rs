//! The counters a long-running tarn (`tarn serve`, `tarn run`) shows at
//! `/metrics` in Prometheus' text format: requests by operation and answer,
//! events accepted and refused, and every lake commit's rows and latency.
//! They are process-wide, like any Prometheus client's default registry,
//! so the ingest driver counts its commits without being handed a registry.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// Upper bounds of the commit latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Latencies of one operation's commits.
#[derive(Default, Clone)]
struct Histogram {
    /// Counts at or under each bound of [`LATENCY_BUCKETS`] (not cumulative).
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Counters {
    /// By (operation, answer): `PutAuditEvents`, `200` or an error code.
    requests: BTreeMap<(String, String), u64>,
    /// Events taken into the lake (or found there already), by operation.
    events_accepted: BTreeMap<String, u64>,
    /// Events refused, by error code.
    events_failed: BTreeMap<String, u64>,
    /// Rows committed, by the commit's operation.
    rows: BTreeMap<String, u64>,
    commits: BTreeMap<String, Histogram>,
}

/// The process's counters.
pub struct Metrics {
    counters: Mutex<Counters>,
}

/// The counters of this process.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| Metrics { counters: Mutex::new(Counters::default()) })
}

impl Metrics {
    fn counters(&self) -> MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A request answered with `answer` (a status or an error code).
    pub fn request(&self, operation: &str, answer: &str) {
        *self.counters().requests.entry((operation.to_string(), answer.to_string())).or_default() += 1;
    }

    /// Events of `operation` taken in.
    pub fn accepted(&self, operation: &str, events: u64) {
        *self.counters().events_accepted.entry(operation.to_string()).or_default() += events;
    }

    /// One event refused with `code`.
    pub fn failed(&self, code: &str) {
        *self.counters().events_failed.entry(code.to_string()).or_default() += 1;
    }

    /// A commit of `operation` that took `took` and added `rows` rows.
    pub fn commit(&self, operation: &str, rows: u64, took: Duration) {
        let mut counters = self.counters();
        *counters.rows.entry(operation.to_string()).or_default() += rows;
        let histogram = counters.commits.entry(operation.to_string()).or_default();
        let seconds = took.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
            histogram.buckets[i] += 1;
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    /// Everything, in Prometheus' text exposition format.
    ///
    /// ```
    /// let metrics = tarn::metrics::global();
    /// metrics.request("PutAuditEvents", "200");
    /// assert!(metrics.render().contains("tarn_requests_total{operation=\"PutAuditEvents\",code=\"200\"}"));
    /// ```
    pub fn render(&self) -> String {
        let counters = self.counters();
        let mut out = String::new();
        header(&mut out, "tarn_requests_total", "counter", "API requests, by operation and answer (200 or the error code).");
        for ((operation, code), n) in &counters.requests {
            let _ = writeln!(out, "tarn_requests_total{{operation=\"{operation}\",code=\"{code}\"}} {n}");
        }
        header(&mut out, "tarn_events_accepted_total", "counter", "Events taken into the lake (a resent one included), by operation.");
        for (operation, n) in &counters.events_accepted {
            let _ = writeln!(out, "tarn_events_accepted_total{{operation=\"{operation}\"}} {n}");
        }
        header(&mut out, "tarn_events_failed_total", "counter", "Events refused, by error code.");
        for (code, n) in &counters.events_failed {
            let _ = writeln!(out, "tarn_events_failed_total{{code=\"{code}\"}} {n}");
        }
        header(&mut out, "tarn_rows_committed_total", "counter", "Rows committed to the lake, by operation.");
        for (operation, n) in &counters.rows {
            let _ = writeln!(out, "tarn_rows_committed_total{{operation=\"{operation}\"}} {n}");
        }
        header(&mut out, "tarn_commit_seconds", "histogram", "Time to commit a chunk to the lake, by operation.");
        for (operation, histogram) in &counters.commits {
            let mut cumulative = 0;
            for (bound, n) in LATENCY_BUCKETS.iter().zip(histogram.buckets) {
                cumulative += n;
                let _ = writeln!(out, "tarn_commit_seconds_bucket{{operation=\"{operation}\",le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(out, "tarn_commit_seconds_bucket{{operation=\"{operation}\",le=\"+Inf\"}} {}", histogram.count);
            let _ = writeln!(out, "tarn_commit_seconds_sum{{operation=\"{operation}\"}} {}", histogram.sum);
            let _ = writeln!(out, "tarn_commit_seconds_count{{operation=\"{operation}\"}} {}", histogram.count);
        }
        out
    }
}

/// A metric family's `# HELP` and `# TYPE` lines.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}
