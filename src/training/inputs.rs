//! What a training step consumes: images streamed from disk (decoded, resized and augmented on
//! worker threads) or the cached outputs of the frozen blocks (computed once, kept as f16 rows
//! in a file on disk, so each epoch runs only the trainable part and memory holds one batch).
use crate::data::augment::{self, Augment};
use crate::data::decode;
use crate::data::images::Preprocess;
use crate::data::labelled::Labelled;
use crate::data::loader::{self, Skips};
use crate::engine::Runtime;
use crate::models::classifier::Classifier;
use crate::training::feature_rows::FeatureRows;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::{Kind, Tensor};

/// One batch as the model takes it.
pub enum Batch {
    /// u8 pixels [B, 3, S, S].
    Pixels(Tensor),
    /// Output of the frozen blocks.
    Frozen(Tensor),
}

impl Batch {
    /// The model's logits for this batch.
    pub fn logits(&self, model: &Classifier, train: bool) -> Tensor {
        match self {
            Batch::Pixels(px) => model.forward(px, train),
            Batch::Frozen(x) => model.forward_from_frozen(x, train),
        }
    }
}

enum Source {
    Cached(FeatureRows),
    Streamed {
        preprocess: Preprocess,
        augment: Augment,
    },
}

/// A labelled set ready for training: cached or streamed.
pub struct Inputs {
    /// The images that are usable (undecodable ones are dropped when caching).
    pub set: Labelled,
    source: Source,
    runtime: Runtime,
}

/// Images of `set` at `order`, preprocessed, with `augment` drawn per (seed, epoch, item) when
/// `epoch` is given (deterministic whatever thread decodes an item).
fn stream(
    set: &Labelled,
    order: &[usize],
    batch: usize,
    (pre, augment): (Preprocess, Augment),
    workers: usize,
    epoch: Option<(u64, u64)>,
) -> crossbeam_channel::Receiver<loader::Batch> {
    let cfg = loader::LoaderConfig {
        batch_size: batch,
        size: pre.size,
        workers,
        prefetch: 4,
    };
    let decode = Arc::new(move |i: usize, path: &PathBuf| -> Result<Vec<u8>> {
        let img = decode::decode(path, Some(pre.size))?;
        match epoch.filter(|_| !augment.is_identity()) {
            None => Ok(pre.apply(img)),
            Some((seed, epoch)) => {
                // Made square by the run's rule, then sampled with the drawn transform.
                let mut rng = augment::item_rng(seed, epoch, i as u64);
                let square = pre.resize.square(img);
                Ok(augment::render(&square, pre.size, &augment, Some(&mut rng)))
            }
        }
    });
    loader::stream(set.paths.clone(), order.to_vec(), cfg, decode)
}

impl Inputs {
    /// Images decoded every epoch (augmented when training).
    pub fn streamed(set: &Labelled, pre: Preprocess, augment: Augment, runtime: Runtime) -> Self {
        Self {
            set: set.clone(),
            source: Source::Streamed {
                preprocess: pre,
                augment,
            },
            runtime,
        }
    }

    /// Runs the frozen blocks once over `set` and keeps their outputs in a file under `dir`
    /// (see [`FeatureRows`]): the plain images, then `copies` augmented renders of each (seeded,
    /// so a resumed run caches the same). `name` labels the progress bar.
    pub fn cached(
        model: &Classifier,
        set: &Labelled,
        (pre, augment): (Preprocess, Augment),
        (seed, copies): (u64, usize),
        runtime: Runtime,
        (name, dir): (&str, &Path),
        skips: &mut Skips,
    ) -> Result<Self> {
        let order: Vec<usize> = (0..set.len()).collect();
        let bar = crate::progress::bar(
            (set.len() * (1 + copies)) as u64,
            &format!("caching {name}"),
        );
        let mut kept = Vec::with_capacity(set.len() * (1 + copies));
        let mut cache = FeatureRows::create(dir)?;
        for copy in 0..=copies {
            let (aug, seeded) = if copy == 0 {
                (Augment::none(), None)
            } else {
                (augment, Some((seed, 1_000_000 + copy as u64)))
            };
            let render = (pre, aug);
            let batch = crate::inference::batch_for(pre.size);
            for b in stream(set, &order, batch, render, runtime.workers, seeded) {
                bar.suspend(|| skips.report(b.failures.iter().map(|(_, m)| m)));
                if !b.indices.is_empty() {
                    let feats = model.frozen_features(&b.pixels.to_device(runtime.device));
                    cache.push(&feats)?;
                    kept.extend_from_slice(&b.indices);
                    crate::engine::release_free_memory();
                }
                bar.inc((b.indices.len() + b.failures.len()) as u64);
            }
        }
        bar.finish_and_clear();
        if cache.is_empty() {
            return Err(crate::error::bad_input(format!("no usable {name} images")));
        }
        Ok(Self {
            set: set.subset(&kept),
            source: Source::Cached(cache),
            runtime,
        })
    }

    /// Number of inputs.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Calls `f(batch, labels, indices)` for consecutive batches of `order`; `augment_epoch`
    /// (seed, epoch) turns on augmentation for streamed images. Undecodable images are
    /// recorded in `skips` and left out.
    pub fn for_each_batch(
        &self,
        order: &[usize],
        batch: usize,
        augment_epoch: Option<(u64, u64)>,
        skips: &mut Skips,
        mut f: impl FnMut(Batch, Tensor, &[usize]) -> Result<()>,
    ) -> Result<()> {
        let device = self.runtime.device;
        let labels = |idx: &[usize]| {
            let l: Vec<i64> = idx.iter().map(|&i| self.set.labels[i]).collect();
            Tensor::from_slice(&l).to_device(device)
        };
        match &self.source {
            Source::Cached(feats) => {
                for chunk in order.chunks(batch.max(1)) {
                    let x = feats.gather(chunk)?.to_device(device).to_kind(Kind::Float);
                    f(Batch::Frozen(x), labels(chunk), chunk)?;
                }
            }
            Source::Streamed {
                preprocess,
                augment,
            } => {
                let aug = if augment_epoch.is_some() {
                    *augment
                } else {
                    Augment::none()
                };
                let workers = self.runtime.workers;
                let render = (*preprocess, aug);
                for b in stream(&self.set, order, batch, render, workers, augment_epoch) {
                    skips.report(b.failures.iter().map(|(_, m)| m));
                    if !b.indices.is_empty() {
                        let px = Batch::Pixels(b.pixels.to_device(device));
                        f(px, labels(&b.indices), &b.indices)?;
                    }
                }
            }
        }
        Ok(())
    }
}
