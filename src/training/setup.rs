//! A new run's settings, decided once: the recipe, adapted to the data it meets (see
//! [`plan::adapt`]), with what the user set applied over both. `graft train` only parses its
//! arguments into [`Overrides`] and calls [`plan_run`], so a Rust caller gets the same run from
//! the same inputs. The dataset read for the plan goes on to training.
use super::plan;
use super::recipe::{self, OptimizerKind};
use crate::data::check;
use crate::data::dataset::Dataset;
use crate::data::images::ResizeRule;
use crate::data::labelled::Holdout;
use crate::data::layout::{self, Source};
use crate::error::bad_input;
use crate::models::Arch;
use crate::models::classifier::HeadInit;
use crate::run::config::{Balance, Freeze, Method, Schedule, TrainConfig, Validation};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The starting point of every setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipe {
    /// graft's default: cached lower blocks, fine-tuned upper blocks (CPU-friendly), planned
    /// from the data and a time budget.
    Fast,
    /// The reference experiment: InceptionV3 at 299 px, full fine-tuning, SGD, batch 16, 5
    /// epochs.
    Seed,
}

/// Where a run's images come from.
#[derive(Debug, Clone)]
pub enum Images {
    /// A dataset root in a layout graft recognizes: train/val/test folders (Training/Test,
    /// train/val/test, train/valid/test, train/test), or one folder of class folders.
    Root(PathBuf),
    /// Class folders given one by one.
    Folders {
        /// Training images (`<Class>/*`).
        train: PathBuf,
        /// Validation images, which then choose the best epoch.
        val: Option<PathBuf>,
        /// Test images, scored once at the end.
        test: Option<PathBuf>,
    },
    /// A CSV with columns `path,label[,split]`.
    Csv(PathBuf),
}

/// What a user sets over the recipe and the plan; None (false for `no_cache`) keeps their
/// choice. A size or a per-class cap given here is kept whatever the time budget.
#[derive(Debug, Clone, Default)]
#[allow(missing_docs)] // each field is the `graft train` flag of the same name
pub struct Overrides {
    pub backbone: Option<Arch>,
    pub weights: Option<PathBuf>,
    /// Share of each class held out as Test where the dataset has no Test part.
    pub test_split: Option<f64>,
    pub size: Option<i64>,
    pub resize: Option<ResizeRule>,
    pub balance: Option<Balance>,
    pub holdout: Option<Holdout>,
    pub freeze: Option<Freeze>,
    pub method: Option<Method>,
    pub no_cache: bool,
    pub augmented_copies: Option<usize>,
    pub epochs: Option<usize>,
    pub batch: Option<usize>,
    pub optimizer: Option<OptimizerKind>,
    pub lr: Option<f64>,
    pub schedule: Option<Schedule>,
    pub momentum: Option<f64>,
    pub patience: Option<usize>,
    pub validation: Option<Validation>,
    pub label_smoothing: Option<f64>,
    /// At most this many training images per class; 0: all.
    pub max_per_class: Option<usize>,
    /// The whole run's wall time in seconds; Some(None): no limit.
    pub time_budget: Option<Option<f64>>,
    pub shear: Option<f64>,
    pub zoom: Option<f64>,
    pub flip: Option<bool>,
    pub hidden: Option<i64>,
    pub dropout: Option<f64>,
    pub head_init: Option<HeadInit>,
    pub seed: Option<u64>,
    /// Batch statistics in the trainable blocks' batch norms (false: the pretrained ones).
    pub batchnorm_train: Option<bool>,
}

/// A new run's settings and the dataset they were planned on.
pub struct Planned {
    /// The run's settings (a time budget still plans its images and epochs when it starts).
    pub config: TrainConfig,
    /// The dataset as read for the plan, split by the run's rules; None: training reads it
    /// (a resumed run, or a rank that took rank 0's settings).
    pub dataset: Option<Dataset>,
}

impl Planned {
    /// Settings decided elsewhere (a run folder's, or rank 0's); training reads the data.
    pub fn of(config: TrainConfig) -> Self {
        Self {
            config,
            dataset: None,
        }
    }
}

/// Neighbouring image pairs the plan looks at (about 2 s of decoding on a 2-core machine).
const PLAN_PAIRS: usize = 400;

/// The settings of a new run on `images`: `recipe`'s, adapted to the data (each choice said
/// unless `over` sets it), then `over` applied. Bad settings are bad-input errors.
pub fn plan_run(recipe: Recipe, images: &Images, over: &Overrides) -> Result<Planned> {
    let backbone = over.backbone.unwrap_or(Arch::named("inception-v3")?);
    let mut c = match recipe {
        Recipe::Fast => recipe::fast(backbone, PathBuf::new(), None),
        Recipe::Seed => recipe::seed(backbone, PathBuf::new(), None),
    };
    set_source(&mut c, images, over.test_split)?;
    let mut dataset = c.source().load_split(Holdout::Random, c.seed)?;
    // The dataset's own validation images choose the best epoch, unless told otherwise.
    if dataset.val.is_some() && c.validation != Validation::Test {
        c.validation = Validation::Given;
    }
    adapt_to_data(&mut c, &dataset, over);
    apply(&mut c, over)?;
    // graft's own Test split depends on the hold-out rule the plan chose.
    if c.holdout != Holdout::Random && !matches!(c.source(), Source::Folders { .. }) {
        dataset = c.load_dataset()?;
    }
    Ok(Planned {
        config: c,
        dataset: Some(dataset),
    })
}

/// The config's image fields for `images`, the layout of a root recognized.
fn set_source(c: &mut TrainConfig, images: &Images, test_split: Option<f64>) -> Result<()> {
    let fraction = test_split.unwrap_or(layout::DEFAULT_TEST_SPLIT);
    if !(0.0..1.0).contains(&fraction) {
        return Err(bad_input("--test-split must be in [0, 1)"));
    }
    match images {
        Images::Root(root) => match layout::detect(root, fraction)? {
            Source::Folders { train, val, test } => {
                (c.train_dir, c.val_dir, c.test_dir) = (train, val, test);
            }
            Source::Single { root, .. } => (c.train_dir, c.test_split) = (root, Some(fraction)),
            Source::Csv { .. } => unreachable!("detect finds folders"),
        },
        Images::Folders { train, val, test } => {
            (c.train_dir, c.val_dir, c.test_dir) = (train.clone(), val.clone(), test.clone());
            c.test_split = test.is_none().then_some(test_split).flatten();
        }
        Images::Csv(csv) => {
            c.train_dir = csv.parent().unwrap_or(Path::new(".")).to_path_buf();
            (c.labels, c.test_split) = (Some(csv.clone()), test_split);
        }
    }
    Ok(())
}

/// The recipe adapted to what the data is, each choice said unless `over` sets it.
fn adapt_to_data(c: &mut TrainConfig, data: &Dataset, over: &Overrides) {
    for (setting, why) in plan::adapt(c, &check::traits(data, PLAN_PAIRS)) {
        let asked = match setting {
            plan::Setting::Size => over.size.is_some(),
            plan::Setting::Cap => over.max_per_class.is_some(),
            plan::Setting::Holdout => over.holdout.is_some(),
            plan::Setting::Budget => over.time_budget.is_some(),
        };
        if !asked {
            say!("graft: plan: {why}");
        }
    }
    // A size or cap the user asked for is kept, whatever the budget.
    if over.size.is_some() {
        c.size_floor = None;
    }
    if over.max_per_class.is_some() {
        c.cap_grows = false;
    }
}

/// `over` applied to `c`, and the result checked.
fn apply(c: &mut TrainConfig, over: &Overrides) -> Result<()> {
    macro_rules! set {
        ($($field:expr => $value:expr),+ $(,)?) => {
            $(if let Some(v) = $value.clone() { $field = v; })+
        };
    }
    set! {
        c.size => over.size,
        c.resize => over.resize,
        c.balance => over.balance,
        c.holdout => over.holdout,
        c.freeze => over.freeze,
        c.method => over.method,
        c.label_smoothing => over.label_smoothing,
        c.cache_augmented_copies => over.augmented_copies,
        c.epochs => over.epochs,
        c.batch_size => over.batch,
        c.patience => over.patience,
        c.seed => over.seed,
        c.head.hidden => over.hidden,
        c.head.dropout => over.dropout,
        c.head.init => over.head_init,
        c.schedule => over.schedule,
        c.batchnorm_train => over.batchnorm_train,
        c.validation => over.validation,
        c.time_budget => over.time_budget,
        c.augment.shear => over.shear,
        c.augment.zoom => over.zoom,
        c.augment.flip => over.flip,
    }
    c.weights.clone_from(&over.weights);
    if let Some(v) = over.max_per_class {
        c.max_per_class = (v > 0).then_some(v);
    }
    if over.no_cache {
        c.cache = false;
    }
    c.optimizer = recipe::override_optimizer(c.optimizer, over.optimizer, over.lr, over.momentum);
    if let Validation::Split(f) = c.validation
        && !(0.0..1.0).contains(&f)
    {
        return Err(bad_input("--val-split must be in [0, 1)"));
    }
    if c.batch_size == 0 || c.epochs == 0 {
        return Err(bad_input("--batch and --epochs must be at least 1"));
    }
    c.backbone.check_size(c.size)?;
    Ok(())
}

/// Parses a `--time-budget` value (10m, 90s, 1h; none for no limit) into seconds.
pub fn parse_time_budget(s: &str) -> Result<Option<f64>> {
    parse_duration(s).map_err(|e| bad_input(format!("--time-budget {e}")))
}

/// Reads a duration: `600`, `90s`, `10m`, `1.5h`; `0` or `none` for no budget.
pub fn parse_duration(s: &str) -> Result<Option<f64>, String> {
    let t = s.trim().to_ascii_lowercase();
    if t == "none" || t == "0" {
        return Ok(None);
    }
    let (number, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => t.split_at(i),
        None => (t.as_str(), "s"),
    };
    let scale = match unit {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "'{s}': use seconds, or a number with s, m or h (10m)"
            ));
        }
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(Some(v * scale)),
        _ => Err(format!(
            "'{s}': not a positive duration (10m, 90s, 1.5h, none)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_user_writes_them() {
        assert_eq!(parse_duration("10m"), Ok(Some(600.0)));
        assert_eq!(parse_duration("90s"), Ok(Some(90.0)));
        assert_eq!(parse_duration("1.5h"), Ok(Some(5400.0)));
        assert_eq!(parse_duration("300"), Ok(Some(300.0)));
        assert_eq!(parse_duration("none"), Ok(None));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("-5m").is_err());
    }
}
