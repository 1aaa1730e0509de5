//! Progress of `tarn ingest file` and `tarn pull s3`: the library moves a
//! [`Progress`]'s counters; a thread here shows them. On a terminal, a bar
//! redrawn in place (at most 10 times a second), cleared before the summary
//! and put aside for every `warning:` line; otherwise a `progress:` line every
//! 10 s (`TARN_PROGRESS_INTERVAL_MS` sets the interval), as a JSON event with
//! `--log-format json`. A job done within the first interval prints none.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tarn::ingest::{Progress, ProgressSnapshot};

/// The plain lines' interval unless `TARN_PROGRESS_INTERVAL_MS` says otherwise.
const INTERVAL: Duration = Duration::from_secs(10);
/// How often the bar is updated.
const BAR_TICK: Duration = Duration::from_millis(100);

/// The bar on screen, if any: lines printed meanwhile go above it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Runs `print` with the bar (if one is drawn) put aside, so the lines it
/// prints stay whole and readable; the bar is drawn again below them.
pub fn above_bar(print: impl FnOnce()) {
    let bar = BAR.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
    match bar {
        Some(bar) => bar.suspend(print),
        None => print(),
    }
}

/// Progress being shown; dropping it stops the showing (and clears the bar).
pub struct Shown {
    progress: Arc<Progress>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Starts showing a new [`Progress`] of `noun` (files, objects).
pub fn show(noun: &'static str) -> Shown {
    let progress = Arc::new(Progress::default());
    let (stop, stopped) = mpsc::channel();
    let watched = progress.clone();
    let thread = if super::log::draws_in_place() {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
        *BAR.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(bar.clone());
        std::thread::spawn(move || draw_bar(&watched, &bar, noun, &stopped))
    } else {
        let interval = std::env::var("TARN_PROGRESS_INTERVAL_MS")
            .ok()
            .and_then(|ms| ms.trim().parse().ok())
            .filter(|&ms| ms > 0)
            .map_or(INTERVAL, Duration::from_millis);
        std::thread::spawn(move || emit_lines(&watched, noun, interval, &stopped))
    };
    Shown { progress, stop: Some(stop), thread: Some(thread) }
}

impl Shown {
    /// The counters for the library to move.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }
}

impl Drop for Shown {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        *BAR.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }
}

/// The bar: a spinner while inputs are listed, then bytes done of the total.
/// Its text is cut to the terminal's width, so what matters most comes first.
fn draw_bar(progress: &Progress, bar: &ProgressBar, noun: &str, stopped: &mpsc::Receiver<()>) {
    let spinner = ProgressStyle::with_template("{spinner} {wide_msg}").unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bytes = ProgressStyle::with_template("[{bar:20}] {wide_msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(spinner);
    let mut listing = true;
    loop {
        let now = progress.snapshot();
        if listing && !now.listing {
            listing = false;
            // The text first: setting the style draws the bar.
            bar.set_message(bar_text(&now, noun));
            bar.set_style(bytes.clone());
        }
        if listing {
            bar.set_message(listing_text(&now, noun));
            bar.tick();
        } else {
            bar.set_length(now.bytes_total.max(1));
            bar.set_position(now.bytes_done.min(now.bytes_total));
            bar.set_message(bar_text(&now, noun));
        }
        if let Err(RecvTimeoutError::Disconnected) = stopped.recv_timeout(BAR_TICK) {
            break;
        }
    }
    bar.finish_and_clear();
}

/// A `progress:` line (a JSON event with `--log-format json`) each interval.
fn emit_lines(progress: &Progress, noun: &str, interval: Duration, stopped: &mpsc::Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
        let now = progress.snapshot();
        let text = if now.listing { listing_text(&now, noun) } else { counts_text(&now, noun) };
        let mb_per_s = now.bytes_per_second().map(|rate| (rate / 1e5).round() / 10.0);
        tracing::info!(
            files_done = now.files_done,
            files_total = now.files_total,
            records = now.records,
            bytes_done = now.bytes_done,
            bytes_total = now.bytes_total,
            listing = now.listing,
            mb_per_s,
            eta_s = now.eta().map(|eta| eta.as_secs_f64().ceil() as u64),
            "progress: {text}"
        );
    }
}

/// `listing, 1,200 objects (350 MB) so far`
fn listing_text(now: &ProgressSnapshot, noun: &str) -> String {
    format!("listing, {} {noun} ({} MB) so far", thousands(now.files_total), megabytes(now.bytes_total))
}

/// The bar's text: `310/1,204 MB, 52 MB/s, ETA 12 s; 120/396 files, 240,000 records`.
fn bar_text(now: &ProgressSnapshot, noun: &str) -> String {
    let mut text = format!("{}/{} MB", megabytes(now.bytes_done.min(now.bytes_total)), megabytes(now.bytes_total));
    text += &rate_and_eta(now);
    text + &format!(
        "; {}/{} {noun}, {} records",
        thousands(now.files_done.min(now.files_total)),
        thousands(now.files_total),
        thousands(now.records)
    )
}

/// `120/396 files, 240,000 records, 310/1,204 MB, 52 MB/s, ETA 12 s`
fn counts_text(now: &ProgressSnapshot, noun: &str) -> String {
    let mut text = format!(
        "{}/{} {noun}, {} records, {}/{} MB",
        thousands(now.files_done.min(now.files_total)),
        thousands(now.files_total),
        thousands(now.records),
        megabytes(now.bytes_done.min(now.bytes_total)),
        megabytes(now.bytes_total),
    );
    text += &rate_and_eta(now);
    text
}

/// `, 52 MB/s, ETA 12 s`, as far as they are known.
fn rate_and_eta(now: &ProgressSnapshot) -> String {
    let mut text = String::new();
    if let Some(rate) = now.bytes_per_second() {
        text += &format!(", {} MB/s", megabytes(rate as u64));
    }
    if let Some(eta) = now.eta() {
        text += &format!(", ETA {}", duration(eta));
    }
    text
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Bytes as MB: one decimal under 10 MB, whole MB above.
fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if mb < 10.0 { format!("{mb:.1}") } else { thousands(mb.round() as u64) }
}

/// `12 s`, `3 min 20 s`, `2 h 05 min`.
fn duration(d: Duration) -> String {
    let s = d.as_secs_f64().ceil() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::{bar_text, counts_text, duration, listing_text, megabytes, thousands};
    use std::time::Duration;
    use tarn::ingest::ProgressSnapshot;

    #[test]
    fn numbers_read_easily() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(240_000), "240,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(megabytes(420_000), "0.4");
        assert_eq!(megabytes(1_204_400_000), "1,204");
        assert_eq!(duration(Duration::from_millis(11_200)), "12 s");
        assert_eq!(duration(Duration::from_secs(200)), "3 min 20 s");
        assert_eq!(duration(Duration::from_secs(7_500)), "2 h 05 min");
    }

    #[test]
    fn a_line_says_what_is_done_of_what() {
        let now = ProgressSnapshot {
            files_done: 120,
            files_total: 396,
            records: 240_000,
            bytes_done: 312_000_000,
            bytes_total: 936_000_000,
            elapsed: Duration::from_secs(6),
            ..ProgressSnapshot::default()
        };
        assert_eq!(counts_text(&now, "files"), "120/396 files, 240,000 records, 312/936 MB, 52 MB/s, ETA 12 s");
        assert_eq!(bar_text(&now, "files"), "312/936 MB, 52 MB/s, ETA 12 s; 120/396 files, 240,000 records");
        let listing = ProgressSnapshot { files_total: 1_200, bytes_total: 350_000_000, listing: true, ..now };
        assert_eq!(listing_text(&listing, "objects"), "listing, 1,200 objects (350 MB) so far");
        assert!(!counts_text(&listing, "objects").contains("ETA"), "no ETA while listing");
        let start = ProgressSnapshot { files_total: 3, bytes_total: 3_000, ..ProgressSnapshot::default() };
        assert_eq!(counts_text(&start, "files"), "0/3 files, 0 records, 0.0/0.0 MB");
    }
}
