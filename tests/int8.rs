//! `graft quantize` and `--precision int8` end to end on a demo run with the real InceptionV3
//! weights: the run is calibrated on its training images, kept because int8 scores within the
//! tolerance of float32 on its Test, and `graft eval`/`predict` in int8 then give what the
//! check measured; a run not calibrated is told how to calibrate, and training in int8 is
//! refused.
mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn graft(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(["--threads", "2"])
        .args(args)
        .output()
        .unwrap()
}

fn refused(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "expected a bad-input refusal");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Top-1 class of every image of `graft predict --json`, by path.
fn top1(run: &Path, precision: &str) -> Vec<(String, String)> {
    let out = graft(&[
        "--precision",
        precision,
        "predict",
        "--run",
        run.to_str().unwrap(),
        "--json",
        demo().join("Test").to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_str(&ok(out)).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let path = p["path"].as_str().unwrap().to_string();
            (path, p["top"][0]["class"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn a_calibrated_run_runs_in_int8_as_its_check_measured() {
    let run = demo_run("int8-demo", 1);
    let r = run.to_str().unwrap();
    // Not calibrated yet: int8 is refused, naming the command that calibrates.
    let why = refused(&graft(&["--precision", "int8", "eval", "--run", r]));
    assert!(why.contains("graft quantize --run"), "{why}");
    // Training in int8 is refused before any work.
    let why = refused(&graft(&["--precision", "int8", "train", "--data", "x"]));
    assert!(why.contains("int8"), "{why}");

    let said = ok(graft(&["quantize", "--run", r, "--images", "64"]));
    assert!(said.starts_with("int8 kept"), "{said}");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("int8.json")).unwrap()).unwrap();
    let check = &saved["check"];
    let (fp32, int8) = (
        check["fp32_accuracy"].as_f64().unwrap(),
        check["int8_accuracy"].as_f64().unwrap(),
    );
    assert!(fp32 - int8 <= 0.003 + 1e-12, "kept only within 0.3 point");
    assert_eq!(saved["calibration_images"], 64);
    assert_eq!(saved["ranges"][0]["at"], "input");

    // eval in int8 scores what the check measured, and says it runs in int8.
    let out = graft(&["--precision", "int8", "eval", "--run", r, "--json"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("precision: int8"));
    let m: Value = serde_json::from_str(&ok(out)).unwrap();
    assert!((m["accuracy"].as_f64().unwrap() - int8).abs() < 1e-9);

    // predict in int8 names the same class as float32 for nearly every image.
    let (f, q) = (top1(&run, "fp32"), top1(&run, "int8"));
    assert_eq!(f.len(), q.len());
    let same = f.iter().zip(&q).filter(|(a, b)| a == b).count();
    assert!(
        same * 100 >= f.len() * 90,
        "{same} of {} top-1 classes agree",
        f.len()
    );
}
