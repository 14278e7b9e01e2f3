//! `graft eval` and `graft predict` on a trained run.
use crate::data::folders::ImageFolder;
use crate::data::{augment, images, loader};
use crate::evaluation::metrics::Metrics;
use crate::training::inputs::{Inputs, Split};
use crate::training::run_folder::load_trained;
use crate::training::{TrainOptions, evaluate};
use anyhow::Result;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::{Device, Kind};

/// Scores a run on a labelled folder: DIR/<Class>/..., or a dataset root holding DIR/Test.
pub fn eval(run: &Path, data: &Path, device: Device, workers: usize) -> Result<Metrics> {
    let trained = load_trained(run, device)?;
    let dir = if data.join("Test").is_dir() {
        data.join("Test")
    } else {
        data.to_path_buf()
    };
    let folder = ImageFolder::scan_with_classes(&dir, &trained.classes)?;
    let split = Split::from_items(&folder.items);
    let opts = TrainOptions {
        out: run.to_path_buf(),
        device,
        workers,
    };
    let inputs = Inputs::streamed(&split, &trained.config, &opts);
    evaluate(&trained.model, &inputs, &trained.classes, "evaluating")
}

#[derive(Debug, Clone, Serialize)]
pub struct ClassProbability {
    pub class: String,
    pub probability: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub path: String,
    pub top: Vec<ClassProbability>,
}

/// The `top_k` most probable classes of each image; undecodable files are reported and skipped.
pub fn predict(
    run: &Path,
    inputs: &[PathBuf],
    top_k: usize,
    device: Device,
    workers: usize,
) -> Result<(Vec<Prediction>, Vec<String>)> {
    let trained = load_trained(run, device)?;
    let paths = Arc::new(images::collect_inputs(inputs)?);
    let size = trained.config.size as u32;
    let cfg = loader::LoaderConfig {
        batch_size: 32,
        size,
        workers,
        prefetch: 2,
    };
    let decode = Arc::new(move |_: usize, p: &PathBuf| -> Result<Vec<u8>> {
        let img = images::decode(p)?;
        Ok(augment::render(
            &img,
            size,
            &augment::Augment::none(),
            None::<&mut rand::rngs::StdRng>,
        ))
    });
    let k = top_k.clamp(1, trained.classes.len()) as i64;
    let (mut out, mut skipped) = (Vec::new(), Vec::new());
    for batch in loader::stream(paths.clone(), (0..paths.len()).collect(), cfg, decode) {
        skipped.extend(batch.failures.into_iter().map(|(_, m)| m));
        if batch.indices.is_empty() {
            continue;
        }
        let probs = tch::no_grad(|| {
            trained
                .model
                .forward(&batch.pixels.to_device(device), false)
                .softmax(1, Kind::Float)
        });
        let (p, c) = probs.topk(k, 1, true, true);
        for (j, &i) in batch.indices.iter().enumerate() {
            let top = (0..k)
                .map(|r| ClassProbability {
                    class: trained.classes[c.int64_value(&[j as i64, r]) as usize].clone(),
                    probability: p.double_value(&[j as i64, r]),
                })
                .collect();
            out.push(Prediction {
                path: paths[i].display().to_string(),
                top,
            });
        }
    }
    Ok((out, skipped))
}
