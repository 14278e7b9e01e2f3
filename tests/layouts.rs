//! Datasets as people keep them: every folder layout, one folder that graft splits (and eval
//! repeats), and CSV labels, each recognized and read to the same images.
mod common;

use common::*;
use graft::data::dataset::Dataset;
use graft::data::labelled::Holdout;
use graft::data::layout::{self, Source};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn load(root: &Path) -> (Source, Dataset) {
    let source = layout::detect(root, 0.25).unwrap();
    let data = source.load(5).unwrap();
    (source, data)
}

fn sizes(d: &Dataset) -> [usize; 3] {
    let n = |p: &Option<Vec<_>>| p.as_ref().map_or(0, |v: &Vec<_>| v.len());
    [d.train.len(), n(&d.val), n(&d.test)]
}

#[test]
fn every_folder_layout_is_recognized() {
    let dir = tempfile::tempdir().unwrap();
    // Fruits-360: Training/Test, 144 + 48 photos.
    let (source, data) = load(&demo());
    assert!(matches!(
        source,
        Source::Folders {
            val: None,
            test: Some(_),
            ..
        }
    ));
    assert_eq!(sizes(&data), [144, 0, 48]);
    assert!(
        data.description
            .contains("train 144 / test 48 images in 6 classes"),
        "{}",
        data.description
    );
    // Keras/Ultralytics train/val/test, fastai train/valid/test, and train/test.
    for (val, test) in [
        (Some("val"), Some("test")),
        (Some("valid"), Some("test")),
        (None, Some("test")),
    ] {
        let root = dir.path().join(format!("{val:?}-{test:?}"));
        copy_tree(&demo().join("Training"), &root.join("train"));
        if let Some(v) = val {
            copy_tree(&demo().join("Test"), &root.join(v));
        }
        copy_tree(&demo().join("Test"), &root.join(test.unwrap()));
        let (source, data) = load(&root);
        let Source::Folders { val: found, .. } = source else {
            panic!("{root:?}: not read as folders")
        };
        assert_eq!(
            found.map(|p| p.file_name().unwrap().to_owned()),
            val.map(Into::into)
        );
        assert_eq!(sizes(&data), [144, if val.is_some() { 48 } else { 0 }, 48]);
    }
    // One folder of class folders: graft holds out a quarter of each class as Test, seeded.
    let single = dir.path().join("single");
    copy_tree(&demo().join("Training"), &single);
    let (source, data) = load(&single);
    assert!(matches!(source, Source::Single { .. }));
    assert_eq!(sizes(&data), [108, 0, 36]);
    let (_, again) = load(&single);
    assert_eq!(again.test, data.test, "the same seed gives the same split");
    // Held out by blocks (video frames): each class's Test is one run of consecutive files.
    let blocks = source.load_split(Holdout::Blocks, 5).unwrap();
    assert_eq!(sizes(&blocks), [108, 0, 36]);
    let test = blocks.test.unwrap();
    for c in 0..blocks.classes.len() {
        let mut all: Vec<&PathBuf> = blocks
            .train
            .iter()
            .chain(&test)
            .filter(|i| i.label == c)
            .map(|i| &i.path)
            .collect();
        all.sort();
        let mut at: Vec<usize> = test
            .iter()
            .filter(|i| i.label == c)
            .map(|i| all.binary_search(&&i.path).unwrap())
            .collect();
        at.sort_unstable();
        assert_eq!(at.len(), 6);
        assert!(at.windows(2).all(|w| w[1] == w[0] + 1), "class {c}: {at:?}");
    }
    assert!(
        blocks
            .description
            .contains("one seeded block of consecutive images"),
        "{}",
        blocks.description
    );
}

fn write_csv(path: &Path, rows: &[(String, &str, Option<&str>)]) {
    let mut text = String::from(if rows[0].2.is_some() {
        "path,label,split\n"
    } else {
        "path,label\n"
    });
    for (p, l, s) in rows {
        text += &match s {
            Some(s) => format!("{p},{l},{s}\n"),
            None => format!("{p},{l}\n"),
        };
    }
    std::fs::write(path, text).unwrap();
}

/// (path relative to the demo root, class, part) of every demo photo.
fn demo_rows() -> Vec<(String, String, &'static str)> {
    let mut rows = Vec::new();
    for (part, split) in [("Training", "train"), ("Test", "test")] {
        let data = layout::detect(&demo().join(part), 0.0)
            .unwrap()
            .load(0)
            .unwrap();
        for item in &data.train {
            let rel = item
                .path
                .strip_prefix(demo())
                .unwrap()
                .display()
                .to_string();
            rows.push((rel, data.classes[item.label].clone(), split));
        }
    }
    rows
}

#[test]
fn csv_labels_with_and_without_a_split_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv = demo().join("labels-test.csv");
    let rows = demo_rows();
    // Relative paths are relative to the CSV; the split column decides the parts.
    let with: Vec<(String, &str, Option<&str>)> = rows
        .iter()
        .map(|(p, l, s)| (p.clone(), l.as_str(), Some(*s)))
        .collect();
    let csv_path = dir.path().join("labels.csv");
    let abs: Vec<(String, &str, Option<&str>)> = with
        .iter()
        .map(|(p, l, s)| (demo().join(p).display().to_string(), *l, *s))
        .collect();
    write_csv(&csv_path, &abs);
    let source = Source::Csv {
        path: csv_path.clone(),
        test_fraction: 0.2,
    };
    let data = source.load(1).unwrap();
    assert_eq!(sizes(&data), [144, 0, 48]);
    assert_eq!(data.classes.len(), 6);
    // Without a split column: graft holds out Test itself.
    let without: Vec<(String, &str, Option<&str>)> =
        abs.iter().map(|(p, l, _)| (p.clone(), *l, None)).collect();
    write_csv(&csv_path, &without);
    let data = Source::Csv {
        path: csv_path.clone(),
        test_fraction: 0.25,
    }
    .load(1)
    .unwrap();
    assert_eq!(sizes(&data), [144, 0, 48]);
    // A missing file and an unknown split value are named with their line.
    let mut bad = abs.clone();
    bad[3].0 = "/nowhere/photo.jpg".into();
    write_csv(&csv_path, &bad);
    let e = format!("{:#}", source.load(1).unwrap_err());
    assert!(
        e.contains("line 5") && e.contains("/nowhere/photo.jpg"),
        "{e}"
    );
    let mut bad = abs.clone();
    bad[7].2 = Some("holdout");
    write_csv(&csv_path, &bad);
    let e = format!("{:#}", source.load(1).unwrap_err());
    assert!(
        e.contains("line 9") && e.contains("unknown split 'holdout'"),
        "{e}"
    );
    std::fs::write(&csv_path, "file,class\na.jpg,x\n").unwrap();
    let e = format!("{:#}", source.load(1).unwrap_err());
    assert!(e.contains("`path` and a `label` column"), "{e}");
    assert!(!csv.exists());
}

fn graft(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap()
}

fn ok(out: Output) -> (String, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "graft failed: {stderr}");
    (String::from_utf8_lossy(&out.stdout).to_string(), stderr)
}

fn json(path: PathBuf) -> Value {
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[test]
fn a_single_folder_is_split_once_and_eval_repeats_the_split() {
    cached_weights(arch("inception-v3"));
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("photos");
    copy_tree(&demo().join("Training"), &single);
    let run = dir.path().join("run");
    let quick = [
        "--size", "75", "--freeze", "all", "--epochs", "2", "--seed", "3",
    ];
    let s = |p: &Path| p.display().to_string();
    let mut args = vec![
        "train".to_string(),
        "--data".into(),
        s(&single),
        "--out".into(),
        s(&run),
    ];
    args.extend(quick.iter().map(|a| a.to_string()));
    let (_, log) = ok(graft(&args.iter().map(String::as_str).collect::<Vec<_>>()));
    assert!(
        log.contains("train 114 / test 30 images in 6 classes"),
        "{log}"
    );
    let split = json(run.join("split.json"));
    assert_eq!(split["test"].as_array().unwrap().len(), 30);
    let counts = json(run.join("dataset.json"));
    let total: u64 = counts["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["test"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 30);
    // eval without --data scores the run's own Test: the same 30 images, the same score.
    let (stdout, _) = ok(graft(&["eval", "--run", &s(&run), "--json"]));
    let eval: Value = serde_json::from_str(&stdout).unwrap();
    let metrics = json(run.join("metrics.json"));
    assert_eq!(eval["count"], 30);
    assert_eq!(eval["accuracy"], metrics["test_accuracy"]);

    // A given val folder chooses the best epoch instead of a split of train.
    let root = dir.path().join("tvt");
    copy_tree(&demo().join("Training"), &root.join("train"));
    copy_tree(&demo().join("Test"), &root.join("valid"));
    copy_tree(&demo().join("Test"), &root.join("test"));
    let run2 = dir.path().join("run2");
    let mut args = vec![
        "train".to_string(),
        "--data".into(),
        s(&root),
        "--out".into(),
        s(&run2),
    ];
    args.extend(quick.iter().map(|a| a.to_string()));
    ok(graft(&args.iter().map(String::as_str).collect::<Vec<_>>()));
    assert_eq!(json(run2.join("config.json"))["validation"], "given");
    let counts = json(run2.join("dataset.json"));
    let sum = |k: &str| -> u64 {
        counts["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c[k].as_u64().unwrap())
            .sum()
    };
    assert_eq!((sum("train"), sum("val"), sum("test")), (144, 48, 48));
    assert!(
        !run2.join("split.json").exists(),
        "the dataset brought its own split"
    );
}
