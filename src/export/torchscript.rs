//! A trained classifier as TorchScript: graft's own forward pass traced through libtorch (batch
//! norm folded, float32, inference mode), saved as a TorchScript archive that `torch.jit.load`
//! and C++'s `torch::jit::load` read, with the model's [`Metadata`] inside the archive as the
//! extra file `graft.json`.
use super::metadata::Metadata;
use crate::run::TrainedModel;
use anyhow::{Context, Result, ensure};
use std::path::Path;
use tch::{CModule, Device, Kind, Tensor};

/// Name of the metadata inside the archive (`_extra_files` in Python, `ExtraFilesMap` in C++).
pub const METADATA_FILE: &str = "graft.json";

/// The traced module: `forward(image)` returns the logits (a TorchScript method has one
/// output; the probabilities are their softmax). `image` is float32
/// [N, 3, S, S] RGB 0..255, or with `preprocessing` uint8 [N, H, W, 3] of any size, resized
/// inside. `batch` is the example batch traced with; the module takes any batch.
pub fn trace(trained: &TrainedModel, batch: i64, preprocessing: bool) -> Result<CModule> {
    let size = trained.config.size;
    let model = &trained.model;
    let forward = |image: &Tensor| {
        let pixels = if preprocessing {
            resize_inside(image, size)
        } else {
            image.shallow_clone()
        };
        vec![model.forward(&pixels)]
    };
    let example = if preprocessing {
        Tensor::zeros([batch, size + 1, size + 1, 3], (Kind::Uint8, Device::Cpu))
    } else {
        Tensor::zeros([batch, 3, size, size], (Kind::Float, Device::Cpu))
    };
    tch::no_grad(|| {
        // The first forward folds the batch norms; folding now keeps it out of the trace, so
        // the folded kernels are constants of the traced graph.
        forward(&example);
        CModule::create_by_tracing("graft", "forward", &[example], &mut |xs| forward(&xs[0]))
            .context("tracing the model")
    })
}

/// uint8 NHWC images to float NCHW at `size` x `size`: antialiased bilinear resize on the
/// uint8 pixels (libtorch's port of Pillow's, which graft's resize follows).
fn resize_inside(image: &Tensor, size: i64) -> Tensor {
    image
        .permute([0, 3, 1, 2])
        .internal_upsample_bilinear2d_aa([size, size], false, None, None)
        .to_dtype(Kind::Float, false, false) // to_kind would pin the graph to the CPU
}

/// Writes `module` to `path` with `metadata` inside. libtorch names the archive's top folder
/// after the file, so the module is saved as `name` (the final file name) in a temporary
/// folder beside `path`, then moved there.
pub fn save(module: &CModule, metadata: &Metadata, path: &Path, name: &str) -> Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = tempfile::Builder::new()
        .prefix(".graft-partial-")
        .tempdir_in(parent.unwrap_or(Path::new(".")))?;
    let staged = dir.path().join(name);
    module
        .save(&staged)
        .with_context(|| format!("saving {}", staged.display()))?;
    let json = serde_json::to_vec_pretty(metadata)?;
    add_extra_file(&staged, METADATA_FILE, &json)?;
    std::fs::rename(&staged, path)?;
    Ok(())
}

/// Adds `name` to the archive's `extra/` folder, where `torch.jit.load(_extra_files=...)`
/// finds it. Entries go stored and 64-byte aligned, like PyTorch writes its own records.
fn add_extra_file(archive: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(archive)?;
    let mut zip = zip::ZipWriter::new_append(file)
        .with_context(|| format!("{}: not a zip archive", archive.display()))?;
    // Every record sits under the archive's top folder (its first entry's first component).
    let top = {
        let reader = zip::ZipArchive::new(std::fs::File::open(archive)?)?;
        let first = match reader.file_names().next() {
            Some(name) => name?.into_owned(),
            None => "archive".to_string(),
        };
        first.split('/').next().unwrap_or("archive").to_string()
    };
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .with_alignment(64);
    zip.start_file(format!("{top}/extra/{name}"), options)?;
    zip.write_all(bytes)?;
    zip.finish()?;
    Ok(())
}

/// Runs the saved module at `path` (loaded back by libtorch, as C++ programs load it) and graft
/// on the same random pixels, batch 3; returns the largest difference of their logits relative
/// to the largest logit, per image.
pub fn check(path: &Path, trained: &TrainedModel, preprocessing: bool) -> Result<f64> {
    let module = CModule::load_on_device(path, Device::Cpu)
        .with_context(|| format!("loading {} back", path.display()))?;
    let size = trained.config.size;
    tch::manual_seed(0);
    let pixels = Tensor::randint(256, [3, 3, size, size], (Kind::Uint8, Device::Cpu));
    let input = if preprocessing {
        pixels.permute([0, 2, 3, 1]).contiguous()
    } else {
        pixels.to_kind(Kind::Float)
    };
    let logits = tch::no_grad(|| module.forward_ts(&[input]))?;
    let expected = tch::no_grad(|| trained.model.forward(&pixels));
    ensure!(
        logits.size() == expected.size(),
        "the module's logits have another shape"
    );
    let diff = (&logits - &expected).abs().amax([1], false);
    let scale = expected.abs().amax([1], false);
    Ok((diff / scale).max().double_value(&[]))
}
