//! Where weights live on disk: graft's cache folder, the cached safetensors files and the
//! metadata they carry, and the checksum that pins a file.
use crate::models::Arch;
use crate::tensor_io;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Tensor, nn};

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
        .join(format!("{}.safetensors", arch.name))
}

/// Metadata key of graft's safetensors weight files: the architecture they are for.
pub const META_ARCH: &str = "graft.arch";
/// Metadata key: sha256 of the original file they were converted from.
pub const META_SOURCE_SHA256: &str = "graft.source_sha256";

/// The sha256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Saves graft-named weights with their architecture recorded.
pub fn save_weights(path: &Path, vs: &nn::VarStore, arch: Arch, source_sha256: &str) -> Result<()> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let metadata = HashMap::from([
        (META_ARCH.to_string(), arch.name.to_string()),
        (META_SOURCE_SHA256.to_string(), source_sha256.to_string()),
    ]);
    tensor_io::save(path, &named, metadata)
        .with_context(|| format!("saving weights to {}", path.display()))
}
