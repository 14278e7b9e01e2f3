//! `graft train`: image folders in, a fine-tuned classifier and its measured accuracy out.
pub mod config;
pub mod history;
pub mod inputs;
pub mod optim;
pub mod run_folder;

use crate::data::folders::{ImageFolder, stratified_split};
use crate::evaluation::metrics::{self, Metrics, Scored};
use crate::models::classifier::Classifier;
use crate::weights;
use anyhow::{Context, Result, bail};
use config::{Freeze, TrainConfig, Validation};
use history::{EpochRecord, Progress};
use inputs::{Inputs, Split};
use optim::Optimizer;
use run_folder::RunFolder;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tch::{Device, Kind, Tensor, nn};

pub struct TrainOptions {
    pub out: PathBuf,
    pub device: Device,
    pub workers: usize,
}

/// Set by Ctrl-C: training stops between batches; the last epoch's checkpoint stays.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, thiserror::Error)]
#[error("interrupted after epoch {completed}; resume with: graft train --resume {}", run.display())]
pub struct Interrupted {
    pub completed: usize,
    pub run: PathBuf,
}

pub struct TrainSummary {
    pub progress: Progress,
    pub test: Option<Metrics>,
    pub seconds: f64,
    pub skipped: usize,
}

/// The labelled data of a run: classes, train/validation split, and the test set.
struct Data {
    classes: Vec<String>,
    train: Split,
    val: Split,
    test: Option<Split>,
}

fn load_data(cfg: &TrainConfig) -> Result<Data> {
    let train_folder = ImageFolder::scan(&cfg.train_dir)?;
    let test_folder = match &cfg.test_dir {
        Some(dir) => Some(ImageFolder::scan_with_classes(dir, &train_folder.classes)?),
        None => None,
    };
    let all = Split::from_items(&train_folder.items);
    let (train, val) = match cfg.validation {
        Validation::Split(fraction) => {
            let (t, v) = stratified_split(
                &train_folder.items,
                train_folder.classes.len(),
                fraction,
                cfg.seed,
            );
            (all.subset(&t), all.subset(&v))
        }
        Validation::Test => match &test_folder {
            Some(test) => (all, Split::from_items(&test.items)),
            None => bail!(
                "validation on Test needs a Test folder (--data ROOT with ROOT/Test, or --test DIR)"
            ),
        },
    };
    let (train, val) = match (cfg.max_per_class, &cfg.validation) {
        (Some(max), Validation::Split(f)) => {
            let val_max = ((max as f64 * f / (1.0 - f)).ceil() as usize).max(2);
            (train.cap_per_class(max), val.cap_per_class(val_max))
        }
        (Some(max), Validation::Test) => (train.cap_per_class(max), val),
        (None, _) => (train, val),
    };
    if val.is_empty() {
        bail!(
            "{}: no validation images (use --val-split with more images per class)",
            cfg.train_dir.display()
        );
    }
    let test = test_folder.map(|t| Split::from_items(&t.items));
    Ok(Data {
        classes: train_folder.classes,
        train,
        val,
        test,
    })
}

fn freeze_index(model: &Classifier, freeze: &Freeze) -> Result<usize> {
    Ok(match freeze {
        Freeze::None => 0,
        Freeze::All => model.backbone.blocks.len(),
        Freeze::Through(block) => model.backbone.block_index(block)? + 1,
    })
}

/// Marks the frozen blocks' variables as not trainable; returns the trainable ones.
pub fn trainable_variables(vs: &nn::VarStore, model: &Classifier) -> Vec<Tensor> {
    let frozen: Vec<String> = model.backbone.blocks[..model.trainable_from]
        .iter()
        .map(|b| b.var_prefix())
        .collect();
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0)); // a fixed order: optimizer state is saved by position
    let mut out = Vec::new();
    for (name, t) in named {
        if !t.requires_grad() {
            continue; // batch-norm running statistics
        }
        if frozen.iter().any(|p| name.starts_with(p.as_str())) {
            let _ = t.set_requires_grad(false);
        } else {
            out.push(t);
        }
    }
    out
}

fn named_vars(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

pub fn train(cfg: TrainConfig, opts: &TrainOptions, resume: bool) -> Result<TrainSummary> {
    let start = Instant::now();
    let folder = RunFolder::new(&opts.out);
    cfg.backbone.check_size(cfg.size)?;
    let data = load_data(&cfg)?;
    if resume {
        let saved: Vec<String> = folder.read_json(&folder.classes())?;
        if saved != data.classes {
            bail!(
                "{}: the classes of {} changed since this run started",
                folder.classes().display(),
                cfg.train_dir.display()
            );
        }
    }

    // The model: pretrained backbone (refused before any work if wrong) + a seeded new head.
    tch::manual_seed(cfg.seed as i64);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let mut model = Classifier::new(
        &vs.root(),
        cfg.backbone,
        data.classes.len() as i64,
        cfg.head,
    );
    let weights_path = weights::resolve_weights(cfg.backbone, cfg.weights.as_deref())?;
    let pretrained = weights::read_weight_file(&weights_path, cfg.backbone)?;
    weights::apply(&vs, cfg.backbone, false, &pretrained, &weights_path)?;
    drop(pretrained);
    vs.set_device(opts.device);
    crate::models::use_channels_last(&vs);
    model.trainable_from = freeze_index(&model, &cfg.freeze)?;
    model.batchnorm_train = cfg.batchnorm_train;
    let trainable = trainable_variables(&vs, &model);
    let mut optimizer = Optimizer::new(cfg.optimizer, trainable);

    let mut progress = Progress::default();
    if resume {
        progress = folder.read_json(&folder.checkpoint_progress())?;
        let ckpt = crate::tensor_io::load(&folder.checkpoint())?;
        let (optim_state, model_state): (Vec<_>, Vec<_>) = ckpt
            .tensors
            .into_iter()
            .partition(|(n, _)| n.starts_with("optim."));
        run_folder::copy_vars(&vs, &model_state, &folder.checkpoint())
            .with_context(|| format!("resuming from {}", folder.checkpoint().display()))?;
        optimizer.load_state(&optim_state)?;
        eprintln!(
            "graft: resuming {} after epoch {}",
            opts.out.display(),
            progress.history.len()
        );
    } else {
        std::fs::create_dir_all(&opts.out)
            .with_context(|| format!("creating {}", opts.out.display()))?;
        folder.write_json(&folder.config(), &cfg)?;
        folder.write_json(&folder.classes(), &data.classes)?;
    }

    // Inputs: cached frozen-block outputs (fast path) or images streamed with augmentation.
    let cache_start = Instant::now();
    let use_cache = cfg.cache && model.trainable_from > 0;
    let make = |split: &Split, name: &str, copies: usize| -> Result<Inputs> {
        if use_cache {
            Inputs::cached(&model, split, &cfg, opts, name, copies)
        } else {
            Ok(Inputs::streamed(split, &cfg, opts))
        }
    };
    let train_in = make(&data.train, "training", cfg.cache_augmented_copies)?;
    let val_in = make(&data.val, "validation", 0)?;
    if use_cache && !resume {
        progress.cache_seconds = cache_start.elapsed().as_secs_f64();
        eprintln!(
            "graft: cached {} outputs of {} images in {:.1} s",
            model.backbone.blocks[model.trainable_from - 1].name,
            train_in.len() + val_in.len(),
            progress.cache_seconds
        );
    }
    if use_cache && !cfg.augment.is_identity() && cfg.cache_augmented_copies == 0 {
        eprintln!(
            "graft: note: the cache holds un-augmented images; add augmented ones with --augmented-copies K"
        );
    }

    let total_epochs = cfg.epochs;
    for epoch in progress.history.len() + 1..=total_epochs {
        let t0 = Instant::now();
        tch::manual_seed(
            (cfg.seed as i64)
                .wrapping_mul(1000)
                .wrapping_add(epoch as i64),
        );
        let (loss, accuracy) =
            train_epoch(&model, &mut optimizer, &train_in, &cfg, epoch, total_epochs)
                .map_err(|e| interrupted_or(e, &progress, &opts.out))?;
        let val = evaluate(&model, &val_in, &data.classes, "validating")?;
        let rec = EpochRecord {
            epoch,
            loss,
            accuracy,
            val_loss: val.loss,
            val_accuracy: val.accuracy,
            seconds: t0.elapsed().as_secs_f64(),
        };
        let best = progress.record(rec.clone());
        eprintln!(
            "epoch {epoch}/{total_epochs}: loss {:.4} accuracy {:.4} | val_loss {:.4} val_accuracy {:.4} | {:.1} s{}",
            rec.loss,
            rec.accuracy,
            rec.val_loss,
            rec.val_accuracy,
            rec.seconds,
            if best { " (best)" } else { "" }
        );
        if best {
            crate::tensor_io::save(&folder.best(), &named_vars(&vs), HashMap::new())?;
        }
        let mut ckpt = named_vars(&vs);
        ckpt.extend(optimizer.named_state());
        crate::tensor_io::save(&folder.checkpoint(), &ckpt, HashMap::new())?;
        folder.write_json(&folder.checkpoint_progress(), &progress)?;
        folder.write_history(&progress)?;
        if progress.should_stop(cfg.patience) && epoch < total_epochs {
            eprintln!(
                "graft: early stop: no better validation accuracy in {} epochs",
                cfg.patience
            );
            break;
        }
    }

    // Always end on the best epoch's weights, stopped early or not.
    run_folder::load_vars(&vs, &folder.best())?;
    eprintln!(
        "graft: restored the weights of epoch {} (val_accuracy {:.4})",
        progress.best_epoch, progress.best_val_accuracy
    );
    let model_tensors = named_vars(&vs);
    crate::tensor_io::save(&folder.model(), &model_tensors, HashMap::new())?;
    folder.write_history(&progress)?;

    let mut test_metrics = None;
    if let Some(test) = &data.test {
        // Streamed, not cached: the same computation (each image once through the whole
        // network) without holding the frozen outputs of the whole Test set, and the same
        // float32 path as `graft eval`, so both report the same score.
        let test_in = Inputs::streamed(test, &cfg, opts);
        let m = evaluate(&model, &test_in, &data.classes, "testing")?;
        eprintln!(
            "graft: test accuracy {:.4}, test loss {:.4} ({} images)",
            m.accuracy, m.loss, m.count
        );
        test_metrics = Some(m);
    }
    let seconds = start.elapsed().as_secs_f64();
    folder.write_json(
        &folder.metrics(),
        &serde_json::json!({
            "test_accuracy": test_metrics.as_ref().map(|m| m.accuracy),
            "test_loss": test_metrics.as_ref().map(|m| m.loss),
            "best_epoch": progress.best_epoch,
            "best_val_accuracy": progress.best_val_accuracy,
            "seconds": { "total": seconds, "cache": progress.cache_seconds,
                         "epochs": progress.history.iter().map(|r| r.seconds).sum::<f64>() },
            "test": test_metrics,
        }),
    )?;
    crate::reports::write_curves(&opts.out)?;
    let report = crate::reports::write_report(&opts.out)?;
    eprintln!("graft: report {}", report.display());
    Ok(TrainSummary {
        progress,
        test: test_metrics,
        seconds,
        skipped: inputs::skipped_count(),
    })
}

fn interrupted_or(e: anyhow::Error, progress: &Progress, run: &std::path::Path) -> anyhow::Error {
    if INTERRUPTED.load(Ordering::SeqCst) {
        anyhow::Error::new(Interrupted {
            completed: progress.history.len(),
            run: run.to_path_buf(),
        })
    } else {
        e
    }
}

fn train_epoch(
    model: &Classifier,
    optimizer: &mut Optimizer,
    input: &Inputs,
    cfg: &TrainConfig,
    epoch: usize,
    epochs: usize,
) -> Result<(f64, f64)> {
    let order = inputs::shuffled(input.len(), cfg.seed, epoch as u64);
    let bar = crate::progress::bar(input.len() as u64, &format!("epoch {epoch}/{epochs}"));
    let (mut loss_sum, mut correct, mut seen) = (0.0, 0i64, 0usize);
    let started = Instant::now();
    // The schedule runs over the planned steps of the whole run (the same on resume).
    let steps_per_epoch = input.len().div_ceil(cfg.batch_size.max(1));
    let total_steps = steps_per_epoch * cfg.epochs;
    let mut step = steps_per_epoch * (epoch - 1);
    input.for_each_batch(
        &order,
        cfg.batch_size,
        Some((cfg.seed, epoch as u64)),
        |x, y, _| {
            if INTERRUPTED.load(Ordering::SeqCst) {
                bail!("interrupted");
            }
            let logits = x.logits(model, true);
            let loss = smoothed_cross_entropy(&logits, &y, cfg.label_smoothing);
            optimizer.lr_scale = cfg.schedule.scale(step, total_steps);
            step += 1;
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            let n = y.size()[0] as usize;
            loss_sum += loss.double_value(&[]) * n as f64;
            correct += logits
                .argmax(1, false)
                .eq_tensor(&y)
                .sum(Kind::Int64)
                .int64_value(&[]);
            seen += n;
            bar.inc(n as u64);
            bar.set_message(format!(
                "epoch {epoch}/{epochs} loss {:.4} acc {:.4} {:.0} img/s",
                loss_sum / seen as f64,
                correct as f64 / seen as f64,
                seen as f64 / started.elapsed().as_secs_f64()
            ));
            Ok(())
        },
    )?;
    bar.finish_and_clear();
    Ok((
        loss_sum / seen.max(1) as f64,
        correct as f64 / seen.max(1) as f64,
    ))
}

/// Cross-entropy against targets that give `smoothing` of their mass evenly to all classes
/// (0: plain cross-entropy): keeps the logits from growing without bound on easy data.
fn smoothed_cross_entropy(logits: &Tensor, labels: &Tensor, smoothing: f64) -> Tensor {
    let logp = logits.log_softmax(1, Kind::Float);
    let nll = logp.nll_loss(labels);
    if smoothing <= 0.0 {
        return nll;
    }
    let uniform = -logp.mean_dim(1, false, Kind::Float).mean(Kind::Float);
    nll * (1.0 - smoothing) + uniform * smoothing
}

/// Scores every input in inference mode.
pub fn evaluate(
    model: &Classifier,
    input: &Inputs,
    classes: &[String],
    what: &str,
) -> Result<Metrics> {
    let order: Vec<usize> = (0..input.len()).collect();
    let bar = crate::progress::bar(input.len() as u64, what);
    let mut scored = Vec::with_capacity(input.len());
    tch::no_grad(|| {
        input.for_each_batch(&order, 64, None, |x, y, idx| {
            let logits = x.logits(model, false);
            let logp = logits.log_softmax(1, Kind::Float);
            let (best, pred) = logp.max_dim(1, false);
            let losses = -logp.gather(1, &y.unsqueeze(1), false).squeeze_dim(1);
            let n = y.size()[0];
            for j in 0..n {
                scored.push(Scored {
                    path: input.split.paths[idx[j as usize]].display().to_string(),
                    label: y.int64_value(&[j]) as usize,
                    predicted: pred.int64_value(&[j]) as usize,
                    confidence: best.double_value(&[j]).exp(),
                    loss: losses.double_value(&[j]),
                });
            }
            bar.inc(n as u64);
            Ok(())
        })
    })?;
    bar.finish_and_clear();
    Ok(metrics::compute(classes, &scored))
}

pub fn install_ctrlc_handler() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130); // a second Ctrl-C: stop at once
        }
        eprintln!("\ngraft: interrupted; stopping (press Ctrl-C again to quit at once)");
    });
}
