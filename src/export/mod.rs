//! `graft export`: a trained run as a file other runtimes load, ONNX (onnxruntime, TensorRT,
//! browsers, phones) or TorchScript (PyTorch, libtorch in C++). Either file carries what a user
//! needs to use it correctly: the class names in output order, the input size and the resize
//! rule, the backbone and the graft version ([`metadata`]). The network is written from graft's
//! own description of it, so the exported model computes what `graft predict` computes.
pub mod graph;
pub mod metadata;
pub mod onnx;
pub mod proto;
pub mod qdq;
pub mod torchscript;

use crate::engine::Precision;
use crate::error::bad_input;
use crate::fsx;
use crate::run::{self, TrainedModel};
use anyhow::{Context, Result};
use metadata::Metadata;
pub use onnx::BatchDim;
use prost::Message;
use std::path::{Path, PathBuf};
use tch::Device;

/// The file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An ONNX model (opset 17; 18 with preprocessing).
    Onnx,
    /// A traced TorchScript module.
    TorchScript,
}

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// ONNX or TorchScript.
    pub format: Format,
    /// The batch dimension (ONNX; a TorchScript module always takes any batch).
    pub batch: BatchDim,
    /// Take uint8 [N, H, W, 3] images of any size and resize them inside the model.
    pub preprocessing: bool,
    /// ONNX in QDQ form with the run's int8 calibration (`graft quantize`), see [`qdq`].
    pub int8: bool,
}

impl Options {
    /// The file name used when none is given: `model.onnx`, `model.pt`, with `-preprocessing`
    /// before the extension for the variant that resizes inside.
    pub fn default_file_name(&self) -> String {
        let stem = match (self.preprocessing, self.int8) {
            (true, true) => "model-preprocessing-int8",
            (true, false) => "model-preprocessing",
            (false, true) => "model-int8",
            (false, false) => "model",
        };
        match self.format {
            Format::Onnx => format!("{stem}.onnx"),
            Format::TorchScript => format!("{stem}.pt"),
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// What it says about itself.
    pub metadata: Metadata,
    /// TorchScript: the saved module, loaded back and run against graft on random pixels,
    /// differs from graft's logits by at most this, relative to the largest logit.
    pub checked_error: Option<f64>,
}

/// Exports the trained model of the run folder `run` to `out` (default: inside the run folder,
/// [`Options::default_file_name`]). A missing or incomplete run folder, or one this graft cannot
/// read, is bad input naming the folder and what is wrong.
pub fn export(run: &Path, out: Option<&Path>, opts: Options) -> Result<Exported> {
    if !run.is_dir() {
        return Err(bad_input(format!("{}: no such run folder", run.display())));
    }
    if opts.int8 && opts.format != Format::Onnx {
        return Err(bad_input("--int8 writes ONNX only (--format onnx)"));
    }
    let trained = run::load(run, Device::Cpu, Some(Precision::Fp32))
        .with_context(|| format!("cannot export {}", run.display()))?;
    let int8 = match opts.int8 {
        true => Some(crate::run::RunFolder::new(run).read_int8()?),
        false => None,
    };
    let path = out.map_or_else(|| run.join(opts.default_file_name()), Path::to_path_buf);
    let size = trained.config.size;
    let metadata = Metadata::new(
        &trained.classes,
        size,
        trained.config.backbone.name(),
        opts.preprocessing,
        opts.format == Format::Onnx,
    );
    let checked_error = match opts.format {
        Format::Onnx => {
            let mut model = onnx::model(&trained, opts.batch, opts.preprocessing)?;
            if let Some(c) = &int8 {
                qdq::quantize(&mut model, &c.ranges)?;
                model.metadata_props.push(proto::StringStringEntryProto {
                    key: Some("quantization".into()),
                    value: Some(format!(
                        "int8 QDQ: kernels per output channel, activations per tensor, calibrated by graft quantize on {} training images (Test {:.2}% against fp32's {:.2}%)",
                        c.calibration_images,
                        100.0 * c.check.int8_accuracy,
                        100.0 * c.check.fp32_accuracy
                    )),
                });
            }
            fsx::write_bytes(&path, &model.encode_to_vec())?;
            None
        }
        Format::TorchScript => Some(write_torchscript(&trained, &metadata, &path, opts)?),
    };
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    Ok(Exported {
        path,
        bytes,
        metadata,
        checked_error,
    })
}

/// Traces, saves with the metadata, and checks the saved file against graft before it replaces
/// `path`: a module that does not compute graft's logits is not written.
fn write_torchscript(
    trained: &TrainedModel,
    metadata: &Metadata,
    path: &Path,
    opts: Options,
) -> Result<f64> {
    let batch = match opts.batch {
        BatchDim::Dynamic => 2,
        BatchDim::Fixed(n) => n,
    };
    let module = torchscript::trace(trained, batch, opts.preprocessing)?;
    let name = path
        .file_name()
        .map_or("model.pt".into(), |n| n.to_string_lossy());
    let mut error = 0.0;
    fsx::write_atomic(path, |tmp| {
        torchscript::save(&module, metadata, tmp, &name)?;
        error = torchscript::check(tmp, trained, opts.preprocessing)?;
        anyhow::ensure!(
            error < 1e-4,
            "the traced module differs from graft's forward by {error:.2e} (relative)"
        );
        Ok(())
    })?;
    Ok(error)
}
