//! The candidates a run trains and the one it keeps, as recorded in the checkpoint's progress
//! and in metrics.json.
use serde::{Deserialize, Serialize};

/// The candidates of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Candidate {
    /// The head on the frozen network's pooled features.
    Frozen,
    /// The upper blocks and the head fine-tuned from the cut.
    FineTune,
}

/// The choice and its reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// The candidate kept.
    pub kept: Candidate,
    /// Validation images only the fine-tuned candidate got right.
    pub only_fine_tune: usize,
    /// Validation images only the frozen one got right.
    pub only_frozen: usize,
    /// Why, in words.
    pub why: String,
}

impl Choice {
    /// Whether the model is the frozen candidate.
    pub fn kept_frozen(&self) -> bool {
        self.kept == Candidate::Frozen
    }
}

/// What the frozen candidate measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Floor {
    /// The head's epochs (the folds' lowest mean held-out loss).
    pub epochs: usize,
    /// Folds of the cross-validation.
    pub folds: usize,
    /// Held-out loss and accuracy over Training and validation, each image scored by the fold
    /// that did not train on it (folds by the run's hold-out rule).
    pub cv_loss: f64,
    /// See `cv_loss`.
    pub cv_accuracy: f64,
    /// Validation loss of a head trained on Training alone for those epochs (scored on the
    /// images the fine-tuned candidate is scored on, having seen as much).
    pub val_loss: f64,
    /// See `val_loss`.
    pub val_accuracy: f64,
    /// Whether each validation image (in the validation inputs' order) came out right.
    pub val_correct: Vec<bool>,
    /// Wall time: the pooled features, the folds and the final heads.
    pub seconds: f64,
}
