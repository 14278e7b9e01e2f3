//! `graft train`: the arguments, parsed into the library's settings (`training::setup`), the run,
//! then its curves and report.
use anyhow::Result;
use graft::cancel::Cancel;
use graft::engine::{self, Precision};
use graft::error::bad_input;
use graft::models::Arch;
use graft::run::RunFolder;
use graft::run::config::{Freeze, Validation};
use graft::runtime::Runtime;
use graft::training::recipe::OptimizerKind;
use graft::training::setup::{self, Images, Overrides, Planned, Recipe};
use graft::training::{self, TrainOptions};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecipeArg {
    /// graft's default: cached lower blocks, fine-tuned upper blocks (CPU-friendly).
    Fast,
    /// The reference experiment: InceptionV3 at 299 px, full fine-tuning, SGD, batch 16, 5 epochs.
    Seed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerArg {
    /// SGD with momentum.
    Sgd,
    /// Adam.
    Adam,
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Starting point for every setting below.
    #[arg(long, value_enum, default_value = "fast")]
    pub recipe: RecipeArg,
    /// Dataset root: train/val/test folders (Training/Test, train/val/test, train/valid/test,
    /// train/test), or one folder of class folders (graft holds out --test-split as Test).
    #[arg(long, conflicts_with_all = ["train", "labels"])]
    pub data: Option<PathBuf>,
    /// A CSV with columns path,label[,split] (split: train, val or test) instead of folders.
    #[arg(long, conflicts_with = "train")]
    pub labels: Option<PathBuf>,
    /// Training folder (<Class>/*), instead of --data.
    #[arg(long)]
    pub train: Option<PathBuf>,
    /// Validation folder (<Class>/*): chooses the best epoch instead of a split of Training.
    #[arg(long, requires = "train")]
    pub val_dir: Option<PathBuf>,
    /// Test folder (<Class>/*), used only for the final score (unless --val test).
    #[arg(long, requires = "train")]
    pub test: Option<PathBuf>,
    /// Share of each class held out as Test when the dataset has no Test part (default 0.2).
    #[arg(long)]
    pub test_split: Option<f64>,
    /// Class balancing for imbalanced data: none, sampler or weights.
    #[arg(long)]
    pub balance: Option<graft::run::config::Balance>,
    /// Run folder to write (default: runs/<recipe>-<time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue an interrupted run from its last checkpoint (its own settings are used).
    #[arg(long, conflicts_with_all = ["data", "train", "out"])]
    pub resume: Option<PathBuf>,
    /// Backbone network (the recipe's network-dependent settings follow it).
    #[arg(long, value_parser = super::arch_parser())]
    pub backbone: Option<Arch>,
    /// Pretrained weights file instead of the fetched ones.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Input size in pixels.
    #[arg(long)]
    pub size: Option<i64>,
    /// How non-square images are made square: squash (stretch), crop (centre square) or pad.
    #[arg(long)]
    pub resize: Option<graft::data::images::ResizeRule>,
    /// all, none, or a block name: blocks up to and including it are fixed.
    #[arg(long)]
    pub freeze: Option<Freeze>,
    /// What the run tries: auto (a head on the frozen network's features, then fine-tuning
    /// from the cut started from that head; validation chooses), frozen, or fine-tune.
    #[arg(long)]
    pub method: Option<graft::run::config::Method>,
    /// Do not cache the frozen blocks' outputs (stream images every epoch, with augmentation).
    #[arg(long)]
    pub no_cache: bool,
    /// Augmented copies of each training image to add to the cache.
    #[arg(long)]
    pub augmented_copies: Option<usize>,
    /// Passes over the training images (a time budget may plan fewer).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per training step (the global batch, whatever the number of processes).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Optimizer: sgd (momentum) or adam; switching starts from that optimizer's defaults.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Learning rate (the peak of the cosine schedule).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate schedule: constant or cosine.
    #[arg(long, value_parser = ["constant", "cosine"])]
    pub schedule: Option<String>,
    /// SGD momentum.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Early stopping: epochs without a lower validation loss.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Fraction of Training held out (stratified) for validation.
    #[arg(long, conflicts_with = "val")]
    pub val_split: Option<f64>,
    /// How held-out images (validation, graft's own Test) are picked from a class: random, or
    /// blocks (one run of consecutive files, for video frames). Default: read from the data.
    #[arg(long)]
    pub holdout: Option<graft::data::labelled::Holdout>,
    /// Label smoothing of the training loss (0: none).
    #[arg(long)]
    pub label_smoothing: Option<f64>,
    /// Use at most N training images per class (evenly spaced); 0: all.
    #[arg(long)]
    pub max_per_class: Option<usize>,
    /// Wall time the whole run may take (10m, 90s, 1h; none for no limit): a cached run plans
    /// its images per class and epochs to fit. Default with the fast recipe: 5m, or 8.5 ms per
    /// image read when that is more.
    #[arg(long, value_name = "DURATION")]
    pub time_budget: Option<String>,
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
    /// Dropout after the head's hidden layer while training (0: none).
    #[arg(long)]
    pub dropout: Option<f64>,
    /// How the head's dense weights start: `torch` (U(±1/sqrt(fan_in)), PyTorch's nn.Linear
    /// default; the fast recipe's) or `kaiming` (U(±sqrt(6/fan_in)); the seed recipe's).
    #[arg(long)]
    pub head_init: Option<graft::models::classifier::HeadInit>,
    /// Seed of every random choice (splits, order, augmentation, the head's start).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Batch norm of trainable blocks: `train` (batch statistics) or `frozen` (pretrained ones).
    #[arg(long, value_parser = ["train", "frozen"])]
    pub batchnorm: Option<String>,
    /// Decoding threads (default: a quarter of the cores, at least one).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Print the run's settings as JSON (the recipe adapted to the data, the options applied)
    /// and stop before training; a time budget still plans images and epochs when a run starts.
    #[arg(long, conflicts_with = "resume")]
    pub plan_only: bool,
}

impl TrainArgs {
    /// Where the images come from.
    fn images(&self) -> Result<Images> {
        match (&self.data, &self.train, &self.labels) {
            (Some(root), None, None) => Ok(Images::Root(root.clone())),
            (None, Some(train), None) => Ok(Images::Folders {
                train: train.clone(),
                val: self.val_dir.clone(),
                test: self.test.clone(),
            }),
            (None, None, Some(csv)) => Ok(Images::Csv(csv.clone())),
            _ => Err(bad_input(
                "give --data ROOT, --labels FILE.csv, or --train DIR [--val-dir DIR] [--test DIR]",
            )),
        }
    }

    /// The settings given on the command line.
    fn overrides(&self) -> Result<Overrides> {
        let validation = match (&self.val, self.val_split) {
            (Some(_), _) => Some(Validation::Test),
            (None, Some(f)) => Some(Validation::Split(f)),
            (None, None) => None,
        };
        let time_budget = self.time_budget.as_deref();
        Ok(Overrides {
            backbone: self.backbone,
            weights: self.weights.clone(),
            test_split: self.test_split,
            size: self.size,
            resize: self.resize,
            balance: self.balance,
            holdout: self.holdout,
            freeze: self.freeze.clone(),
            method: self.method,
            no_cache: self.no_cache,
            augmented_copies: self.augmented_copies,
            epochs: self.epochs,
            batch: self.batch,
            optimizer: self.optimizer.map(|k| match k {
                OptimizerArg::Sgd => OptimizerKind::Sgd,
                OptimizerArg::Adam => OptimizerKind::Adam,
            }),
            lr: self.lr,
            schedule: self
                .schedule
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(bad_input)?,
            momentum: self.momentum,
            patience: self.patience,
            validation,
            label_smoothing: self.label_smoothing,
            max_per_class: self.max_per_class,
            time_budget: time_budget.map(setup::parse_time_budget).transpose()?,
            shear: self.shear,
            zoom: self.zoom,
            flip: self.flip,
            hidden: self.hidden,
            dropout: self.dropout,
            head_init: self.head_init,
            seed: self.seed,
            batchnorm_train: self.batchnorm.as_deref().map(|v| v == "train"),
        })
    }
}

/// The settings and run folder of a new run, or of the run to resume.
fn plan(a: &TrainArgs) -> Result<(Planned, PathBuf, bool)> {
    if let Some(run) = &a.resume {
        let config = RunFolder::new(run).read_config()?;
        return Ok((Planned::of(config), run.clone(), true));
    }
    let recipe = match a.recipe {
        RecipeArg::Fast => Recipe::Fast,
        RecipeArg::Seed => Recipe::Seed,
    };
    let planned = setup::plan_run(recipe, &a.images()?, &a.overrides()?)?;
    let out = a.out.clone().unwrap_or_else(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        PathBuf::from(format!("runs/{}-{secs}", planned.config.recipe))
    });
    if RunFolder::new(&out).exists() {
        return Err(bad_input(format!(
            "{}: already holds a run; resume it with --resume {0}, or choose another --out",
            out.display()
        )));
    }
    Ok((planned, out, false))
}

/// Ctrl-C asks training to stop after the current batch; a second one quits at once.
fn cancel_on_ctrl_c() -> Cancel {
    let cancel = Cancel::new();
    let token = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if token.cancel() {
            std::process::exit(130);
        }
        eprintln!("\ngraft: interrupted; stopping (press Ctrl-C again to quit at once)");
    });
    cancel
}

pub fn run(a: TrainArgs, runtime: Runtime, asked: Option<Precision>) -> Result<()> {
    let group = runtime.group;
    // Rank 0 decides (the run folder's name has the time in it); the others take its settings.
    let (planned, out, resume) = match group {
        Some(g) if runtime.leads() => {
            let (planned, out, resume) = plan(&a)?;
            let shared = (planned.config, out, resume);
            let (config, out, resume) = g.broadcast_json(Some(&shared))?;
            (Planned { config, ..planned }, out, resume)
        }
        Some(g) => {
            let (config, out, resume) = g.broadcast_json(None)?;
            (Planned::of(config), out, resume)
        }
        None => plan(&a)?,
    };
    if a.plan_only {
        if runtime.leads() {
            println!("{}", serde_json::to_string_pretty(&planned.config)?);
        }
        return Ok(());
    }
    let cfg = &planned.config;
    graft::say!(
        "graft: training {} at {} px (recipe {}, {}, {}) on {} -> {}",
        cfg.backbone,
        cfg.size,
        cfg.recipe,
        cfg.freeze,
        if cfg.cache { "cached" } else { "streamed" },
        engine::describe(runtime.device),
        out.display()
    );
    let opts = TrainOptions {
        out: out.clone(),
        runtime,
        asked,
        cancel: cancel_on_ctrl_c(),
    };
    let outcome = training::train(planned, &opts, resume)?;
    if !runtime.leads() {
        return Ok(()); // rank 0 writes the reports and says how the run went
    }
    graft::reports::write_curves(&out)?;
    let report = graft::reports::write_report(&out)?;
    eprintln!("graft: report {}", report.display());
    let test = outcome
        .test
        .as_ref()
        .map(|m| format!("test accuracy {:.4} ({} images)", m.accuracy, m.count))
        .unwrap_or("no test set".into());
    let frozen = outcome.choice.as_ref().filter(|c| c.kept_frozen());
    let best = match (frozen, &outcome.progress.floor) {
        (Some(_), Some(f)) => format!(
            ": the frozen candidate (validation accuracy {:.4}, {}-fold)",
            f.val_accuracy, f.folds
        ),
        _ => outcome.progress.best().map_or(String::new(), |b| {
            format!(
                ": best epoch {} (val_loss {:.4}, val_accuracy {:.4})",
                b.epoch, b.val_loss, b.val_accuracy
            )
        }),
    };
    eprintln!(
        "graft: done in {:.1} s{best}, {test}, {} files skipped; run folder {}",
        outcome.seconds,
        outcome.skipped.len(),
        out.display()
    );
    Ok(())
}
