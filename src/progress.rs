//! Progress on stderr: bars (hidden when stderr is not a terminal) and the run's narrative lines,
//! which only one of several ranks prints.
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicBool, Ordering};

static NARRATES: AtomicBool = AtomicBool::new(true);

/// Whether this process prints the narrative lines of [`say!`](crate::say): false on every rank
/// of several but rank 0, which says the same for all of them. Warnings, errors and a rank's own
/// lines are printed by every rank.
pub fn set_narrates(yes: bool) {
    NARRATES.store(yes, Ordering::Relaxed);
}

/// See [`set_narrates`].
pub fn narrates() -> bool {
    NARRATES.load(Ordering::Relaxed)
}

/// `eprintln!` for the run's narrative: printed by one process, silent on the other ranks.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        if $crate::progress::narrates() {
            eprintln!($($arg)*);
        }
    };
}

/// `eprintln!` for a rank's own line, printed by every rank: formatted first and written in one
/// call, so that the lines of ranks sharing one terminal or pipe do not interleave within a line
/// (`eprintln!` writes each piece of its format separately; one short write to a pipe is atomic).
#[macro_export]
macro_rules! say_rank {
    ($($arg:tt)*) => {
        eprint!("{}", format!("{}\n", format_args!($($arg)*)))
    };
}

/// A progress bar over `len` items, labelled `what`.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}
