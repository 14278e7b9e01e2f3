//! Training on classes of very different sizes: each epoch's order (every image once, or every
//! class equally often) and the loss (plain, or each class weighed by the inverse of its share).
use crate::run::config::Balance;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use tch::{Kind, Tensor};

/// A largest-to-smallest training class ratio from which `auto` balances.
pub const AUTO_FROM: f64 = 2.0;

/// What `auto` becomes for a training part labelled `labels` (other choices stay), and why.
pub fn resolve(balance: Balance, labels: &[i64]) -> (Balance, String) {
    if balance != Balance::Auto {
        return (balance, "as asked".into());
    }
    let mut counts: std::collections::BTreeMap<i64, usize> = Default::default();
    for &l in labels {
        *counts.entry(l).or_default() += 1;
    }
    let max = counts.values().copied().max().unwrap_or(0);
    let min = counts.values().copied().min().unwrap_or(0).max(1);
    let ratio = max as f64 / min as f64;
    if ratio >= AUTO_FROM {
        let why = format!("classes from {min} to {max} training images ({ratio:.1}x)");
        (Balance::Sampler, why)
    } else {
        (
            Balance::None,
            format!("classes within {AUTO_FROM}x of each other ({ratio:.1}x)"),
        )
    }
}

fn rng(seed: u64, epoch: u64) -> StdRng {
    StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ epoch)
}

/// The order of one epoch over inputs labelled `labels`: a seeded permutation (the same for a
/// resumed run), or for [`Balance::Sampler`] as many draws as there are inputs with every
/// class drawn equally often: whole passes over a small class, then a random part of it.
pub fn epoch_order(balance: Balance, labels: &[i64], seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = rng(seed, epoch);
    let mut order: Vec<usize> = match balance {
        Balance::Sampler => balanced_draws(labels, &mut rng),
        Balance::None | Balance::Weights | Balance::Auto => (0..labels.len()).collect(),
    };
    order.shuffle(&mut rng);
    order
}

fn balanced_draws(labels: &[i64], rng: &mut StdRng) -> Vec<usize> {
    let mut by_class: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
    for (i, &l) in labels.iter().enumerate() {
        by_class.entry(l).or_default().push(i);
    }
    let classes = by_class.len().max(1);
    let mut out = Vec::with_capacity(labels.len());
    for (k, members) in by_class.values_mut().enumerate() {
        // The first `labels.len() % classes` classes take one draw more, so the total is exact.
        let quota = labels.len() / classes + usize::from(k < labels.len() % classes);
        for _ in 0..quota / members.len() {
            out.extend_from_slice(members);
        }
        members.shuffle(rng);
        out.extend_from_slice(&members[..quota % members.len()]);
    }
    out
}

/// For [`Balance::Weights`]: the loss weight of each class, N / (C * n_c), so that every class
/// weighs as much in total (a class without images gets weight 0).
pub fn class_weights(balance: Balance, labels: &[i64], classes: usize) -> Option<Tensor> {
    if balance != Balance::Weights {
        return None;
    }
    let mut counts = vec![0f64; classes];
    for &l in labels {
        counts[l as usize] += 1.0;
    }
    let present = counts.iter().filter(|&&c| c > 0.0).count().max(1) as f64;
    let n = labels.len() as f64;
    let w: Vec<f32> = counts
        .iter()
        .map(|&c| {
            if c > 0.0 {
                (n / (present * c)) as f32
            } else {
                0.0
            }
        })
        .collect();
    Some(Tensor::from_slice(&w))
}

/// Cross-entropy against targets that give `smoothing` of their mass evenly to all classes
/// (0: plain cross-entropy), which keeps the logits from growing without bound on easy data;
/// with `weights`, each example counts by its class's weight (a weighted mean, as PyTorch's).
pub fn loss(logits: &Tensor, labels: &Tensor, smoothing: f64, weights: Option<&Tensor>) -> Tensor {
    let logp = logits.log_softmax(1, Kind::Float);
    let per_example = |t: Tensor| match weights {
        None => t.mean(Kind::Float),
        Some(w) => {
            let w = w.to_device(t.device()).index_select(0, labels);
            (t * &w).sum(Kind::Float) / w.sum(Kind::Float)
        }
    };
    let nll = match weights {
        None => logp.nll_loss(labels),
        Some(_) => per_example(-logp.gather(1, &labels.unsqueeze(1), false).squeeze_dim(1)),
    };
    if smoothing <= 0.0 {
        return nll;
    }
    let uniform = per_example(-logp.mean_dim(1, false, Kind::Float));
    nll * (1.0 - smoothing) + uniform * smoothing
}

/// [`loss`]'s numerator: the examples' (weighted) losses summed. Ranks that each hold part of a
/// batch divide it by the whole batch's [`weight_total`], so their gradients add up to one
/// process's.
pub fn loss_summed(
    logits: &Tensor,
    labels: &Tensor,
    smoothing: f64,
    weights: Option<&Tensor>,
) -> Tensor {
    let logp = logits.log_softmax(1, Kind::Float);
    let nll = -logp.gather(1, &labels.unsqueeze(1), false).squeeze_dim(1);
    let per_example = if smoothing > 0.0 {
        nll * (1.0 - smoothing) - logp.mean_dim(1, false, Kind::Float) * smoothing
    } else {
        nll
    };
    match weights {
        None => per_example.sum(Kind::Float),
        Some(w) => {
            (per_example * w.to_device(logits.device()).index_select(0, labels)).sum(Kind::Float)
        }
    }
}

/// [`loss`]'s denominator: the examples' weights summed (their number, without weights).
pub fn weight_total(labels: &Tensor, weights: Option<&Tensor>) -> f64 {
    match weights {
        None => labels.size()[0] as f64,
        Some(w) => w
            .to_device(labels.device())
            .index_select(0, labels)
            .sum(Kind::Double)
            .double_value(&[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sampler_draws_every_class_equally_and_keeps_the_epoch_length() {
        let labels: Vec<i64> = [vec![0; 90], vec![1; 9], vec![2; 1]].concat();
        let order = epoch_order(Balance::Sampler, &labels, 7, 1);
        assert_eq!(order.len(), 100);
        let per_class = |c| order.iter().filter(|&&i| labels[i] == c).count();
        assert_eq!([per_class(0), per_class(1), per_class(2)], [34, 33, 33]);
        // The small classes are passed over whole before any image repeats more than others.
        let ones: Vec<usize> = order.iter().copied().filter(|&i| labels[i] == 1).collect();
        let min = (90..99)
            .map(|i| ones.iter().filter(|&&j| j == i).count())
            .min();
        assert_eq!(min, Some(3));
        assert_eq!(
            order,
            epoch_order(Balance::Sampler, &labels, 7, 1),
            "seeded"
        );
        let mut plain = epoch_order(Balance::None, &labels, 7, 1);
        plain.sort_unstable();
        assert_eq!(plain, (0..100).collect::<Vec<_>>());
    }

    /// Logistic regression on one feature, 900 vs 100 examples whose distributions overlap:
    /// weighing the small class moves the boundary its way, so more of it is recognised.
    #[test]
    fn weights_raise_the_recall_of_a_small_class() {
        tch::manual_seed(0);
        let x0 = Tensor::randn([900, 1], (Kind::Float, tch::Device::Cpu));
        let x1 = Tensor::randn([100, 1], (Kind::Float, tch::Device::Cpu)) + 1.5;
        let x = Tensor::cat(&[x0, x1], 0);
        let labels: Vec<i64> = [vec![0; 900], vec![1; 100]].concat();
        let y = Tensor::from_slice(&labels);
        let recall = |balance| {
            let w = Tensor::zeros([1, 2], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
            let b = Tensor::zeros([2], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
            let cw = class_weights(balance, &labels, 2);
            for _ in 0..500 {
                let logits = x.matmul(&w) + &b;
                let l = loss(&logits, &y, 0.1, cw.as_ref());
                let (gw, gb) = {
                    let g = Tensor::run_backward(&[l], &[&w, &b], false, false);
                    (g[0].shallow_clone(), g[1].shallow_clone())
                };
                tch::no_grad(|| {
                    let _ = w.shallow_clone().g_sub_(&(gw * 0.5));
                    let _ = b.shallow_clone().g_sub_(&(gb * 0.5));
                });
            }
            let pred = (x.matmul(&w) + &b).argmax(1, false);
            let hits = pred.narrow(0, 900, 100).sum(Kind::Int64).int64_value(&[]);
            hits as f64 / 100.0
        };
        let (plain, weighted) = (recall(Balance::None), recall(Balance::Weights));
        assert!(
            weighted > plain + 0.2,
            "recall of the small class: {plain} plain, {weighted} weighted"
        );
    }

    #[test]
    fn auto_balances_only_imbalanced_training_sets() {
        let even: Vec<i64> = [vec![0; 64], vec![1; 64]].concat();
        assert_eq!(resolve(Balance::Auto, &even).0, Balance::None);
        let skewed: Vec<i64> = [vec![0; 270], vec![1; 27]].concat();
        let (b, why) = resolve(Balance::Auto, &skewed);
        assert_eq!(b, Balance::Sampler);
        assert!(why.contains("27 to 270") && why.contains("10.0x"), "{why}");
        assert_eq!(
            resolve(Balance::Weights, &skewed).0,
            Balance::Weights,
            "an explicit choice stays"
        );
    }

    #[test]
    fn class_weights_equalize_classes_and_the_weighted_loss_is_their_mean() {
        let labels = [0i64, 0, 0, 1];
        let w = class_weights(Balance::Weights, &labels, 3).unwrap();
        assert_eq!(Vec::<f32>::try_from(&w).unwrap(), [4.0 / 6.0, 2.0, 0.0]);
        assert!(class_weights(Balance::None, &labels, 3).is_none());
        let logits = Tensor::from_slice(&[2.0f32, 0.0, 0.0, 0.0, 1.0, 0.0]).view([2, 3]);
        let y = Tensor::from_slice(&[0i64, 1]);
        let plain = loss(&logits, &y, 0.0, None).double_value(&[]);
        let ones = Tensor::from_slice(&[1.0f32, 1.0, 1.0]);
        let same = loss(&logits, &y, 0.0, Some(&ones)).double_value(&[]);
        assert!((plain - same).abs() < 1e-6);
        let heavy = Tensor::from_slice(&[1.0f32, 3.0, 1.0]);
        let l0 = -(2f64.exp() / (2f64.exp() + 2.0)).ln();
        let l1 = -(1f64.exp() / (1f64.exp() + 2.0)).ln();
        let want = (l0 + 3.0 * l1) / 4.0;
        assert!((loss(&logits, &y, 0.0, Some(&heavy)).double_value(&[]) - want).abs() < 1e-5);
    }

    #[test]
    fn a_batch_split_in_parts_sums_to_the_whole_batchs_loss() {
        let logits =
            Tensor::from_slice(&[2.0f32, 0.0, 0.5, -1.0, 1.0, 0.0, 0.3, 0.2, 0.1]).view([3, 3]);
        let y = Tensor::from_slice(&[0i64, 1, 2]);
        let heavy = Tensor::from_slice(&[1.0f32, 3.0, 0.5]);
        for (smoothing, weights) in [(0.0, None), (0.1, None), (0.1, Some(&heavy))] {
            let whole = loss(&logits, &y, smoothing, weights).double_value(&[]);
            let total = weight_total(&y, weights);
            // Rows 0..2 on one rank, row 2 on another.
            let parts: f64 = [(0, 2), (2, 1)]
                .iter()
                .map(|&(at, n)| {
                    let (l, t) = (logits.narrow(0, at, n), y.narrow(0, at, n));
                    loss_summed(&l, &t, smoothing, weights).double_value(&[]) / total
                })
                .sum();
            assert!(
                (whole - parts).abs() < 1e-6,
                "{smoothing}: {whole} vs {parts}"
            );
        }
    }
}
