//! Per-epoch history and the early-stopping rule.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    pub seconds: f64,
}

/// Training progress that a checkpoint must carry for an exact resume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub history: Vec<EpochRecord>,
    /// 1-based epoch with the best validation accuracy so far.
    pub best_epoch: usize,
    pub best_val_accuracy: f64,
    /// Seconds spent on the frozen-feature cache (not part of any epoch).
    pub cache_seconds: f64,
}

impl Progress {
    /// Records an epoch; true when it is the new best (ties keep the earlier epoch).
    pub fn record(&mut self, rec: EpochRecord) -> bool {
        let better = self.best_epoch == 0 || rec.val_accuracy > self.best_val_accuracy;
        if better {
            self.best_epoch = rec.epoch;
            self.best_val_accuracy = rec.val_accuracy;
        }
        self.history.push(rec);
        better
    }

    /// Early stopping: `patience` epochs without improvement.
    pub fn should_stop(&self, patience: usize) -> bool {
        self.history.len() >= self.best_epoch + patience.max(1)
    }

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

    fn rec(epoch: usize, val_accuracy: f64) -> EpochRecord {
        EpochRecord {
            epoch,
            loss: 0.0,
            accuracy: 0.0,
            val_loss: 0.0,
            val_accuracy,
            seconds: 0.0,
        }
    }

    #[test]
    fn best_epoch_and_patience() {
        let mut p = Progress::default();
        assert!(p.record(rec(1, 0.5)));
        assert!(p.record(rec(2, 0.9)));
        assert!(!p.record(rec(3, 0.9)), "a tie is not an improvement");
        assert!(!p.should_stop(2));
        assert!(!p.record(rec(4, 0.8)));
        assert!(p.should_stop(2));
        assert_eq!(p.best_epoch, 2);
    }
}
