//! `graft embed`: one pooled feature vector per image, from a pretrained backbone.
use crate::data::{images, loader};
use crate::models::Arch;
use crate::{progress, tensor_io, weights};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tch::{Device, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Safetensors,
    Json,
}

pub struct EmbedOptions {
    pub arch: Arch,
    pub weights: Option<PathBuf>,
    pub size: Option<i64>,
    pub batch_size: usize,
    pub workers: usize,
    pub device: Device,
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    pub format: Format,
}

pub struct EmbedSummary {
    pub embedded: usize,
    pub skipped: Vec<String>,
    pub seconds: f64,
}

#[derive(Serialize)]
struct JsonRow<'a> {
    path: String,
    features: &'a [f32],
}

pub fn embed(opts: &EmbedOptions) -> Result<EmbedSummary> {
    let size = opts.size.unwrap_or(opts.arch.native_size());
    opts.arch.check_size(size)?;
    // Refuse bad weights and bad inputs before any image is decoded.
    let (_vs, backbone) =
        weights::load_backbone(opts.arch, opts.weights.as_deref(), opts.device, false)?;
    let paths = Arc::new(images::collect_inputs(&opts.inputs)?);
    let start = Instant::now();
    let cfg = loader::LoaderConfig {
        batch_size: opts.batch_size,
        size: size as u32,
        workers: opts.workers,
        prefetch: 3,
    };
    let decode = Arc::new(move |_: usize, p: &PathBuf| images::load_chw(p, size as u32));
    let batches = loader::stream(paths.clone(), (0..paths.len()).collect(), cfg, decode);
    let bar = progress::bar(paths.len() as u64, "embedding");
    let mut rows: Vec<(usize, Tensor)> = Vec::with_capacity(paths.len());
    let mut skipped = Vec::new();
    for batch in batches {
        for (_, msg) in &batch.failures {
            bar.suspend(|| eprintln!("graft: skipped {msg}"));
            skipped.push(msg.clone());
        }
        if !batch.indices.is_empty() {
            let feats = tch::no_grad(|| backbone.features(&batch.pixels.to_device(opts.device)))
                .to_device(Device::Cpu);
            for (j, &i) in batch.indices.iter().enumerate() {
                rows.push((i, feats.get(j as i64)));
            }
        }
        bar.inc((batch.indices.len() + batch.failures.len()) as u64);
    }
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    write_output(opts, &paths, &rows, size)?;
    Ok(EmbedSummary {
        embedded: rows.len(),
        skipped,
        seconds,
    })
}

fn write_output(
    opts: &EmbedOptions,
    paths: &[PathBuf],
    rows: &[(usize, Tensor)],
    size: i64,
) -> Result<()> {
    let out = &opts.out;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let names: Vec<String> = rows
        .iter()
        .map(|(i, _)| paths[*i].display().to_string())
        .collect();
    match opts.format {
        Format::Json => {
            let vecs: Vec<Vec<f32>> = rows
                .iter()
                .map(|(_, t)| weights::to_vec_f32(t))
                .collect::<Result<_>>()?;
            let json: Vec<JsonRow> = names
                .iter()
                .zip(&vecs)
                .map(|(p, f)| JsonRow {
                    path: p.clone(),
                    features: f,
                })
                .collect();
            let file = std::fs::File::create(out)
                .with_context(|| format!("creating {}", out.display()))?;
            serde_json::to_writer(std::io::BufWriter::new(file), &json)?;
        }
        Format::Safetensors => {
            let dim = opts.arch.feature_dim();
            let features = if rows.is_empty() {
                Tensor::zeros([0, dim], (tch::Kind::Float, Device::Cpu))
            } else {
                Tensor::stack(
                    &rows
                        .iter()
                        .map(|(_, t)| t.shallow_clone())
                        .collect::<Vec<_>>(),
                    0,
                )
            };
            let metadata = HashMap::from([
                ("paths".to_string(), serde_json::to_string(&names)?),
                ("backbone".to_string(), opts.arch.name().to_string()),
                ("size".to_string(), size.to_string()),
            ]);
            tensor_io::save(out, &[("features".to_string(), features)], metadata)?;
        }
    }
    Ok(())
}
