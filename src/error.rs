//! The failures a caller must tell apart. Library functions return `anyhow::Result`; when the
//! cause is one of these, it sits in the error's chain, where [`kind`] finds it (the binary maps
//! it to an exit code).
use std::path::PathBuf;

/// A failure with a meaning of its own, beyond its message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Training stopped because its cancel token was set; the last epoch's checkpoint is kept.
    #[error("interrupted after epoch {completed}; resume with: graft train --resume {}", run.display())]
    Interrupted {
        /// Epochs completed and checkpointed.
        completed: usize,
        /// The run folder to resume.
        run: PathBuf,
    },
    /// Input that cannot be used as given: a missing folder, a dataset without images, a class
    /// that Test has and Training lacks, a run folder that is incomplete or malformed.
    #[error("{0}")]
    BadInput(String),
    /// A weight file refused before any work: truncated, tampered, for another architecture,
    /// with a tensor missing, extra or of another shape.
    #[error("{0}")]
    BadWeights(String),
}

/// An error carrying [`Error::BadInput`].
pub fn bad_input(message: impl Into<String>) -> anyhow::Error {
    Error::BadInput(message.into()).into()
}

/// An error carrying [`Error::BadWeights`].
pub fn bad_weights(message: impl Into<String>) -> anyhow::Error {
    Error::BadWeights(message.into()).into()
}

/// graft's typed cause of `error`, if it has one (searched through the whole chain).
pub fn kind(error: &anyhow::Error) -> Option<&Error> {
    error.chain().find_map(|e| e.downcast_ref::<Error>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_kind_survives_added_context() {
        let e: anyhow::Result<()> = Err(bad_weights("x.pt: truncated"));
        let e = e.context("loading the backbone").unwrap_err();
        assert!(matches!(kind(&e), Some(Error::BadWeights(_))));
        assert!(kind(&anyhow::anyhow!("plain")).is_none());
    }
}
