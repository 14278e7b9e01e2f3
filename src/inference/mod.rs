//! Inference: a trained classifier (or a pretrained backbone) applied to images. One
//! preprocessing path (`data::images::Preprocess`), one forward ([`logits`]) and one scoring
//! loop serve `graft eval`, `predict`, `embed`, the HTTP service, and training's own validation
//! and Test scores.
pub mod embed;
pub mod predict;
pub mod quantize;
pub mod score;

use crate::data::images::Preprocess;
use crate::data::loader::{self, Batch, LoaderConfig};
use crate::engine::Precision;
use crate::models::classifier::Classifier;
use crate::run::config::TrainConfig;
use crate::run::{self, TrainedModel};
use anyhow::Result;
use crossbeam_channel::Receiver;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

/// Logits of u8 pixels [B, 3, S, S] through `model` in inference mode, without gradients.
pub fn logits(model: &Classifier, pixels: &Tensor, device: Device) -> Tensor {
    tch::no_grad(|| model.forward(&pixels.to_device(device)))
}

/// Images per batch of a whole-network pass at `size` px: 64 at 187 px and below, fewer above so
/// that a batch's activations stay the same size (at 299 px 64 images held 1.6 GB; per-image
/// speed on a CPU does not depend on the batch in this range).
pub fn batch_for(size: u32) -> usize {
    (64 * 187 * 187 / (size as usize * size as usize).max(1)).clamp(16, 64)
}

/// The images at `order` of `paths`, preprocessed on `workers` threads ahead of the model, in
/// batches of `batch`; files that fail to decode come back as the batches' failures.
pub fn image_batches(
    paths: Arc<Vec<PathBuf>>,
    order: Vec<usize>,
    preprocess: Preprocess,
    batch: usize,
    workers: usize,
) -> Receiver<Batch> {
    let cfg = LoaderConfig {
        batch_size: batch,
        size: preprocess.size,
        workers,
        prefetch: 3,
    };
    let decode = Arc::new(move |_: usize, p: &PathBuf| preprocess.load(p));
    loader::stream(paths, order, cfg, decode)
}

/// A trained run, loaded once, answering for images.
pub struct Predictor {
    trained: TrainedModel,
    device: Device,
}

impl Predictor {
    /// Loads the run folder `run` onto `device`, in the precision `asked` for or else the
    /// run's own where `device` computes it natively (see [`run::load`]).
    pub fn open(run: &Path, device: Device, asked: Option<Precision>) -> Result<Self> {
        Ok(Self {
            trained: run::load(run, device, asked)?,
            device,
        })
    }

    /// The number format it computes in, and why when that is not the run's own.
    pub fn precision(&self) -> (Precision, Option<&str>) {
        let (p, why) = &self.trained.precision;
        (*p, why.as_deref())
    }

    /// Class names in label order.
    pub fn classes(&self) -> &[String] {
        &self.trained.classes
    }

    /// The run's settings.
    pub fn config(&self) -> &TrainConfig {
        &self.trained.config
    }

    /// The network.
    pub fn model(&self) -> &Classifier {
        &self.trained.model
    }

    /// The device it runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// How an image file becomes this model's input.
    pub fn preprocess(&self) -> Preprocess {
        self.trained.config.preprocess()
    }

    /// Logits of u8 pixels [B, 3, S, S].
    pub fn logits(&self, pixels: &Tensor) -> Tensor {
        logits(&self.trained.model, pixels, self.device)
    }

    /// The same run computing its backbone in int8 from now on (see [`quantize`]).
    pub fn quantize(&mut self, int8: crate::models::int8::Quantized) {
        self.trained.model.backbone.int8 = Some(int8);
        self.trained.precision = (Precision::Int8, None);
    }

    /// Class probabilities of u8 pixels [B, 3, S, S].
    pub fn probabilities(&self, pixels: &Tensor) -> Tensor {
        self.logits(pixels).softmax(1, Kind::Float)
    }
}
