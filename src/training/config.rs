//! Everything that defines a training run, saved as the run's config.json: enough to rebuild
//! the model and its preprocessing for eval/predict, and to resume the run.
use super::optim::OptimizerConfig;
use crate::data::augment::Augment;
use crate::models::classifier::HeadConfig;
use crate::models::{Arch, Normalization};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How the learning rate changes over the planned steps of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The configured rate throughout (the seed).
    #[default]
    Constant,
    /// Half a cosine from the configured rate down to zero at the last planned step.
    Cosine,
}

impl Schedule {
    /// The factor on the learning rate at `step` (0-based) of `total`.
    pub fn scale(self, step: usize, total: usize) -> f64 {
        match self {
            Schedule::Constant => 1.0,
            Schedule::Cosine => {
                0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total.max(1) as f64).cos())
            }
        }
    }
}

fn yes() -> bool {
    true
}

/// Which backbone blocks are fixed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Freeze {
    /// Everything trains (the seed).
    None,
    /// The whole backbone is fixed; only the head trains.
    All,
    /// Blocks up to and including this one are fixed.
    Through(String),
}

impl std::str::FromStr for Freeze {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "none" => Freeze::None,
            "all" => Freeze::All,
            block => Freeze::Through(block.to_string()),
        })
    }
}

impl std::fmt::Display for Freeze {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Freeze::None => write!(f, "nothing frozen"),
            Freeze::All => write!(f, "backbone frozen"),
            Freeze::Through(b) => write!(f, "frozen through {b}"),
        }
    }
}

/// Where validation images come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validation {
    /// A stratified, seeded fraction of Training.
    Split(f64),
    /// The Test folder (what the seed did; Test then no longer measures unseen data).
    Test,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    pub recipe: String,
    pub backbone: Arch,
    pub size: i64,
    pub normalization: Normalization,
    pub head: HeadConfig,
    pub freeze: Freeze,
    /// Compute the frozen blocks' outputs once and train the rest on them.
    pub cache: bool,
    /// Augmented renders of each training image added to the cache (the cache is otherwise
    /// un-augmented: augmentation is drawn once, not every epoch).
    #[serde(default)]
    pub cache_augmented_copies: usize,
    pub augment: Augment,
    /// Batch norm of the trainable blocks: batch statistics while training (true, as Keras
    /// does for trainable layers) or the pretrained statistics kept fixed (false).
    #[serde(default = "yes")]
    pub batchnorm_train: bool,
    pub optimizer: OptimizerConfig,
    /// Share of the target probability spread over all classes (0: plain cross-entropy).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Learning-rate schedule over the whole run.
    #[serde(default)]
    pub schedule: Schedule,
    pub batch_size: usize,
    pub epochs: usize,
    pub patience: usize,
    pub validation: Validation,
    /// Use at most this many training images per class (evenly spaced; validation is capped in
    /// proportion). Fruits-360-like data are video frames whose neighbours add little.
    #[serde(default)]
    pub max_per_class: Option<usize>,
    pub seed: u64,
    pub train_dir: PathBuf,
    pub test_dir: Option<PathBuf>,
    /// Pretrained weights file, when not the fetched ones.
    pub weights: Option<PathBuf>,
}

/// The seed: InceptionV3 at 299 px, shear/zoom/flip, SGD lr 1e-4 momentum 0.9, batch 16,
/// 5 epochs, nothing frozen, early stopping on validation accuracy (patience 5) with Test as
/// the validation set.
pub fn seed_recipe(train_dir: PathBuf, test_dir: Option<PathBuf>) -> TrainConfig {
    TrainConfig {
        recipe: "seed".into(),
        backbone: Arch::InceptionV3,
        size: 299,
        normalization: Arch::InceptionV3.normalization(),
        head: HeadConfig::seed(),
        freeze: Freeze::None,
        cache: false,
        cache_augmented_copies: 0,
        augment: Augment::seed(),
        batchnorm_train: true,
        optimizer: OptimizerConfig::Sgd {
            lr: 1e-4,
            momentum: 0.9,
        },
        schedule: Schedule::Constant,
        batch_size: 16,
        epochs: 5,
        patience: 5,
        validation: Validation::Test,
        max_per_class: None,
        label_smoothing: 0.0,
        seed: 0,
        train_dir,
        test_dir,
        weights: None,
    }
}

/// graft's default, tuned for accuracy per minute on a 2-core CPU (measured on Fruits-360, see
/// README): InceptionV3 at 187 px with the blocks through mixed_7 fixed and their outputs cached
/// once; mixed_8..mixed_10 and the head fine-tune on the cache with Adam, a cosine schedule and
/// label smoothing; at most 64 evenly spaced training images per class (neighbouring video
/// frames add little and each costs a forward pass of the fixed blocks). 187 px is the smallest
/// input whose mixed_7 grid is still 10x10, as at 199 px: the upper blocks see the same grid for
/// 5% fewer operations in the lower ones.
pub fn fast_recipe(train_dir: PathBuf, test_dir: Option<PathBuf>) -> TrainConfig {
    TrainConfig {
        recipe: "fast".into(),
        backbone: Arch::InceptionV3,
        size: 187,
        normalization: Arch::InceptionV3.normalization(),
        head: HeadConfig {
            hidden: 512,
            dropout: 0.2,
        },
        freeze: Freeze::Through("mixed_7".into()),
        cache: true,
        cache_augmented_copies: 0,
        augment: Augment::none(),
        batchnorm_train: true,
        schedule: Schedule::Cosine,
        optimizer: OptimizerConfig::Adam {
            lr: 3e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        },
        batch_size: 64,
        epochs: 4,
        patience: 3,
        validation: Validation::Split(0.1),
        max_per_class: Some(64),
        label_smoothing: 0.1,
        seed: 0,
        train_dir,
        test_dir,
        weights: None,
    }
}
