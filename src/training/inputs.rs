//! What a training step consumes: images streamed from disk (decoded, resized and augmented on
//! worker threads) or the cached outputs of the frozen blocks (computed once, kept in memory as
//! f16, so each epoch runs only the trainable part).
use super::TrainOptions;
use super::config::TrainConfig;
use crate::data::augment::{self, Augment};
use crate::data::folders::Item;
use crate::data::{images, loader};
use crate::models::classifier::Classifier;
use anyhow::Result;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tch::{Device, Kind, Tensor};

/// Labelled image paths.
#[derive(Clone)]
pub struct Split {
    pub paths: Arc<Vec<PathBuf>>,
    pub labels: Vec<i64>,
}

impl Split {
    pub fn from_items(items: &[Item]) -> Self {
        Self {
            paths: Arc::new(items.iter().map(|i| i.path.clone()).collect()),
            labels: items.iter().map(|i| i.label as i64).collect(),
        }
    }
    pub fn subset(&self, idx: &[usize]) -> Self {
        Self {
            paths: Arc::new(idx.iter().map(|&i| self.paths[i].clone()).collect()),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
        }
    }
    pub fn len(&self) -> usize {
        self.labels.len()
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
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// One batch as the model takes it.
pub enum Batch {
    /// u8 pixels [B, 3, S, S].
    Pixels(Tensor),
    /// Output of the frozen blocks.
    Frozen(Tensor),
}

impl Batch {
    pub fn logits(&self, model: &Classifier, train: bool) -> Tensor {
        match self {
            Batch::Pixels(px) => model.forward(px, train),
            Batch::Frozen(x) => model.forward_from_frozen(x, train),
        }
    }
}

enum Source {
    Cached(Tensor),
    Streamed {
        size: u32,
        augment: Augment,
        workers: usize,
    },
}

pub struct Inputs {
    /// The images that are usable (undecodable ones are dropped when caching).
    pub split: Split,
    source: Source,
    device: Device,
}

static SKIPPED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Reports a file that could not be used, once per run, and counts it.
fn report_skipped(msg: &str) {
    let mut guard = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
    if guard
        .get_or_insert_with(HashSet::new)
        .insert(msg.to_string())
    {
        eprintln!("graft: skipped {msg}");
    }
}

pub fn skipped_count() -> usize {
    SKIPPED
        .lock()
        .map(|g| g.as_ref().map_or(0, |s| s.len()))
        .unwrap_or(0)
}

/// A seeded permutation of 0..n for one epoch: the same for a resumed run.
pub fn shuffled(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng =
        rand::rngs::StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ epoch);
    order.shuffle(&mut rng);
    order
}

fn stream(
    split: &Split,
    order: &[usize],
    batch: usize,
    size: u32,
    augment: Augment,
    workers: usize,
    epoch: Option<(u64, u64)>,
) -> crossbeam_channel::Receiver<loader::Batch> {
    let cfg = loader::LoaderConfig {
        batch_size: batch,
        size,
        workers,
        prefetch: 4,
    };
    let decode = Arc::new(move |i: usize, path: &PathBuf| -> Result<Vec<u8>> {
        let img = images::decode(path)?;
        Ok(match epoch {
            Some((seed, epoch)) => augment::render(
                &img,
                size,
                &augment,
                Some(&mut augment::item_rng(seed, epoch, i as u64)),
            ),
            None => augment::render(&img, size, &augment, None::<&mut rand::rngs::StdRng>),
        })
    });
    loader::stream(split.paths.clone(), order.to_vec(), cfg, decode)
}

impl Inputs {
    pub fn streamed(split: &Split, cfg: &TrainConfig, opts: &TrainOptions) -> Self {
        let source = Source::Streamed {
            size: cfg.size as u32,
            augment: cfg.augment,
            workers: opts.workers,
        };
        Self {
            split: split.clone(),
            source,
            device: opts.device,
        }
    }

    /// Runs the frozen blocks once over `split` and keeps their outputs: the plain images, then
    /// `copies` augmented renders of each (seeded, so a resumed run caches the same).
    pub fn cached(
        model: &Classifier,
        split: &Split,
        cfg: &TrainConfig,
        opts: &TrainOptions,
        name: &str,
        copies: usize,
    ) -> Result<Self> {
        let order: Vec<usize> = (0..split.len()).collect();
        let bar = crate::progress::bar(
            (split.len() * (1 + copies)) as u64,
            &format!("caching {name}"),
        );
        let (mut kept, mut chunks) = (Vec::new(), Vec::new());
        for copy in 0..=copies {
            let (augment, seeded) = if copy == 0 {
                (Augment::none(), None)
            } else {
                (cfg.augment, Some((cfg.seed, 1_000_000 + copy as u64)))
            };
            for b in stream(
                split,
                &order,
                64,
                cfg.size as u32,
                augment,
                opts.workers,
                seeded,
            ) {
                for (_, msg) in &b.failures {
                    bar.suspend(|| report_skipped(msg));
                }
                if !b.indices.is_empty() {
                    let feats = model.frozen_features(&b.pixels.to_device(opts.device));
                    chunks.push(feats.to_kind(Kind::Half).to_device(Device::Cpu));
                    kept.extend_from_slice(&b.indices);
                }
                bar.inc((b.indices.len() + b.failures.len()) as u64);
            }
        }
        bar.finish_and_clear();
        if chunks.is_empty() {
            anyhow::bail!("no usable {name} images");
        }
        Ok(Self {
            split: split.subset(&kept),
            source: Source::Cached(Tensor::cat(&chunks, 0)),
            device: opts.device,
        })
    }

    pub fn len(&self) -> usize {
        self.split.len()
    }

    pub fn is_empty(&self) -> bool {
        self.split.is_empty()
    }

    /// Calls `f(batch, labels, indices)` for consecutive batches of `order`; `augment_epoch`
    /// (seed, epoch) turns on augmentation for streamed images. Undecodable images are skipped.
    pub fn for_each_batch(
        &self,
        order: &[usize],
        batch: usize,
        augment_epoch: Option<(u64, u64)>,
        mut f: impl FnMut(Batch, Tensor, &[usize]) -> Result<()>,
    ) -> Result<()> {
        let labels = |idx: &[usize]| {
            Tensor::from_slice(
                &idx.iter()
                    .map(|&i| self.split.labels[i])
                    .collect::<Vec<_>>(),
            )
            .to_device(self.device)
        };
        match &self.source {
            Source::Cached(feats) => {
                for chunk in order.chunks(batch.max(1)) {
                    let index =
                        Tensor::from_slice(&chunk.iter().map(|&i| i as i64).collect::<Vec<_>>());
                    let x = feats
                        .index_select(0, &index)
                        .to_device(self.device)
                        .to_kind(Kind::Float);
                    f(Batch::Frozen(x), labels(chunk), chunk)?;
                }
            }
            Source::Streamed {
                size,
                augment,
                workers,
            } => {
                let aug = if augment_epoch.is_some() {
                    *augment
                } else {
                    Augment::none()
                };
                for b in stream(
                    &self.split,
                    order,
                    batch,
                    *size,
                    aug,
                    *workers,
                    augment_epoch,
                ) {
                    for (_, msg) in &b.failures {
                        report_skipped(msg);
                    }
                    if !b.indices.is_empty() {
                        f(
                            Batch::Pixels(b.pixels.to_device(self.device)),
                            labels(&b.indices),
                            &b.indices,
                        )?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_per_class_keeps_evenly_spaced_images_of_every_class() {
        let paths: Vec<PathBuf> = (0..13).map(|i| PathBuf::from(format!("{i}.jpg"))).collect();
        let labels = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2];
        let split = Split {
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
}
