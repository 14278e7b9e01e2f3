//! `graft train`: image folders in, a fine-tuned classifier and its measured accuracy out. The
//! run folder gets the typed run files; the caller asks `reports` for curves and report.html.
pub mod balance;
pub mod dataset;
pub mod inputs;
pub mod optim;
pub mod plan;
pub mod recipe;
pub mod session;

pub use session::{TrainOptions, TrainOutcome};

use crate::data::check::{self, CheckOptions};
use crate::data::dataset::SplitFile;
use crate::data::labelled::Labelled;
use crate::data::layout::Source;
use crate::data::loader::Skips;
use crate::error::bad_input;
use crate::models::classifier::Classifier;
use crate::run::RunFolder;
use crate::run::config::{Balance, Freeze, TrainConfig};
use crate::run::dataset::{ClassCounts, DatasetSummary};
use crate::run::history::Progress;
use anyhow::Result;
use optim::Optimizer;
use session::Session;
use std::time::Instant;
use tch::{Device, Tensor, nn};

/// dataset.json (per-class counts as used), and split.json where graft made the Test split.
fn write_dataset_files(folder: &RunFolder, cfg: &TrainConfig, data: &dataset::Data) -> Result<()> {
    let count = |set: Option<&Labelled>, c: usize| {
        set.map_or(0, |s| s.labels.iter().filter(|&&l| l == c as i64).count())
    };
    let classes = data
        .classes
        .iter()
        .enumerate()
        .map(|(c, name)| ClassCounts {
            class: name.clone(),
            train: count(Some(&data.train), c),
            val: count(Some(&data.val), c),
            test: count(data.test.as_ref(), c),
        })
        .collect();
    // The cheap part of `graft check`: counts, file bytes, headers.
    let opts = CheckOptions {
        perceptual: false,
        near_bits: 0,
        near_diff: 0.0,
    };
    let warnings = check::check(&data.dataset, opts).warnings();
    for w in &warnings {
        eprintln!("graft: warning: {w}");
    }
    let summary = DatasetSummary::new(data.dataset.description.clone(), classes, warnings);
    folder.write_dataset(&summary)?;
    if !matches!(cfg.source(), Source::Folders { .. }) {
        folder.write_split(&SplitFile::of(&data.dataset))?;
    }
    Ok(())
}

/// Marks the frozen blocks' variables as not trainable; returns the trainable ones.
pub fn trainable_variables(vs: &nn::VarStore, model: &Classifier) -> Vec<Tensor> {
    let frozen: Vec<String> = model.backbone.blocks[..model.trainable_from]
        .iter()
        .map(|b| b.var_prefix())
        .collect();
    let mut out = Vec::new();
    // A fixed order (by name): optimizer state is saved by position.
    for (name, t) in crate::run::named_vars(vs) {
        if !t.requires_grad() {
            continue; // batch-norm running statistics
        }
        if frozen.iter().any(|p| name.starts_with(p.as_str())) {
            let _ = t.set_requires_grad(false);
        } else {
            out.push(t);
        }
    }
    out
}

/// The model of a run: pretrained backbone (refused before any work if wrong) + a seeded head,
/// frozen as configured, on the run's device; and its optimizer.
pub fn build_model(
    cfg: &TrainConfig,
    classes: usize,
    device: Device,
) -> Result<(nn::VarStore, Classifier, Optimizer)> {
    tch::manual_seed(cfg.seed as i64);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let mut model = Classifier::new(&vs.root(), cfg.backbone, classes as i64, cfg.head);
    crate::weights::load_pretrained(&vs, cfg.backbone, cfg.weights.as_deref(), false)?;
    crate::models::place(&mut vs, device);
    model.trainable_from = match &cfg.freeze {
        Freeze::None => 0,
        Freeze::All => model.backbone.blocks.len(),
        Freeze::Through(block) => model.backbone.block_index(block)? + 1,
    };
    model.batchnorm_train = cfg.batchnorm_train;
    let optimizer = Optimizer::new(cfg.optimizer, trainable_variables(&vs, &model));
    Ok((vs, model, optimizer))
}

/// Trains `cfg` into the run folder `opts.out` (or, with `resume`, continues the run there from
/// its last checkpoint), then scores Test. Interrupted through `opts.cancel`, it ends with
/// [`Error::Interrupted`] after keeping the last completed epoch.
pub fn train(mut cfg: TrainConfig, opts: &TrainOptions, resume: bool) -> Result<TrainOutcome> {
    let start = Instant::now();
    let folder = RunFolder::new(&opts.out);
    cfg.backbone.check_size(cfg.size)?;
    let mut skips = Skips::default();
    let data = dataset::load_data(&cfg, &mut skips)?;
    if cfg.balance == Balance::Auto {
        let (chosen, why) = balance::resolve(cfg.balance, &data.train.labels);
        eprintln!(
            "graft: balance: {} ({why})",
            serde_json::to_value(chosen)?.as_str().unwrap_or("?")
        );
        cfg.balance = chosen;
    }
    if resume && folder.read_classes()? != data.classes {
        return Err(bad_input(format!(
            "{}: the classes of {} changed since this run started",
            folder.classes().display(),
            cfg.train_dir.display()
        )));
    }
    let (vs, model, mut optimizer) = build_model(&cfg, data.classes.len(), opts.runtime.device)?;
    let mut progress = Progress::default();
    if resume {
        let (state, saved) = folder.read_checkpoint(&vs)?;
        optimizer.load_state(&state)?;
        progress = saved;
        eprintln!(
            "graft: resuming {} after epoch {}",
            opts.out.display(),
            progress.history.len()
        );
    } else {
        folder.write_config(&cfg)?;
        folder.write_classes(&data.classes)?;
        write_dataset_files(&folder, &cfg, &data)?;
    }
    let mut s = Session {
        cfg: &cfg,
        opts,
        folder,
        vs,
        model,
        classes: data.classes.clone(),
        skips,
    };
    let (train_in, val_in) = s.inputs(&data, resume, &mut progress)?;
    s.epochs(&train_in, &val_in, &mut optimizer, &mut progress)?;
    s.finish(&data, progress, start)
}
