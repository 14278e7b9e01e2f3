//! Measures a cached run's per-image costs on this machine, for the time budget: a few real
//! training and Test images through the run's own pipeline (decoding, fixed blocks, trainable
//! blocks forward and backward, whole-network scoring), each part twice because the first pass
//! pays libtorch's one-time setup. The model is left exactly as it was.
use super::budget::Costs;
use super::floor;
use super::inputs::{CacheJob, Inputs};
use super::optim::Optimizer;
use super::split::Data;
use super::step::{EpochSums, StepBatch, Stepping, train_step};
use crate::data::labelled::Labelled;
use crate::data::loader::Skips;
use crate::inference::score;
use crate::models::Pass;
use crate::models::classifier::{Classifier, Part};
use crate::run::config::TrainConfig;
use crate::runtime::Runtime;
use anyhow::Result;
use std::path::Path;
use std::time::Instant;
use tch::{Tensor, nn};

/// Images in an untimed warm-up pass (libtorch's one-time setup), at the least: caching's takes
/// one training batch, since the steps are timed on its rows as one batch (a batch of 32 timed
/// 6.2 ms an image for steps that then took 4.9 in batches of 64).
const SAMPLE: usize = 32;

/// Seconds per item of `f`: the median of `reps` timed calls after an untimed first one. A
/// short part (a training step is ~0.3 s) needs several: one disturbed call once made the
/// planner thin a run that fitted (15.3 ms measured against the 10.5 ms it then took). Not the
/// fastest: a slow phase of the machine lasts longer than the measurement, and an overrun
/// budget is worse for the user than an early end.
fn per_item(items: usize, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2] / items.max(1) as f64)
}

/// Timed calls of the short parts (a training step, validation, an update): a step varied by
/// -20% to +5% against the epochs that followed with three.
const SHORT: usize = 5;
/// Batches in a timed pass over images (caching, Test): the real passes decode the next batch
/// on worker threads while libtorch runs this one, and on few cores the two slow each other.
/// One batch, decoded before any forward, measured 5.3 ms an image for caching that then ran at
/// 6.4 ms (Fruits-360, 187 px, 2 cores).
const PASS_BATCHES: usize = 3;
/// How much slower per image a whole pass over images runs than its three-batch sample: the
/// sample does not reach the cache file's write-back (nor, on glibc's malloc, the heap trims of
/// every few batches). Measured with three-batch samples on Fruits-360 at 187 px (2 cores, four
/// budget runs, glibc): caching 9-16% slower, Test 6-8%; on jemalloc (one run) the 10% planned
/// caching 5% and Test 3% long, which the epochs' deadline takes up.
const PASS_SLOWDOWN: f64 = 1.1;
/// How much slower per image the epochs train than the step timed on one batch: the machine's
/// pace over minutes is not that of a second, and the epochs read their batches from the whole
/// cache file. Measured on Fruits-360 at 187 px (2 cores, jemalloc, bf16), the epochs' pace
/// against the timed step, validation taken out: +8.5%, +21%, +28% (first epochs, forward and
/// backward timed apart from the update) and +12% (timed whole, as now); the epochs after a
/// deadline's cut +12% to +26%; earlier sessions +11% and +22%. 1.15 is about their median; the
/// deadline takes up the rest.
const STEP_SLOWDOWN: f64 = 1.15;

/// Up to `n` evenly spaced items of `set`, starting `shift` (0..1) of a spacing in.
fn sample(set: &Labelled, n: usize, shift: f64) -> Labelled {
    let k = set.len().min(n).max(1);
    let step = set.len() as f64 / k as f64;
    let idx: Vec<usize> = (0..set.len().min(n))
        .map(|j| (((j as f64 + shift) * step) as usize).min(set.len() - 1))
        .collect();
    set.subset(&idx)
}

/// Seconds per image of `pass` over a few batches of `set`, evenly spaced between the images
/// of the untimed warm-up sample: unread files, so that reading them is timed as the real pass
/// reads them.
fn per_image_pass(
    set: &Labelled,
    size: u32,
    mut pass: impl FnMut(&Labelled) -> Result<()>,
) -> Result<f64> {
    let timed = sample(set, PASS_BATCHES * crate::inference::batch_for(size), 0.5);
    let t = Instant::now();
    pass(&timed)?;
    Ok(PASS_SLOWDOWN * t.elapsed().as_secs_f64() / timed.len().max(1) as f64)
}

/// The per-image costs of `cfg`'s cached run on `data`, measured with `model`; the sample's
/// cache file goes under `scratch` (the run folder), like the run's own.
pub fn measure(
    vs: &nn::VarStore,
    model: &Classifier,
    cfg: &TrainConfig,
    data: &Data,
    rt: Runtime,
    scratch: &Path,
) -> Result<Costs> {
    // Failures in the sample are reported by the real pass; here they are only left out.
    let mut skips = Skips::default();
    let job = CacheJob {
        preprocess: cfg.preprocess(),
        augment: cfg.augment,
        seed: cfg.seed,
        augmented_copies: 0,
        name: "measuring",
        dir: scratch,
    };
    let size = cfg.preprocess().size;
    let mut cache_pass = |set: &Labelled| Inputs::cached(model, set, job, rt, &mut skips);
    // The warm-up pass (libtorch's one-time setup) is kept: the short parts run on its rows.
    let cached = cache_pass(&sample(&data.train, SAMPLE.max(cfg.batch_size), 0.0))?;
    let cache = per_image_pass(&data.train, size, |set| cache_pass(set).map(|_| ()))?;
    let order: Vec<usize> = (0..cached.len()).collect();
    let n = cached.len();
    let step = STEP_SLOWDOWN * whole_step(vs, model, cfg, &cached, rt, &mut skips)?;
    let val = per_item(n, SHORT, || {
        tch::no_grad(|| {
            cached.for_each_batch(vec![order.clone()], None, &mut skips, |x, _, _| {
                let _ = x.logits(model, Pass::INFERENCE);
                Ok(())
            })
        })
    })?;
    let test = match &data.test {
        Some(set) if !set.is_empty() => {
            let classes = &data.classes;
            let mut score = |set: &Labelled| {
                score::evaluate(model, set, classes, cfg.preprocess(), rt, &mut skips).map(|_| ())
            };
            score(&sample(set, SAMPLE, 0.0))?;
            per_image_pass(set, size, score)?
        }
        _ => 0.0,
    };
    Ok(Costs {
        cache,
        step,
        val,
        test,
        head: match floor::applies(cfg, model) {
            true => head_step(model, cfg, data.classes.len())?,
            false => 0.0,
        },
    })
}

/// Seconds per row of a step of the frozen candidate's head (see [`floor::train_head`]), on
/// random features of the backbone's width: the head's cost does not depend on the images.
fn head_step(model: &Classifier, cfg: &TrainConfig, classes: usize) -> Result<f64> {
    let rows = 4 * floor::BATCH;
    let dim = model.backbone.arch.feature_dim;
    let x = Tensor::randn([rows, dim], (tch::Kind::Float, tch::Device::Cpu));
    let y: Vec<i64> = (0..rows).map(|i| i % classes.max(1) as i64).collect();
    let how = floor::HeadTraining::of(cfg, classes);
    per_item(rows as usize, 2, || {
        floor::train_head(how, floor::Rows { x: &x, y: &y }, 1, |_, _| {}).map(|_| ())
    })
}

/// Seconds per image of a training step as the epochs take it ([`train_step`]: forward and
/// backward through the trainable blocks, then the run's optimizer updating the real variables),
/// the variables (batch-norm statistics included) and gradients restored afterwards: the same
/// code as the epochs, so nothing they do goes untimed (the epochs still ran 12% over it in the
/// one run that compared, see [`STEP_SLOWDOWN`]).
fn whole_step(
    vs: &nn::VarStore,
    model: &Classifier,
    cfg: &TrainConfig,
    cached: &Inputs,
    rt: Runtime,
    skips: &mut Skips,
) -> Result<f64> {
    let saved: Vec<(Tensor, Tensor)> = vs
        .variables()
        .into_values()
        .map(|v| {
            let copy = tch::no_grad(|| v.detach().copy());
            (v, copy)
        })
        .collect();
    // The variables the run trains (the frozen blocks' no longer require gradients).
    let trained = vs
        .trainable_variables()
        .into_iter()
        .filter(Tensor::requires_grad);
    let mut optimizer = Optimizer::new(cfg.optimizer, trained.collect());
    let mut sums = EpochSums::default();
    let n = cached.len();
    let order: Vec<usize> = (0..n).collect();
    let seconds = per_item(n, SHORT, || {
        cached.for_each_batch(vec![order.clone()], None, skips, |x, y, _| {
            let part = Part::whole(x.rows() as i64);
            let how = Stepping {
                cfg,
                weights: None,
                rt,
            };
            train_step(
                model,
                &mut optimizer,
                how,
                StepBatch { x, y, part },
                &mut sums,
            )
        })
    })?;
    tch::no_grad(|| {
        for (mut v, copy) in saved {
            v.copy_(&copy);
            let mut g = v.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    });
    Ok(seconds)
}
