//! The `tarn` command: parses arguments, hands them to the command's module
//! in `cli/`, and turns what comes back into output and an exit code.

mod cli;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc: the record path allocates many small, short-lived values on
/// several threads, where it is faster than the system allocator. Built
/// without transparent huge pages (`no_thp`): with them each fault zeroed
/// 2 MB, which cost 10-30% of an ingest in the kernel and ~30 MB of RSS.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Security logs, the lake's lock and anything else tarn writes are
    // readable by their owner only, whatever the shell's umask.
    // SAFETY: umask only sets the process's file creation mask; no thread runs yet.
    unsafe { libc::umask(0o077) };
    let args = cli::Cli::parse();
    cli::log::init(&args);
    // Deep queries and rules recurse: run the command on a thread whose
    // stack is as large as the query runtime's workers'.
    let command = std::thread::Builder::new().name("tarn".into()).stack_size(cli::STACK_BYTES).spawn(move || cli::run(args));
    let outcome = match command {
        Ok(command) => command.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        Err(e) => Err(anyhow::Error::new(e).context("starting the command's thread")),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            // Library errors already name their cause; add only what a context adds.
            let error: &(dyn std::error::Error + 'static) = error.as_ref();
            eprintln!("error: {}", tarn::error_line(error));
            ExitCode::FAILURE
        }
    }
}
