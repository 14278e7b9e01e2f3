//! Stratified k-fold assignment: the validation of candidates trained on cached features, where
//! training k times costs seconds and every image is scored once by a model that did not see it.
use crate::data::labelled::Holdout;
use rand::SeedableRng;
use rand::seq::SliceRandom;

/// The fold of each item by the run's hold-out rule: [`stratified`] for photos each their own;
/// for frames ([`Holdout::Blocks`]), each class's items in their order cut into k runs of
/// consecutive items, so that a held-out frame's near-identical neighbours are held out with it
/// (a shuffled deal would score frames against their twins).
pub fn assign(labels: &[i64], k: usize, seed: u64, holdout: Holdout) -> Vec<usize> {
    match holdout {
        Holdout::Random => stratified(labels, k, seed),
        Holdout::Blocks => blocks(labels, k),
    }
}

/// Each class's items, in their order, cut into `k` runs of consecutive items as equal as can be.
pub fn blocks(labels: &[i64], k: usize) -> Vec<usize> {
    let k = k.max(1);
    let mut fold = vec![0; labels.len()];
    let mut classes: Vec<i64> = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    for class in classes {
        let members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        let n = members.len();
        for (j, &i) in members.iter().enumerate() {
            fold[i] = j * k / n.max(1);
        }
    }
    fold
}

/// The fold (0..k) of each item of `labels`: each class's items in a seeded shuffle, dealt round
/// the folds, each class starting where the previous one stopped, so every fold holds each class
/// within one item of its share and the folds' sizes differ by at most one. Deterministic in
/// (`labels`, `k`, `seed`).
pub fn stratified(labels: &[i64], k: usize, seed: u64) -> Vec<usize> {
    let k = k.max(1);
    let mut classes: Vec<i64> = labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    let mut fold = vec![0; labels.len()];
    let mut next = 0;
    for class in classes {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        let mut rng =
            rand::rngs::StdRng::seed_from_u64(seed ^ (class as u64).wrapping_mul(0x9E37_79B9));
        members.shuffle(&mut rng);
        for i in members {
            fold[i] = next % k;
            next += 1;
        }
    }
    fold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified_balanced_and_deterministic() {
        // Three classes of 23, 7 and 2 items.
        let labels: Vec<i64> = (0..23)
            .map(|_| 0)
            .chain((0..7).map(|_| 1))
            .chain([2, 2])
            .collect();
        let folds = stratified(&labels, 5, 7);
        assert_eq!(
            folds,
            stratified(&labels, 5, 7),
            "the same seed, the same folds"
        );
        assert_ne!(
            folds,
            stratified(&labels, 5, 8),
            "another seed, another deal"
        );
        let mut sizes = [0usize; 5];
        for &f in &folds {
            sizes[f] += 1;
        }
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
        for class in 0..3 {
            let mut per_fold = [0usize; 5];
            for (i, &f) in folds.iter().enumerate() {
                if labels[i] == class {
                    per_fold[f] += 1;
                }
            }
            let (lo, hi) = (
                per_fold.iter().min().unwrap(),
                per_fold.iter().max().unwrap(),
            );
            assert!(hi - lo <= 1, "class {class}: {per_fold:?}");
        }
        // The order of the items within a class is shuffled, not dealt in file order.
        let firsts: Vec<usize> = folds[..5].to_vec();
        assert_ne!(firsts, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn frames_are_held_out_in_runs_of_consecutive_items() {
        let labels: Vec<i64> = (0..10).map(|_| 0).chain((0..5).map(|_| 1)).collect();
        let folds = assign(&labels, 5, 7, Holdout::Blocks);
        assert_eq!(folds, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 0, 1, 2, 3, 4]);
        assert_eq!(
            folds,
            assign(&labels, 5, 8, Holdout::Blocks),
            "no seed in it"
        );
        assert_eq!(
            assign(&labels, 5, 7, Holdout::Random),
            stratified(&labels, 5, 7)
        );
    }
}
