//! `graft eval` and `graft predict` on a trained run.
use super::Predictor;
use super::score;
use crate::data::folders::{ImageFolder, Item};
use crate::data::labelled::Labelled;
use crate::data::layout;
use crate::data::loader::Skips;
use crate::data::walk;
use crate::engine::Precision;
use crate::error::bad_input;
use crate::metrics::Metrics;
use crate::run::RunFolder;
use crate::runtime::Runtime;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::Tensor;

/// Scores a run on labelled images: `data` (DIR/<Class>/..., or a dataset root with a test
/// folder), or without it the run's own Test part (the split graft made and saved, or the
/// dataset's test folder or CSV rows), in the precision `asked` for or else the run's own (see
/// [`Predictor::open`]). With a process group in `runtime`, each rank scores a contiguous share
/// and every rank returns the metrics over all images.
pub fn eval(
    run: &Path,
    data: Option<&Path>,
    runtime: Runtime,
    asked: Option<Precision>,
) -> Result<(Metrics, Skips)> {
    let group = runtime.group;
    let predictor = Predictor::open(run, runtime.device, asked)?;
    say_precision(&predictor);
    let mut skips = Skips::default();
    let items = match data {
        Some(data) => {
            let dir = layout::test_folder(data).unwrap_or_else(|| data.to_path_buf());
            let folder = ImageFolder::scan_with_classes(&dir, predictor.classes())?;
            if crate::distributed::leads(group) {
                skips.report(folder.problems.iter());
            } else {
                for p in &folder.problems {
                    skips.record(p);
                }
            }
            folder.items
        }
        None => run_test_items(run, &predictor)?,
    };
    let set = Labelled::from_items(&items);
    let (model, classes) = (predictor.model(), predictor.classes());
    let pre = predictor.preprocess();
    let metrics = score::evaluate(model, &set, classes, pre, runtime, &mut skips)?;
    Ok((metrics, skips))
}

/// The Test images of the run itself, labelled by its classes.
fn run_test_items(run: &Path, predictor: &Predictor) -> Result<Vec<Item>> {
    run_parts(run, predictor).map(|(_, test)| test)
}

/// The run's own training images and its Test images labelled by its classes, from one read of
/// the split graft made and saved (or of the dataset's own parts).
pub(crate) fn run_parts(run: &Path, predictor: &Predictor) -> Result<(Vec<PathBuf>, Vec<Item>)> {
    let folder = RunFolder::new(run);
    let (train, test, classes) = match folder.read_split()? {
        Some(split) => {
            let test = split.test_items()?;
            let train = split.train.into_iter().map(|(p, _)| p).collect();
            (train, test, split.classes)
        }
        None => {
            let data = predictor.config().load_dataset()?;
            let train = data.train.into_iter().map(|i| i.path).collect();
            (train, data.test.unwrap_or_default(), data.classes)
        }
    };
    if test.is_empty() {
        return Err(bad_input(format!(
            "{}: the run has no Test part; give the images to score with --data DIR",
            run.display()
        )));
    }
    // Labels by name: the order of the run's classes.json rules.
    let test = test
        .into_iter()
        .map(|item| {
            let name = &classes[item.label];
            let label = predictor
                .classes()
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| {
                    bad_input(format!(
                        "{}: class '{name}' is not one of the run's",
                        item.path.display()
                    ))
                })?;
            Ok(Item { label, ..item })
        })
        .collect::<Result<_>>()?;
    Ok((train, test))
}

/// A class and its probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassProbability {
    /// Class name.
    pub class: String,
    /// Softmax probability.
    pub probability: f64,
}

/// The most probable classes of one image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prediction {
    /// The image file.
    pub path: String,
    /// The `top_k` classes, most probable first.
    pub top: Vec<ClassProbability>,
}

/// The `k` most probable classes of each row of `probabilities` [B, C].
pub fn top_k(probabilities: &Tensor, classes: &[String], k: usize) -> Vec<Vec<ClassProbability>> {
    let k = k.clamp(1, classes.len()) as i64;
    let (p, c) = probabilities.topk(k, 1, true, true);
    (0..probabilities.size()[0])
        .map(|j| {
            (0..k)
                .map(|r| ClassProbability {
                    class: classes[c.int64_value(&[j, r]) as usize].clone(),
                    probability: p.double_value(&[j, r]),
                })
                .collect()
        })
        .collect()
}

/// Says what a command on a trained run computes in (and why, when not in the run's own).
pub fn say_precision(predictor: &Predictor) {
    match predictor.precision() {
        (p, Some(why)) => say!("graft: precision: {p} ({why})"),
        (p, None) => say!("graft: precision: {p}, as the run trained"),
    }
}

/// The `top_k` most probable classes of each image (files or folders) on `runtime`'s decoding
/// threads; with a process group in `runtime`, each rank predicts a contiguous share and every
/// rank returns all, in input order. Files that cannot be used are returned as messages naming
/// them.
pub fn predict(
    predictor: &Predictor,
    inputs: &[PathBuf],
    top_k_classes: usize,
    runtime: Runtime,
) -> Result<(Vec<Prediction>, Vec<String>)> {
    let (workers, group) = (runtime.workers, runtime.group);
    let start = std::time::Instant::now();
    let found = walk::collect_inputs(inputs)?;
    // Problems found while listing are every rank's; one reports them.
    let mut skipped = if crate::distributed::leads(group) {
        found.problems
    } else {
        Vec::new()
    };
    let paths = Arc::new(found.files);
    let order = crate::distributed::share(paths.len(), group).collect();
    let pre = predictor.preprocess();
    let batch = super::batch_for(pre.size);
    let batches = super::image_batches(paths.clone(), order, pre, batch, workers);
    let mut out = Vec::new();
    for batch in batches {
        skipped.extend(batch.failures.into_iter().map(|(_, m)| m));
        if batch.indices.is_empty() {
            continue;
        }
        let probs = predictor.probabilities(&batch.pixels);
        let tops = top_k(&probs, predictor.classes(), top_k_classes);
        for (&i, top) in batch.indices.iter().zip(tops) {
            out.push(Prediction {
                path: paths[i].display().to_string(),
                top,
            });
        }
        crate::engine::release_free_memory();
    }
    let Some(g) = group else {
        return Ok((out, skipped));
    };
    say_rank!(
        "graft: rank {} of {}: predicted {} images",
        g.rank,
        g.world,
        out.len()
    );
    g.allow_for(start.elapsed());
    // Every rank's predictions in rank order: the input order, as one process gives them.
    Ok((g.all_gather_json(&out)?, g.all_gather_json(&skipped)?))
}
