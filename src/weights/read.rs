//! Reading weight files by their format: safetensors (graft's own and users'), PyTorch
//! checkpoints through the pytorch-reader crate, and the pinned TorchScript archive through
//! libtorch itself. A TorchScript archive runs code when libtorch loads it, so only a file whose
//! sha256 is a pinned one is loaded that way; any other file goes through the crate, which only
//! parses.
use super::store::{META_ARCH, sha256_hex};
use crate::error::bad_weights;
use crate::models::{Arch, WeightFormat};
use crate::tensor_io;
use anyhow::Result;
use pytorch_reader::{DType, PytorchReader};
use std::path::Path;
use tch::{Kind, Tensor};

/// Reading errors of a weight file (truncated, not the format it claims) are weight refusals.
fn file_error(e: anyhow::Error) -> anyhow::Error {
    bad_weights(format!("{e:#}"))
}

/// The tensors of a weight file under graft's names for `arch`. A safetensors file that records
/// another architecture is refused here, before its tensors are compared.
pub fn read_file(path: &Path, arch: Arch) -> Result<Vec<(String, Tensor)>> {
    let raw = if extension(path) == "safetensors" {
        let loaded = tensor_io::load(path).map_err(file_error)?;
        if let Some(file_arch) = loaded.metadata.get(META_ARCH) {
            let same = Arch::named(file_arch).is_ok_and(|a| a == arch);
            if !same {
                return Err(bad_weights(format!(
                    "{}: holds weights for {file_arch}, not {}",
                    path.display(),
                    arch.name
                )));
            }
        }
        loaded.tensors
    } else {
        read_original(path)?
    };
    Ok(raw
        .into_iter()
        .map(|(n, t)| ((arch.weight_names)(&n), t))
        .collect())
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The tensors of a PyTorch file as it stores them: its names, its element types.
pub fn read_original(path: &Path) -> Result<Vec<(String, Tensor)>> {
    match extension(path).as_str() {
        "pt" | "pth" | "bin" | "ckpt" => {}
        _ => {
            return Err(bad_weights(format!(
                "{}: unknown weight file type (expected .safetensors, .pt or .pth)",
                path.display()
            )));
        }
    }
    if is_pinned_torchscript(path)? {
        return read_torchscript(path);
    }
    match PytorchReader::new(path) {
        Ok(reader) => from_reader(reader, path),
        Err(e) if is_torchscript_archive(path) => Err(bad_weights(format!(
            "{}: a TorchScript archive that graft does not know ({e}). Loading TorchScript \
             runs its code, so graft loads only its pinned files; convert it to safetensors \
             with: python -c \"import torch, safetensors.torch as st; \
             m = torch.jit.load('{0}'); st.save_file({{k: v.contiguous() for k, v in \
             m.state_dict().items()}}, 'weights.safetensors')\"",
            path.display()
        ))),
        Err(e) => Err(bad_weights(format!(
            "{}: not a readable PyTorch file: {e}",
            path.display()
        ))),
    }
}

/// Whether the file's sha256 is that of a pinned TorchScript weight file.
fn is_pinned_torchscript(path: &Path) -> Result<bool> {
    let pinned: Vec<&str> = Arch::all()
        .filter_map(|a| a.weights)
        .filter(|w| w.format == WeightFormat::TorchScript)
        .map(|w| w.sha256)
        .collect();
    if pinned.is_empty() {
        return Ok(false);
    }
    let bytes = std::fs::read(path)
        .map_err(|e| bad_weights(format!("{}: cannot read ({e})", path.display())))?;
    Ok(pinned.contains(&sha256_hex(&bytes).as_str()))
}

/// A zip archive with TorchScript's code folder or constants.
fn is_torchscript_archive(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let Ok(zip) = zip::ZipArchive::new(file) else {
        return false;
    };
    zip.file_names()
        .any(|n| n.is_ok_and(|n| n.ends_with("constants.pkl") || n.contains("/code/")))
}

/// Parameters of a (pinned) TorchScript module. In the pinned InceptionV3 file every tensor,
/// the batch-norm statistics included, is a parameter (checked against `torch.load` in the
/// tests), so `named_parameters` is the whole state.
fn read_torchscript(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let module = tch::CModule::load(path)
        .map_err(|e| bad_weights(format!("{}: libtorch cannot load it: {e}", path.display())))?;
    let params = module
        .named_parameters()
        .map_err(|e| bad_weights(format!("{}: reading its parameters: {e}", path.display())))?;
    Ok(params
        .into_iter()
        .map(|(n, t)| (n, t.detach().contiguous()))
        .collect())
}

fn kind_of(dtype: DType) -> Option<Kind> {
    Some(match dtype {
        DType::F64 => Kind::Double,
        DType::F32 => Kind::Float,
        DType::F16 => Kind::Half,
        DType::BF16 => Kind::BFloat16,
        DType::I64 => Kind::Int64,
        DType::I32 => Kind::Int,
        DType::I16 => Kind::Int16,
        DType::I8 => Kind::Int8,
        DType::U8 => Kind::Uint8,
        DType::Bool => Kind::Bool,
        DType::U64 | DType::U32 | DType::U16 => return None,
    })
}

fn from_reader(reader: PytorchReader, path: &Path) -> Result<Vec<(String, Tensor)>> {
    let mut out = Vec::with_capacity(reader.len());
    for (name, t) in reader.into_tensors() {
        let kind = kind_of(t.dtype()).ok_or_else(|| {
            bad_weights(format!(
                "{}: tensor '{name}' has an element type libtorch lacks ({:?})",
                path.display(),
                t.dtype()
            ))
        })?;
        let bytes = t.read().map_err(|e| {
            bad_weights(format!("{}: reading tensor '{name}': {e}", path.display()))
        })?;
        let shape: Vec<i64> = t.shape().iter().map(|&d| d as i64).collect();
        let tensor = Tensor::f_from_data_size(&bytes, &shape, kind)?;
        out.push((name, tensor));
    }
    // The crate hands tensors back in hash order: sort, so readers see a stable order.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
