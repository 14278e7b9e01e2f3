//! `graft eval` and `graft predict` on a trained run.
use super::Predictor;
use super::score;
use crate::data::folders::ImageFolder;
use crate::data::labelled::Labelled;
use crate::data::loader::Skips;
use crate::data::walk;
use crate::engine::Runtime;
use crate::metrics::Metrics;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::Tensor;

/// Scores a run on a labelled folder: DIR/<Class>/..., or a dataset root holding DIR/Test.
pub fn eval(run: &Path, data: &Path, runtime: Runtime) -> Result<(Metrics, Skips)> {
    let predictor = Predictor::open(run, runtime.device)?;
    let dir = if data.join("Test").is_dir() {
        data.join("Test")
    } else {
        data.to_path_buf()
    };
    let folder = ImageFolder::scan_with_classes(&dir, predictor.classes())?;
    let mut skips = Skips::default();
    skips.report(folder.problems.iter());
    let set = Labelled::from_items(&folder.items);
    let metrics = score::evaluate(
        predictor.model(),
        &set,
        predictor.classes(),
        predictor.preprocess(),
        runtime,
        &mut skips,
    )?;
    Ok((metrics, skips))
}

/// A class and its probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassProbability {
    /// Class name.
    pub class: String,
    /// Softmax probability.
    pub probability: f64,
}

/// The most probable classes of one image.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    /// The image file.
    pub path: String,
    /// The `top_k` classes, most probable first.
    pub top: Vec<ClassProbability>,
}

/// The `k` most probable classes of each row of `probabilities` [B, C].
pub fn top_k(probabilities: &Tensor, classes: &[String], k: usize) -> Vec<Vec<ClassProbability>> {
    let k = k.clamp(1, classes.len()) as i64;
    let (p, c) = probabilities.topk(k, 1, true, true);
    (0..probabilities.size()[0])
        .map(|j| {
            (0..k)
                .map(|r| ClassProbability {
                    class: classes[c.int64_value(&[j, r]) as usize].clone(),
                    probability: p.double_value(&[j, r]),
                })
                .collect()
        })
        .collect()
}

/// The `top_k` most probable classes of each image (files or folders); files that cannot be
/// used are returned as messages naming them.
pub fn predict(
    predictor: &Predictor,
    inputs: &[PathBuf],
    top_k_classes: usize,
    workers: usize,
) -> Result<(Vec<Prediction>, Vec<String>)> {
    let found = walk::collect_inputs(inputs)?;
    let mut skipped = found.problems;
    let paths = Arc::new(found.files);
    let order = (0..paths.len()).collect();
    let batches = super::image_batches(paths.clone(), order, predictor.preprocess(), 32, workers);
    let mut out = Vec::new();
    for batch in batches {
        skipped.extend(batch.failures.into_iter().map(|(_, m)| m));
        if batch.indices.is_empty() {
            continue;
        }
        let probs = predictor.probabilities(&batch.pixels);
        let tops = top_k(&probs, predictor.classes(), top_k_classes);
        for (&i, top) in batch.indices.iter().zip(tops) {
            out.push(Prediction {
                path: paths[i].display().to_string(),
                top,
            });
        }
    }
    Ok((out, skipped))
}
