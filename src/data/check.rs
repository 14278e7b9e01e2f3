//! A dataset check before training: classes and counts, imbalance, unreadable files, tiny
//! images, and duplicates: exact (same bytes) and near (same perceptual hash, up to a few bits),
//! within a class, across classes (possible label errors) and across train and val/test
//! (leakage, the most common silent flaw of user datasets). The cheap part (counts, bytes and
//! headers) runs before every training; the perceptual part only in `graft check`.
use super::dataset::Dataset;
use super::decode;
pub use super::findings::*;
use super::folders::Item;
use super::images::Preprocess;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;

/// Side of the colour thumbnail that confirms a near pair.
const THUMB: u32 = 16;

/// Pairs and groups listed per finding (all are counted; when there are more, the listed ones
/// are spread evenly from the closest to the farthest, so that borderline cases show too).
const LISTED: usize = 200;

/// At most [`LISTED`] of `sorted`, evenly spaced.
fn spread<T: Clone>(sorted: &[T]) -> Vec<T> {
    if sorted.len() <= LISTED {
        return sorted.to_vec();
    }
    (0..LISTED)
        .map(|i| sorted[i * sorted.len() / LISTED].clone())
        .collect()
}

/// What to look at.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// Compute perceptual hashes and look for near duplicates (decodes every image).
    pub perceptual: bool,
    /// The near-duplicate candidate distance, in bits of 64.
    pub near_bits: u32,
    /// The near-duplicate thumbnail difference (mean absolute, of 255).
    pub near_diff: f64,
}

/// What one image gave.
struct Facts {
    sha: [u8; 32],
    size: Option<(u32, u32)>,
    hash: Option<u64>,
    thumb: Vec<u8>,
    error: Option<String>,
}

fn facts(path: &Path, perceptual: bool) -> Facts {
    use sha2::Digest;
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return failed(format!("cannot read ({e})")),
    };
    let sha = sha2::Sha256::digest(&bytes).into();
    let size = image::ImageReader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_dimensions().ok());
    let (mut hash, mut thumb, mut error) = (None, Vec::new(), None);
    if perceptual {
        match decode::decode_bytes(&bytes, &path.display().to_string(), Some(64)) {
            Ok(img) => {
                hash = Some(gradient_hash(&img));
                thumb = Preprocess::squash(THUMB).resize_only(img).into_raw();
            }
            Err(e) => error = Some(format!("{e:#}")),
        }
    } else if size.is_none() {
        error = Some(format!("{}: not a readable image header", path.display()));
    }
    Facts {
        sha,
        size,
        hash,
        thumb,
        error,
    }
}

/// Mean absolute difference of two thumbnails.
fn thumb_diff(a: &[u8], b: &[u8]) -> f64 {
    let sum: u32 = a.iter().zip(b).map(|(&x, &y)| x.abs_diff(y) as u32).sum();
    sum as f64 / a.len().max(1) as f64
}

fn failed(reason: String) -> Facts {
    Facts {
        sha: [0; 32],
        size: None,
        hash: None,
        thumb: Vec::new(),
        error: Some(reason),
    }
}

/// A 64-bit gradient ("difference") hash: robust to resizing and re-encoding, and fast.
fn gradient_hash(img: &image::RgbImage) -> u64 {
    let hasher = image_hasher::HasherConfig::new()
        .hash_alg(image_hasher::HashAlg::Gradient)
        .hash_size(8, 8)
        .to_hasher();
    let h = hasher.hash_image(img);
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(bytes)
}

/// Every image of the dataset with its part.
fn images(data: &Dataset) -> Vec<(&Item, &'static str)> {
    let mut out: Vec<(&Item, &'static str)> = data.train.iter().map(|i| (i, "train")).collect();
    for (part, items) in [("val", &data.val), ("test", &data.test)] {
        out.extend(items.iter().flatten().map(|i| (i, part)));
    }
    out
}

/// Checks `data` (reads every file; with `perceptual`, decodes every image too).
pub fn check(data: &Dataset, opts: CheckOptions) -> CheckReport {
    let all = images(data);
    let facts: Vec<Facts> = all
        .par_iter()
        .map(|(item, _)| facts(&item.path, opts.perceptual))
        .collect();
    let seen = |k: usize| Seen {
        path: all[k].0.path.clone(),
        class: data.classes[all[k].0.label].clone(),
        part: all[k].1.to_string(),
    };
    let mut unreadable = Vec::new();
    let mut tiny = Vec::new();
    for (k, f) in facts.iter().enumerate() {
        if let Some(reason) = &f.error {
            unreadable.push(Unreadable {
                path: all[k].0.path.clone(),
                reason: reason.clone(),
            });
        } else if let Some((w, h)) = f.size.filter(|(w, h)| w.min(h) < &TINY_SIDE) {
            tiny.push(Tiny {
                path: all[k].0.path.clone(),
                size: (w, h),
            });
        }
    }
    let readable: Vec<usize> = (0..all.len())
        .filter(|&k| facts[k].error.is_none())
        .collect();
    let exact = exact_groups(&readable, &facts);
    let near = opts.perceptual.then(|| {
        let (cross, within, examples) = near_pairs(&readable, &facts, opts, &all);
        let mut d = classify(cross, &all, &seen);
        d.within_class = within;
        d.within_examples = examples
            .into_iter()
            .map(|(g, distance, difference)| Group {
                images: g.iter().map(|&k| seen(k)).collect(),
                distance,
                difference,
            })
            .collect();
        d
    });
    let classes = data.counts();
    let train = classes.iter().map(|c| c.train);
    let (max, min) = (train.clone().max().unwrap_or(0), train.min().unwrap_or(0));
    CheckReport {
        description: data.description.clone(),
        imbalance: if min > 0 {
            max as f64 / min as f64
        } else {
            f64::INFINITY
        },
        classes,
        median_aspect: median_aspect(&facts, all.iter().map(|(_, p)| *p == "train")),
        unreadable,
        tiny,
        exact: classify(exact, &all, &seen),
        near,
    }
}

fn median_aspect(facts: &[Facts], is_train: impl Iterator<Item = bool>) -> f64 {
    let mut aspects: Vec<f64> = facts
        .iter()
        .zip(is_train)
        .filter(|(_, t)| *t)
        .filter_map(|(f, _)| f.size)
        .map(|(w, h)| w as f64 / h.max(1) as f64)
        .collect();
    if aspects.is_empty() {
        return 1.0;
    }
    aspects.sort_by(f64::total_cmp);
    aspects[aspects.len() / 2]
}

/// Groups of images with the same bytes.
fn exact_groups(readable: &[usize], facts: &[Facts]) -> Vec<Pair> {
    let mut by_sha: HashMap<[u8; 32], Vec<usize>> = HashMap::new();
    for &k in readable {
        by_sha.entry(facts[k].sha).or_default().push(k);
    }
    let mut groups: Vec<Pair> = by_sha
        .into_values()
        .filter(|g| g.len() > 1)
        .map(|g| (g, 0, 0.0))
        .collect();
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    groups
}

/// Pairs of images whose hashes are at most `bits` apart (and whose bytes differ): those that
/// span classes or parts, each a group of two, and how many lie within one class and part (only
/// counted: on video frames they run into millions), with the closest of them as examples.
fn near_pairs(
    readable: &[usize],
    facts: &[Facts],
    opts: CheckOptions,
    all: &[(&Item, &str)],
) -> (Vec<Pair>, usize, Vec<Pair>) {
    let hashed: Vec<(usize, u64)> = readable
        .iter()
        .filter_map(|&k| facts[k].hash.map(|h| (k, h)))
        .collect();
    let same = |a: usize, b: usize| all[a].0.label == all[b].0.label && all[a].1 == all[b].1;
    let (mut cross, within, mut examples) = (0..hashed.len())
        .into_par_iter()
        .map(|i| {
            let (a, ha) = hashed[i];
            let (mut cross, mut within, mut examples) = (Vec::new(), 0usize, Vec::new());
            for &(b, hb) in &hashed[i + 1..] {
                let d = (ha ^ hb).count_ones();
                if d > opts.near_bits || facts[a].sha == facts[b].sha {
                    continue;
                }
                let diff = thumb_diff(&facts[a].thumb, &facts[b].thumb);
                if diff > opts.near_diff {
                    continue;
                }
                if !same(a, b) {
                    cross.push((vec![a, b], d, diff));
                } else {
                    within += 1;
                    if examples.len() < 20 {
                        examples.push((vec![a, b], d, diff));
                    }
                }
            }
            (cross, within, examples)
        })
        .reduce(
            || (Vec::new(), 0, Vec::new()),
            |mut x, y| {
                x.0.extend(y.0);
                x.2.extend(y.2);
                (x.0, x.1 + y.1, x.2)
            },
        );
    let order = |x: &Pair, y: &Pair| x.2.total_cmp(&y.2).then_with(|| x.0.cmp(&y.0));
    cross.sort_by(order);
    examples.sort_by(order);
    examples.truncate(20);
    (cross, within, examples)
}

/// Members (indices into the dataset's images), hash bits apart, thumbnail difference.
type Pair = (Vec<usize>, u32, f64);

/// Sorts groups into within a class, across classes and across parts.
fn classify(groups: Vec<Pair>, all: &[(&Item, &str)], seen: &dyn Fn(usize) -> Seen) -> Duplicates {
    let mut d = Duplicates::default();
    let mut leaked = std::collections::HashSet::new();
    for (members, distance, difference) in groups {
        let label = |k: usize| all[k].0.label;
        let part = |k: usize| all[k].1;
        let group = || Group {
            images: members.iter().map(|&k| seen(k)).collect(),
            distance,
            difference,
        };
        if members.iter().any(|&k| label(k) != label(members[0])) {
            d.across_classes_count += 1;
            d.across_classes.push(group());
        } else if members.iter().any(|&k| part(k) != part(members[0])) {
            d.across_parts_count += 1;
            leaked.extend(members.iter().copied().filter(|&k| part(k) != "train"));
            d.across_parts.push(group());
        } else {
            d.within_class += 1;
            if d.within_examples.len() < 20 {
                d.within_examples.push(group());
            }
        }
    }
    d.leaked_images = leaked.len();
    d.across_classes = spread(&d.across_classes);
    d.across_parts = spread(&d.across_parts);
    d
}

/// Properties of a dataset that a recipe adapts to, measured on a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traits {
    /// Median shorter side of the sampled training images, in pixels.
    pub median_short_side: u32,
    /// Share of sampled neighbouring pairs (next to each other in a class's sorted file list)
    /// that are near-identical: high for frames of a video or bursts, low for separate photos.
    pub near_identical_neighbours: f64,
    /// Neighbouring pairs sampled.
    pub pairs: usize,
    /// Images the run reads: Training, validation and Test.
    pub images: usize,
}

/// Measures [`Traits`] on about `pairs` neighbouring pairs of training images, spread over the
/// classes and through each class.
pub fn traits(data: &Dataset, pairs: usize) -> Traits {
    let mut by_class: Vec<Vec<&Path>> = vec![Vec::new(); data.classes.len()];
    for item in &data.train {
        by_class[item.label].push(&item.path);
    }
    let per_class = pairs.div_ceil(data.classes.len().max(1)).max(1);
    let sample: Vec<(&Path, &Path)> = by_class
        .iter()
        .flat_map(|paths| {
            let n = paths.len().saturating_sub(1);
            let k = per_class.min(n);
            (0..k).map(move |j| (paths[j * n / k], paths[j * n / k + 1]))
        })
        .collect();
    let looked: Vec<Option<(u32, bool)>> = sample
        .par_iter()
        .map(|&(a, b)| {
            let (ta, sa) = thumbnail(a)?;
            let (tb, _) = thumbnail(b)?;
            Some((sa, thumb_diff(&ta, &tb) <= NEAR_DIFF))
        })
        .collect();
    let seen: Vec<(u32, bool)> = looked.into_iter().flatten().collect();
    let mut sides: Vec<u32> = seen.iter().map(|s| s.0).collect();
    sides.sort_unstable();
    let near = seen.iter().filter(|s| s.1).count();
    Traits {
        median_short_side: sides.get(sides.len() / 2).copied().unwrap_or(0),
        near_identical_neighbours: near as f64 / seen.len().max(1) as f64,
        pairs: seen.len(),
        images: data.train.len()
            + data.val.as_ref().map_or(0, Vec::len)
            + data.test.as_ref().map_or(0, Vec::len),
    }
}

/// An image's 16x16 colour thumbnail and its shorter side (None when it cannot be decoded).
fn thumbnail(path: &Path) -> Option<(Vec<u8>, u32)> {
    let bytes = std::fs::read(path).ok()?;
    let (w, h) = image::ImageReader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()?;
    let img = decode::decode_bytes(&bytes, &path.display().to_string(), Some(64)).ok()?;
    Some((
        Preprocess::squash(THUMB).resize_only(img).into_raw(),
        w.min(h),
    ))
}
