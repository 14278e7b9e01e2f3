//! `graft embed`: one pooled feature vector per image, from a pretrained backbone.
use crate::data::images::{Preprocess, ResizeRule};
use crate::data::walk;
use crate::distributed::Group;
use crate::models::Arch;
use crate::{fsx, progress, tensor_io, weights};
use anyhow::Result;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tch::{Device, Tensor};

/// How embeddings are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A safetensors file: tensor `features` [N, D], the paths in its metadata.
    Safetensors,
    /// A JSON list of {"path", "features"}.
    Json,
}

/// What to embed and how.
pub struct EmbedOptions<'g> {
    /// The backbone.
    pub arch: Arch,
    /// Its weights, when not the pinned ones.
    pub weights: Option<PathBuf>,
    /// Input size (default: the backbone's native size).
    pub size: Option<i64>,
    /// How non-square images are made square.
    pub resize: ResizeRule,
    /// Images per forward pass.
    pub batch_size: usize,
    /// Device, decoding threads, precision and the ranks that share the images.
    pub runtime: crate::runtime::Runtime<'g>,
    /// Image files or folders.
    pub inputs: Vec<PathBuf>,
    /// The output file.
    pub out: PathBuf,
    /// Its format.
    pub format: Format,
}

/// What an embedding run did.
pub struct EmbedSummary {
    /// Images embedded (by this rank, when several share the work).
    pub embedded: usize,
    /// Images embedded by all ranks together (written once, by rank 0).
    pub total: usize,
    /// Whether this process wrote the output.
    pub wrote: bool,
    /// Files skipped, each with the reason.
    pub skipped: Vec<String>,
    /// Seconds spent decoding and running the network.
    pub seconds: f64,
}

#[derive(Serialize)]
struct JsonRow<'a> {
    path: String,
    features: &'a [f32],
}

/// Embeds every image of `opts.inputs` and writes them to `opts.out`. With a process group in
/// the runtime, each rank embeds its contiguous share of the inputs (listed in the same order by
/// every rank) and rank 0 writes all rows in input order, as one process would.
pub fn embed(opts: &EmbedOptions) -> Result<EmbedSummary> {
    let size = opts.size.unwrap_or(opts.arch.native_size);
    opts.arch.check_size(size)?;
    let (device, group) = (opts.runtime.device, opts.runtime.group);
    // Refuse bad weights and bad inputs before any image is decoded.
    let (_vs, backbone) =
        weights::load_backbone(opts.arch, opts.weights.as_deref(), opts.runtime, false)?;
    let found = walk::collect_inputs(&opts.inputs)?;
    let mut skipped = found.problems;
    let paths = Arc::new(found.files);
    let start = Instant::now();
    let preprocess = Preprocess {
        size: size as u32,
        resize: opts.resize,
    };
    let order = crate::distributed::share(paths.len(), group).collect();
    let batches = super::image_batches(
        paths.clone(),
        order,
        preprocess,
        opts.batch_size,
        opts.runtime.workers,
    );
    let bar = progress::bar(paths.len() as u64, "embedding");
    let mut rows: Vec<(usize, Tensor)> = Vec::with_capacity(paths.len());
    for batch in batches {
        for (_, msg) in &batch.failures {
            bar.suspend(|| eprintln!("graft: skipped {msg}"));
            skipped.push(msg.clone());
        }
        if !batch.indices.is_empty() {
            let feats = tch::no_grad(|| backbone.features(&batch.pixels.to_device(device)))
                .to_device(Device::Cpu);
            for (j, &i) in batch.indices.iter().enumerate() {
                rows.push((i, feats.get(j as i64)));
            }
        }
        bar.inc((batch.indices.len() + batch.failures.len()) as u64);
        crate::engine::release_free_memory();
    }
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    let embedded = rows.len();
    let (rows, skipped) = match group {
        Some(g) => {
            // The others may still be at their shares, as long as this one took at its own.
            g.allow_for(start.elapsed());
            let rows = gather(g, rows, opts.arch.feature_dim)?;
            (rows, g.all_gather_json(&skipped)?)
        }
        None => (rows, skipped),
    };
    let wrote = crate::distributed::leads(group);
    if wrote {
        write_output(opts, &paths, &rows, size)?;
    }
    Ok(EmbedSummary {
        embedded,
        total: rows.len(),
        wrote,
        skipped,
        seconds,
    })
}

/// Every rank's (input index, features) rows on every rank, in input order.
fn gather(g: &Group, rows: Vec<(usize, Tensor)>, dim: i64) -> Result<Vec<(usize, Tensor)>> {
    let index: Vec<i64> = rows.iter().map(|(i, _)| *i as i64).collect();
    let feats = match rows.is_empty() {
        true => Tensor::zeros([0, dim], (tch::Kind::Float, Device::Cpu)),
        false => Tensor::stack(&rows.iter().map(|(_, t)| t).collect::<Vec<_>>(), 0),
    };
    let index = Vec::<i64>::try_from(&g.all_gather_rows(&Tensor::from_slice(&index))?)?;
    let feats = g.all_gather_rows(&feats)?;
    let mut all: Vec<(usize, Tensor)> = index
        .iter()
        .enumerate()
        .map(|(j, &i)| (i as usize, feats.get(j as i64)))
        .collect();
    all.sort_by_key(|(i, _)| *i);
    Ok(all)
}

fn write_output(
    opts: &EmbedOptions,
    paths: &[PathBuf],
    rows: &[(usize, Tensor)],
    size: i64,
) -> Result<()> {
    let names: Vec<String> = rows
        .iter()
        .map(|(i, _)| paths[*i].display().to_string())
        .collect();
    match opts.format {
        Format::Json => {
            let vecs: Vec<Vec<f32>> = rows
                .iter()
                .map(|(_, t)| tensor_io::to_vec_f32(t))
                .collect::<Result<_>>()?;
            let json: Vec<JsonRow> = names
                .iter()
                .zip(&vecs)
                .map(|(p, f)| JsonRow {
                    path: p.clone(),
                    features: f,
                })
                .collect();
            fsx::write_atomic(&opts.out, |tmp| {
                let file = std::fs::File::create(tmp)?;
                Ok(serde_json::to_writer(std::io::BufWriter::new(file), &json)?)
            })
        }
        Format::Safetensors => {
            let features = if rows.is_empty() {
                Tensor::zeros([0, opts.arch.feature_dim], (tch::Kind::Float, Device::Cpu))
            } else {
                let rows: Vec<Tensor> = rows.iter().map(|(_, t)| t.shallow_clone()).collect();
                Tensor::stack(&rows, 0)
            };
            let metadata = HashMap::from([
                ("paths".to_string(), serde_json::to_string(&names)?),
                ("backbone".to_string(), opts.arch.name.to_string()),
                ("size".to_string(), size.to_string()),
            ]);
            tensor_io::save(&opts.out, &[("features".to_string(), features)], metadata)
        }
    }
}
