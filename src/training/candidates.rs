//! The run's candidates in its session: the frozen candidate trained on the cache before the
//! fine-tuning epochs (and saved as the run's model at once: a usable model within the first
//! minutes), and the choice between the two at the end.
use super::choose;
use super::floor::{self, HeadTraining, Rows};
use super::inputs::Inputs;
use super::optim::Optimizer;
use super::session::Session;
use crate::run::candidates::{Candidate, Choice};
use crate::run::history::Progress;
use anyhow::Result;
use std::time::Instant;
use tch::Tensor;

impl Session<'_> {
    /// Trains the frozen candidate on the cached inputs: its epochs by k-fold, then one head on
    /// Training and validation together (the run's model from now on, until a better one) and one
    /// on Training only, from which fine-tuning starts (validation stays unseen by it).
    pub(super) fn train_floor(
        &mut self,
        train_in: &Inputs,
        val_in: &Inputs,
        optimizer: &Optimizer,
        progress: &mut Progress,
    ) -> Result<()> {
        let t0 = Instant::now();
        let cfg = self.cfg;
        let plain = train_in.len() / (1 + cfg.cache_augmented_copies);
        let x_train = floor::pooled(&self.model, train_in, plain, &mut self.skips)?;
        let x_val = floor::pooled(&self.model, val_in, val_in.len(), &mut self.skips)?;
        let (y_train, y_val) = (&train_in.set.labels[..plain], &val_in.set.labels[..]);
        let how = HeadTraining::of(cfg, self.classes.len());
        let train = Rows {
            x: &x_train,
            y: y_train,
        };
        let val = Rows {
            x: &x_val,
            y: y_val,
        };
        let (mut rec, start) = floor::cross_validate(how, train, val)?;
        let x_all = Tensor::cat(&[&x_train, &x_val], 0);
        let y_all: Vec<i64> = y_train.iter().chain(y_val).copied().collect();
        let all = Rows {
            x: &x_all,
            y: &y_all,
        };
        let (whole, _) = floor::train_head(how, all, rec.epochs, |_, _| {})?;
        floor::copy_head(&whole, &self.vs)?;
        if self.writes() {
            self.folder.write_weights(&self.folder.frozen(), &self.vs)?;
            self.folder.write_weights(&self.folder.model(), &self.vs)?;
        }
        floor::copy_head(&start, &self.vs)?;
        if let Some(g) = self.rt.group {
            super::ranks::broadcast_vars(&self.vs, g)?;
        }
        rec.seconds = t0.elapsed().as_secs_f64();
        say!(
            "graft: frozen candidate: a head on the pooled features of {} images, {} epochs by {}-fold cross-validation: held-out accuracy {:.4}, loss {:.4} (validation images: {:.4}); {:.1} s; saved as the run's model{}",
            y_all.len(),
            rec.epochs,
            rec.folds,
            rec.cv_accuracy,
            rec.cv_loss,
            rec.val_accuracy,
            rec.seconds,
            if cfg.epochs > 0 {
                "; fine-tuning starts from its head"
            } else {
                ""
            }
        );
        progress.floor = Some(rec);
        if self.writes() {
            // A resumed run starts after the floor.
            self.folder
                .write_checkpoint(&self.vs, optimizer.named_state(), progress)?;
        }
        Ok(())
    }

    /// Reads the kept candidate's weights into the model (on the writing process): without a
    /// frozen candidate, the best epoch's; with one, the candidate [`choose::choose`] keeps.
    pub(super) fn restore_kept(&mut self, progress: &Progress) -> Result<Option<Choice>> {
        let Some(floor) = &progress.floor else {
            if self.writes() {
                self.folder.read_weights(&self.folder.best(), &self.vs)?;
            }
            if let Some(best) = progress.best() {
                say!(
                    "graft: restored the weights of epoch {} (val_loss {:.4}, val_accuracy {:.4})",
                    best.epoch,
                    best.val_loss,
                    best.val_accuracy
                );
            }
            return Ok(None);
        };
        let choice = match progress.best() {
            Some(_) if !progress.best_val_correct.is_empty() => {
                choose::choose(&floor.val_correct, &progress.best_val_correct)
            }
            _ => Choice {
                kept: Candidate::Frozen,
                only_fine_tune: 0,
                only_frozen: 0,
                why: "no fine-tuning epoch ran".into(),
            },
        };
        let file = match choice.kept {
            Candidate::Frozen => self.folder.frozen(),
            Candidate::FineTune => self.folder.best(),
        };
        if self.writes() {
            self.folder.read_weights(&file, &self.vs)?;
        }
        let kept = match (choice.kept, progress.best()) {
            (Candidate::FineTune, Some(b)) => format!("the fine-tuned model of epoch {}", b.epoch),
            _ => "the frozen candidate".into(),
        };
        say!("graft: kept {kept}: {}", choice.why);
        Ok(Some(choice))
    }
}
