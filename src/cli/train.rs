//! `graft train`: options over a recipe, the run, then its curves and report.
use anyhow::Result;
use graft::cancel::Cancel;
use graft::data::check;
use graft::data::layout::{self, Source};
use graft::distributed::{Group, leads};
use graft::engine::{self, Runtime};
use graft::error::bad_input;
use graft::models::Arch;
use graft::run::RunFolder;
use graft::run::config::{Freeze, TrainConfig, Validation};
use graft::training::plan;
use graft::training::recipe::{self, OptimizerKind};
use graft::training::{self, TrainOptions};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Recipe {
    /// graft's default: cached lower blocks, fine-tuned upper blocks (CPU-friendly).
    Fast,
    /// The reference experiment: InceptionV3 at 299 px, full fine-tuning, SGD, batch 16, 5 epochs.
    Seed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerArg {
    Sgd,
    Adam,
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Starting point for every setting below.
    #[arg(long, value_enum, default_value = "fast")]
    pub recipe: Recipe,
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
    pub optimizer: Option<OptimizerArg>,
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
    #[arg(long)]
    pub dropout: Option<f64>,
    /// How the head's dense weights start: `torch` (U(±1/sqrt(fan_in)), PyTorch's nn.Linear
    /// default; the fast recipe's) or `kaiming` (U(±sqrt(6/fan_in)); the seed recipe's).
    #[arg(long)]
    pub head_init: Option<graft::models::classifier::HeadInit>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Batch norm of trainable blocks: `train` (batch statistics) or `frozen` (pretrained ones).
    #[arg(long, value_parser = ["train", "frozen"])]
    pub batchnorm: Option<String>,
    /// Decoding threads (default: a quarter of the cores, at least one).
    #[arg(long)]
    pub workers: Option<usize>,
}

/// Where the images come from, as config fields: (train_dir, val_dir, test_dir, labels,
/// test_split), the layout of --data recognized.
type Folders = (
    PathBuf,
    Option<PathBuf>,
    Option<PathBuf>,
    Option<PathBuf>,
    Option<f64>,
);

fn folders(a: &TrainArgs) -> Result<Folders> {
    let fraction = a.test_split.unwrap_or(layout::DEFAULT_TEST_SPLIT);
    if !(0.0..1.0).contains(&fraction) {
        return Err(bad_input("--test-split must be in [0, 1)"));
    }
    match (&a.data, &a.train, &a.labels) {
        (Some(root), None, None) => Ok(match layout::detect(root, fraction)? {
            Source::Folders { train, val, test } => (train, val, test, None, None),
            Source::Single { root, .. } => (root, None, None, None, Some(fraction)),
            Source::Csv { .. } => unreachable!("detect finds folders"),
        }),
        (None, Some(train), None) => {
            let split = (a.test.is_none() && a.test_split.is_some()).then_some(fraction);
            Ok((
                train.clone(),
                a.val_dir.clone(),
                a.test.clone(),
                None,
                split,
            ))
        }
        (None, None, Some(csv)) => {
            let dir = csv
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .to_path_buf();
            Ok((dir, None, None, Some(csv.clone()), a.test_split))
        }
        _ => Err(bad_input(
            "give --data ROOT, --labels FILE.csv, or --train DIR [--val-dir DIR] [--test DIR]",
        )),
    }
}

/// Neighbouring image pairs the plan looks at (about 2 s of decoding on a 2-core machine).
const PLAN_PAIRS: usize = 400;

/// The recipe adapted to what the data is, each choice said unless an option (applied after)
/// overrides it.
fn adapt_to_data(c: &mut TrainConfig, data: &graft::data::dataset::Dataset, a: &TrainArgs) {
    for (setting, why) in plan::adapt(c, &check::traits(data, PLAN_PAIRS)) {
        let asked = match setting {
            plan::Setting::Size => a.size.is_some(),
            plan::Setting::Cap => a.max_per_class.is_some(),
            plan::Setting::Holdout => a.holdout.is_some(),
            plan::Setting::Budget => a.time_budget.is_some(),
        };
        if !asked {
            eprintln!("graft: plan: {why}");
        }
    }
    // A size or cap the user asked for is kept, whatever the budget.
    if a.size.is_some() {
        c.size_floor = None;
    }
    if a.max_per_class.is_some() {
        c.cap_grows = false;
    }
}

/// The recipe's settings, adapted to the data, with the options given on the command line
/// applied.
fn build_config(a: &TrainArgs) -> Result<TrainConfig> {
    let (train_dir, val_dir, test_dir, labels, test_split) = folders(a)?;
    let backbone = a.backbone.unwrap_or(Arch::named("inception-v3")?);
    let mut c = match a.recipe {
        Recipe::Fast => recipe::fast(backbone, train_dir, test_dir),
        Recipe::Seed => recipe::seed(backbone, train_dir, test_dir),
    };
    (c.val_dir, c.labels, c.test_split) = (val_dir, labels, test_split);
    let data = c.source().load(c.seed)?;
    // The dataset's own validation images choose the best epoch, unless told otherwise.
    if data.val.is_some() && c.validation != Validation::Test {
        c.validation = Validation::Given;
    }
    adapt_to_data(&mut c, &data, a);
    c.weights = a.weights.clone();
    macro_rules! set {
        ($($field:expr => $arg:expr),+ $(,)?) => {
            $(if let Some(v) = $arg.clone() { $field = v; })+
        };
    }
    set! {
        c.size => a.size,
        c.resize => a.resize,
        c.balance => a.balance,
        c.holdout => a.holdout,
        c.freeze => a.freeze,
        c.label_smoothing => a.label_smoothing,
        c.cache_augmented_copies => a.augmented_copies,
        c.epochs => a.epochs,
        c.batch_size => a.batch,
        c.patience => a.patience,
        c.seed => a.seed,
        c.head.hidden => a.hidden,
        c.head.dropout => a.dropout,
        c.head.init => a.head_init,
        c.augment.shear => a.shear,
        c.augment.zoom => a.zoom,
        c.augment.flip => a.flip,
    }
    if let Some(v) = &a.time_budget {
        c.time_budget = graft::training::budget::parse_duration(v)
            .map_err(|e| bad_input(format!("--time-budget {e}")))?;
    }
    if let Some(v) = a.max_per_class {
        c.max_per_class = (v > 0).then_some(v);
    }
    if let Some(v) = &a.schedule {
        c.schedule = v.parse().map_err(bad_input)?;
    }
    if a.no_cache {
        c.cache = false;
    }
    if let Some(v) = &a.batchnorm {
        c.batchnorm_train = v == "train";
    }
    if let Some(v) = a.val_split {
        c.validation = Validation::Split(v);
    }
    if a.val.is_some() {
        c.validation = Validation::Test;
    }
    let kind = a.optimizer.map(|k| match k {
        OptimizerArg::Sgd => OptimizerKind::Sgd,
        OptimizerArg::Adam => OptimizerKind::Adam,
    });
    c.optimizer = recipe::override_optimizer(c.optimizer, kind, a.lr, a.momentum);
    if let Validation::Split(f) = c.validation
        && !(0.0..1.0).contains(&f)
    {
        return Err(bad_input("--val-split must be in [0, 1)"));
    }
    if c.batch_size == 0 || c.epochs == 0 {
        return Err(bad_input("--batch and --epochs must be at least 1"));
    }
    Ok(c)
}

/// The settings and run folder of a new run, or of the run to resume.
fn plan(a: &TrainArgs) -> Result<(TrainConfig, PathBuf, bool)> {
    if let Some(run) = &a.resume {
        return Ok((RunFolder::new(run).read_config()?, run.clone(), true));
    }
    let cfg = build_config(a)?;
    let out = a.out.clone().unwrap_or_else(|| {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        PathBuf::from(format!("runs/{}-{secs}", cfg.recipe))
    });
    if RunFolder::new(&out).exists() {
        return Err(bad_input(format!(
            "{}: already holds a run; resume it with --resume {0}, or choose another --out",
            out.display()
        )));
    }
    Ok((cfg, out, false))
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

pub fn run(a: TrainArgs, runtime: Runtime, group: Option<&Group>) -> Result<()> {
    // Rank 0 decides (the run folder's name has the time in it); the others take its plan.
    let (cfg, out, resume) = match group {
        Some(g) if leads(group) => g.broadcast_json(Some(&plan(&a)?))?,
        Some(g) => g.broadcast_json(None)?,
        None => plan(&a)?,
    };
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
        cancel: cancel_on_ctrl_c(),
        group,
    };
    let outcome = training::train(cfg, &opts, resume)?;
    if !leads(group) {
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
    let best = outcome.progress.best().map_or(String::new(), |b| {
        format!(
            ": best epoch {} (val_loss {:.4}, val_accuracy {:.4})",
            b.epoch, b.val_loss, b.val_accuracy
        )
    });
    eprintln!(
        "graft: done in {:.1} s{best}, {test}, {} files skipped; run folder {}",
        outcome.seconds,
        outcome.skipped.len(),
        out.display()
    );
    Ok(())
}
