//! Everything that defines a training run, saved as the run's config.json: enough to rebuild
//! the model and its preprocessing for eval/predict, and to resume the run.
//!
//! Compatibility: config.json carries the run folder's `format_version` ([`FORMAT_VERSION`];
//! a file without one is version 1, the format before the field existed, and reads the same).
//! Fields added after version 1 have serde defaults, documented on each, so older run folders
//! keep loading; a missing field without a default is an error naming it.
use crate::data::augment::Augment;
use crate::data::images::{Preprocess, ResizeRule};
use crate::data::labelled::Holdout;
use crate::data::layout::{DEFAULT_TEST_SPLIT, Source};
use crate::engine::Precision;
use crate::models::Arch;
use crate::models::classifier::HeadConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The run-folder format this graft writes. 2: typed files, backbone names as the CLI spells
/// them (version 1 wrote `efficient-net-lite0`, still read).
pub const FORMAT_VERSION: u32 = 2;

fn version_1() -> u32 {
    1
}

/// How the learning rate changes over the planned steps of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The configured rate throughout (the seed).
    #[default]
    Constant,
    /// Half a cosine from the configured rate down to zero at the last planned step.
    Cosine,
}

impl std::str::FromStr for Schedule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "constant" => Ok(Schedule::Constant),
            "cosine" => Ok(Schedule::Cosine),
            _ => Err(format!("unknown schedule '{s}' (constant or cosine)")),
        }
    }
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

/// Which ways of training the run tries; the run keeps the one with the better validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Both candidates: a head on the frozen network's pooled features (the floor: one forward
    /// pass an image, the head trained in seconds), then fine-tuning from the cut, started from
    /// that head; validation chooses.
    Auto,
    /// Only the head on the frozen network's pooled features.
    Frozen,
    /// Only fine-tuning from the cut, the head started fresh (the only method before candidates).
    #[default]
    FineTune,
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Method::Auto),
            "frozen" => Ok(Method::Frozen),
            "fine-tune" => Ok(Method::FineTune),
            _ => Err(format!("unknown method '{s}' (auto, frozen or fine-tune)")),
        }
    }
}

impl Method {
    /// Whether the run trains the frozen-features candidate.
    pub fn has_floor(self) -> bool {
        self != Method::FineTune
    }

    /// Whether the run fine-tunes.
    pub fn fine_tunes(self) -> bool {
        self != Method::Frozen
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
    /// The dataset's own validation images (a `val`/`valid` folder, or the CSV's val rows).
    Given,
}

/// How training makes up for classes of very different sizes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    /// Every image once per epoch; the loss treats them alike.
    #[default]
    None,
    /// Each epoch draws as many images as Training has, every class equally often (small
    /// classes repeat, large ones are sampled).
    Sampler,
    /// Every image once per epoch; the loss weighs each class by the inverse of its share.
    Weights,
    /// The recipes' default, decided when training starts from the training part's class sizes
    /// (see `training::balance::resolve`); config.json records the decision, never `auto`.
    Auto,
}

impl std::str::FromStr for Balance {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Balance::None),
            "sampler" => Ok(Balance::Sampler),
            "weights" => Ok(Balance::Weights),
            "auto" => Ok(Balance::Auto),
            _ => Err(format!(
                "unknown balance '{s}' (none, sampler, weights or auto)"
            )),
        }
    }
}

/// SGD with momentum or Adam, with their settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerConfig {
    /// PyTorch's SGD: v = momentum * v + g; p -= lr * v (Keras' form is the same for a fixed lr).
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum.
        momentum: f64,
    },
    /// Adam (Kingma and Ba), with bias correction.
    Adam {
        /// Learning rate.
        lr: f64,
        /// First-moment decay.
        beta1: f64,
        /// Second-moment decay.
        beta2: f64,
        /// Added to the denominator.
        eps: f64,
    },
}

/// config.json: the settings of one training run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Run-folder format (see the module comment); absent in version 1 files.
    #[serde(default = "version_1")]
    pub format_version: u32,
    /// The recipe the settings started from (`fast`, `seed`).
    pub recipe: String,
    /// The pretrained network.
    pub backbone: Arch,
    /// Input size in pixels.
    pub size: i64,
    /// How non-square images are made square (absent before version 2: squash).
    #[serde(default)]
    pub resize: ResizeRule,
    /// The classification head.
    pub head: HeadConfig,
    /// Which backbone blocks are fixed.
    pub freeze: Freeze,
    /// Compute the frozen blocks' outputs once and train the rest on them.
    pub cache: bool,
    /// Augmented renders of each training image added to the cache (the cache is otherwise
    /// un-augmented: augmentation is drawn once, not every epoch).
    #[serde(default)]
    pub cache_augmented_copies: usize,
    /// Training-time augmentation.
    pub augment: Augment,
    /// Batch norm of the trainable blocks: batch statistics while training (true, as Keras
    /// does for trainable layers) or the pretrained statistics kept fixed (false).
    #[serde(default = "yes")]
    pub batchnorm_train: bool,
    /// The optimizer and its settings.
    pub optimizer: OptimizerConfig,
    /// Share of the target probability spread over all classes (0: plain cross-entropy).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Learning-rate schedule over the whole run.
    #[serde(default)]
    pub schedule: Schedule,
    /// Images per training step.
    pub batch_size: usize,
    /// Epochs planned.
    pub epochs: usize,
    /// Early stopping: epochs without a better validation score before stopping.
    pub patience: usize,
    /// Where validation images come from.
    pub validation: Validation,
    /// How held-out images are picked from each class, for validation and for graft's own Test
    /// split (absent in older runs: random).
    #[serde(default)]
    pub holdout: Holdout,
    /// Class balancing (absent before version 2: none).
    #[serde(default)]
    pub balance: Balance,
    /// Use at most this many training images per class (evenly spaced; validation is capped in
    /// proportion). Fruits-360-like data are video frames whose neighbours add little.
    #[serde(default)]
    pub max_per_class: Option<usize>,
    /// Seed of every random choice (split, head init, shuffling, augmentation).
    pub seed: u64,
    /// The training folder (`<Class>/*`).
    pub train_dir: PathBuf,
    /// The test folder, scored once at the end.
    pub test_dir: Option<PathBuf>,
    /// The dataset's own validation folder (absent before version 2).
    #[serde(default)]
    pub val_dir: Option<PathBuf>,
    /// A CSV of `path,label[,split]` instead of folders (absent before version 2).
    #[serde(default)]
    pub labels: Option<PathBuf>,
    /// Share of each class graft holds out as Test when the dataset has no Test part (one
    /// folder of class folders, or a CSV without a split column); the split is saved in the run
    /// (split.json). Absent before version 2.
    #[serde(default)]
    pub test_split: Option<f64>,
    /// Pretrained weights file, when not the fetched ones.
    pub weights: Option<PathBuf>,
    /// Wall-time budget of the whole run, in seconds: a cached run plans its images per class
    /// and epochs to fit it (absent before version 2: none).
    #[serde(default)]
    pub time_budget: Option<f64>,
    /// The smallest input size the time budget may lower `size` to, to keep every training
    /// image (the images' own median shorter side, when they are smaller than `size`); `None`:
    /// the budget keeps the size (absent in older runs).
    #[serde(default)]
    pub size_floor: Option<i64>,
    /// The per-class cap is the plan's (video frames), not the user's: a time budget with time
    /// to spare at the chosen size raises it, up to every image (absent in older runs: no).
    #[serde(default)]
    pub cap_grows: bool,
    /// The methods the run tries (absent in older runs: fine-tuning only).
    #[serde(default)]
    pub method: Method,
    /// The number format training computed in (absent in older runs: fp32).
    #[serde(default = "fp32")]
    pub precision: Precision,
    /// How the training ran when it was data-parallel over several processes (absent: one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distributed: Option<Distributed>,
}

fn fp32() -> Precision {
    Precision::Fp32
}

/// The ranks of a data-parallel run, as config.json records them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distributed {
    /// Number of processes.
    pub world_size: usize,
    /// torch.distributed backend of the process group (`gloo`).
    pub backend: String,
}

impl TrainConfig {
    /// Where the run's images come from.
    pub fn source(&self) -> Source {
        let fraction = self.test_split.unwrap_or(DEFAULT_TEST_SPLIT);
        match (&self.labels, self.test_split) {
            (Some(csv), _) => Source::Csv {
                path: csv.clone(),
                test_fraction: fraction,
            },
            (None, Some(f)) => Source::Single {
                root: self.train_dir.clone(),
                test_fraction: f,
            },
            (None, None) => Source::Folders {
                train: self.train_dir.clone(),
                val: self.val_dir.clone(),
                test: self.test_dir.clone(),
            },
        }
    }

    /// Reads the run's dataset, graft's own Test split (if any) held out by the run's rule.
    pub fn load_dataset(&self) -> anyhow::Result<crate::data::dataset::Dataset> {
        self.source().load_split(self.holdout, self.seed)
    }

    /// How an image file becomes this run's input.
    pub fn preprocess(&self) -> Preprocess {
        Preprocess {
            size: self.size as u32,
            resize: self.resize,
        }
    }

    /// Refuses a config this graft cannot read faithfully (written by a newer one).
    pub fn check_version(&self) -> anyhow::Result<()> {
        if self.format_version > FORMAT_VERSION {
            return Err(crate::error::bad_input(format!(
                "run folder format {} is newer than this graft's ({FORMAT_VERSION}): update graft",
                self.format_version
            )));
        }
        Ok(())
    }
}
