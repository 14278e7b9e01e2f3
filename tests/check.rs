//! `graft check` finds what it promises on planted cases: exact and near duplicates across train
//! and test, a duplicate across classes; and `graft train` runs its cheap part and warns.
mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn graft(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap()
}

/// The same photo again, slightly smaller and re-encoded: other bytes, the same picture.
fn near_copy(src: &Path, dst: &Path) {
    let img = image::open(src).unwrap().to_rgb8();
    let small = image::imageops::resize(&img, 96, 96, image::imageops::FilterType::Triangle);
    let mut out = std::fs::File::create(dst).unwrap();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&small)
        .unwrap();
}

/// The demo set with planted duplicates; returns the planted files.
fn planted(root: &Path) -> [PathBuf; 3] {
    copy_tree(&demo(), root);
    let kiwi = root.join("Training/Kiwi/0_100.jpg");
    let exact_leak = root.join("Test/Kiwi/planted_exact.jpg");
    std::fs::copy(&kiwi, &exact_leak).unwrap();
    let lemon = first(&root.join("Training/Lemon"));
    let near_leak = root.join("Test/Lemon/planted_near.jpg");
    near_copy(&lemon, &near_leak);
    let banana = first(&root.join("Training/Banana"));
    let mislabelled = root.join("Training/Strawberry/planted_banana.jpg");
    std::fs::copy(&banana, &mislabelled).unwrap();
    [exact_leak, near_leak, mislabelled]
}

fn first(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.remove(0)
}

/// Every path named in a list of groups.
fn paths(groups: &Value) -> Vec<String> {
    groups
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["images"].as_array().unwrap().iter())
        .map(|i| i["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn check_finds_planted_duplicates_across_parts_and_classes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let [exact_leak, near_leak, mislabelled] = planted(&root);
    let html = dir.path().join("check.html");
    let out = graft(&[
        "check",
        root.to_str().unwrap(),
        "--json",
        "--html",
        html.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = |p: &PathBuf| p.display().to_string();
    assert_eq!(r["exact"]["across_parts_count"], 1);
    assert!(paths(&r["exact"]["across_parts"]).contains(&s(&exact_leak)));
    assert_eq!(r["exact"]["across_classes_count"], 1);
    assert!(paths(&r["exact"]["across_classes"]).contains(&s(&mislabelled)));
    // The re-encoded copy has other bytes but the same picture: a near pair across parts.
    assert!(paths(&r["near"]["across_parts"]).contains(&s(&near_leak)));
    assert!(!paths(&r["exact"]["across_parts"]).contains(&s(&near_leak)));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("planted_exact.jpg") && page.contains("data:image/jpeg;base64,"));

    // Training runs the cheap part (bytes and headers) and says what it found.
    cached_weights(arch("inception-v3"));
    let run = dir.path().join("run");
    let args = [
        "train",
        "--data",
        root.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--size",
        "75",
        "--freeze",
        "all",
        "--epochs",
        "1",
    ];
    let out = graft(&args);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("warning: 1 val/test images have a twin in train (identical)"),
        "{log}"
    );
    let summary: Value =
        serde_json::from_slice(&std::fs::read(run.join("dataset.json")).unwrap()).unwrap();
    assert_eq!(
        summary["warnings"].as_array().unwrap().len(),
        2,
        "{summary}"
    );
    let report = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(report.contains("id=\"data\"") && report.contains("carry different classes"));
}
