//! Keeping a planned run's epochs to its time budget's deadline, when they run slower than the
//! plan measured (see [`budget::epoch_share`]).
use super::budget;
use super::inputs::Inputs;
use super::session::Session;
use crate::run::history::{Progress, Shortened};

impl Session<'_> {
    /// Before `epoch`, once: when the epochs so far ran too slow for the rest and Test to end
    /// by the deadline, shortens each remaining epoch to the share of its batches that fits
    /// (see [`budget::epoch_share`]), and says so.
    pub(super) fn keep_to_deadline(&self, progress: &mut Progress, epoch: usize, input: &Inputs) {
        let (Some((start, deadline)), Some(last)) = (self.deadline, progress.history.last()) else {
            return;
        };
        if progress.shortened.is_some() {
            return;
        }
        let left = self.cfg.epochs + 1 - epoch;
        let now = start.elapsed().as_secs_f64();
        let Some(share) = budget::epoch_share(&deadline, now, left, last.seconds) else {
            return;
        };
        let full = self.batches(input, epoch).len();
        let steps = ((share * full as f64).ceil() as usize).clamp(1, full);
        progress.shortened = Some(Shortened {
            from_epoch: epoch,
            steps,
        });
        say!(
            "graft: budget: epoch {} took {:.1} s against {:.1} planned: epochs {epoch}-{} take {steps} of their {full} batches each (a different {:.0}% of the training images each epoch), to end near the {:.0} s budget",
            epoch - 1,
            last.seconds,
            deadline.epoch,
            self.cfg.epochs,
            100.0 * steps as f64 / full as f64,
            deadline.at
        );
    }
}
