//! The `graft` command: parses the command line, runs the library, and decides the exit code.
#![warn(clippy::too_many_lines)]
mod cli;

use clap::Parser;
use graft::error::{self, Error};

/// Exit codes: 0 success, 1 any other failure, 2 bad input (clap's usage errors are 2 too),
/// 3 refused weights, 130 interrupted (the shell's convention for SIGINT).
fn exit_code(e: &anyhow::Error) -> i32 {
    match error::kind(e) {
        Some(Error::Interrupted { .. }) => 130,
        Some(Error::BadInput(_)) => 2,
        Some(Error::BadWeights(_)) => 3,
        None => 1,
    }
}

graft::jemalloc_process_allocator!();

fn main() {
    // Behave like other Unix tools when the reader of our output goes away (`graft ... | head`).
    // SAFETY: set once at start, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        match error::kind(&e) {
            Some(interrupted @ Error::Interrupted { .. }) => eprintln!("graft: {interrupted}"),
            _ => eprintln!("graft: error: {e:#}"),
        }
        std::process::exit(exit_code(&e));
    }
}
