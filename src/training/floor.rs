//! The frozen candidate, the floor every run keeps: a head trained on the frozen network's
//! pooled features of every cached image. One pass of the upper blocks an image, then the head
//! trains in seconds, so its number of epochs is chosen by stratified k-fold over Training and
//! validation together, and every validation image gets a prediction from a head that did not
//! see it (what the fine-tuned candidate is compared with, image by image).
use super::balance;
use super::folds;
use super::inputs::{Inputs, ModelInput};
use crate::data::loader::{self, Skips};
use crate::models::classifier::{Classifier, Head, HeadConfig};
use crate::run::candidates::Floor;
use crate::run::config::TrainConfig;
use anyhow::Result;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// Folds of the cross-validation.
pub const FOLDS: usize = 5;
/// The head's Adam learning rate (constant, so that the best epoch of the folds is the number
/// of epochs the final heads train).
pub const LR: f64 = 1e-3;
/// Head epochs at most; fewer on large sets, where each epoch takes more steps.
pub const MAX_EPOCHS: usize = 40;
/// Rows (images x epochs) one head trains on at most.
pub const MAX_ROWS: usize = 50_000;
/// Rows of a head's step: the head is small, and larger steps spend less on overhead.
pub const BATCH: i64 = 128;

/// Whether the run trains the frozen candidate: its method has one, and the frozen blocks'
/// outputs are cached below blocks that would fine-tune.
pub fn applies(cfg: &TrainConfig, model: &Classifier) -> bool {
    let blocks = model.backbone.blocks.len();
    cfg.method.has_floor() && cfg.cache && (1..blocks).contains(&model.trainable_from)
}

/// Pooled features [N, D] (float32, CPU) of the cached inputs' plain rows (augmented copies
/// left out: they would put an image in two folds).
pub fn pooled(
    model: &Classifier,
    input: &Inputs,
    plain: usize,
    skips: &mut Skips,
) -> Result<Tensor> {
    let order: Vec<usize> = (0..plain).collect();
    let mut rows = Vec::new();
    input.for_each_batch(loader::batches(&order, 64), None, skips, |x, _, _| {
        let ModelInput::Frozen(x) = x else {
            anyhow::bail!("the frozen candidate needs cached inputs");
        };
        rows.push(model.pooled_from_frozen(&x).to_device(Device::Cpu));
        Ok(())
    })?;
    Ok(Tensor::cat(&rows, 0))
}

/// Rows and labels of features to train or score a head on.
#[derive(Clone, Copy)]
pub struct Rows<'a> {
    /// [N, D] float32.
    pub x: &'a Tensor,
    /// Class of each row.
    pub y: &'a [i64],
}

/// How the heads train.
#[derive(Clone, Copy)]
pub struct HeadTraining {
    /// The head's shape and start.
    pub head: HeadConfig,
    /// Classes.
    pub classes: i64,
    /// The training loss's label smoothing.
    pub smoothing: f64,
    /// Class weights of the loss (the run's balance).
    pub balance: crate::run::config::Balance,
    /// The run's seed.
    pub seed: u64,
    /// How the folds hold images out (the run's rule: runs of consecutive frames, or a pick).
    pub holdout: crate::data::labelled::Holdout,
}

impl HeadTraining {
    /// The heads of `cfg`'s run over `classes` classes.
    pub fn of(cfg: &TrainConfig, classes: usize) -> Self {
        Self {
            head: cfg.head,
            classes: classes as i64,
            smoothing: cfg.label_smoothing,
            balance: cfg.balance,
            seed: cfg.seed,
            holdout: cfg.holdout,
        }
    }
}

/// A head trained on `train` for `epochs` epochs, calling `after(epoch, head)` after each.
pub fn train_head(
    how: HeadTraining,
    train: Rows,
    epochs: usize,
    mut after: impl FnMut(usize, &Head),
) -> Result<(nn::VarStore, Head)> {
    tch::manual_seed(how.seed as i64);
    let vs = nn::VarStore::new(Device::Cpu);
    let head = Head::new(&vs.root(), train.x.size()[1], how.classes, how.head);
    let mut opt = nn::Adam::default().build(&vs, LR)?;
    let weights = balance::class_weights(how.balance, train.y, how.classes as usize);
    let y_all = Tensor::from_slice(train.y);
    let n = train.y.len() as i64;
    for epoch in 1..=epochs {
        let order = Tensor::randperm(n, (Kind::Int64, Device::Cpu));
        let mut start = 0;
        while start < n {
            let idx = order.narrow(0, start, BATCH.min(n - start));
            start += BATCH;
            if idx.size()[0] < 2 && n > 1 {
                continue; // a batch of one adds noise, not signal
            }
            let logits = head.forward(&train.x.index_select(0, &idx), true);
            let y = y_all.index_select(0, &idx);
            let loss = balance::loss(&logits, &y, how.smoothing, weights.as_ref());
            opt.backward_step(&loss);
        }
        after(epoch, &head);
    }
    Ok((vs, head))
}

/// Per-row loss (plain cross-entropy) and whether the top class is right.
pub fn score(head: &Head, rows: Rows) -> (Vec<f64>, Vec<bool>) {
    let logits = tch::no_grad(|| head.forward(rows.x, false));
    let logp = logits.log_softmax(1, Kind::Float);
    let y = Tensor::from_slice(rows.y);
    let loss = -logp.gather(1, &y.unsqueeze(1), false).squeeze_dim(1);
    let right = logp.argmax(1, false).eq_tensor(&y);
    let loss = Vec::<f64>::try_from(loss.to_kind(Kind::Double)).unwrap_or_default();
    let right = Vec::<bool>::try_from(right).unwrap_or_default();
    (loss, right)
}

/// Rows the heads of a frozen candidate over `n` images train on at most: the folds' and the
/// two final heads' (for the time budget).
pub fn planned_rows(n: f64) -> usize {
    let inside = n as usize * (FOLDS - 1) / FOLDS;
    FOLDS * inside * max_epochs(inside) + 2 * n as usize * max_epochs(inside)
}

/// Epochs a head trains at most on `rows` rows (see [`MAX_EPOCHS`], [`MAX_ROWS`]).
pub fn max_epochs(rows: usize) -> usize {
    (MAX_ROWS / rows.max(1)).clamp(4, MAX_EPOCHS)
}

/// The k-fold search over Training (`train`) and validation (`val`) rows together: the epochs
/// with the lowest mean held-out loss, and what the folds measured at them; then a head trained
/// on Training alone for those epochs, scored on validation (as the fine-tuned candidate is),
/// returned with the record.
pub fn cross_validate(how: HeadTraining, train: Rows, val: Rows) -> Result<(Floor, nn::VarStore)> {
    let x = Tensor::cat(&[train.x, val.x], 0);
    let y: Vec<i64> = train.y.iter().chain(val.y).copied().collect();
    let n = y.len();
    let folds = folds::assign(&y, FOLDS, how.seed, how.holdout);
    let epochs = max_epochs(n * (FOLDS - 1) / FOLDS);
    // loss[e][i], right[e][i]: row i scored by its fold's head after epoch e + 1.
    let mut loss = vec![vec![0.0; n]; epochs];
    let mut right = vec![vec![false; n]; epochs];
    for f in 0..FOLDS {
        let (inside, held): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| folds[i] != f);
        if held.is_empty() || inside.is_empty() {
            continue;
        }
        let pick = |rows: &[usize]| {
            let idx = Tensor::from_slice(&rows.iter().map(|&i| i as i64).collect::<Vec<_>>());
            let ys: Vec<i64> = rows.iter().map(|&i| y[i]).collect();
            (x.index_select(0, &idx), ys)
        };
        let (xi, yi) = pick(&inside);
        let (xh, yh) = pick(&held);
        let fold_how = HeadTraining {
            seed: how.seed.wrapping_add(1 + f as u64),
            ..how
        };
        train_head(fold_how, Rows { x: &xi, y: &yi }, epochs, |e, head| {
            let (l, r) = score(head, Rows { x: &xh, y: &yh });
            for (j, &i) in held.iter().enumerate() {
                loss[e - 1][i] = l[j];
                right[e - 1][i] = r[j];
            }
        })?;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let share = |v: &[bool]| v.iter().filter(|&&b| b).count() as f64 / v.len().max(1) as f64;
    let best = (0..epochs)
        .min_by(|&a, &b| mean(&loss[a]).total_cmp(&mean(&loss[b])))
        .unwrap_or(0);
    let (vs, head) = train_head(how, train, best + 1, |_, _| {})?;
    let (val_loss, val_right) = score(&head, val);
    let record = Floor {
        epochs: best + 1,
        folds: FOLDS,
        cv_loss: mean(&loss[best]),
        cv_accuracy: share(&right[best]),
        val_loss: mean(&val_loss),
        val_accuracy: share(&val_right),
        val_correct: val_right,
        seconds: 0.0,
    };
    Ok((record, vs))
}

/// Copies the head variables of `from` (a [`Head`]'s store) into the classifier's store `to`.
pub fn copy_head(from: &nn::VarStore, to: &nn::VarStore) -> Result<()> {
    let target = to.variables();
    tch::no_grad(|| -> Result<()> {
        for (name, t) in from.variables() {
            let mut dst = target
                .get(&name)
                .ok_or_else(|| anyhow::anyhow!("the classifier has no head variable {name}"))?
                .shallow_clone();
            dst.copy_(&t.to_device(dst.device()).to_kind(dst.kind()));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::classifier::HeadInit;

    fn how(classes: i64) -> HeadTraining {
        HeadTraining {
            head: HeadConfig {
                hidden: 16,
                dropout: 0.0,
                init: HeadInit::Torch,
            },
            classes,
            smoothing: 0.0,
            balance: crate::run::config::Balance::None,
            seed: 3,
            holdout: crate::data::labelled::Holdout::Random,
        }
    }

    /// Two well-separated clusters in 8 dimensions: the folds learn them, and their held-out
    /// scores say so; labels that are noise score near chance.
    #[test]
    fn cross_validation_scores_each_row_from_a_head_that_did_not_see_it() {
        tch::manual_seed(0);
        let n = 120;
        let y: Vec<i64> = (0..n).map(|i| i % 2).collect();
        let centre = Tensor::from_slice(&y).to_kind(Kind::Float).unsqueeze(1) * 4.0 - 2.0;
        let x = Tensor::randn([n, 8], (Kind::Float, Device::Cpu)) + centre;
        let (tx, vx) = (x.narrow(0, 0, 100), x.narrow(0, 100, 20));
        let (floor, _) = cross_validate(
            how(2),
            Rows {
                x: &tx,
                y: &y[..100],
            },
            Rows {
                x: &vx,
                y: &y[100..],
            },
        )
        .unwrap();
        assert!(floor.cv_accuracy > 0.95, "{floor:?}");
        assert_eq!(floor.val_correct.len(), 20);
        assert!(floor.epochs >= 1 && floor.epochs <= max_epochs(96));
        // Labels with no relation to the features: held out, the heads are near chance, though
        // each could fit its own training rows.
        let noise: Vec<i64> = (0..n).map(|i| (i * 7 / 3) % 2).collect();
        let x = Tensor::randn([n, 8], (Kind::Float, Device::Cpu));
        let (tx, vx) = (x.narrow(0, 0, 100), x.narrow(0, 100, 20));
        let (floor, _) = cross_validate(
            how(2),
            Rows {
                x: &tx,
                y: &noise[..100],
            },
            Rows {
                x: &vx,
                y: &noise[100..],
            },
        )
        .unwrap();
        assert!(floor.cv_accuracy < 0.7, "{floor:?}");
    }
}
