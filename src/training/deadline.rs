//! Keeping a planned run's epochs to its time budget's deadline, when they run slower than the
//! plan measured (see [`budget::epoch_share`]).
use super::budget;
use super::inputs::Inputs;
use super::session::Session;
use crate::run::history::{Progress, Shortened};

impl Session<'_> {
    /// Before the first epoch of a plan that gave the fine-tuning a share of each epoch's
    /// batches (see [`budget::fit`]): the cut, from epoch 1.
    pub(super) fn keep_to_plan(&self, progress: &mut Progress, epoch: usize, input: &Inputs) {
        let Some((_, deadline)) = self.deadline else {
            return;
        };
        if epoch != 1 || progress.shortened.is_some() || deadline.share >= 1.0 {
            return;
        }
        let full = self.batches(input, epoch).len();
        let steps = ((deadline.share * full as f64).ceil() as usize).clamp(1, full);
        progress.shortened = Some(Shortened {
            from_epoch: 1,
            steps,
            before: None,
        });
    }

    /// Before `epoch`: when the epochs so far ran too slow for the rest and Test to end by the
    /// deadline, shortens each remaining epoch to the share of its batches that fits (see
    /// [`budget::remaining_steps`]), and says so. Checked before every epoch, so a run whose
    /// pace keeps falling is cut again.
    pub(super) fn keep_to_deadline(&self, progress: &mut Progress, epoch: usize, input: &Inputs) {
        let (Some((start, deadline)), Some(last)) = (self.deadline, progress.history.last()) else {
            return;
        };
        let cut = progress.shortened;
        let full = self.batches(input, epoch).len();
        let last_steps = Shortened::steps_of(cut, epoch - 1, full);
        let current = Shortened::steps_of(cut, epoch, full);
        let left = self.cfg.epochs + 1 - epoch;
        let now = start.elapsed().as_secs_f64();
        let pace = (last.seconds, last_steps);
        let Some(steps) = budget::remaining_steps(&deadline, now, left, pace, full, current) else {
            return;
        };
        let before = cut.map(|_| Shortened::span(cut, epoch, full, self.cfg.epochs).0);
        progress.shortened = Some(Shortened {
            from_epoch: epoch,
            steps,
            before,
        });
        let (epochs, each) = match epoch == self.cfg.epochs {
            true => (format!("epoch {epoch} takes"), ""),
            false => (format!("epochs {epoch}-{} take", self.cfg.epochs), " each"),
        };
        say!(
            "graft: budget: epoch {} ran at {:.1} s a whole epoch against {:.1} planned: {epochs} {steps} of {full} batches{each} (a different {:.0}% of the training images each epoch), to end near the {:.0} s budget",
            epoch - 1,
            last.seconds * full as f64 / last_steps.max(1) as f64,
            deadline.epoch,
            100.0 * steps as f64 / full as f64,
            deadline.at
        );
    }
}
