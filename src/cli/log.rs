//! What tarn reports while it runs. The library emits `tracing` events (a
//! source's inside a `source` span naming it); this layer prints them as the
//! lines people read: `warning: <source>: ...`, `error: <source>: ...`, and
//! progress redrawn in place on a terminal (a bar for file and S3 ingest,
//! see `progress`, which these lines are printed above). `--log-format json` prints them
//! as JSON objects instead, and `RUST_LOG` adds the usual `tracing` lines
//! (of tarn and the crates it uses) at the level asked.

use super::Cli;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{Targets, filter_fn};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people (progress in place on a terminal).
    Text,
    /// One JSON object a line, for a log pipeline.
    Json,
}

/// Whether progress is drawn in place (text lines on a terminal).
static IN_PLACE: AtomicBool = AtomicBool::new(false);

/// Whether progress is drawn in place: text lines, and stderr is a terminal.
pub fn draws_in_place() -> bool {
    IN_PLACE.load(Ordering::Relaxed)
}

/// Installs the subscriber for this run.
pub fn init(cli: &Cli) {
    let tarn_info = Targets::new().with_target("tarn", Level::INFO);
    let extra = std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty()).map(EnvFilter::new);
    let registry = tracing_subscriber::registry();
    let result = match cli.log_format {
        LogFormat::Text => {
            let terminal = std::io::stderr().is_terminal();
            IN_PLACE.store(terminal, Ordering::Relaxed);
            let lines = Lines { terminal }.with_filter(tarn_info);
            // RUST_LOG adds what these lines do not show already.
            let not_lines = filter_fn(|meta| !(meta.target().starts_with("tarn") && *meta.level() <= Level::INFO));
            let extra = extra
                .map(|filter| tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter).with_filter(not_lines));
            registry.with(lines).with(extra).try_init()
        }
        LogFormat::Json => {
            let filter = extra.unwrap_or_else(|| EnvFilter::new("tarn=info"));
            let json = tracing_subscriber::fmt::layer().json().with_current_span(true).with_writer(std::io::stderr).with_filter(filter);
            registry.with(json).try_init()
        }
    };
    if let Err(e) = result {
        eprintln!("warning: cannot set up tarn's log output: {e}");
    }
}

/// Ends a progress line left on a terminal before a summary is printed.
pub fn end_progress() {
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
}

/// The human line format.
struct Lines {
    terminal: bool,
}

/// The source a span names.
struct SourceName(String);

#[derive(Default)]
struct Fields {
    message: String,
    counts: Option<String>,
    source: Option<String>,
    /// The notice that tarn is stopping (after a progress line, on a line of its own).
    stopping: bool,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        match field.name() {
            "message" => self.message = text,
            "counts" => self.counts = Some(text),
            "source" => self.source = Some(text),
            "stopping" => self.stopping = true,
            _ => {}
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Lines {
    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let (Some(source), Some(span)) = (fields.source, ctx.span(id)) {
            span.extensions_mut().insert(SourceName(source));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let in_span = || {
            ctx.event_scope(event)
                .and_then(|scope| scope.from_root().find_map(|span| span.extensions().get::<SourceName>().map(|s| s.0.clone())))
        };
        let source = fields.source.clone().or_else(in_span);
        let named = |text: &str| match &source {
            Some(name) => format!("{name}: {text}"),
            None => text.to_string(),
        };
        let clear = match (self.terminal, fields.stopping) {
            (true, true) => "\n",
            (true, false) => "\r\x1b[K",
            (false, _) => "",
        };
        let line = fields.message;
        super::progress::above_bar(|| match *event.metadata().level() {
            Level::ERROR => eprintln!("{clear}error: {}", named(&line)),
            Level::WARN => eprintln!("{clear}warning: {}", named(&line)),
            Level::INFO => match (&fields.counts, self.terminal) {
                (Some(counts), true) => {
                    let tail = if line.is_empty() { String::new() } else { format!(" — {line}") };
                    eprint!("\r\x1b[K{}{tail}", named(counts));
                }
                _ if !line.is_empty() => eprintln!("{clear}{}", named(&line)),
                _ => {}
            },
            _ => {}
        });
    }
}
