//! A new cached run planned to its time budget: the costs measured on this machine, the input
//! size, the images and the epochs chosen (see [`budget`]), said out loud, and the deadline the
//! epochs then keep to.
use super::{budget, costs, floor, split};
use crate::data::labelled::Labelled;
use crate::models::classifier::Classifier;
use crate::run::config::{TrainConfig, Validation};
use crate::runtime::Runtime;
use anyhow::Result;
use std::path::Path;
use std::time::Instant;
use tch::nn;

/// The run being planned to a time budget: its model, and where and since when it runs.
pub(super) struct Planning<'a> {
    pub vs: &'a nn::VarStore,
    pub model: &'a Classifier,
    pub rt: Runtime<'a>,
    /// A folder for the measurements' scratch files.
    pub scratch: &'a Path,
    pub start: Instant,
}

/// The plan over more of the frames that the plan capped, when `plan` leaves time to spare
/// (see [`budget::grow_cap`]), said out loud.
fn more_frames(
    cfg: &TrainConfig,
    data: &split::Data,
    budget: f64,
    costs: &budget::Costs,
    work: &budget::Work,
    plan: &budget::Plan,
) -> Option<budget::Plan> {
    let current = cfg.max_per_class.filter(|_| cfg.cap_grows)?;
    let (train_per_class, val_per_class) = data.whole_counts();
    let whole = budget::Work {
        train_per_class,
        val_per_class,
        ..work.clone()
    };
    let grown = budget::grow_cap(budget, costs, &whole, plan, current)?;
    say!(
        "graft: budget: time to spare at {} px: {} of the near-identical frames per class instead of {current}",
        cfg.size,
        grown.cap.map_or("all".into(), |c| c.to_string())
    );
    Some(grown)
}

/// Says the plan: the images, the candidates and epochs, and where its time goes.
fn say_plan(plan: &budget::Plan, floor: bool) {
    let e = plan.estimate;
    let training = match (plan.epochs, floor) {
        (0, true) => "the frozen candidate only (no time for fine-tuning)".to_string(),
        (n, floor) => format!(
            "{}{n} epochs{}",
            if floor {
                "the frozen candidate, then "
            } else {
                ""
            },
            if plan.share < 1.0 {
                format!(" of {:.0}% of the batches each", 100.0 * plan.share)
            } else {
                String::new()
            }
        ),
    };
    say!(
        "graft: budget: plan: {}, {training}: planned {:.0} s (so far {:.0} s, cache {:.0} s, frozen candidate {:.0} s, epochs {:.0} s, Test {:.0} s)",
        plan.cap.map_or("every image".into(), |c| format!(
            "at most {c} training images per class"
        )),
        e.total(),
        e.spent,
        e.cache,
        e.floor,
        e.epochs,
        e.test
    );
}

/// Plans the training images per class and the epochs that fit `budget` seconds, from costs
/// measured on this machine, and says so; returns the deadline the epochs keep to. Only cached
/// runs are planned.
pub(super) fn keep_to_budget(
    cfg: &mut TrainConfig,
    data: &mut split::Data,
    budget: f64,
    Planning {
        vs,
        model,
        rt,
        scratch,
        start,
    }: Planning,
) -> Result<Option<budget::Deadline>> {
    let group = rt.group;
    if !(cfg.cache && model.trainable_from > 0) {
        say!("graft: budget: not planned (only cached runs are; this one streams its images)");
        return Ok(None);
    }
    let measure = |cfg: &TrainConfig| -> Result<budget::Costs> {
        let mine = costs::measure(vs, model, cfg, data, rt.over(None), scratch)?;
        group.map_or(Ok(mine), |g| {
            Ok(budget::Costs::shared(&g.all_gather_json(&[mine])?))
        })
    };
    // Every rank plans from the same figures, so all make the same plan.
    let spent = || -> Result<f64> {
        let mine = start.elapsed().as_secs_f64();
        group.map_or(Ok(mine), |g| g.broadcast_json(Some(&mine)))
    };
    let mut costs = measure(cfg)?;
    let n = data.classes.len();
    let mut work = budget::Work {
        train_per_class: data.train.class_counts(n),
        val_per_class: data.val.class_counts(n),
        val_fraction: match cfg.validation {
            Validation::Split(f) => Some(f),
            _ => None,
        },
        copies: cfg.cache_augmented_copies,
        test: data.test.as_ref().map_or(0, Labelled::len),
        epochs: cfg.epochs,
        floor: floor::applies(cfg, model),
        spent: spent()?,
    };
    let sizes = budget::sizes(cfg.size, cfg.size_floor);
    if let Some(size) = budget::fit_size(budget, &costs, cfg.size, &sizes, &work)
        && size != cfg.size
    {
        say!(
            "graft: budget: {size} px instead of {}: there every training image fits (resolution goes before images, down to the images' own size)",
            cfg.size
        );
        cfg.size = size;
        costs = measure(cfg)?;
        work.spent = spent()?;
    }
    let fitted = budget::fit(budget, &costs, &work);
    let plan = more_frames(cfg, data, budget, &costs, &work, &fitted).unwrap_or(fitted);
    let ms = |s: f64| 1000.0 * s;
    say!(
        "graft: budget: {budget:.0} s; per image here: caching {:.1} ms, training {:.1} ms, validation {:.1} ms, Test {:.1} ms",
        ms(costs.cache),
        ms(costs.step),
        ms(costs.val),
        ms(costs.test)
    );
    // A plan that thins, or one that took more frames, changes the cap.
    if plan.cap.is_some() || plan != fitted {
        cfg.max_per_class = plan.cap;
        data.cap(cfg);
    }
    cfg.epochs = plan.epochs;
    say_plan(&plan, work.floor);
    let e = plan.estimate;
    if !plan.fits {
        say!(
            "graft: warning: the budget of {budget:.0} s cannot be kept: the smallest plan takes about {:.0} s (--time-budget to allow more)",
            e.total()
        );
    }
    // A whole epoch's planned seconds (validation, a small part, counted as if it shrank with
    // the share too).
    let whole_epoch = e.epochs / plan.epochs.max(1) as f64 / plan.share;
    Ok(Some(budget::Deadline {
        at: budget,
        epoch: whole_epoch,
        test: e.test,
        share: plan.share,
    }))
}
