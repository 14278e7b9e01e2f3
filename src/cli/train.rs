use crate::models::Arch;
use crate::training::config::{self, Freeze, TrainConfig, Validation};
use crate::training::optim::OptimizerConfig;
use crate::training::{self, TrainOptions, run_folder::RunFolder};
use anyhow::{Result, bail};
use std::path::PathBuf;
use tch::Device;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Recipe {
    /// graft's default: cached lower InceptionV3 blocks, fine-tuned upper blocks (CPU-friendly).
    Fast,
    /// The reference experiment: InceptionV3 at 299 px, full fine-tuning, SGD, batch 16, 5 epochs.
    Seed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerKind {
    Sgd,
    Adam,
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Starting point for every setting below.
    #[arg(long, value_enum, default_value = "fast")]
    pub recipe: Recipe,
    /// Dataset root with Training/<Class>/* and Test/<Class>/* (the Fruits-360 layout).
    #[arg(long, conflicts_with = "train")]
    pub data: Option<PathBuf>,
    /// Training folder (<Class>/*), instead of --data.
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// Test folder (<Class>/*), used only for the final score (unless --val test).
    #[arg(long, requires = "train")]
    pub test: Option<PathBuf>,
    /// Run folder to write (default: runs/<recipe>-<time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue an interrupted run from its last checkpoint (its own settings are used).
    #[arg(long, conflicts_with_all = ["data", "train", "out"])]
    pub resume: Option<PathBuf>,
    #[arg(long, value_enum)]
    pub backbone: Option<Arch>,
    /// Pretrained weights file instead of the fetched ones.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Input size in pixels.
    #[arg(long)]
    pub size: Option<i64>,
    /// all, none, or a block name: blocks up to and including it are fixed.
    #[arg(long)]
    pub freeze: Option<Freeze>,
    /// Do not cache the frozen blocks' outputs (stream images every epoch, with augmentation).
    #[arg(long)]
    pub no_cache: bool,
    /// Augmented copies of each training image to add to the cache.
    #[arg(long)]
    pub augmented_copies: Option<usize>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch: Option<usize>,
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate schedule.
    #[arg(long, value_enum)]
    pub schedule: Option<config::Schedule>,
    /// SGD momentum.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Early stopping: epochs without a better validation accuracy.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Fraction of Training held out (stratified) for validation.
    #[arg(long, conflicts_with = "val")]
    pub val_split: Option<f64>,
    /// Label smoothing of the training loss (0: none).
    #[arg(long)]
    pub label_smoothing: Option<f64>,
    /// Use at most N training images per class (evenly spaced); 0: all.
    #[arg(long)]
    pub max_per_class: Option<usize>,
    /// `test`: validate on the Test folder, as the seed did.
    #[arg(long, value_parser = ["test"])]
    pub val: Option<String>,
    /// Shear range in degrees (Keras semantics); 0 turns it off.
    #[arg(long)]
    pub shear: Option<f64>,
    /// Zoom range (factors in [1-z, 1+z]); 0 turns it off.
    #[arg(long)]
    pub zoom: Option<f64>,
    /// Horizontal flips on or off.
    #[arg(long)]
    pub flip: Option<bool>,
    /// Hidden units of the head (0: none).
    #[arg(long)]
    pub hidden: Option<i64>,
    #[arg(long)]
    pub dropout: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Batch norm of trainable blocks: `train` (batch statistics) or `frozen` (pretrained ones).
    #[arg(long, value_parser = ["train", "frozen"])]
    pub batchnorm: Option<String>,
    /// Decoding threads (default: a quarter of the cores, at least one).
    #[arg(long)]
    pub workers: Option<usize>,
}

fn build_config(a: &TrainArgs) -> Result<TrainConfig> {
    let (train_dir, test_dir) = match (&a.data, &a.train) {
        (Some(root), None) => {
            let test = root.join("Test");
            (root.join("Training"), test.is_dir().then_some(test))
        }
        (None, Some(train)) => (train.clone(), a.test.clone()),
        _ => {
            bail!("give --data ROOT (with ROOT/Training and ROOT/Test) or --train DIR [--test DIR]")
        }
    };
    let mut c = match a.recipe {
        Recipe::Fast => config::fast_recipe(train_dir, test_dir),
        Recipe::Seed => config::seed_recipe(train_dir, test_dir),
    };
    if let Some(b) = a.backbone {
        c.backbone = b;
        c.normalization = b.normalization();
        if a.size.is_none() && a.recipe == Recipe::Seed {
            c.size = b.native_size();
        }
    }
    c.weights = a.weights.clone();
    if let Some(v) = a.size {
        c.size = v;
    }
    if let Some(v) = &a.freeze {
        c.freeze = v.clone();
    }
    if let Some(v) = a.label_smoothing {
        c.label_smoothing = v;
    }
    if let Some(v) = a.max_per_class {
        c.max_per_class = (v > 0).then_some(v);
    }
    if let Some(v) = a.schedule {
        c.schedule = v;
    }
    if let Some(v) = a.augmented_copies {
        c.cache_augmented_copies = v;
    }
    if a.no_cache {
        c.cache = false;
    }
    if let Some(v) = a.epochs {
        c.epochs = v;
    }
    if let Some(v) = a.batch {
        c.batch_size = v;
    }
    if let Some(v) = a.patience {
        c.patience = v;
    }
    if let Some(v) = &a.batchnorm {
        c.batchnorm_train = v == "train";
    }
    if let Some(v) = a.seed {
        c.seed = v;
    }
    if let Some(v) = a.val_split {
        c.validation = Validation::Split(v);
    }
    if a.val.is_some() {
        c.validation = Validation::Test;
    }
    if let Some(v) = a.hidden {
        c.head.hidden = v;
    }
    if let Some(v) = a.dropout {
        c.head.dropout = v;
    }
    let aug = &mut c.augment;
    if let Some(v) = a.shear {
        aug.shear = v;
    }
    if let Some(v) = a.zoom {
        aug.zoom = v;
    }
    if let Some(v) = a.flip {
        aug.flip = v;
    }
    let lr = a.lr;
    c.optimizer = match (a.optimizer, c.optimizer) {
        (Some(OptimizerKind::Sgd), OptimizerConfig::Sgd { lr: l, momentum })
        | (None, OptimizerConfig::Sgd { lr: l, momentum }) => OptimizerConfig::Sgd {
            lr: lr.unwrap_or(l),
            momentum: a.momentum.unwrap_or(momentum),
        },
        (Some(OptimizerKind::Sgd), _) => OptimizerConfig::Sgd {
            lr: lr.unwrap_or(1e-3),
            momentum: a.momentum.unwrap_or(0.9),
        },
        (
            Some(OptimizerKind::Adam),
            OptimizerConfig::Adam {
                lr: l,
                beta1,
                beta2,
                eps,
            },
        )
        | (
            None,
            OptimizerConfig::Adam {
                lr: l,
                beta1,
                beta2,
                eps,
            },
        ) => OptimizerConfig::Adam {
            lr: lr.unwrap_or(l),
            beta1,
            beta2,
            eps,
        },
        (Some(OptimizerKind::Adam), _) => OptimizerConfig::Adam {
            lr: lr.unwrap_or(1e-3),
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
        },
    };
    if !(0.0..1.0).contains(&match c.validation {
        Validation::Split(f) => f,
        Validation::Test => 0.0,
    }) {
        bail!("--val-split must be in [0, 1)");
    }
    if c.batch_size == 0 || c.epochs == 0 {
        bail!("--batch and --epochs must be at least 1");
    }
    Ok(c)
}

pub fn run(a: TrainArgs, device: Device) -> Result<()> {
    let workers = a
        .workers
        .unwrap_or_else(crate::data::loader::default_workers);
    training::install_ctrlc_handler();
    let (cfg, out, resume) = match &a.resume {
        Some(run) => {
            let folder = RunFolder::new(run);
            (
                folder.read_json::<TrainConfig>(&folder.config())?,
                run.clone(),
                true,
            )
        }
        None => {
            let cfg = build_config(&a)?;
            let out = a.out.clone().unwrap_or_else(|| {
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                PathBuf::from(format!("runs/{}-{secs}", cfg.recipe))
            });
            if RunFolder::new(&out).config().exists() {
                bail!(
                    "{}: already holds a run; resume it with --resume {0}, or choose another --out",
                    out.display()
                );
            }
            (cfg, out, false)
        }
    };
    eprintln!(
        "graft: training {} at {} px (recipe {}, {}, {}) on {} -> {}",
        cfg.backbone.name(),
        cfg.size,
        cfg.recipe,
        cfg.freeze,
        if cfg.cache { "cached" } else { "streamed" },
        device_name(device),
        out.display()
    );
    let opts = TrainOptions {
        out: out.clone(),
        device,
        workers,
    };
    let summary = match training::train(cfg, &opts, resume) {
        Err(e) if e.is::<training::Interrupted>() => {
            eprintln!("graft: {e}");
            std::process::exit(130);
        }
        r => r?,
    };
    let test = summary
        .test
        .as_ref()
        .map(|m| format!("test accuracy {:.4} ({} images)", m.accuracy, m.count))
        .unwrap_or("no test set".into());
    eprintln!(
        "graft: done in {:.1} s: best epoch {} (val_accuracy {:.4}), {test}, {} files skipped; run folder {}",
        summary.seconds,
        summary.progress.best_epoch,
        summary.progress.best_val_accuracy,
        summary.skipped,
        out.display()
    );
    Ok(())
}

pub fn device_name(d: Device) -> String {
    match d {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => format!("cpu ({} threads)", crate::engine::threads()),
    }
}
