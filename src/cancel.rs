//! A cancel token: whoever starts long work keeps a clone and can ask it to stop; the work
//! checks it between steps. The binary sets it from its Ctrl-C handler, a server from its
//! shutdown signal; the library never installs a handler itself.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared "please stop" flag (clones share it).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the work holding a clone to stop; returns whether it had been asked already.
    pub fn cancel(&self) -> bool {
        self.0.swap(true, Ordering::SeqCst)
    }

    /// Whether stopping was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
