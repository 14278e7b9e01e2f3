//! A run folder as the reports read it: the typed run files. A run that was cut short (no
//! metrics.json yet) still reports what it has.
use crate::metrics::Metrics;
use crate::run::RunFolder;
use crate::run::candidates::Choice;
use crate::run::config::TrainConfig;
use crate::run::dataset_summary::DatasetSummary;
use crate::run::history::{self, EpochRecord};
use crate::run::outcome::RunMetrics;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// Everything a report shows about one run.
pub struct RunData {
    /// The run folder.
    pub root: PathBuf,
    /// config.json.
    pub config: TrainConfig,
    /// classes.json (empty when missing).
    pub classes: Vec<String>,
    /// history.json (empty before the first epoch).
    pub history: Vec<EpochRecord>,
    /// None when metrics.json is not there (a run still training or stopped early).
    pub metrics: Option<RunMetrics>,
    /// dataset.json (None for runs from before it existed).
    pub dataset: Option<DatasetSummary>,
}

impl RunData {
    /// Reads the run folder at `run`.
    pub fn read(run: &Path) -> Result<Self> {
        let folder = RunFolder::new(run);
        let config = folder.read_config()?;
        let classes = if folder.classes().exists() {
            folder.read_classes()?
        } else {
            Vec::new()
        };
        Ok(Self {
            root: run.to_path_buf(),
            config,
            classes,
            history: folder.read_history()?,
            metrics: folder.read_metrics()?,
            dataset: folder.read_dataset()?,
        })
    }

    /// The test-set metrics, if the run has a test set.
    pub fn test(&self) -> Option<&Metrics> {
        self.metrics.as_ref().and_then(|m| m.test.as_ref())
    }

    /// The best epoch: metrics.json's, else the training rule on the history; none when the run
    /// kept its frozen candidate (the model is no epoch's).
    pub fn best_epoch(&self) -> Option<usize> {
        let frozen = |m: &RunMetrics| m.choice.as_ref().is_some_and(Choice::kept_frozen);
        if self.metrics.as_ref().is_some_and(frozen) {
            return None;
        }
        self.metrics
            .as_ref()
            .map(|m| m.best_epoch)
            .filter(|&e| e > 0)
            .or_else(|| history::best_epoch(&self.history))
    }

    /// A short name for titles: the folder's name.
    pub fn name(&self) -> String {
        let abs = std::fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        abs.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| abs.display().to_string())
    }
}
