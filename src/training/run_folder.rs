//! The run folder: what a training run leaves behind, and how eval/predict/resume read it back.
use super::config::TrainConfig;
use super::history::Progress;
use crate::models::classifier::Classifier;
use crate::tensor_io;
use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use tch::{Device, nn};

pub struct RunFolder {
    pub root: PathBuf,
}

impl RunFolder {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }
    pub fn config(&self) -> PathBuf {
        self.root.join("config.json")
    }
    pub fn classes(&self) -> PathBuf {
        self.root.join("classes.json")
    }
    pub fn model(&self) -> PathBuf {
        self.root.join("model.safetensors")
    }
    pub fn history_json(&self) -> PathBuf {
        self.root.join("history.json")
    }
    pub fn history_csv(&self) -> PathBuf {
        self.root.join("history.csv")
    }
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.json")
    }
    /// Model and optimizer state after the last completed epoch.
    pub fn checkpoint(&self) -> PathBuf {
        self.root.join("checkpoints").join("last.safetensors")
    }
    pub fn checkpoint_progress(&self) -> PathBuf {
        self.root.join("checkpoints").join("progress.json")
    }
    /// Model weights of the best epoch so far.
    pub fn best(&self) -> PathBuf {
        self.root.join("checkpoints").join("best.safetensors")
    }

    pub fn write_json<T: serde::Serialize>(&self, path: &Path, value: &T) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let tmp = path.with_extension("json.partial");
        std::fs::write(&tmp, serde_json::to_vec_pretty(value)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
    }

    pub fn read_json<T: DeserializeOwned>(&self, path: &Path) -> Result<T> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{}: malformed", path.display()))
    }

    pub fn write_history(&self, progress: &Progress) -> Result<()> {
        self.write_json(&self.history_json(), &progress.history)?;
        std::fs::write(self.history_csv(), progress.to_csv())
            .with_context(|| format!("writing {}", self.history_csv().display()))
    }
}

/// A trained classifier read back from its run folder.
pub struct TrainedModel {
    pub vs: nn::VarStore,
    pub model: Classifier,
    pub config: TrainConfig,
    pub classes: Vec<String>,
}

pub fn load_trained(run: &Path, device: Device) -> Result<TrainedModel> {
    let folder = RunFolder::new(run);
    let config: TrainConfig = folder.read_json(&folder.config())?;
    let classes: Vec<String> = folder.read_json(&folder.classes())?;
    let mut vs = nn::VarStore::new(Device::Cpu);
    let mut model = Classifier::new(
        &vs.root(),
        config.backbone,
        classes.len() as i64,
        config.head,
    );
    model.trainable_from = model.backbone.blocks.len();
    load_vars(&vs, &folder.model())?;
    vs.set_device(device);
    crate::models::use_channels_last(&vs);
    vs.freeze(); // inference only
    Ok(TrainedModel {
        vs,
        model,
        config,
        classes,
    })
}

/// Copies a safetensors file into `vs`, requiring every variable and refusing shape mismatches.
pub fn load_vars(vs: &nn::VarStore, path: &Path) -> Result<()> {
    copy_vars(vs, &tensor_io::load(path)?.tensors, path)
}

/// Copies named tensors (read from `path`) into `vs`: every variable, nothing else, each of its
/// shape; checked before anything is copied.
pub fn copy_vars(vs: &nn::VarStore, tensors: &[(String, tch::Tensor)], path: &Path) -> Result<()> {
    let vars = vs.variables().into_iter().collect();
    crate::weights::copy_checked(vars, tensors, path, "the model", |_| false)
}
