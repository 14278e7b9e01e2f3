//! graft export end to end, on small real runs of every pinned backbone: the exported ONNX
//! passes onnx.checker and onnxruntime computes graft's logits (within 1e-4 relative, same top-1)
//! on every demo Test image and on a noise image, in batches of 1 and 7; the TorchScript module
//! does the same under torch.jit.load (Python) and libtorch (C++, through tch); both describe
//! themselves (classes, size, backbone); the README's Python examples run as written and agree
//! with `graft predict`; bad run folders are refused with exit code 2.
//!
//! Needs the project's .venv with torch, onnx, onnxruntime and Pillow (scripts/test.sh installs
//! them).
mod common;

use common::*;
use graft::data::decode::decode;
use graft::inference::Predictor;
use image::RgbImage;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use tch::{Device, Kind, Tensor};

/// The runs: each backbone at a size whose TF 'same' pads and resize differ from the others'
/// (odd and even grids; the demo photos are 100 px: shrunk, kept, enlarged), with the default
/// head (dense 512, ReLU, logits) except Lite1's (logits straight from the features).
const RUNS: [(&str, i64, &[&str]); 4] = [
    ("inception-v3", 99, &[]),
    ("efficientnet-lite0", 100, &[]),
    ("efficientnet-lite1", 81, &["--hidden", "0"]),
    ("efficientnet-lite2", 130, &[]),
];

/// The input size of `backbone`'s run.
fn size_of(backbone: &str) -> i64 {
    RUNS.iter().find(|r| r.0 == backbone).unwrap().1
}

/// Largest difference of logits allowed, relative to the image's largest logit.
const TOLERANCE: f64 = 1e-4;

fn graft(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(args)
        .output()
        .unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The project's Python, with the packages scripts/test.sh installs.
fn python(args: &[&str]) -> String {
    let exe = repo().join(".venv/bin/python");
    assert!(
        exe.exists(),
        "{} is missing: run scripts/test.sh",
        exe.display()
    );
    ok(Command::new(exe).args(args).output().unwrap())
}

/// The trained demo run of `backbone` (trained once per test binary).
fn trained(backbone: &str) -> &'static Path {
    static DONE: [OnceLock<PathBuf>; 4] = [const { OnceLock::new() }; 4];
    let i = RUNS.iter().position(|r| r.0 == backbone).unwrap();
    DONE[i].get_or_init(|| {
        cached_weights(arch(backbone));
        let run = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("export-{backbone}"));
        let _ = std::fs::remove_dir_all(&run);
        let (size, data) = (RUNS[i].1.to_string(), demo());
        // Trained in fp32, as the exports compute: the photos' top-1 must not flip on a
        // one-level resize difference, and a bf16-trained demo model left photo 29 at a near-tie.
        let mut args = vec![
            "--threads",
            "2",
            "--precision",
            "fp32",
            "train",
            "--data",
            s(&data),
            "--backbone",
            backbone,
            "--size",
            &size,
            "--freeze",
            "all",
            "--epochs",
            "10",
            "--out",
            s(&run),
        ];
        args.extend(RUNS[i].2);
        ok(graft(&args));
        run
    })
}

/// The demo Test photos, sorted.
fn test_images() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(demo().join("Test"))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    out.sort();
    assert_eq!(out.len(), 48);
    out
}

/// An image of random pixels, the same every run.
fn noise(side: u32) -> RgbImage {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let raw = (0..3 * side * side).map(|_| rng.r#gen::<u8>()).collect();
    RgbImage::from_raw(side, side, raw).unwrap()
}

/// What the exported models are compared on: the 48 Test photos and one noise image.
struct Inputs {
    /// uint8 [49, 3, S, S]: graft's preprocessing of each (the noise is drawn at S x S).
    pixels: Tensor,
    /// uint8 [49, 100, 100, 3]: the decoded images, before any resize (the noise at 100 px).
    raw: Tensor,
    /// uint8 [49, 3, S, S]: graft's resize of `raw`.
    resized: Tensor,
    /// graft's logits of `resized` [49, C].
    logits: Tensor,
    /// graft's logits of `pixels` [49, C].
    pixel_logits: Tensor,
}

fn inputs(run: &Path) -> Inputs {
    let p = Predictor::open(run, Device::Cpu, Some(graft::engine::Precision::Fp32)).unwrap();
    let pre = p.preprocess();
    let mut images: Vec<RgbImage> = test_images()
        .iter()
        .map(|f| decode(f, None).unwrap())
        .collect();
    images.push(noise(100));
    let chw = |img: &RgbImage| {
        let s = pre.size as i64;
        Tensor::from_slice(&pre.apply(img.clone())).view([1, 3, s, s])
    };
    let resized = Tensor::cat(&images.iter().map(chw).collect::<Vec<_>>(), 0);
    let mut pixels: Vec<Tensor> = images[..48].iter().map(chw).collect();
    pixels.push(chw(&noise(pre.size)));
    let pixels = Tensor::cat(&pixels, 0);
    let raw: Vec<Tensor> = images
        .iter()
        .map(|i| Tensor::from_slice(i.as_raw()).view([1, 100, 100, 3]))
        .collect();
    Inputs {
        logits: p.logits(&resized),
        resized,
        pixel_logits: p.logits(&pixels),
        pixels,
        raw: Tensor::cat(&raw, 0),
    }
}

/// Largest difference of two [N, C] logit tensors relative to each image's largest logit, and
/// the images whose top-1 class differs.
fn compare(theirs: &Tensor, ours: &Tensor) -> (f64, Vec<i64>) {
    assert_eq!(theirs.size(), ours.size());
    let diff = (theirs - ours).abs().amax([1], false) / ours.abs().amax([1], false);
    let differ = theirs.argmax(1, false).ne_tensor(&ours.argmax(1, false));
    let which = Vec::<i64>::try_from(differ.nonzero().view([-1])).unwrap();
    (diff.max().double_value(&[]), which)
}

/// Whether graft's two best logits of one image (`ours`) are closer than the largest change
/// between `theirs` and `ours`, twice over: a top-1 that any such change could flip.
fn near_tie(theirs: Tensor, ours: Tensor) -> bool {
    let (top, _) = ours.topk(2, 0, true, true);
    let margin = top.double_value(&[0]) - top.double_value(&[1]);
    let moved = (theirs - &ours).abs().max().double_value(&[]);
    eprintln!("near tie? margin {margin:.3e}, logits moved by {moved:.3e}");
    margin <= 2.0 * moved
}

/// What tests/python/run_exported.py gives back.
struct Ran {
    /// Logits per batch size.
    logits: BTreeMap<i64, Tensor>,
    /// ONNX with preprocessing: the pixels after its resize, per batch size.
    resized: BTreeMap<i64, Tensor>,
    /// The model's self-description.
    described: Value,
}

/// Runs `model` (format `kind`) on `images` through tests/python/run_exported.py in each of
/// `batches`.
fn run_exported(kind: &str, model: &Path, images: &Tensor, batches: &[i64]) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("images.npy");
    images.write_npy(&npy).unwrap();
    let script = repo().join("tests/python/run_exported.py");
    let mut args = vec![s(&script), kind, s(model), s(&npy), s(dir.path())];
    let batch_args: Vec<String> = batches.iter().map(|b| b.to_string()).collect();
    args.extend(batch_args.iter().map(String::as_str));
    python(&args);
    let read = |name: &str| {
        batches
            .iter()
            .filter_map(|b| {
                let path = dir.path().join(format!("{name}_{b}.npy"));
                path.exists().then(|| (*b, Tensor::read_npy(path).unwrap()))
            })
            .collect()
    };
    let described = std::fs::read(dir.path().join("model.json")).unwrap();
    Ran {
        logits: read("logits"),
        resized: read("resized"),
        described: serde_json::from_slice(&described).unwrap(),
    }
}

/// Checks logits from an exported model against graft's: within `tolerance`, same top-1.
fn assert_equal(what: &str, theirs: &BTreeMap<i64, Tensor>, ours: &Tensor, tolerance: f64) {
    for (batch, logits) in theirs {
        let (error, differ) = compare(logits, ours);
        eprintln!("{what}, batch {batch}: largest relative logit difference {error:.2e}");
        assert!(error < tolerance, "{what}, batch {batch}: {error:.2e}");
        assert!(
            differ.is_empty(),
            "{what}, batch {batch}: top-1 differs on {differ:?}"
        );
    }
}

/// The metadata says what the run folder says.
fn assert_describes(metadata: &Value, run: &Path, backbone: &str, size: i64) {
    let classes: Value =
        serde_json::from_slice(&std::fs::read(run.join("classes.json")).unwrap()).unwrap();
    let listed = match &metadata["classes"] {
        Value::String(json) => serde_json::from_str(json).unwrap(), // ONNX: a JSON string
        list => list.clone(),
    };
    assert_eq!(listed, classes);
    assert_eq!(
        metadata["input_size"].to_string().trim_matches('"'),
        size.to_string()
    );
    assert_eq!(metadata["backbone"], backbone);
    assert_eq!(metadata["graft_version"], env!("CARGO_PKG_VERSION"));
    assert!(
        metadata["resize"]
            .as_str()
            .unwrap()
            .contains("aspect ratio not kept")
    );
}

fn export(run: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["--threads", "2", "export", s(run), "--out", s(out)];
    args.extend(extra);
    ok(graft(&args))
}

fn onnx_equals_graft(backbone: &str) {
    let (run, size) = (trained(backbone), size_of(backbone));
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    export(run, &model, &["--format", "onnx"]);
    let x = inputs(run);
    let Ran {
        logits, described, ..
    } = run_exported("onnx", &model, &x.pixels.to_kind(Kind::Float), &[1, 7]);
    assert_equal(
        &format!("{backbone} ONNX"),
        &logits,
        &x.pixel_logits,
        TOLERANCE,
    );
    assert_describes(&described["metadata"], run, backbone, size);
    let shape = serde_json::json!([["image", "tensor(float)", ["N", 3, size, size]]]);
    assert_eq!(described["inputs"], shape);
    let classes = x.logits.size()[1];
    assert_eq!(
        described["outputs"],
        serde_json::json!([
            ["probabilities", "tensor(float)", ["N", classes]],
            ["logits", "tensor(float)", ["N", classes]]
        ])
    );
    assert_eq!(described["opset"], serde_json::json!([17]));
}

fn torchscript_equals_graft(backbone: &str) {
    let (run, size) = (trained(backbone), size_of(backbone));
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.pt");
    let printed = export(run, &model, &["--format", "torchscript"]);
    assert!(printed.contains("loaded back by libtorch"), "{printed}");
    let x = inputs(run);
    let images = x.pixels.to_kind(Kind::Float);
    let Ran {
        logits, described, ..
    } = run_exported("torchscript", &model, &images, &[1, 7]);
    assert_equal(
        &format!("{backbone} torch.jit.load"),
        &logits,
        &x.pixel_logits,
        TOLERANCE,
    );
    assert_describes(&described["metadata"], run, backbone, size);
    // The traced code names no device (the weights are its constants: torch.jit.load's
    // map_location moves them, and nothing pins the input to the CPU it was traced on).
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&model).unwrap()).unwrap();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let name = file.name().unwrap().into_owned();
        if name.ends_with(".py") {
            let mut code = String::new();
            std::io::Read::read_to_string(&mut file, &mut code).unwrap();
            assert!(!code.contains("device="), "{name}: {code}");
        }
    }
    // libtorch's C++ loader (torch::jit::load, through tch).
    let module = tch::CModule::load(&model).unwrap();
    let libtorch: BTreeMap<i64, Tensor> = [1, 7]
        .map(|b| {
            let parts = images.split(b, 0);
            let out: Vec<Tensor> = tch::no_grad(|| {
                parts
                    .iter()
                    .map(|p| module.forward_ts(&[p]).unwrap())
                    .collect()
            });
            (b, Tensor::cat(&out, 0))
        })
        .into();
    assert_equal(
        &format!("{backbone} libtorch C++"),
        &libtorch,
        &x.pixel_logits,
        TOLERANCE,
    );
}

/// The variant that takes uint8 NHWC images of any size and resizes them itself. Its resize
/// (onnxruntime's or libtorch's antialiased bilinear on uint8, both Pillow's rule) and graft's
/// (fast_image_resize, the same rule in other fixed-point arithmetic) put some pixels a level
/// or two apart, to which the networks are sensitive (logits move by a few percent, as they do
/// under random +-1 noise); so the check is in two parts. The resized pixels are within two
/// levels of graft's (0.3 on average), and the model's logits equal graft's own on those pixels
/// within 1e-4 (where the photos already have the model's size, graft's logits outright). The
/// top-1 class equals graft's on every photo.
fn preprocessing_equals_graft(backbone: &str) {
    let (run, size) = (trained(backbone), size_of(backbone));
    let x = inputs(run);
    let predictor =
        Predictor::open(run, Device::Cpu, Some(graft::engine::Precision::Fp32)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (kind, file) in [("onnx", "m.onnx"), ("torchscript", "m.pt")] {
        let model = dir.path().join(file);
        export(run, &model, &["--format", kind, "--with-preprocessing"]);
        let ran = run_exported(kind, &model, &x.raw, &[7]);
        assert_describes(&ran.described["metadata"], run, backbone, size);
        let resized = if kind == "onnx" {
            let shape =
                serde_json::json!([["image", "tensor(uint8)", ["N", "height", "width", 3]]]);
            assert_eq!(ran.described["inputs"], shape);
            assert_eq!(ran.described["opset"], serde_json::json!([18]));
            ran.resized[&7].round().to_kind(Kind::Uint8)
        } else {
            // The op the module runs, in the same libtorch.
            let nchw = x.raw.permute([0, 3, 1, 2]);
            nchw.internal_upsample_bilinear2d_aa([size, size], false, None, None)
        };
        let what = format!("{backbone} {kind} with preprocessing");
        let graft_resized = x.resized.to_kind(Kind::Int);
        let levels = (resized.to_kind(Kind::Int) - &graft_resized).abs();
        let (max, mean) = (
            levels.max().int64_value(&[]),
            levels.to_kind(Kind::Float).mean(None),
        );
        let mean = mean.double_value(&[]);
        eprintln!(
            "{what}: resized pixels differ from graft's by {max} level at most, {mean:.3} on average"
        );
        assert!(
            max <= 2 && mean < 0.3,
            "{what}: resize differs by {max} (mean {mean})"
        );
        let on_resized = predictor.logits(&resized);
        assert_equal(
            &format!("{what}, on its resize"),
            &ran.logits,
            &on_resized,
            TOLERANCE,
        );
        for (batch, logits) in &ran.logits {
            let (error, differ) = compare(logits, &x.logits);
            eprintln!("{what}, batch {batch}: logits differ from graft predict's by {error:.2e}");
            // The noise image has no class: its top-1 may follow a one-level difference; so may
            // a photo whose two best classes graft scores closer than the resize moved them.
            assert!(
                differ
                    .iter()
                    .all(|&i| i == 48 || near_tie(logits.get(i), x.logits.get(i))),
                "{what}: top-1 differs from graft's on photos {differ:?}"
            );
            assert!(
                size != 100 || error < TOLERANCE,
                "{what}: {error:.2e} without a resize"
            );
        }
    }
}

macro_rules! per_backbone {
    ($($name:ident: $backbone:literal),+ $(,)?) => {
        mod onnx {
            $(#[test] fn $name() { super::onnx_equals_graft($backbone) })+
        }
        mod torchscript {
            $(#[test] fn $name() { super::torchscript_equals_graft($backbone) })+
        }
        mod with_preprocessing {
            $(#[test] fn $name() { super::preprocessing_equals_graft($backbone) })+
        }
    };
}

per_backbone! {
    inception_v3: "inception-v3",
    efficientnet_lite0: "efficientnet-lite0",
    efficientnet_lite1: "efficientnet-lite1",
    efficientnet_lite2: "efficientnet-lite2",
}

#[test]
fn a_fixed_batch_is_written_into_the_model() {
    let run = trained("efficientnet-lite0");
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    export(run, &model, &["--format", "onnx", "--batch", "7"]);
    let x = inputs(run);
    let images = x.pixels.to_kind(Kind::Float);
    let Ran {
        logits, described, ..
    } = run_exported("onnx", &model, &images, &[7]);
    assert_equal(
        "Lite0 ONNX, fixed batch 7",
        &logits,
        &x.pixel_logits,
        TOLERANCE,
    );
    assert_eq!(
        described["inputs"][0][2],
        serde_json::json!([7, 3, 100, 100])
    );
    assert_eq!(described["outputs"][1][2], serde_json::json!([7, 6]));
}

/// `--int8` writes the calibrated run in QDQ form: onnx.checker passes, onnxruntime fuses it into
/// its int8 kernels, and its logits equal graft's own int8 logits within 10% of the largest (two
/// int8 engines round their requantizations apart: 4.9% measured), the top-1 class the same on
/// every photo. A
/// run not calibrated is refused, and TorchScript has no int8 form.
#[test]
fn an_int8_export_computes_graft_int8() {
    let run = trained("inception-v3");
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    let fails = |args: &[&str]| {
        let mut all = vec!["export", s(run)];
        all.extend(args);
        let out = graft(&all);
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    if !run.join("int8.json").exists() {
        let why = fails(&["--format", "onnx", "--int8", "--out", s(&model)]);
        assert!(why.contains("graft quantize"), "{why}");
        // The gate opened wide: this is about the export, not the check.
        ok(graft(&[
            "quantize",
            "--run",
            s(run),
            "--images",
            "32",
            "--tolerance",
            "100",
        ]));
    }
    let why = fails(&["--format", "torchscript", "--int8"]);
    assert!(why.contains("ONNX only"), "{why}");
    export(run, &model, &["--format", "onnx", "--int8"]);
    let x = inputs(run);
    let int8 = Predictor::open(run, Device::Cpu, Some(graft::engine::Precision::Int8)).unwrap();
    // The 48 photos (not the noise image, whose top classes are near ties).
    let photos = x.pixels.narrow(0, 0, 48);
    let ours = int8.logits(&photos);
    let ran = run_exported("onnx", &model, &photos.to_kind(Kind::Float), &[8]);
    let quantization = ran.described["metadata"]["quantization"].as_str().unwrap();
    assert!(quantization.starts_with("int8 QDQ"), "{quantization}");
    assert_equal("InceptionV3 int8 ONNX", &ran.logits, &ours, 0.1);
}

/// The code between `<!-- example: NAME -->` and the end of the ```python block after it.
fn readme_example(name: &str) -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let marker = format!("<!-- example: {name} -->");
    let start = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("README lacks {marker}"));
    let rest = &readme[start..];
    let code = &rest[rest.find("```python\n").expect("a python block") + 10..];
    code[..code.find("```").unwrap()].to_string()
}

#[test]
fn the_readme_examples_run_as_written_and_agree_with_graft_predict() {
    let run = trained("inception-v3");
    let test = demo().join("Test");
    let predicted: Value = serde_json::from_str(&ok(graft(&[
        "predict",
        "--run",
        s(run),
        "--json",
        "--top-k",
        "1",
        s(&test),
    ])))
    .unwrap();
    let expected: BTreeMap<String, String> = predicted
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["path"].as_str().unwrap().to_string(),
                p["top"][0]["class"].to_string(),
            )
        })
        .collect();
    assert_eq!(expected.len(), 48);
    let dir = tempfile::tempdir().unwrap();
    for (example, format, file) in [
        ("onnxruntime", "onnx", "m.onnx"),
        ("torch.jit", "torchscript", "m.pt"),
    ] {
        let model = dir.path().join(file);
        export(run, &model, &["--format", format]);
        let script = dir.path().join(format!("{format}.py"));
        std::fs::write(&script, readme_example(example)).unwrap();
        let images: Vec<String> = expected.keys().cloned().collect();
        let mut args = vec![s(&script), s(&model)];
        args.extend(images.iter().map(String::as_str));
        let printed = python(&args);
        // Each line: "PATH: CLASS (PROBABILITY%)".
        let got: BTreeMap<String, String> = printed
            .lines()
            .map(|l| {
                let (path, rest) = l.split_once(": ").unwrap();
                let class = &rest[..rest.rfind(" (").unwrap()];
                (path.to_string(), Value::from(class).to_string())
            })
            .collect();
        assert_eq!(got, expected, "the README's {example} example");
    }
}

/// A copy of the Lite0 run, to damage.
fn run_copy(dir: &Path) -> PathBuf {
    let run = trained("efficientnet-lite0");
    let copy = dir.join("run");
    std::fs::create_dir_all(&copy).unwrap();
    for f in ["config.json", "classes.json", "model.safetensors"] {
        std::fs::copy(run.join(f), copy.join(f)).unwrap();
    }
    copy
}

fn edit_config(run: &Path, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let path = run.join("config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(config.as_object_mut().unwrap());
    std::fs::write(&path, config.to_string()).unwrap();
}

#[test]
fn bad_run_folders_are_refused_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |run: &Path, needle: &str| {
        let out = graft(&["export", s(run), "--format", "onnx"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(needle), "{needle} not in: {stderr}");
        assert!(!run.join("model.onnx").exists());
    };
    refused(&dir.path().join("missing"), "no such run folder");
    refused(dir.path(), "not a run folder (no config.json)");
    let run = run_copy(dir.path());
    std::fs::write(run.join("model.safetensors"), b"not a safetensors file").unwrap();
    refused(&run, "model.safetensors: not a valid safetensors file");
    std::fs::remove_file(run.join("model.safetensors")).unwrap();
    refused(&run, "no model.safetensors");
    let run = run_copy(&dir.path().join("newer"));
    edit_config(&run, |c| {
        c.insert("format_version".into(), 99.into());
    });
    refused(&run, "run folder format 99 is newer");
    let run = run_copy(&dir.path().join("broken"));
    edit_config(&run, |c| {
        c.remove("size");
    });
    refused(&run, "size");
    let out = graft(&["export", s(&run), "--format", "onnx", "--batch", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A run folder as graft 0.1 wrote it (format 1: no format_version, the old backbone spelling)
/// exports the very same model, into the run folder by default.
#[test]
fn an_old_format_run_exports_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    let (old, now) = (
        run_copy(&dir.path().join("old")),
        run_copy(&dir.path().join("now")),
    );
    edit_config(&old, |c| {
        c.remove("format_version");
        c.insert("backbone".into(), "efficient-net-lite0".into());
        c.insert(
            "normalization".into(),
            serde_json::json!({"mean": 127.0, "scale": 128.0}),
        );
    });
    for run in [&old, &now] {
        ok(graft(&["export", s(run), "--format", "onnx"]));
    }
    let bytes = |run: &Path| std::fs::read(run.join("model.onnx")).unwrap();
    assert!(bytes(&old) == bytes(&now), "the exports differ");
}
