//! graft train / eval / predict end to end through the binary, on the bundled real photos.
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

fn ok(out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "graft failed: {stderr}");
    stderr
}

fn err(out: Output) -> String {
    assert!(!out.status.success(), "graft unexpectedly succeeded");
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn json(path: PathBuf) -> Value {
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A quick run: frozen backbone at 75 px on cached features, a few epochs.
/// Whether two weight files hold the same tensors under the same names, to the bit.
fn same_weights(a: &Path, b: &Path) -> bool {
    let (a, b) = (
        graft::tensor_io::load(a).unwrap().tensors,
        graft::tensor_io::load(b).unwrap().tensors,
    );
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|((n1, x), (n2, y))| n1 == n2 && x.equal(y))
}

fn quick_train(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "--threads",
        "2",
        "train",
        "--data",
        s(data),
        "--out",
        s(out),
        "--size",
        "75",
        "--freeze",
        "all",
        "--seed",
        "7",
    ];
    if !extra.contains(&"--epochs") {
        args.extend_from_slice(&["--epochs", "3"]);
    }
    args.extend_from_slice(extra);
    graft(&args)
}

#[test]
fn train_eval_predict_round_trip_on_the_demo_set() {
    cached_weights(arch("inception-v3"));
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // The rate is fixed: six head-only steps at 75 px check the round trip, not the recipe's rate
    // (at the recipe's 6e-4 they reach 89.6% on Test but only 4 of 8 kiwis; 3e-4: 97.9%, 8 of 8).
    ok(quick_train(
        &demo(),
        &run,
        &["--val-split", "0.25", "--lr", "3e-4"],
    ));
    for f in [
        "config.json",
        "classes.json",
        "model.safetensors",
        "history.json",
        "history.csv",
        "metrics.json",
        "checkpoints/last.safetensors",
    ] {
        assert!(run.join(f).is_file(), "run folder lacks {f}");
    }
    // Classes are the Training sub-folders, sorted, and stay with the model.
    let classes: Vec<String> = serde_json::from_value(json(run.join("classes.json"))).unwrap();
    assert_eq!(
        classes,
        [
            "Apple Golden 1",
            "Apple Granny Smith",
            "Banana",
            "Kiwi",
            "Lemon",
            "Strawberry"
        ]
    );
    let history = json(run.join("history.json"));
    assert_eq!(history.as_array().unwrap().len(), 3);
    let csv = std::fs::read_to_string(run.join("history.csv")).unwrap();
    assert!(
        csv.starts_with("epoch,loss,accuracy,val_loss,val_accuracy,seconds\n")
            && csv.lines().count() == 4
    );

    let metrics = json(run.join("metrics.json"));
    let test_acc = metrics["test_accuracy"].as_f64().unwrap();
    assert!(
        test_acc > 0.5,
        "a frozen InceptionV3 separates six fruits: {test_acc}"
    );
    let test = &metrics["test"];
    assert_eq!(test["count"], 48);
    assert_eq!(test["per_class"].as_array().unwrap().len(), 6);
    assert_eq!(
        test["confusion"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .sum::<u64>())
            .sum::<u64>(),
        48
    );

    // The run records the precision it trained in: what `auto` picks on this CPU.
    let devices = graft(&["devices", "--json"]);
    let devices: Value = serde_json::from_slice(&devices.stdout).unwrap();
    let precision = json(run.join("config.json"))["precision"].clone();
    assert_eq!(precision, devices["cpu"]["auto_precision"]);

    // eval on the same Test folder reproduces the training run's test score, in the run's
    // precision, and says so.
    let out = graft(&["eval", "--run", s(&run), "--data", s(&demo()), "--json"]);
    let said = ok(Output { ..out.clone() });
    let eval: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!((eval["accuracy"].as_f64().unwrap() - test_acc).abs() < 1e-9);
    let precision = precision.as_str().unwrap();
    assert!(
        said.contains(&format!("precision: {precision}, as the run trained")),
        "{said}"
    );
    // Asked for fp32, it says so (the same score within bf16's rounding, where it trained in bf16).
    let out = graft(&["--precision", "fp32", "eval", "--run", s(&run), "--json"]);
    let said = ok(Output { ..out.clone() });
    assert!(said.contains("precision: fp32"), "{said}");

    // predict: class names from the saved list, probabilities that sum to at most 1, sorted.
    let kiwi = demo().join("Test/Kiwi");
    let out = graft(&[
        "predict",
        "--run",
        s(&run),
        "--top-k",
        "6",
        "--json",
        s(&kiwi),
    ]);
    ok(Output { ..out.clone() });
    let preds: Value = serde_json::from_slice(&out.stdout).unwrap();
    let preds = preds.as_array().unwrap();
    assert_eq!(preds.len(), 8);
    let mut kiwi_top1 = 0;
    for p in preds {
        let top = p["top"].as_array().unwrap();
        assert_eq!(top.len(), 6);
        let probs: Vec<f64> = top
            .iter()
            .map(|t| t["probability"].as_f64().unwrap())
            .collect();
        assert!(probs.windows(2).all(|w| w[0] >= w[1]));
        assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-4);
        assert!(classes.contains(&top[0]["class"].as_str().unwrap().to_string()));
        kiwi_top1 += (top[0]["class"] == "Kiwi") as usize;
    }
    assert!(kiwi_top1 >= 6, "only {kiwi_top1}/8 kiwis recognised");
    let table = String::from_utf8(
        graft(&["predict", "--run", s(&run), s(&kiwi.join("33_100.jpg"))]).stdout,
    )
    .unwrap();
    assert!(
        table.contains("33_100.jpg") && table.contains('%'),
        "{table}"
    );
}

/// `graft train` only parses its arguments: the library plans the same run from the same inputs.
#[test]
fn a_rust_caller_gets_the_run_that_graft_train_plans() {
    use graft::training::setup::{self, Images, Overrides, Recipe};
    let args = [
        "--size", "120", "--epochs", "2", "--lr", "0.01", "--hidden", "64",
    ];
    let data = demo();
    let mut cli = vec!["train", "--data", s(&data), "--plan-only"];
    cli.extend(args);
    let out = graft(&cli);
    let said = ok(Output { ..out.clone() });
    assert!(
        said.contains("graft: plan:"),
        "the plan says its choices: {said}"
    );
    let from_cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    let over = Overrides {
        size: Some(120),
        epochs: Some(2),
        lr: Some(0.01),
        hidden: Some(64),
        ..Overrides::default()
    };
    let planned = setup::plan_run(Recipe::Fast, &Images::Root(demo()), &over).unwrap();
    assert_eq!(serde_json::to_value(&planned.config).unwrap(), from_cli);
    assert_eq!(
        (from_cli["size"].as_i64(), from_cli["epochs"].as_u64()),
        (Some(120), Some(2))
    );
    // The dataset the plan read goes on to training.
    let dataset = planned.dataset.expect("the plan's dataset");
    assert_eq!(dataset.classes.len(), 6);
}

#[test]
fn bad_datasets_are_refused_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_tree(&demo(), &data);
    let out = dir.path().join("run");

    let empty = data.join("Training/Lemon");
    for e in std::fs::read_dir(&empty).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let e = err(quick_train(&data, &out, &[]));
    assert!(
        e.contains("Training/Lemon") && e.contains("no images"),
        "{e}"
    );
    std::fs::remove_dir(&empty).unwrap();

    // Lemon is still in Test: a Test class that Training lacks.
    let e = err(quick_train(&data, &out, &[]));
    assert!(e.contains("Test/Lemon") && e.contains("not among"), "{e}");
    std::fs::remove_dir_all(data.join("Test/Lemon")).unwrap();

    let nothing = dir.path().join("nothing");
    std::fs::create_dir_all(&nothing).unwrap();
    let e = err(graft(&["train", "--train", s(&nothing), "--out", s(&out)]));
    assert!(e.contains(s(&nothing)), "{e}");
    assert!(
        !out.join("config.json").exists(),
        "nothing may be written for a refused dataset"
    );
}

#[test]
fn corrupt_images_are_reported_skipped_and_counted() {
    cached_weights(arch("inception-v3"));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_tree(&demo(), &data);
    let jpeg = std::fs::read(demo().join("Training/Kiwi/0_100.jpg")).unwrap_or_else(|_| {
        let first = std::fs::read_dir(demo().join("Training/Kiwi"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::read(first).unwrap()
    });
    std::fs::write(data.join("Training/Kiwi/cut.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
    std::fs::write(data.join("Test/Banana/zero.jpg"), b"").unwrap();
    for cache in [true, false] {
        let run = dir.path().join(format!("run-{cache}"));
        let mut extra = vec!["--epochs", "1"];
        if !cache {
            extra.push("--no-cache");
        }
        let log = ok(quick_train(&data, &run, &extra));
        assert!(log.contains("cut.jpg") && log.contains("zero.jpg"), "{log}");
        assert!(log.contains("2 files skipped"), "{log}");
        assert_eq!(
            json(run.join("metrics.json"))["test"]["count"],
            48,
            "all 48 demo Test photos, not the empty file"
        );
    }
}

#[test]
fn the_best_epoch_is_restored_even_without_early_stopping() {
    cached_weights(arch("inception-v3"));
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // A large Adam step makes the validation loss fall and rise again; patience outlasts the run.
    ok(quick_train(
        &demo(),
        &run,
        &[
            "--val",
            "test",
            "--epochs",
            "6",
            "--patience",
            "10",
            "--optimizer",
            "adam",
            "--lr",
            "0.01",
        ],
    ));
    let history = json(run.join("history.json"));
    let records: Vec<(f64, f64)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["val_accuracy"].as_f64().unwrap(),
                r["val_loss"].as_f64().unwrap(),
            )
        })
        .collect();
    let accs: Vec<f64> = records.iter().map(|r| r.0).collect();
    assert_eq!(accs.len(), 6, "no early stop with patience 10");
    // Best: lowest validation loss (no two epochs tie in loss here).
    let best_epoch = (0..records.len())
        .min_by(|&i, &j| records[i].1.total_cmp(&records[j].1))
        .unwrap()
        + 1;
    let best = records[best_epoch - 1].0;
    assert!(
        best_epoch < 6,
        "the last epoch is not the best here: {records:?}"
    );
    let metrics = json(run.join("metrics.json"));
    assert_eq!(metrics["best_epoch"].as_u64().unwrap() as usize, best_epoch);
    // Validation was Test: the saved model scores the best epoch's accuracy there, not the last's.
    assert!(
        (metrics["test_accuracy"].as_f64().unwrap() - best).abs() < 1e-9,
        "{accs:?} vs {}",
        metrics["test_accuracy"]
    );
    assert!(same_weights(
        &run.join("model.safetensors"),
        &run.join("checkpoints/best.safetensors")
    ));
    println!("validation (accuracy, loss) {records:?}, best epoch {best_epoch}");
}

#[test]
fn a_time_budget_with_room_changes_nothing_and_one_that_cannot_be_kept_thins_and_says_so() {
    cached_weights(arch("inception-v3"));
    let dir = tempfile::tempdir().unwrap();
    let (free, roomy, tight) = (
        dir.path().join("free"),
        dir.path().join("roomy"),
        dir.path().join("tight"),
    );
    ok(quick_train(&demo(), &free, &["--time-budget", "none"]));
    let planned = ok(quick_train(&demo(), &roomy, &["--time-budget", "1h"]));
    assert!(
        planned.contains("plan: every image, 3 epochs: planned"),
        "{planned}"
    );
    // Measuring the costs leaves the model as it was: the same run, to the bit.
    assert!(same_weights(
        &free.join("model.safetensors"),
        &roomy.join("model.safetensors")
    ));
    assert_eq!(
        json(free.join("metrics.json"))["test_loss"],
        json(roomy.join("metrics.json"))["test_loss"]
    );
    // Nothing fits in a millisecond: the smallest plan (16 per class, 2 epochs), said out loud.
    let said = ok(quick_train(&demo(), &tight, &["--time-budget", "0.001s"]));
    assert!(
        said.contains("at most 16 training images per class, 2 epochs")
            && said.contains("cannot be kept"),
        "{said}"
    );
    let config = json(tight.join("config.json"));
    assert_eq!(
        (config["max_per_class"].as_u64(), config["epochs"].as_u64()),
        (Some(16), Some(2))
    );
    assert_eq!(
        json(tight.join("history.json")).as_array().unwrap().len(),
        2
    );
    let dataset = json(tight.join("dataset.json"));
    for c in dataset["classes"].as_array().unwrap() {
        assert_eq!(c["train"], 16, "{c}");
    }
}

#[test]
fn the_frozen_candidate_is_a_usable_model_first_and_stays_when_there_is_no_time_to_fine_tune() {
    cached_weights(arch("inception-v3"));
    let dir = tempfile::tempdir().unwrap();
    // Both candidates: the model is the one the run says it kept, with both recorded.
    let both = dir.path().join("both");
    let run = |out: &Path, budget: &str| {
        ok(graft(&[
            "--threads",
            "2",
            "train",
            "--data",
            s(&demo()),
            "--out",
            s(out),
            "--size",
            "107",
            "--epochs",
            "2",
            "--seed",
            "7",
            "--time-budget",
            budget,
        ]))
    };
    let said = run(&both, "none");
    assert!(
        said.contains("graft: frozen candidate: a head on the pooled features of"),
        "{said}"
    );
    let metrics = json(both.join("metrics.json"));
    let kept = metrics["choice"]["kept"].as_str().unwrap().to_string();
    assert!(said.contains("graft: kept "), "{said}");
    assert!(
        !metrics["floor"]["val_correct"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(json(both.join("history.json")).as_array().unwrap().len(), 2);
    let source = match kept.as_str() {
        "frozen" => {
            assert_eq!(metrics["best_epoch"], 0);
            "frozen"
        }
        "fine-tune" => "best",
        other => panic!("kept {other}"),
    };
    let checkpoints = both.join("checkpoints");
    assert!(same_weights(
        &both.join("model.safetensors"),
        &checkpoints.join(format!("{source}.safetensors"))
    ));
    // Nothing fits in a millisecond: every image the plan can keep goes to the frozen
    // candidate, no epoch runs, and that model is the run's, scored and usable.
    let tight = dir.path().join("tight");
    let said = run(&tight, "0.001s");
    assert!(said.contains("the frozen candidate only"), "{said}");
    assert!(
        said.contains("kept the frozen candidate: no fine-tuning epoch ran"),
        "{said}"
    );
    assert_eq!(json(tight.join("config.json"))["epochs"], 0);
    assert_eq!(
        json(tight.join("history.json")).as_array().unwrap().len(),
        0
    );
    let metrics = json(tight.join("metrics.json"));
    assert_eq!(metrics["choice"]["kept"], "frozen");
    assert!(
        metrics["test_accuracy"].as_f64().unwrap() > 0.5,
        "{metrics}"
    );
    assert!(same_weights(
        &tight.join("model.safetensors"),
        &tight.join("checkpoints/frozen.safetensors")
    ));
    let image = demo()
        .join("Test/Banana")
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = graft(&["predict", "--run", s(&tight), s(&image), "--json"]);
    let predicted: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(predicted[0]["top"][0]["class"], "Banana", "{predicted}");
}

#[test]
fn a_budget_lowers_the_size_of_small_images_before_it_thins_them_and_never_below_theirs() {
    cached_weights(arch("inception-v3"));
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // The demo's 100 px frames at the plan's 299 px: nothing fits in a millisecond, so the
    // budget goes down the sizes to 107 px (the first at or above 100 px) and thins there.
    let said = ok(graft(&[
        "--threads",
        "2",
        "train",
        "--data",
        s(&demo()),
        "--out",
        s(&run),
        "--freeze",
        "all",
        "--epochs",
        "2",
        "--time-budget",
        "0.001s",
    ]));
    assert!(said.contains("lower it to 107 px"), "{said}");
    assert!(said.contains("107 px instead of 299"), "{said}");
    let config = json(run.join("config.json"));
    assert_eq!(
        (config["size"].as_i64(), config["max_per_class"].as_u64()),
        (Some(107), Some(16))
    );
}

#[cfg(unix)]
#[test]
fn a_run_interrupted_with_ctrl_c_resumes_to_the_same_result() {
    cached_weights(arch("inception-v3"));
    let dir = tempfile::tempdir().unwrap();
    let args = |out: &Path| -> Vec<String> {
        [
            "--threads",
            "2",
            "train",
            "--data",
            s(&demo()),
            "--size",
            "75",
            "--freeze",
            "mixed_9",
            "--epochs",
            "5",
            "--batch",
            "8",
            "--seed",
            "3",
            "--out",
            s(out),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let straight = dir.path().join("straight");
    ok(graft(
        &args(&straight)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ));

    let interrupted = dir.path().join("interrupted");
    let child = Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(args(&interrupted))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let progress = interrupted.join("checkpoints/progress.json");
    let t0 = std::time::Instant::now();
    while !progress.exists() && t0.elapsed().as_secs() < 300 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{log}");
    assert!(
        log.contains("--resume"),
        "the interrupt message says how to resume: {log}"
    );
    let done = json(progress.clone())["history"].as_array().unwrap().len();
    assert!(done < 5, "the run was interrupted before its end");

    ok(graft(&["train", "--resume", s(&interrupted)]));
    let h1 = json(straight.join("history.json"));
    let h2 = json(interrupted.join("history.json"));
    let strip = |h: &Value| -> Vec<Vec<f64>> {
        h.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                ["loss", "accuracy", "val_loss", "val_accuracy"]
                    .iter()
                    .map(|k| r[k].as_f64().unwrap())
                    .collect()
            })
            .collect()
    };
    assert_eq!(strip(&h1), strip(&h2));
    assert!(
        same_weights(
            &straight.join("model.safetensors"),
            &interrupted.join("model.safetensors")
        ),
        "resumed weights differ"
    );
}

#[test]
fn the_seed_recipe_runs_end_to_end_on_a_few_images() {
    cached_weights(arch("inception-v3"));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for split in ["Training", "Test"] {
        for class in ["Banana", "Kiwi"] {
            let dst = data.join(split).join(class);
            std::fs::create_dir_all(&dst).unwrap();
            for e in std::fs::read_dir(demo().join(split).join(class))
                .unwrap()
                .take(4)
            {
                let p = e.unwrap().path();
                std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    let run = dir.path().join("seed");
    let log = ok(graft(&[
        "--threads",
        "2",
        "--precision",
        "bf16",
        "train",
        "--recipe",
        "seed",
        "--data",
        s(&data),
        "--size",
        "75",
        "--epochs",
        "1",
        "--out",
        s(&run),
    ]));
    assert!(
        log.contains("recipe seed") && log.contains("streamed"),
        "{log}"
    );
    let cfg = json(run.join("config.json"));
    assert_eq!(cfg["freeze"], "none");
    assert_eq!(cfg["batch_size"], 16);
    assert_eq!(cfg["optimizer"]["kind"], "sgd");
    assert_eq!(cfg["augment"]["shear"], 0.2);
    assert_eq!(cfg["validation"], "test");
    // Full fine-tuning under bf16 autocast: recorded and said.
    assert_eq!(cfg["precision"], "bf16");
    assert!(log.contains("graft: precision: bf16"), "{log}");
    assert!(
        json(run.join("metrics.json"))["test_accuracy"]
            .as_f64()
            .is_some()
    );
}

#[test]
fn a_lite_run_spells_its_backbone_once_and_old_run_folders_still_predict() {
    cached_weights(arch("efficientnet-lite0"));
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("lite");
    // The default recipe with another backbone: its own cut point and size from the spec.
    ok(graft(&[
        "--threads",
        "2",
        "train",
        "--data",
        s(&demo()),
        "--out",
        s(&run),
        "--backbone",
        "efficientnet-lite0",
        "--size",
        "64",
        "--epochs",
        "1",
    ]));
    let config = json(run.join("config.json"));
    assert_eq!(config["backbone"], "efficientnet-lite0");
    assert_eq!(
        config["freeze"],
        serde_json::json!({"through": "blocks.10"})
    );
    assert_eq!(config["format_version"], 2);
    let kiwi = demo().join("Test/Kiwi/33_100.jpg");
    // In one precision for both: an old folder records none, and reads as fp32 (what graft 0.1
    // trained in), where the new run records what it trained in.
    let predict = |run: &Path| {
        let args = [
            "--precision",
            "fp32",
            "predict",
            "--run",
            s(run),
            "--json",
            s(&kiwi),
        ];
        let out = graft(&args);
        let stdout = out.stdout.clone();
        ok(out);
        serde_json::from_slice::<Value>(&stdout).unwrap()
    };
    let now = predict(&run);

    // The same run as graft 0.1 (run-folder format 1) wrote it: the serde spelling of the
    // backbone, a normalization field, no format_version.
    let old = dir.path().join("old");
    copy_tree(&run, &old);
    let mut config = json(old.join("config.json"));
    let fields = config.as_object_mut().unwrap();
    fields.remove("format_version");
    fields.remove("precision");
    fields.insert("backbone".into(), "efficient-net-lite0".into());
    fields.insert(
        "normalization".into(),
        serde_json::json!({"mean": 127.0, "scale": 128.0}),
    );
    std::fs::write(old.join("config.json"), config.to_string()).unwrap();
    assert_eq!(predict(&old), now);

    // A run folder with a required field missing is refused, naming the file and the field.
    let broken = dir.path().join("broken");
    copy_tree(&run, &broken);
    let mut config = json(broken.join("config.json"));
    config.as_object_mut().unwrap().remove("size");
    std::fs::write(broken.join("config.json"), config.to_string()).unwrap();
    let out = graft(&["predict", "--run", s(&broken), s(&kiwi)]);
    assert_eq!(out.status.code(), Some(2), "bad input");
    let e = err(out);
    assert!(e.contains("config.json") && e.contains("size"), "{e}");
}
