//! `graft train`: image folders in, a fine-tuned classifier and its measured accuracy out. The
//! run folder gets the typed run files; the caller asks `reports` for curves and report.html.
pub mod balance;
pub mod budget;
mod candidates;
pub mod choose;
pub mod costs;
mod deadline;
pub mod feature_rows;
pub mod floor;
pub mod folds;
pub mod inputs;
pub mod optim;
pub mod plan;
mod planning;
pub mod ranks;
pub mod recipe;
pub mod session;
pub mod setup;
pub mod split;
pub mod step;

pub use session::{TrainOptions, TrainOutcome};

use crate::data::check::{self, CheckOptions};
use crate::data::dataset::SplitFile;
use crate::data::layout::Source;
use crate::data::loader::Skips;
use crate::distributed::Group;
use crate::engine::Precision;
use crate::error::bad_input;
use crate::models::classifier::Classifier;
use crate::run::RunFolder;
use crate::run::config::{Balance, Distributed, Freeze, TrainConfig};
use crate::run::dataset_summary::{ClassCounts, DatasetSummary};
use crate::run::history::Progress;
use anyhow::Result;
use optim::Optimizer;
use session::Session;
use setup::Planned;
use std::time::Instant;
use tch::{Device, Tensor, nn};

/// dataset.json (per-class counts as used), and split.json where graft made the Test split.
fn write_dataset_files(folder: &RunFolder, cfg: &TrainConfig, data: &split::Data) -> Result<()> {
    let n = data.classes.len();
    let (train, val) = (data.train.class_counts(n), data.val.class_counts(n));
    let test = data.test.as_ref().map_or(vec![0; n], |t| t.class_counts(n));
    let classes = data
        .classes
        .iter()
        .enumerate()
        .map(|(c, name)| ClassCounts {
            class: name.clone(),
            train: train[c],
            val: val[c],
            test: test[c],
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
/// frozen as configured, on `device`, in the run's precision; and its optimizer.
pub fn build_model(
    cfg: &TrainConfig,
    classes: usize,
    device: Device,
) -> Result<(nn::VarStore, Classifier, Optimizer)> {
    tch::manual_seed(cfg.seed as i64);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let (arch, head) = (cfg.backbone, cfg.head);
    let mut model = Classifier::new(&vs.root(), arch, classes as i64, head, cfg.precision);
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

/// Trains the planned run into the run folder `opts.out` (or, with `resume`, continues the run
/// there from its last checkpoint), then scores Test. Interrupted through `opts.cancel`, it ends
/// with [`Error::Interrupted`] after keeping the last completed epoch.
pub fn train(planned: Planned, opts: &TrainOptions, resume: bool) -> Result<TrainOutcome> {
    let start = Instant::now();
    let Planned {
        config: mut cfg,
        dataset,
    } = planned;
    let folder = RunFolder::new(&opts.out);
    let rt = opts.runtime;
    let (group, writes) = (rt.group, rt.leads());
    cfg.backbone.check_size(cfg.size)?;
    record_ranks(&mut cfg, group, resume && writes);
    cfg.precision = run_precision(&cfg, opts, resume)?;
    // Everything below computes in the run's precision (a resumed run's may differ from asked).
    let rt = rt.in_precision(cfg.precision);
    let mut skips = Skips::default();
    let mut data = split::load_data(&cfg, dataset, &mut skips)?;
    if cfg.balance == Balance::Auto {
        let (chosen, why) = balance::resolve(cfg.balance, &data.train.labels);
        say!(
            "graft: balance: {} ({why})",
            serde_json::to_value(chosen)?.as_str().unwrap_or("?")
        );
        cfg.balance = chosen;
    }
    if resume && writes && folder.read_classes()? != data.classes {
        return Err(bad_input(format!(
            "{}: the classes of {} changed since this run started",
            folder.classes().display(),
            cfg.train_dir.display()
        )));
    }
    let (vs, model, mut optimizer) = build_model(&cfg, data.classes.len(), rt.device)?;
    let floor = floor::applies(&cfg, &model);
    if floor && !cfg.method.fine_tunes() {
        cfg.epochs = 0;
    }
    let mut deadline = None;
    if !resume && let Some(budget) = cfg.time_budget {
        let planning = planning::Planning {
            vs: &vs,
            model: &model,
            rt,
            scratch: &opts.out,
            start,
        };
        deadline = planning::keep_to_budget(&mut cfg, &mut data, budget, planning)?;
    }
    let mut progress = start_progress(&cfg, &data, (&vs, &mut optimizer), opts, resume)?;
    let mut s = Session {
        cfg: &cfg,
        opts,
        rt,
        folder,
        vs,
        model,
        classes: data.classes.clone(),
        skips,
        // Ranks would each decide from their own clock: only one process keeps to it.
        deadline: deadline.filter(|_| group.is_none()).map(|d| (start, d)),
    };
    let (train_in, val_in) = s.inputs(&data, resume, &mut progress)?;
    if floor && progress.floor.is_none() {
        s.train_floor(&train_in, &val_in, &optimizer, &mut progress)?;
    }
    s.epochs(&train_in, &val_in, &mut optimizer, &mut progress)?;
    // The cache is not needed for Test: its memory goes back before the whole network runs.
    drop((train_in, val_in));
    s.finish(&data, progress, start)
}

/// The progress a run starts from: none for a new run (whose settings and dataset files are
/// written), the checkpoint's on resuming (shared with every rank).
fn start_progress(
    cfg: &TrainConfig,
    data: &split::Data,
    (vs, optimizer): (&nn::VarStore, &mut Optimizer),
    opts: &TrainOptions,
    resume: bool,
) -> Result<Progress> {
    let folder = RunFolder::new(&opts.out);
    let (group, writes) = (opts.runtime.group, opts.runtime.leads());
    let mut progress = Progress::default();
    if resume {
        if writes {
            let (state, saved) = folder.read_checkpoint(vs)?;
            optimizer.load_state(&state)?;
            progress = saved;
        }
        if let Some(g) = group {
            progress = ranks::share_checkpoint(vs, optimizer, &progress, g)?;
        }
        say!(
            "graft: resuming {} after epoch {}",
            opts.out.display(),
            progress.history.len()
        );
        if writes {
            // Records how the run goes on (the number of processes may have changed).
            folder.write_config(cfg)?;
        }
    } else if writes {
        folder.write_config(cfg)?;
        folder.write_classes(&data.classes)?;
        write_dataset_files(&folder, cfg, data)?;
    }
    Ok(progress)
}

/// What a run computes in, said: a new run in its runtime's precision; a resumed one in the
/// precision it trained in unless another is asked for (see [`Precision::for_run`]).
fn run_precision(cfg: &TrainConfig, opts: &TrainOptions, resume: bool) -> Result<Precision> {
    let (precision, why) = if resume {
        Precision::for_run(cfg.precision, opts.asked, opts.runtime.device)?
    } else {
        (opts.runtime.precision, None)
    };
    if precision == Precision::Int8 {
        return Err(crate::error::bad_input(
            "--precision int8 is for a trained run's inference: train in fp32 or bf16, then graft quantize --run RUN",
        ));
    }
    match (precision, why) {
        (p, Some(why)) => say!("graft: precision: {p} ({why})"),
        (Precision::Bf16, None) => say!(
            "graft: precision: bf16 (convolutions and matrix products in bfloat16; --precision fp32 for float32)"
        ),
        (Precision::Fp32 | Precision::Int8, None) => say!("graft: precision: fp32"),
    }
    Ok(precision)
}

/// Notes in `cfg` how many processes train it (saying so when a resumed run changes that).
fn record_ranks(cfg: &mut TrainConfig, group: Option<&Group>, resumed: bool) {
    let ran = group.map(|g| Distributed {
        world_size: g.world,
        backend: "gloo".into(),
    });
    if resumed && cfg.distributed != ran {
        let ranks = |d: &Option<Distributed>| d.as_ref().map_or(1, |d| d.world_size);
        say!(
            "graft: resuming with {} processes (the run had {}): the global batch and everything else stay the same",
            ranks(&ran),
            ranks(&cfg.distributed)
        );
    }
    cfg.distributed = ran;
}
