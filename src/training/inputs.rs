//! What a training step consumes: images streamed from disk (decoded, resized and augmented on
//! worker threads) or the cached outputs of the frozen blocks (computed once, kept as f16 rows
//! in a file on disk, so each epoch runs only the trainable part and memory holds one batch).
use crate::data::augment::{self, Augment};
use crate::data::decode;
use crate::data::images::Preprocess;
use crate::data::labelled::Labelled;
use crate::data::loader::{self, Skips};
use crate::models::Pass;
use crate::models::classifier::{Classifier, Part};
use crate::runtime::Runtime;
use crate::training::feature_rows::FeatureRows;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::{Kind, Tensor};

/// One batch as the model takes it.
pub enum ModelInput {
    /// u8 pixels [B, 3, S, S].
    Pixels(Tensor),
    /// Output of the frozen blocks.
    Frozen(Tensor),
}

impl ModelInput {
    /// The model's logits for this batch.
    pub fn logits(&self, model: &Classifier, pass: Pass) -> Tensor {
        self.logits_part(model, pass, Part::whole(self.rows() as i64))
    }

    /// The logits of this batch as `part` of a larger one (see [`Part`]).
    pub fn logits_part(&self, model: &Classifier, pass: Pass, part: Part) -> Tensor {
        match self {
            ModelInput::Pixels(px) => model.forward_pixels_part(px, pass, part),
            ModelInput::Frozen(x) => model.forward_part(x, pass, part),
        }
    }

    /// Its rows.
    pub fn rows(&self) -> usize {
        match self {
            ModelInput::Pixels(x) | ModelInput::Frozen(x) => x.size()[0] as usize,
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
    device: tch::Device,
    workers: usize,
}

/// What [`Inputs::cached`] renders and where it keeps it.
#[derive(Clone, Copy)]
pub struct CacheJob<'a> {
    /// How an image file becomes the network's input.
    pub preprocess: Preprocess,
    /// The augmentation of the augmented copies.
    pub augment: Augment,
    /// The seed their augmentations are drawn from.
    pub seed: u64,
    /// Augmented copies of each image, after the plain ones.
    pub augmented_copies: usize,
    /// What the progress bar calls the images.
    pub name: &'a str,
    /// The folder the cache file goes in.
    pub dir: &'a Path,
}

/// The given batches of `set`, preprocessed, with `augment` drawn per (seed, epoch, item) when
/// `epoch` is given (deterministic whatever thread or rank decodes an item).
fn stream(
    set: &Labelled,
    batches: Vec<Vec<usize>>,
    (pre, augment): (Preprocess, Augment),
    workers: usize,
    epoch: Option<(u64, u64)>,
) -> crossbeam_channel::Receiver<loader::Batch> {
    let cfg = loader::LoaderConfig {
        batch_size: batches.iter().map(Vec::len).max().unwrap_or(1),
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
    loader::stream_batches(set.paths.clone(), batches, cfg, decode)
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
            device: runtime.device,
            workers: runtime.workers,
        }
    }

    /// Runs the frozen blocks once over `set` and keeps their outputs in a file under the job's
    /// folder (see [`FeatureRows`]): the plain images, then its augmented copies of each
    /// (seeded, so a resumed run caches the same). With a process group in `runtime`, the ranks
    /// take turns batch by batch and every rank keeps all rows, in the order one process caches
    /// them.
    pub fn cached(
        model: &Classifier,
        set: &Labelled,
        job: CacheJob,
        runtime: Runtime,
        skips: &mut Skips,
    ) -> Result<Self> {
        let CacheJob {
            preprocess: pre,
            augment,
            seed,
            augmented_copies: copies,
            name,
            dir,
        } = job;
        let group = runtime.group;
        let order: Vec<usize> = (0..set.len()).collect();
        let bar = crate::progress::bar(
            (set.len() * (1 + copies)) as u64,
            &format!("caching {name}"),
        );
        let (rank, world) = runtime.rank_of_world();
        let mut kept = Vec::with_capacity(set.len() * (1 + copies));
        let mut cache = FeatureRows::create(dir)?;
        let mut cached_here = 0;
        for copy in 0..=copies {
            let (aug, seeded) = if copy == 0 {
                (Augment::none(), None)
            } else {
                (augment, Some((seed, 1_000_000 + copy as u64)))
            };
            let all = loader::batches(&order, crate::inference::batch_for(pre.size));
            let rounds = all.len().div_ceil(world);
            let mine = all.into_iter().skip(rank).step_by(world).collect();
            let mine = stream(set, mine, (pre, aug), runtime.workers, seeded);
            for _ in 0..rounds {
                // A rank past its last batch still takes part, with no rows.
                let b = mine.recv().unwrap_or_else(|_| loader::Batch {
                    indices: Vec::new(),
                    pixels: Tensor::zeros(
                        [0, 3, pre.size as i64, pre.size as i64],
                        (tch::Kind::Uint8, tch::Device::Cpu),
                    ),
                    failures: Vec::new(),
                });
                cached_here += b.indices.len();
                let feats = model.frozen_features(&b.pixels.to_device(runtime.device));
                let (feats, indices, failures) = match group {
                    None => (feats, b.indices, b.failures),
                    Some(g) => (
                        g.all_gather_rows(&feats.to_kind(Kind::Half))?,
                        g.all_gather_json(&b.indices)?,
                        g.all_gather_json(&b.failures)?,
                    ),
                };
                let messages = failures.iter().map(|(_, m)| m);
                if crate::distributed::leads(group) {
                    bar.suspend(|| skips.report(messages));
                } else {
                    messages.for_each(|m| _ = skips.record(m));
                }
                cache.push(&feats)?;
                kept.extend_from_slice(&indices);
                crate::engine::release_free_memory();
                bar.inc((indices.len() + failures.len()) as u64);
            }
        }
        bar.finish_and_clear();
        if let Some(g) = group {
            say_rank!(
                "graft: rank {} of {}: cached {cached_here} {name} images",
                g.rank,
                g.world
            );
        }
        if cache.is_empty() {
            return Err(crate::error::bad_input(format!("no usable {name} images")));
        }
        Ok(Self {
            set: set.subset(&kept),
            source: Source::Cached(cache),
            device: runtime.device,
            workers: runtime.workers,
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

    /// Calls `f(batch, labels, indices)` for each of `batches` (even an empty one: ranks that
    /// share a batch must all take part); `augment_epoch` (seed, epoch) turns on augmentation
    /// for streamed images. Undecodable images are recorded in `skips` and left out.
    pub fn for_each_batch(
        &self,
        batches: Vec<Vec<usize>>,
        augment_epoch: Option<(u64, u64)>,
        skips: &mut Skips,
        mut f: impl FnMut(ModelInput, Tensor, &[usize]) -> Result<()>,
    ) -> Result<()> {
        let device = self.device;
        let labels = |idx: &[usize]| {
            let l: Vec<i64> = idx.iter().map(|&i| self.set.labels[i]).collect();
            Tensor::from_slice(&l).to_device(device)
        };
        match &self.source {
            Source::Cached(feats) => {
                for chunk in &batches {
                    let x = feats.gather(chunk)?.to_device(device).to_kind(Kind::Float);
                    f(ModelInput::Frozen(x), labels(chunk), chunk)?;
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
                let workers = self.workers;
                let render = (*preprocess, aug);
                for b in stream(&self.set, batches, render, workers, augment_epoch) {
                    skips.report(b.failures.iter().map(|(_, m)| m));
                    let px = ModelInput::Pixels(b.pixels.to_device(device));
                    f(px, labels(&b.indices), &b.indices)?;
                }
            }
        }
        Ok(())
    }
}
