//! Per-epoch history (history.json, history.csv, and the checkpoint's progress.json) and the
//! rules for the best epoch and early stopping.
use serde::{Deserialize, Serialize};

/// One epoch's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Training accuracy.
    pub accuracy: f64,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
    /// Wall time of the epoch, validation included.
    pub seconds: f64,
}

/// The selection rule for the best epoch: a lower validation loss, or the same loss with a
/// higher validation accuracy (Keras' default monitor). Loss, not accuracy, because accuracy
/// on a few hundred held-out images moves in steps of one image and saturates: a Fruits-360 run
/// with dropout 0.5 read 100% at epoch 2 (loss 0.267) and 99.82% at epoch 4 (loss 0.147), and
/// the accuracy rule kept epoch 2 (Test 98.72%) over epoch 4 (99.17%).
pub fn improves_on(rec: &EpochRecord, best: &EpochRecord) -> bool {
    rec.val_loss < best.val_loss
        || (rec.val_loss == best.val_loss && rec.val_accuracy > best.val_accuracy)
}

/// The epoch training keeps as best in `history` (the same rule: [`improves_on`]).
pub fn best_epoch(history: &[EpochRecord]) -> Option<usize> {
    let mut best: Option<&EpochRecord> = None;
    for r in history {
        if best.is_none_or(|b| improves_on(r, b)) {
            best = Some(r);
        }
    }
    best.map(|r| r.epoch)
}

/// Training progress that a checkpoint must carry for an exact resume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Every completed epoch.
    pub history: Vec<EpochRecord>,
    /// 1-based best epoch so far (see [`improves_on`]).
    pub best_epoch: usize,
    /// Its validation accuracy.
    pub best_val_accuracy: f64,
    /// Seconds spent on the frozen-feature cache (not part of any epoch).
    pub cache_seconds: f64,
    /// Set once a time budget's deadline shortened the epochs (absent: every epoch whole).
    #[serde(default)]
    pub shortened: Option<Shortened>,
    /// The frozen candidate, once trained (absent: the run has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<super::candidates::Floor>,
    /// Whether each validation image came out right at the best epoch (for the comparison with
    /// the frozen candidate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub best_val_correct: Vec<bool>,
}

/// Epochs cut short to keep a time budget: from `from_epoch` on, each takes the first `steps`
/// batches of its shuffled order (a different share of the images each epoch), and the learning
/// rate's schedule spans the steps the run now takes. A later epoch that still runs late cuts
/// again from there (`before` then counts the steps taken so far).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Shortened {
    /// The first epoch (1-based) of this cut.
    pub from_epoch: usize,
    /// Optimizer steps of each epoch from it on.
    pub steps: usize,
    /// Optimizer steps before `from_epoch`, when an earlier cut shortened some of those epochs
    /// (absent: each of them whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<usize>,
}

impl Shortened {
    /// The steps before `epoch` (1-based, from the cut's first epoch on) and those of the whole
    /// run of `epochs` epochs of `full` steps each, once shortened by `cut` (if any).
    pub fn span(
        cut: Option<Shortened>,
        epoch: usize,
        full: usize,
        epochs: usize,
    ) -> (usize, usize) {
        match cut {
            None => (full * (epoch - 1), full * epochs),
            Some(c) => {
                let whole = c.from_epoch - 1;
                let before = c.before.unwrap_or(full * whole);
                let done = match (epoch - 1).checked_sub(whole) {
                    Some(cut_epochs) => before + c.steps * cut_epochs,
                    None => full * (epoch - 1),
                };
                (done, before + c.steps * (epochs - whole))
            }
        }
    }

    /// The optimizer steps of `epoch` under `cut`, in a run of epochs of `full` steps.
    pub fn steps_of(cut: Option<Shortened>, epoch: usize, full: usize) -> usize {
        match cut {
            Some(c) if epoch >= c.from_epoch => c.steps,
            _ => full,
        }
    }
}

impl Progress {
    /// Records an epoch; true when it is the new best (see [`improves_on`]).
    pub fn record(&mut self, rec: EpochRecord) -> bool {
        let better = match self.best() {
            Some(best) => improves_on(&rec, best),
            None => true,
        };
        if better {
            self.best_epoch = rec.epoch;
            self.best_val_accuracy = rec.val_accuracy;
        }
        self.history.push(rec);
        better
    }

    /// The best epoch's record, once an epoch is recorded.
    pub fn best(&self) -> Option<&EpochRecord> {
        self.best_epoch
            .checked_sub(1)
            .and_then(|i| self.history.get(i))
    }

    /// Early stopping: `patience` epochs without improvement.
    pub fn should_stop(&self, patience: usize) -> bool {
        self.history.len() >= self.best_epoch + patience.max(1)
    }

    /// history.csv's text.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("epoch,loss,accuracy,val_loss,val_accuracy,seconds\n");
        for r in &self.history {
            s += &format!(
                "{},{:.6},{:.6},{:.6},{:.6},{:.3}\n",
                r.epoch, r.loss, r.accuracy, r.val_loss, r.val_accuracy, r.seconds
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(epoch: usize, val_accuracy: f64, val_loss: f64) -> EpochRecord {
        EpochRecord {
            epoch,
            loss: 0.0,
            accuracy: 0.0,
            val_loss,
            val_accuracy,
            seconds: 0.0,
        }
    }

    #[test]
    fn a_shortened_run_counts_its_schedule_over_the_steps_it_takes() {
        // 4 epochs of 100 steps: epoch 3 starts at step 200 of 400.
        assert_eq!(Shortened::span(None, 3, 100, 4), (200, 400));
        // Epochs 2-4 cut to 80 steps: 100 + 3 x 80 = 340 in all.
        let cut = Some(Shortened {
            from_epoch: 2,
            steps: 80,
            before: None,
        });
        assert_eq!(Shortened::span(cut, 1, 100, 4), (0, 340));
        assert_eq!(Shortened::span(cut, 2, 100, 4), (100, 340));
        assert_eq!(Shortened::span(cut, 4, 100, 4), (260, 340));
        assert_eq!(Shortened::steps_of(cut, 1, 100), 100);
        assert_eq!(Shortened::steps_of(cut, 3, 100), 80);
        // Cut again from epoch 4 to 70 steps, after 100 + 2 x 80 = 260: 330 in all.
        let again = Some(Shortened {
            from_epoch: 4,
            steps: 70,
            before: Some(Shortened::span(cut, 4, 100, 4).0),
        });
        assert_eq!(Shortened::span(again, 4, 100, 4), (260, 330));
        assert_eq!(Shortened::steps_of(again, 4, 100), 70);
        // A checkpoint written before `before` existed reads as every earlier epoch whole.
        let old: Shortened = serde_json::from_str(r#"{"from_epoch":2,"steps":80}"#).unwrap();
        assert_eq!(Some(old), cut);
    }

    #[test]
    fn best_epoch_and_patience() {
        let mut p = Progress::default();
        assert!(p.record(rec(1, 0.5, 1.0)));
        assert!(p.record(rec(2, 0.9, 0.5)));
        assert!(!p.record(rec(3, 1.0, 0.6)), "higher accuracy, higher loss");
        assert!(!p.should_stop(2));
        assert!(!p.record(rec(4, 0.9, 0.5)), "the same scores");
        assert!(p.should_stop(2));
        assert_eq!(p.best_epoch, 2);
        assert!(
            p.record(rec(5, 0.8, 0.4)),
            "lower loss, whatever the accuracy"
        );
        assert_eq!((p.best_epoch, p.best_val_accuracy), (5, 0.8));
        assert!(p.record(rec(6, 0.85, 0.4)), "same loss, higher accuracy");
        assert!(!p.should_stop(2));
        assert_eq!(best_epoch(&p.history), Some(6));
    }
}
