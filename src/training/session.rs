//! One training run from its inputs to its scores: caching, the epochs with validation,
//! checkpoints and early stopping, and the final Test score.
use super::balance;
use super::budget::Deadline;
use super::inputs::{CacheJob, Inputs};
use super::optim::Optimizer;
use super::split::Data;
use super::step::{EpochSums, StepBatch, Stepping, train_step};
use crate::cancel::Cancel;
use crate::data::loader::{self, Skips};
use crate::distributed::shard;
use crate::engine::Precision;
use crate::error::Error;
use crate::inference::score::{self, Scorer};
use crate::metrics::Metrics;
use crate::models::Pass;
use crate::models::classifier::{Classifier, Part};
use crate::run::RunFolder;
use crate::run::candidates::Choice;
use crate::run::config::TrainConfig;
use crate::run::history::{EpochRecord, Progress, Shortened};
use crate::run::outcome::{RunMetrics, Seconds};
use crate::runtime::Runtime;
use anyhow::Result;
use std::path::PathBuf;
use std::time::Instant;
use tch::{Tensor, nn};

/// Where and how a run executes (its settings are the `TrainConfig`).
pub struct TrainOptions<'g> {
    /// The run folder.
    pub out: PathBuf,
    /// Device, decoding threads, a new run's precision, and the process group when this
    /// process is one rank of a data-parallel run (every rank takes its share of each global
    /// batch; rank 0 writes the run folder).
    pub runtime: Runtime<'g>,
    /// The precision asked for on resuming (None: the run's own; see `Precision::for_run`).
    pub asked: Option<Precision>,
    /// Checked between batches: when set, training stops and the last checkpoint stays.
    pub cancel: Cancel,
}

/// What a finished run measured.
pub struct TrainOutcome {
    /// Per-epoch history and the best epoch.
    pub progress: Progress,
    /// Test metrics, when there is a test set.
    pub test: Option<Metrics>,
    /// Wall time of the whole run.
    pub seconds: f64,
    /// Files that could not be used, each named once.
    pub skipped: Skips,
    /// Which candidate the model is, when the run had two.
    pub choice: Option<Choice>,
}

/// Everything one run's steps share.
pub struct Session<'a> {
    /// The run's settings.
    pub cfg: &'a TrainConfig,
    /// Where and how it runs.
    pub opts: &'a TrainOptions<'a>,
    /// The execution context, in the run's precision.
    pub rt: Runtime<'a>,
    /// Its run folder.
    pub folder: RunFolder,
    /// The model's variables.
    pub vs: nn::VarStore,
    /// The model.
    pub model: Classifier,
    /// Class names.
    pub classes: Vec<String>,
    /// Files skipped so far.
    pub skips: Skips,
    /// The run's start and the time budget's deadline, when the epochs keep to one (a planned
    /// run in one process, not resumed).
    pub deadline: Option<(Instant, Deadline)>,
}

impl Session<'_> {
    /// Training and validation inputs: cached frozen-block outputs (fast path) or images
    /// streamed with augmentation.
    pub fn inputs(
        &mut self,
        data: &Data,
        resume: bool,
        progress: &mut Progress,
    ) -> Result<(Inputs, Inputs)> {
        let (cfg, rt) = (self.cfg, self.rt);
        if !(cfg.cache && self.model.trainable_from > 0) {
            let streamed = |set| Inputs::streamed(set, cfg.preprocess(), cfg.augment, rt);
            return Ok((streamed(&data.train), streamed(&data.val)));
        }
        let t0 = Instant::now();
        let train_job = CacheJob {
            preprocess: cfg.preprocess(),
            augment: cfg.augment,
            seed: cfg.seed,
            augmented_copies: cfg.cache_augmented_copies,
            name: "training",
            dir: &self.opts.out,
        };
        let val_job = CacheJob {
            augmented_copies: 0,
            name: "validation",
            ..train_job
        };
        let train = Inputs::cached(&self.model, &data.train, train_job, rt, &mut self.skips)?;
        let val = Inputs::cached(&self.model, &data.val, val_job, rt, &mut self.skips)?;
        if !resume {
            progress.cache_seconds = t0.elapsed().as_secs_f64();
        }
        say!(
            "graft: cached {} outputs of {} images in {:.1} s",
            self.model.backbone.blocks[self.model.trainable_from - 1].name,
            train.len() + val.len(),
            t0.elapsed().as_secs_f64()
        );
        if !cfg.augment.is_identity() && cfg.cache_augmented_copies == 0 {
            say!(
                "graft: note: the cache holds un-augmented images; add augmented ones with --augmented-copies K"
            );
        }
        Ok((train, val))
    }

    /// The remaining epochs, each checkpointed; stops early after `patience` epochs without a
    /// better validation score.
    pub fn epochs(
        &mut self,
        train_in: &Inputs,
        val_in: &Inputs,
        optimizer: &mut Optimizer,
        progress: &mut Progress,
    ) -> Result<()> {
        let (cfg, total) = (self.cfg, self.cfg.epochs);
        for epoch in progress.history.len() + 1..=total {
            let t0 = Instant::now();
            let epoch_seed = (cfg.seed as i64)
                .wrapping_mul(1000)
                .wrapping_add(epoch as i64);
            tch::manual_seed(epoch_seed);
            self.keep_to_plan(progress, epoch, train_in);
            self.keep_to_deadline(progress, epoch, train_in);
            let (loss, accuracy) = self
                .train_epoch(optimizer, train_in, epoch, progress.shortened)
                .map_err(|e| self.interrupted_or(e, progress))?;
            let (val, right) = self.validate(val_in)?;
            let rec = EpochRecord {
                epoch,
                loss,
                accuracy,
                val_loss: val.loss,
                val_accuracy: val.accuracy,
                seconds: t0.elapsed().as_secs_f64(),
            };
            let best = progress.record(rec.clone());
            if best {
                progress.best_val_correct = right;
            }
            say!(
                "epoch {epoch}/{total}: loss {:.4} accuracy {:.4} | val_loss {:.4} val_accuracy {:.4} | {:.1} s{}",
                rec.loss,
                rec.accuracy,
                rec.val_loss,
                rec.val_accuracy,
                rec.seconds,
                if best { " (best)" } else { "" }
            );
            if self.writes() {
                if best {
                    self.folder.write_weights(&self.folder.best(), &self.vs)?;
                }
                self.folder
                    .write_checkpoint(&self.vs, optimizer.named_state(), progress)?;
                self.folder.write_history(progress)?;
            }
            if progress.should_stop(cfg.patience) && epoch < total {
                say!(
                    "graft: early stop: no lower validation loss in {} epochs",
                    cfg.patience
                );
                break;
            }
        }
        Ok(())
    }

    /// The epoch's global batches: its shuffled (or balanced) order cut into batches.
    pub(super) fn batches(&self, input: &Inputs, epoch: usize) -> Vec<Vec<usize>> {
        let cfg = self.cfg;
        let order = balance::epoch_order(cfg.balance, &input.set.labels, cfg.seed, epoch as u64);
        let mut global = loader::batches(&order, cfg.batch_size);
        if global.len() > 1 && global.last().is_some_and(|b| b.len() == 1) {
            // Batch norm cannot take statistics of one image (at small sizes its variance is
            // 0 / 0): a last batch of one sits this epoch out (another image each epoch).
            global.pop();
        }
        global
    }

    /// Whether this process writes the run folder (one process, or rank 0 of several).
    pub fn writes(&self) -> bool {
        self.rt.leads()
    }

    fn interrupted_or(&self, e: anyhow::Error, progress: &Progress) -> anyhow::Error {
        if self.opts.cancel.is_cancelled() {
            Error::Interrupted {
                completed: progress.history.len(),
                run: self.opts.out.clone(),
            }
            .into()
        } else {
            e
        }
    }

    /// One epoch over the run's shuffled order in global batches; with a process group, this
    /// rank takes its contiguous share of each batch and the gradients are summed over the ranks
    /// before every update, so each step equals one process's on the whole batch.
    fn train_epoch(
        &mut self,
        optimizer: &mut Optimizer,
        input: &Inputs,
        epoch: usize,
        cut: Option<Shortened>,
    ) -> Result<(f64, f64)> {
        let (cfg, group) = (self.cfg, self.rt.group);
        let weights = balance::class_weights(cfg.balance, &input.set.labels, self.classes.len());
        let mut global = self.batches(input, epoch);
        // The schedule runs over the steps of the whole run (the same on resume).
        let full = global.len();
        let (mut step, total_steps) = Shortened::span(cut, epoch, full, cfg.epochs);
        if let Some(c) = cut.filter(|c| epoch >= c.from_epoch) {
            global.truncate(c.steps);
        }
        let (rank, world) = self.rt.rank_of_world();
        let shares: Vec<_> = global.iter().map(|b| shard(b.len(), rank, world)).collect();
        let mine = global
            .iter()
            .zip(&shares)
            .map(|(b, r)| b[r.clone()].to_vec());
        let mut parts = global.iter().zip(&shares).map(|(b, r)| Part {
            rows: b.len() as i64,
            offset: r.start as i64,
        });
        let rows: usize = global.iter().map(Vec::len).sum();
        let bar = crate::progress::bar(rows as u64, &format!("epoch {epoch}/{}", cfg.epochs));
        let mut sums = EpochSums::default();
        let started = Instant::now();
        let steps_per_epoch = global.len();
        let (model, cancel) = (&self.model, &self.opts.cancel);
        let how = Stepping {
            cfg,
            weights: weights.as_ref(),
            rt: self.rt,
        };
        let augment = Some((cfg.seed, epoch as u64));
        input.for_each_batch(mine.collect(), augment, &mut self.skips, |x, y, _| {
            if cancel.is_cancelled() {
                anyhow::bail!("interrupted");
            }
            let part = parts.next().expect("one part per batch");
            optimizer.lr_scale = cfg.schedule.scale(step, total_steps);
            step += 1;
            let n = x.rows();
            train_step(model, optimizer, how, StepBatch { x, y, part }, &mut sums)?;
            bar.inc(n as u64);
            bar.set_message(format!(
                "epoch {epoch}/{} loss {:.4} acc {:.4} {:.0} img/s",
                cfg.epochs,
                sums.loss / sums.rows.max(1.0),
                sums.correct as f64 / sums.seen.max(1) as f64,
                sums.seen as f64 / started.elapsed().as_secs_f64()
            ));
            Ok(())
        })?;
        bar.finish_and_clear();
        let Some(g) = group else {
            let seen = sums.seen.max(1) as f64;
            return Ok((sums.loss / seen, sums.correct as f64 / seen));
        };
        say_rank!(
            "graft: rank {} of {}: epoch {epoch}: trained on {} images; gradients all-reduced in {:.1} ms per step ({:.1} MB)",
            g.rank,
            g.world,
            sums.seen,
            1000.0 * sums.reduce_seconds / steps_per_epoch.max(1) as f64,
            sums.reduced_bytes as f64 / steps_per_epoch.max(1) as f64 / 1e6,
        );
        // Every rank added each batch's mean loss times its global size; the sum over ranks is
        // one process's sum.
        let mut t = Tensor::from_slice(&[sums.loss, sums.correct as f64, sums.seen as f64]);
        g.all_reduce_sum(&mut t)?;
        let seen = t.double_value(&[2]).max(1.0);
        Ok((t.double_value(&[0]) / seen, t.double_value(&[1]) / seen))
    }

    /// Scores the validation inputs in inference mode (with a group, each rank its share; every
    /// rank gets the metrics over all of them), and whether each came out right.
    fn validate(&mut self, input: &Inputs) -> Result<(Metrics, Vec<bool>)> {
        let group = self.rt.group;
        let order: Vec<usize> = crate::distributed::share(input.len(), group).collect();
        let mut scorer = Scorer::new(&self.classes);
        let model = &self.model;
        tch::no_grad(|| {
            let batches = loader::batches(&order, 64);
            input.for_each_batch(batches, None, &mut self.skips, |x, y, idx| {
                let paths: Vec<String> = idx
                    .iter()
                    .map(|&i| input.set.paths[i].display().to_string())
                    .collect();
                scorer.add(&x.logits(model, Pass::INFERENCE), &y, &paths);
                Ok(())
            })
        })?;
        scorer.finish_each_over(group)
    }

    /// Ends on the best epoch's weights (stopped early or not), saves the model, scores Test
    /// and writes metrics.json.
    pub fn finish(
        mut self,
        data: &Data,
        progress: Progress,
        start: Instant,
    ) -> Result<TrainOutcome> {
        let group = self.rt.group;
        let choice = self.restore_kept(&progress)?;
        if let Some(g) = group {
            super::ranks::broadcast_vars(&self.vs, g)?;
        }
        if self.writes() {
            self.folder.write_weights(&self.folder.model(), &self.vs)?;
            self.folder.write_history(&progress)?;
        }
        let mut test = None;
        let test_start = Instant::now();
        if let Some(set) = &data.test {
            // Streamed through the whole network, as `graft eval` does: the same score.
            let pre = self.cfg.preprocess();
            let (model, classes) = (&self.model, &self.classes);
            let m = score::evaluate(model, set, classes, pre, self.rt, &mut self.skips)?;
            say!(
                "graft: test accuracy {:.4}, test loss {:.4} ({} images)",
                m.accuracy,
                m.loss,
                m.count
            );
            test = Some(m);
        }
        let seconds = Seconds {
            total: start.elapsed().as_secs_f64(),
            cache: progress.cache_seconds,
            floor: progress.floor.as_ref().map_or(0.0, |f| f.seconds),
            epochs: progress.history.iter().map(|r| r.seconds).sum(),
            test: test_start.elapsed().as_secs_f64(),
        };
        let frozen_kept = choice.as_ref().is_some_and(Choice::kept_frozen);
        let (best_epoch, best_val) = match (&progress.floor, frozen_kept) {
            (Some(f), true) => (0, f.val_accuracy),
            _ => (progress.best_epoch, progress.best_val_accuracy),
        };
        let mut metrics = RunMetrics::new(best_epoch, best_val, seconds.clone(), test.clone());
        metrics.floor = progress.floor.clone();
        metrics.choice = choice.clone();
        if self.writes() {
            self.folder.write_metrics(&metrics)?;
        }
        Ok(TrainOutcome {
            progress,
            test,
            seconds: seconds.total,
            skipped: self.skips,
            choice,
        })
    }
}
