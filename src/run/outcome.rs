//! metrics.json: a finished run's scores and timings, written by training and read by reports
//! and export (the same struct both ways).
use super::config::FORMAT_VERSION;
use crate::metrics::Metrics;
use serde::{Deserialize, Serialize};

fn version_1() -> u32 {
    1
}

/// Where a run's time went, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Seconds {
    /// The whole `graft train`.
    pub total: f64,
    /// Caching the frozen blocks' outputs.
    pub cache: f64,
    /// The frozen candidate: pooled features, cross-validation and its heads (absent in older
    /// files).
    #[serde(default)]
    pub floor: f64,
    /// All training epochs, validation included.
    pub epochs: f64,
    /// Scoring Test (absent in older files).
    #[serde(default)]
    pub test: f64,
}

/// metrics.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMetrics {
    /// Run-folder format (absent in version 1 files).
    #[serde(default = "version_1")]
    pub format_version: u32,
    /// Accuracy on the test set (None: the run has no test set).
    pub test_accuracy: Option<f64>,
    /// Mean cross-entropy on the test set.
    pub test_loss: Option<f64>,
    /// The epoch whose weights the model holds (1-based; 0: the frozen candidate's head).
    pub best_epoch: usize,
    /// Its validation accuracy.
    pub best_val_accuracy: f64,
    /// Timings.
    pub seconds: Seconds,
    /// Everything measured on the test set.
    pub test: Option<Metrics>,
    /// The frozen candidate's measurements, where the run trained one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<super::candidates::Floor>,
    /// Which candidate the model is, and why (absent: the run had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<super::candidates::Choice>,
}

impl RunMetrics {
    /// The scores of a run that ended on `best_epoch`.
    pub fn new(
        best_epoch: usize,
        best_val_accuracy: f64,
        seconds: Seconds,
        test: Option<Metrics>,
    ) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            test_accuracy: test.as_ref().map(|m| m.accuracy),
            test_loss: test.as_ref().map(|m| m.loss),
            best_epoch,
            best_val_accuracy,
            seconds,
            test,
            floor: None,
            choice: None,
        }
    }
}
