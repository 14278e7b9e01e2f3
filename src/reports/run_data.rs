//! A run folder as the reports read it. Lenient on purpose: a report of a run that was cut short
//! (no metrics.json yet) or written by an older graft still says what it can.
use crate::evaluation::metrics::Metrics;
use crate::training::history::EpochRecord;
use crate::training::run_folder::RunFolder;
use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// metrics.json, every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunMetrics {
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub best_epoch: Option<usize>,
    pub best_val_accuracy: Option<f64>,
    pub seconds: Option<Seconds>,
    pub test: Option<Metrics>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Seconds {
    pub total: Option<f64>,
    pub cache: Option<f64>,
    pub epochs: Option<f64>,
}

/// Everything a report shows about one run.
pub struct RunData {
    pub root: PathBuf,
    /// config.json as written (shown as is, so fields added later show up too).
    pub config: serde_json::Value,
    pub classes: Vec<String>,
    pub history: Vec<EpochRecord>,
    /// None when metrics.json is not there (a run still training or stopped early).
    pub metrics: Option<RunMetrics>,
}

impl RunData {
    pub fn read(run: &Path) -> Result<Self> {
        let folder = RunFolder::new(run);
        if !run.is_dir() {
            anyhow::bail!("{} is not a run folder (no such directory)", run.display());
        }
        let config = folder
            .read_json(&folder.config())
            .with_context(|| format!("{} is not a run folder", run.display()))?;
        let classes = if folder.classes().exists() {
            folder.read_json(&folder.classes())?
        } else {
            Vec::new()
        };
        let history = read_history(run)?;
        let metrics = if folder.metrics().exists() {
            Some(folder.read_json(&folder.metrics())?)
        } else {
            None
        };
        Ok(Self {
            root: run.to_path_buf(),
            config,
            classes,
            history,
            metrics,
        })
    }

    /// The test-set metrics, if the run has a test set.
    pub fn test(&self) -> Option<&Metrics> {
        self.metrics.as_ref().and_then(|m| m.test.as_ref())
    }

    /// The best epoch: metrics.json's, else the training rule on the history (the first epoch
    /// with the highest validation accuracy).
    pub fn best_epoch(&self) -> Option<usize> {
        self.metrics
            .as_ref()
            .and_then(|m| m.best_epoch)
            .filter(|&e| e > 0)
            .or_else(|| best_epoch(&self.history))
    }

    /// A short name for titles: the folder's name.
    pub fn name(&self) -> String {
        let abs = std::fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        abs.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| abs.display().to_string())
    }
}

/// history.json of a run (empty when the run has not finished an epoch).
pub fn read_history(run: &Path) -> Result<Vec<EpochRecord>> {
    let folder = RunFolder::new(run);
    if !folder.history_json().exists() {
        return Ok(Vec::new());
    }
    folder.read_json(&folder.history_json())
}

/// The epoch training keeps as best (the same rule: `improves_on`).
pub fn best_epoch(history: &[EpochRecord]) -> Option<usize> {
    let mut best: Option<&EpochRecord> = None;
    for r in history {
        if best.is_none_or(|b| crate::training::history::improves_on(r, b)) {
            best = Some(r);
        }
    }
    best.map(|r| r.epoch)
}
