//! The run folder: what a training run leaves behind, as typed files written and read by the
//! same code (config.json, classes.json, history.json/.csv, metrics.json, the model and the
//! checkpoints), and [`load`], the one way to get a trained model back.
pub mod candidates;
pub mod config;
pub mod dataset_summary;
pub mod history;
pub mod int8;
pub mod outcome;

use crate::data::dataset::SplitFile;
use crate::engine::Precision;
use crate::error::bad_input;
use crate::models::classifier::Classifier;
use crate::{fsx, tensor_io};
use anyhow::{Context, Result};
use config::TrainConfig;
use dataset_summary::DatasetSummary;
use history::{EpochRecord, Progress};
use outcome::RunMetrics;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Tensor, nn};

/// Prefix of the optimizer's tensors in a checkpoint.
const OPTIMIZER_PREFIX: &str = "optim.";

/// A run folder and the paths of its files.
#[derive(Debug, Clone)]
pub struct RunFolder {
    /// The folder.
    pub root: PathBuf,
}

impl RunFolder {
    /// The run folder at `root` (nothing is read or written yet).
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }
    /// config.json: the run's settings.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.json")
    }
    /// classes.json: the class names, in label order.
    pub fn classes(&self) -> PathBuf {
        self.root.join("classes.json")
    }
    /// model.safetensors: the kept candidate's weights (the best epoch's, or the frozen
    /// candidate's).
    pub fn model(&self) -> PathBuf {
        self.root.join("model.safetensors")
    }
    /// history.json: one record per epoch.
    pub fn history_json(&self) -> PathBuf {
        self.root.join("history.json")
    }
    /// history.csv: the same as a table.
    pub fn history_csv(&self) -> PathBuf {
        self.root.join("history.csv")
    }
    /// metrics.json: scores and timings of the finished run.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.json")
    }
    /// Model and optimizer state after the last completed epoch.
    pub fn checkpoint(&self) -> PathBuf {
        self.root.join("checkpoints").join("last.safetensors")
    }
    /// The progress that goes with the checkpoint.
    pub fn checkpoint_progress(&self) -> PathBuf {
        self.root.join("checkpoints").join("progress.json")
    }
    /// The frozen candidate's weights (the head on the frozen network's pooled features).
    pub fn frozen(&self) -> PathBuf {
        self.root.join("checkpoints").join("frozen.safetensors")
    }
    /// Model weights of the best epoch so far.
    pub fn best(&self) -> PathBuf {
        self.root.join("checkpoints").join("best.safetensors")
    }

    /// dataset.json: per-class counts and the dataset check's warnings.
    pub fn dataset(&self) -> PathBuf {
        self.root.join("dataset.json")
    }
    /// split.json: the split graft made, when it made one.
    pub fn split(&self) -> PathBuf {
        self.root.join("split.json")
    }

    /// Whether a run was started here (its config.json exists).
    pub fn exists(&self) -> bool {
        self.config().is_file()
    }

    /// Writes config.json.
    pub fn write_config(&self, config: &TrainConfig) -> Result<()> {
        fsx::write_json(&self.config(), config)
    }

    /// Reads config.json; a folder without one is not a run folder.
    pub fn read_config(&self) -> Result<TrainConfig> {
        if !self.exists() {
            return Err(bad_input(format!(
                "{} is not a run folder (no config.json)",
                self.root.display()
            )));
        }
        let config: TrainConfig = fsx::read_json(&self.config()).map_err(malformed)?;
        config.check_version()?;
        Ok(config)
    }

    /// Writes classes.json.
    pub fn write_classes(&self, classes: &[String]) -> Result<()> {
        fsx::write_json(&self.classes(), classes)
    }

    /// Reads classes.json.
    pub fn read_classes(&self) -> Result<Vec<String>> {
        fsx::read_json(&self.classes()).map_err(malformed)
    }

    /// Writes history.json and history.csv.
    pub fn write_history(&self, progress: &Progress) -> Result<()> {
        fsx::write_json(&self.history_json(), &progress.history)?;
        fsx::write_bytes(&self.history_csv(), progress.to_csv().as_bytes())
    }

    /// Reads history.json (empty when the run has not finished an epoch).
    pub fn read_history(&self) -> Result<Vec<EpochRecord>> {
        if !self.history_json().exists() {
            return Ok(Vec::new());
        }
        fsx::read_json(&self.history_json()).map_err(malformed)
    }

    /// Writes metrics.json.
    pub fn write_metrics(&self, metrics: &RunMetrics) -> Result<()> {
        fsx::write_json(&self.metrics(), metrics)
    }

    /// Reads metrics.json (None while the run has not finished).
    pub fn read_metrics(&self) -> Result<Option<RunMetrics>> {
        if !self.metrics().exists() {
            return Ok(None);
        }
        fsx::read_json(&self.metrics()).map(Some).map_err(malformed)
    }

    /// Writes dataset.json.
    pub fn write_dataset(&self, summary: &DatasetSummary) -> Result<()> {
        fsx::write_json(&self.dataset(), summary)
    }

    /// Reads dataset.json (None for runs from before it existed).
    pub fn read_dataset(&self) -> Result<Option<DatasetSummary>> {
        if !self.dataset().exists() {
            return Ok(None);
        }
        fsx::read_json(&self.dataset()).map(Some).map_err(malformed)
    }

    /// Writes split.json.
    pub fn write_split(&self, split: &SplitFile) -> Result<()> {
        fsx::write_json(&self.split(), split)
    }

    /// Reads split.json (None when the dataset brought its own split).
    pub fn read_split(&self) -> Result<Option<SplitFile>> {
        if !self.split().exists() {
            return Ok(None);
        }
        fsx::read_json(&self.split()).map(Some).map_err(malformed)
    }

    /// Saves the checkpoint of a completed epoch: the model, the optimizer's state, the progress.
    pub fn write_checkpoint(
        &self,
        vs: &nn::VarStore,
        optimizer: Vec<(String, Tensor)>,
        progress: &Progress,
    ) -> Result<()> {
        let mut tensors = named_vars(vs);
        tensors.extend(
            optimizer
                .into_iter()
                .map(|(n, t)| (format!("{OPTIMIZER_PREFIX}{n}"), t)),
        );
        tensor_io::save(&self.checkpoint(), &tensors, HashMap::new())?;
        fsx::write_json(&self.checkpoint_progress(), progress)
    }

    /// Restores the last checkpoint into `vs`; returns the optimizer's state and the progress.
    pub fn read_checkpoint(&self, vs: &nn::VarStore) -> Result<(Vec<(String, Tensor)>, Progress)> {
        let progress = fsx::read_json(&self.checkpoint_progress()).map_err(malformed)?;
        let (optimizer, model): (Vec<_>, Vec<_>) = tensor_io::load(&self.checkpoint())
            .map_err(malformed)?
            .tensors
            .into_iter()
            .partition(|(n, _)| n.starts_with(OPTIMIZER_PREFIX));
        copy_into(vs, &model, &self.checkpoint())
            .with_context(|| format!("resuming from {}", self.checkpoint().display()))?;
        let optimizer = optimizer
            .into_iter()
            .map(|(n, t)| (n[OPTIMIZER_PREFIX.len()..].to_string(), t))
            .collect();
        Ok((optimizer, progress))
    }

    /// Saves the model's weights to `path` (model.safetensors or the best checkpoint).
    pub fn write_weights(&self, path: &Path, vs: &nn::VarStore) -> Result<()> {
        tensor_io::save(path, &named_vars(vs), HashMap::new())
    }

    /// Loads weights saved by [`write_weights`](Self::write_weights) into `vs`; a file that does
    /// not read (truncated, say) is bad input naming it.
    pub fn read_weights(&self, path: &Path, vs: &nn::VarStore) -> Result<()> {
        let loaded = tensor_io::load(path).map_err(malformed)?;
        copy_into(vs, &loaded.tensors, path)
    }
}

/// A run file that exists but does not parse is bad input, named.
fn malformed(e: anyhow::Error) -> anyhow::Error {
    bad_input(format!("{e:#}"))
}

/// A model's variables, sorted by name.
pub fn named_vars(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Copies saved tensors into `vs`: every variable, nothing else, each of its shape; checked
/// before anything is copied.
fn copy_into(vs: &nn::VarStore, tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    let vars = vs.variables().into_iter().collect();
    crate::weights::copy_checked(vars, tensors, path, "the model", |_| false)
}

/// A trained classifier read back from its run folder, ready for inference.
pub struct TrainedModel {
    /// Its variables (on the device it was loaded to).
    pub vs: nn::VarStore,
    /// The network, every block frozen.
    pub model: Classifier,
    /// The run's settings.
    pub config: TrainConfig,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// What it computes in, and why when that is not the precision the run trained in.
    pub precision: (Precision, Option<String>),
}

/// Loads the trained model of a finished run onto `device`, for inference (batch norm folded),
/// in the precision `asked` for, or else the one the run trained in where `device` computes it
/// natively (see [`Precision::for_run`]). An incomplete run folder is an error that names what
/// is missing.
pub fn load(run: &Path, device: Device, asked: Option<Precision>) -> Result<TrainedModel> {
    let folder = RunFolder::new(run);
    let config = folder.read_config()?;
    let precision = Precision::for_run(config.precision, asked, device)?;
    let classes = folder.read_classes()?;
    if !folder.model().is_file() {
        return Err(bad_input(format!(
            "{}: the run has no model.safetensors yet (it did not finish; resume it with graft train --resume {})",
            run.display(),
            run.display()
        )));
    }
    let mut vs = nn::VarStore::new(Device::Cpu);
    let mut model = Classifier::new(
        &vs.root(),
        config.backbone,
        classes.len() as i64,
        config.head,
        precision.0,
    );
    model.trainable_from = model.backbone.blocks.len();
    folder.read_weights(&folder.model(), &vs)?;
    crate::models::place(&mut vs, device);
    vs.freeze(); // inference only
    if precision.0 == Precision::Int8 {
        let ranges = folder.read_int8()?.ranges;
        let int8 = crate::models::int8::Quantized::new(&model.backbone.blocks, &ranges)?;
        model.backbone.int8 = Some(int8);
    }
    Ok(TrainedModel {
        vs,
        model,
        config,
        classes,
        precision,
    })
}
