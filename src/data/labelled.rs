//! Labelled image lists and the ways a training set is cut: a stratified, seeded split that holds
//! out a share of each class (validation, or graft's own Test), and an evenly spaced cap per class.
use super::folders::Item;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::sync::Arc;

/// Image paths with their labels (indices into a class list).
#[derive(Debug, Clone, Default)]
pub struct Labelled {
    /// The image files (shared: batch loaders hold them while they run).
    pub paths: Arc<Vec<PathBuf>>,
    /// One label per path.
    pub labels: Vec<i64>,
}

impl Labelled {
    /// The items of a scanned folder, in order.
    pub fn from_items(items: &[Item]) -> Self {
        Self {
            paths: Arc::new(items.iter().map(|i| i.path.clone()).collect()),
            labels: items.iter().map(|i| i.label as i64).collect(),
        }
    }

    /// The items at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> Self {
        Self {
            paths: Arc::new(idx.iter().map(|&i| self.paths[i].clone()).collect()),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// Images of each of `classes` classes, indexed by label.
    pub fn class_counts(&self, classes: usize) -> Vec<usize> {
        let mut counts = vec![0; classes];
        self.labels.iter().for_each(|&l| counts[l as usize] += 1);
        counts
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// At most `max` images of each class, evenly spaced through the class's (path-sorted)
    /// images: neighbouring video frames are near duplicates, so spacing keeps the variety.
    pub fn cap_per_class(&self, max: usize) -> Self {
        let mut by_class: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
        for (i, &label) in self.labels.iter().enumerate() {
            by_class.entry(label).or_default().push(i);
        }
        let mut keep: Vec<usize> = by_class
            .values()
            .flat_map(|idx| {
                let n = idx.len();
                let k = n.min(max.max(1));
                (0..k).map(move |j| idx[j * n / k])
            })
            .collect();
        keep.sort_unstable();
        self.subset(&keep)
    }
}

/// How the held-out images of a class are picked (the same rule for validation and for the Test
/// that graft splits off a one-folder dataset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Holdout {
    /// A seeded random pick: right for photos that are each their own.
    #[default]
    Random,
    /// One contiguous run of the class's path-sorted images at a seeded place: for frames of a
    /// video or bursts, where a random pick sits between near-identical training frames and
    /// measures recall of what was seen (Fruits-360's reads 100% while Test reads 98.7%).
    Blocks,
}

impl std::str::FromStr for Holdout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "random" => Ok(Holdout::Random),
            "blocks" => Ok(Holdout::Blocks),
            _ => Err(format!("unknown holdout '{s}' (random or blocks)")),
        }
    }
}

impl Holdout {
    /// How the held-out images were picked, for the dataset's description.
    pub fn describe(self) -> &'static str {
        match self {
            Holdout::Random => "seeded",
            Holdout::Blocks => "one seeded block of consecutive images",
        }
    }
}

/// Stratified, seeded split of item indices into (kept, held out), both sorted.
///
/// In each class of n items, round(n * fraction) are held out (at least 1 when n >= 2 and
/// fraction > 0, and at most n - 1 so that every class keeps a training item; a class of one item
/// stays in training), picked by `holdout`. `fraction` is clamped to [0, 1]; 0 keeps everything.
/// Labels >= `n_classes` are handled as extra classes.
pub fn stratified_split(
    items: &[Item],
    n_classes: usize,
    fraction: f64,
    (holdout, seed): (Holdout, u64),
) -> (Vec<usize>, Vec<usize>) {
    let fraction = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    };
    let n_groups = items
        .iter()
        .map(|i| i.label + 1)
        .max()
        .unwrap_or(0)
        .max(n_classes);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_groups];
    for (i, item) in items.iter().enumerate() {
        by_class[item.label].push(i);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut train = Vec::with_capacity(items.len());
    let mut val = Vec::new();
    for mut members in by_class {
        let n = members.len();
        let mut k = (n as f64 * fraction).round() as usize;
        if fraction > 0.0 && n >= 2 {
            k = k.max(1);
        }
        k = k.min(n.saturating_sub(1));
        if k == 0 {
            train.extend_from_slice(&members);
            continue;
        }
        match holdout {
            Holdout::Random => members.shuffle(&mut rng),
            Holdout::Blocks => {
                // Path order is frame order; the block moves to the front.
                members.sort_by(|&a, &b| items[a].path.cmp(&items[b].path));
                let start = rng.gen_range(0..=n - k);
                members.rotate_left(start);
            }
        }
        val.extend_from_slice(&members[..k]);
        train.extend_from_slice(&members[k..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::folders::ImageFolder;
    use std::path::Path;

    fn demo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/fruits-mini")
    }

    #[test]
    fn cap_per_class_keeps_evenly_spaced_images_of_every_class() {
        let paths: Vec<PathBuf> = (0..13).map(|i| PathBuf::from(format!("{i}.jpg"))).collect();
        let labels = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2];
        let split = Labelled {
            paths: Arc::new(paths),
            labels,
        };
        let capped = split.cap_per_class(4);
        let names: Vec<String> = capped
            .paths
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "0.jpg", "2.jpg", "5.jpg", "7.jpg", "10.jpg", "11.jpg", "12.jpg"
            ]
        );
        assert_eq!(capped.labels, [0, 0, 0, 0, 1, 1, 2]);
        assert_eq!(split.cap_per_class(100).len(), 13);
    }

    #[test]
    fn stratified_split_properties() {
        let f = ImageFolder::scan(&demo().join("Training")).unwrap();
        let nc = f.classes.len();
        let (train, val) = stratified_split(&f.items, nc, 0.2, (Holdout::Random, 7));
        // Sorted, disjoint, covering.
        assert!(train.windows(2).all(|w| w[0] < w[1]));
        assert!(val.windows(2).all(|w| w[0] < w[1]));
        let mut all: Vec<usize> = train.iter().chain(&val).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..f.items.len()).collect::<Vec<_>>());
        // Every class in validation, with round(24 * 0.2) = 5 (+-1) items.
        let mut per_class = vec![0usize; nc];
        for &i in &val {
            per_class[f.items[i].label] += 1;
        }
        for &c in &per_class {
            assert!((4..=6).contains(&c), "{per_class:?}");
        }
        // Deterministic for a seed, different for another.
        assert_eq!(
            stratified_split(&f.items, nc, 0.2, (Holdout::Random, 7)),
            (train.clone(), val.clone())
        );
        assert_ne!(
            stratified_split(&f.items, nc, 0.2, (Holdout::Random, 8)).1,
            val
        );
        // Fraction 0: all train.
        let (t0, v0) = stratified_split(&f.items, nc, 0.0, (Holdout::Random, 7));
        assert!(v0.is_empty());
        assert_eq!(t0.len(), f.items.len());
    }

    #[test]
    fn stratified_split_small_classes() {
        let item = |label| Item {
            path: PathBuf::from("x.jpg"),
            label,
        };
        // Class 0: 1 item, class 1: 2 items, class 2: 10 items.
        let mut items = vec![item(0), item(1), item(1)];
        items.extend((0..10).map(|_| item(2)));
        let (train, val) = stratified_split(&items, 3, 0.01, (Holdout::Random, 1));
        let labels: Vec<usize> = val.iter().map(|&i| items[i].label).collect();
        assert_eq!(labels.len(), 2);
        assert!(labels.contains(&1) && labels.contains(&2));
        assert!(train.contains(&0));
        // A large fraction still leaves one training item per class.
        let (train, _) = stratified_split(&items, 3, 1.0, (Holdout::Random, 1));
        let mut tl: Vec<usize> = train.iter().map(|&i| items[i].label).collect();
        tl.dedup();
        assert_eq!(tl, vec![0, 1, 2]);
    }

    #[test]
    fn blocks_hold_out_one_contiguous_run_per_class() {
        let f = ImageFolder::scan(&demo().join("Training")).unwrap();
        let nc = f.classes.len();
        let blocks = (Holdout::Blocks, 7);
        let (train, val) = stratified_split(&f.items, nc, 0.2, blocks);
        let (rt, rv) = stratified_split(&f.items, nc, 0.2, (Holdout::Random, 7));
        assert_eq!((train.len(), val.len()), (rt.len(), rv.len()));
        for c in 0..nc {
            // The class's images in path order; its held-out ones are neighbours there.
            let mut class: Vec<usize> = (0..f.items.len())
                .filter(|&i| f.items[i].label == c)
                .collect();
            class.sort_by(|&a, &b| f.items[a].path.cmp(&f.items[b].path));
            let at: Vec<usize> = (0..class.len())
                .filter(|&j| val.contains(&class[j]))
                .collect();
            assert!(at.len() >= 4, "class {c}: {at:?}");
            assert!(at.windows(2).all(|w| w[1] == w[0] + 1), "class {c}: {at:?}");
        }
        let again = stratified_split(&f.items, nc, 0.2, blocks);
        assert_eq!(again, (train, val.clone()));
        assert_ne!(
            stratified_split(&f.items, nc, 0.2, (Holdout::Blocks, 8)).1,
            val
        );
    }
}
