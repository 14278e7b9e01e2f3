//! `graft embed` end to end through the binary, on real photos, with bad files mixed in.
mod common;

use common::*;
use std::process::Command;

fn graft() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_graft"));
    cmd.env_remove("LD_LIBRARY_PATH"); // the binary must find libtorch by itself
    cmd
}

#[test]
fn embed_writes_json_and_skips_undecodable_files() {
    cached_weights(arch("efficientnet-lite0"));
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir_all(inputs.join("nested")).unwrap();
    let banana = demo().join("Training/Banana");
    let photos: Vec<_> = std::fs::read_dir(&banana)
        .unwrap()
        .map(|e| e.unwrap().path())
        .take(3)
        .collect();
    for p in &photos {
        std::fs::copy(p, inputs.join("nested").join(p.file_name().unwrap())).unwrap();
    }
    // A truncated JPEG, a text file with an image extension, a grayscale and an RGBA PNG.
    let jpeg = std::fs::read(&photos[0]).unwrap();
    std::fs::write(inputs.join("truncated.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    std::fs::write(inputs.join("notes.jpg"), b"not an image at all").unwrap();
    let img = image::open(&photos[1]).unwrap();
    img.to_luma8().save(inputs.join("gray.png")).unwrap();
    img.to_rgba8().save(inputs.join("rgba.png")).unwrap();
    std::fs::write(
        inputs.join("readme.txt"),
        b"ignored: not an image extension",
    )
    .unwrap();

    let out = dir.path().join("features.json");
    let run = graft()
        .args([
            "embed",
            "--backbone",
            "efficientnet-lite0",
            "--size",
            "100",
            "--batch",
            "4",
            "--format",
            "json",
            "--threads",
            "2",
            "--out",
        ])
        .arg(&out)
        .arg(&inputs)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "graft embed failed: {stderr}");
    assert!(
        stderr.contains("truncated.jpg") && stderr.contains("notes.jpg"),
        "bad files not reported: {stderr}"
    );
    assert!(
        stderr.contains("embedded 5 images") && stderr.contains("skipped 2"),
        "{stderr}"
    );

    let rows: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 5);
    for row in rows {
        assert_eq!(row["features"].as_array().unwrap().len(), 1280);
        assert!(!row["path"].as_str().unwrap().ends_with(".txt"));
    }
    // Same image as gray PNG and as JPEG differ; the RGBA copy of a JPEG decodes to the same RGB.
    let by_name = |n: &str| -> Vec<f32> {
        let row = rows
            .iter()
            .find(|r| r["path"].as_str().unwrap().ends_with(n))
            .unwrap();
        row["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect()
    };
    let original = by_name(photos[1].file_name().unwrap().to_str().unwrap());
    assert!(rel_error(&by_name("rgba.png"), &original) < 1e-5);
    assert!(rel_error(&by_name("gray.png"), &original) > 1e-3);
}

#[test]
fn embed_safetensors_holds_features_and_paths() {
    cached_weights(arch("inception-v3"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.safetensors");
    let kiwi = demo().join("Test/Kiwi");
    let run = graft()
        .args(["embed", "--size", "75", "--out"])
        .arg(&out)
        .arg(&kiwi)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let loaded = graft::tensor_io::load(&out).unwrap();
    let paths: Vec<String> = serde_json::from_str(&loaded.metadata["paths"]).unwrap();
    assert_eq!(paths.len(), 8);
    assert_eq!(loaded.tensors[0].1.size(), [8, 2048]);
    assert_eq!(loaded.metadata["backbone"], "inception-v3");
}

#[test]
fn embed_refuses_bad_requests_before_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.json");
    let bad_weights = dir.path().join("weights.pt");
    std::fs::write(&bad_weights, b"PK\x03\x04 this is no zip").unwrap();
    let run = graft()
        .args(["embed", "--weights"])
        .arg(&bad_weights)
        .arg("--out")
        .arg(&out)
        .arg(demo())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && stderr.contains("weights.pt"),
        "{stderr}"
    );
    assert!(!out.exists());

    if !tch::Cuda::is_available() {
        let run = graft()
            .args(["--device", "cuda", "embed", "--out"])
            .arg(&out)
            .arg(demo())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            !run.status.success() && stderr.contains("no CUDA device"),
            "{stderr}"
        );
    }
    let run = graft()
        .args(["embed", "--size", "60", "--out"])
        .arg(&out)
        .arg(demo())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&run.stderr).contains("at least 75 px"));
}
