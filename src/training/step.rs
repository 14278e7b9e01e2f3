//! One data-parallel-ready training step, and what an epoch of them adds up.
use super::balance;
use super::inputs::ModelInput;
use super::optim::Optimizer;
use crate::models::classifier::{Classifier, Part};
use crate::models::pass::batch_norm_over;
use crate::run::config::TrainConfig;
use crate::runtime::Runtime;
use anyhow::Result;
use std::time::Instant;
use tch::{Kind, Tensor};

/// This process's rows of one global batch: the inputs, their labels, and which part of the
/// global batch they are.
pub struct StepBatch {
    /// The inputs.
    pub x: ModelInput,
    /// Their labels.
    pub y: Tensor,
    /// Where they sit in the global batch.
    pub part: Part,
}

/// How a run steps: its settings, the class weights of its loss, and where it runs (the ranks
/// whose gradients are summed).
#[derive(Clone, Copy)]
pub struct Stepping<'a> {
    /// The run's settings.
    pub cfg: &'a TrainConfig,
    /// The loss's class weights, when classes are balanced by weight.
    pub weights: Option<&'a Tensor>,
    /// The execution context.
    pub rt: Runtime<'a>,
}

/// One update from `batch`: forward, loss, backward, gradients summed over the runtime's ranks,
/// the optimizer's step; its figures go into `sums`. A batch that no rank could decode is
/// skipped by all.
pub fn train_step(
    model: &Classifier,
    optimizer: &mut Optimizer,
    how: Stepping,
    batch: StepBatch,
    sums: &mut EpochSums,
) -> Result<()> {
    let Stepping { cfg, weights, rt } = how;
    let StepBatch { x, y, part } = batch;
    let group = rt.group;
    let n = x.rows();
    let w = balance::weight_total(&y, weights);
    let (rows, weight) = match group {
        None => (n as f64, w),
        Some(g) => {
            let mut t = Tensor::from_slice(&[n as f64, w]);
            g.all_reduce_sum(&mut t)?;
            (t.double_value(&[0]), t.double_value(&[1]))
        }
    };
    if rows == 0.0 {
        return Ok(());
    }
    let logits = batch_norm_over(group, |pass| x.logits_part(model, pass, part))?;
    let smoothing = cfg.label_smoothing;
    let loss = match group {
        None => balance::loss(&logits, &y, smoothing, weights),
        Some(_) => balance::loss_summed(&logits, &y, smoothing, weights) / weight,
    };
    optimizer.zero_grad();
    loss.f_backward().map_err(|e| match group {
        Some(g) => anyhow::anyhow!(
            "rank {} of {}: backward pass (its batch norms sum gradients over the ranks): {e}",
            g.rank,
            g.world
        ),
        None => e.into(),
    })?;
    if let Some(g) = group {
        let t0 = Instant::now();
        sums.reduced_bytes += g.all_reduce_grads(optimizer.params())?;
        sums.reduce_seconds += t0.elapsed().as_secs_f64();
    }
    optimizer.step()?;
    sums.add(&loss, &logits, &y, rows);
    Ok(())
}

/// What an epoch adds up on this process.
#[derive(Default)]
pub struct EpochSums {
    /// Each batch's mean loss times the batch's size, as this process sees its share: the mean
    /// of the whole batch with one process; its summand of that mean with a group.
    pub loss: f64,
    /// Images of the whole batches (one process's count).
    pub rows: f64,
    /// Correct predictions among this process's images.
    pub correct: i64,
    /// This process's images.
    pub seen: usize,
    /// Time spent summing gradients over the ranks, and the bytes sent.
    pub reduce_seconds: f64,
    /// Bytes of gradients this process sent into the sums.
    pub reduced_bytes: usize,
}

impl EpochSums {
    fn add(&mut self, loss: &Tensor, logits: &Tensor, labels: &Tensor, rows: f64) {
        self.loss += loss.double_value(&[]) * rows;
        self.rows += rows;
        self.correct += logits
            .argmax(1, false)
            .eq_tensor(labels)
            .sum(Kind::Int64)
            .int64_value(&[]);
        self.seen += labels.size()[0] as usize;
    }
}
