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

/// `graft [global] embed --size SIZE --out OUT INPUT` (safetensors), which must succeed; what it
/// wrote.
fn embed_safetensors(
    global: &[&str],
    size: &str,
    out: &std::path::Path,
    input: &std::path::Path,
) -> graft::tensor_io::Loaded {
    let run = graft()
        .args(global)
        .args(["embed", "--size", size, "--out"])
        .arg(out)
        .arg(input)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    graft::tensor_io::load(out).unwrap()
}

#[test]
fn embed_safetensors_holds_features_and_paths() {
    cached_weights(arch("inception-v3"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.safetensors");
    let loaded = embed_safetensors(&[], "75", &out, &demo().join("Test/Kiwi"));
    let paths: Vec<String> = serde_json::from_str(&loaded.metadata["paths"]).unwrap();
    assert_eq!(paths.len(), 8);
    assert_eq!(loaded.tensors[0].1.size(), [8, 2048]);
    assert_eq!(loaded.metadata["backbone"], "inception-v3");
}

/// bf16 (the default on CPUs with bf16 instructions) computes features close to fp32's, and is
/// in effect when asked for (the features differ).
#[test]
fn embed_in_bf16_is_close_to_fp32() {
    cached_weights(arch("inception-v3"));
    let dir = tempfile::tempdir().unwrap();
    let features = |precision: &str| {
        let out = dir.path().join(format!("{precision}.safetensors"));
        let global = ["--precision", precision];
        let loaded = embed_safetensors(&global, "139", &out, &demo().join("Test"));
        (loaded.metadata["paths"].clone(), loaded.tensors[0].1.copy())
    };
    let (fp32_paths, fp32) = features("fp32");
    let (bf16_paths, bf16) = features("bf16");
    assert_eq!(fp32_paths, bf16_paths);
    let rel = ((&bf16 - &fp32).norm() / fp32.norm()).double_value(&[]);
    assert!(rel > 1e-4 && rel < 5e-2, "relative difference {rel}");
    let cosine = tch::Tensor::cosine_similarity(&bf16, &fp32, 1, 1e-8)
        .min()
        .double_value(&[]);
    assert!(cosine > 0.998, "smallest cosine similarity {cosine}");

    let run = graft()
        .args(["--precision", "fp16", "embed", "--out"])
        .arg(dir.path().join("x.json"))
        .arg(demo())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.code() == Some(2) && stderr.contains("unknown precision 'fp16'"),
        "{stderr}"
    );
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

/// `graft` as two ranks under the venv's torchrun (Gloo over loopback).
fn torchrun() -> Command {
    let mut cmd = common::torchrun(2);
    cmd.arg(env!("CARGO_BIN_EXE_graft"))
        .env_remove("LD_LIBRARY_PATH");
    cmd
}

#[test]
fn embed_over_two_ranks_equals_one_rank_row_for_row() {
    cached_weights(arch("inception-v3"));
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    common::copy_tree(&demo().join("Test/Kiwi"), &inputs.join("kiwi"));
    common::copy_tree(&demo().join("Test/Banana"), &inputs.join("banana"));
    let kiwi = std::fs::read_dir(inputs.join("kiwi"))
        .unwrap()
        .next()
        .unwrap();
    let jpeg = std::fs::read(kiwi.unwrap().path()).unwrap();
    std::fs::write(inputs.join("kiwi/truncated.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    let args = |out: &std::path::Path| -> Vec<std::ffi::OsString> {
        let mut a: Vec<std::ffi::OsString> = [
            "embed",
            "--size",
            "75",
            "--batch",
            "4",
            "--threads",
            "1",
            "--format",
            "json",
            "--out",
        ]
        .iter()
        .map(Into::into)
        .collect();
        a.push(out.into());
        a.push(inputs.clone().into());
        a
    };
    let (one, two) = (dir.path().join("one.json"), dir.path().join("two.json"));
    let single = graft().args(args(&one)).output().unwrap();
    assert!(
        single.status.success(),
        "{}",
        String::from_utf8_lossy(&single.stderr)
    );
    let ranks = torchrun().args(args(&two)).output().unwrap();
    let log = String::from_utf8_lossy(&ranks.stderr);
    assert!(ranks.status.success(), "{log}");
    // Each rank says what it did: 16 photos shared 8 and 8 (the truncated file is one rank's).
    let counts: Vec<usize> = (0..2)
        .map(|r| {
            let tag = format!("rank {r} of 2: embedded ");
            let at = log.find(&tag).unwrap_or_else(|| panic!("{log}")) + tag.len();
            log[at..].split(' ').next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 16, "{log}");
    assert!(counts.iter().all(|&c| c >= 7), "{counts:?}");
    assert!(
        log.contains("wrote 16 rows") && log.contains("skipped 1"),
        "{log}"
    );
    assert_eq!(log.matches("wrote ").count(), 1, "{log}");
    let read = |p: &std::path::Path| -> Vec<(String, Vec<f32>)> {
        let rows: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let f = r["features"].as_array().unwrap().iter();
                (
                    r["path"].as_str().unwrap().to_string(),
                    f.map(|v| v.as_f64().unwrap() as f32).collect(),
                )
            })
            .collect()
    };
    let (a, b) = (read(&one), read(&two));
    assert_eq!(a.len(), 16);
    assert_eq!(
        a.iter().map(|r| &r.0).collect::<Vec<_>>(),
        b.iter().map(|r| &r.0).collect::<Vec<_>>()
    );
    for ((path, x), (_, y)) in a.iter().zip(&b) {
        // Batches differ between one rank and two (4+4+... against shares of 8): kernels may sum
        // in another order, nothing more.
        assert!(rel_error(x, y) < 1e-5, "{path}: {}", rel_error(x, y));
    }
}

#[test]
fn commands_that_do_not_share_work_refuse_to_run_as_ranks() {
    let run = graft()
        .args(["check"])
        .arg(demo())
        .env("WORLD_SIZE", "2")
        .env("RANK", "1")
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", "29500")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("only graft train, embed, eval and predict run as several ranks"),
        "{stderr}"
    );
}
