//! The time budget: how many training images per class and how many epochs fit in the wall time
//! a user allows, from per-image costs measured on this machine (`costs`). Plain arithmetic on
//! an injected cost model, so that the planner is tested without timing anything.

/// Seconds per image of each part of a cached run, at the run's size, on this machine.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Costs {
    /// Decoding an image and running it through the fixed blocks into the cache.
    pub cache: f64,
    /// One training image through the trainable blocks: forward, backward and its share of the
    /// optimizer update.
    pub step: f64,
    /// One validation image through the trainable blocks (every epoch).
    pub val: f64,
    /// One Test image, decoded and run through the whole network.
    pub test: f64,
    /// One row of pooled features through a step of the frozen candidate's head (absent from
    /// older ranks' figures: none).
    #[serde(default)]
    pub head: f64,
}

impl Costs {
    /// The costs of a run whose work `ranks` share: each part goes at the pace of the slowest
    /// rank, on a 1/ranks share of the images.
    pub fn shared(per_rank: &[Costs]) -> Costs {
        let n = per_rank.len().max(1) as f64;
        let slowest = |f: fn(&Costs) -> f64| per_rank.iter().map(f).fold(0.0, f64::max) / n;
        Costs {
            cache: slowest(|c| c.cache),
            step: slowest(|c| c.step),
            val: slowest(|c| c.val),
            test: slowest(|c| c.test),
            // Every rank trains the same heads on all the rows.
            head: per_rank.iter().map(|c| c.head).fold(0.0, f64::max),
        }
    }
}

/// What a run would process.
#[derive(Debug, Clone)]
pub struct Work {
    /// Training images of each class.
    pub train_per_class: Vec<usize>,
    /// Validation images of each class.
    pub val_per_class: Vec<usize>,
    /// Validation is split off Training with this share and capped with it (`None`: the
    /// validation set is given and stays whole).
    pub val_fraction: Option<f64>,
    /// Augmented copies of each training image in the cache.
    pub copies: usize,
    /// Test images.
    pub test: usize,
    /// Planned epochs.
    pub epochs: usize,
    /// Whether the run trains the frozen candidate (a head on the pooled features of every cached
    /// image), which can stand alone: the budget then spends its time on every image first.
    pub floor: bool,
    /// Seconds already spent before planning (reading the data, building the model, measuring).
    pub spent: f64,
}

/// The planned seconds of each part of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Already spent when the plan was made.
    pub spent: f64,
    /// Filling the cache.
    pub cache: f64,
    /// The frozen candidate: the upper blocks' pooled features of every cached image.
    pub floor: f64,
    /// All epochs, validation included.
    pub epochs: f64,
    /// Scoring Test.
    pub test: f64,
}

impl Estimate {
    /// The whole run.
    pub fn total(&self) -> f64 {
        self.spent + self.cache + self.floor + self.epochs + self.test
    }
}

/// What fits the budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Training images per class (`None`: every image).
    pub cap: Option<usize>,
    /// Epochs.
    pub epochs: usize,
    /// The share of each epoch's batches it trains on (1: whole epochs).
    pub share: f64,
    /// The seconds this plan should take.
    pub estimate: Estimate,
    /// Whether it fits; when not, this is the smallest run the planner would make.
    pub fits: bool,
}

/// The fast recipe's budget for the smaller sets: 5 minutes for the whole run.
pub const DEFAULT_SECONDS: f64 = 300.0;
/// Beyond it, the default grows with the data by this much per image read (Training,
/// validation and Test), so that a set 2.5x as large gets about 2.5x the time.
pub const DEFAULT_SECONDS_PER_IMAGE: f64 = 0.0085;

/// The fast recipe's default budget for a run that reads `images` images: [`DEFAULT_SECONDS`],
/// or [`DEFAULT_SECONDS_PER_IMAGE`] for each image when that is more. Fruits-360 2019-half
/// (32,674 images) gets 5 minutes, its 120-class release (82,110) 11.6. A constant would give a
/// large set too little or a small one too much; `--time-budget` sets any other.
pub fn default_seconds(images: usize) -> f64 {
    DEFAULT_SECONDS.max(DEFAULT_SECONDS_PER_IMAGE * images as f64)
}

/// A class of this many training images or fewer is never thinned by the budget.
pub const FLOOR: usize = 16;
/// The budget never plans fewer epochs than this (or than the recipe's, if that is fewer).
pub const MIN_EPOCHS: usize = 2;

/// Validation images kept per class when training is capped at `max` and validation is the
/// share `fraction` of the training folder (the same proportion as before the cap).
pub fn val_cap(max: usize, fraction: f64) -> usize {
    ((max as f64 * fraction / (1.0 - fraction)).ceil() as usize).max(2)
}

fn capped(per_class: &[usize], cap: Option<usize>) -> usize {
    per_class.iter().map(|&n| cap.map_or(n, |c| n.min(c))).sum()
}

/// The seconds `work` takes with at most `cap` training images per class and `epochs` epochs.
pub fn estimate(costs: &Costs, work: &Work, cap: Option<usize>, epochs: usize) -> Estimate {
    estimate_share(costs, work, cap, epochs, 1.0)
}

/// [`estimate`] with epochs that train on `share` of their batches.
pub fn estimate_share(
    costs: &Costs,
    work: &Work,
    cap: Option<usize>,
    epochs: usize,
    share: f64,
) -> Estimate {
    let train = capped(&work.train_per_class, cap) as f64;
    let val_cap = match (cap, work.val_fraction) {
        (Some(c), Some(f)) => Some(val_cap(c, f)),
        _ => None,
    };
    let val = capped(&work.val_per_class, val_cap) as f64;
    let trained = share * train * (1 + work.copies) as f64;
    Estimate {
        spent: work.spent,
        cache: costs.cache * (train * (1 + work.copies) as f64 + val),
        // The pooled features are one inference pass of the upper blocks, as validation is;
        // the heads then train in seconds.
        floor: if work.floor {
            costs.val * (train + val) + costs.head * super::floor::planned_rows(train + val) as f64
        } else {
            0.0
        },
        epochs: epochs as f64 * (costs.step * trained + costs.val * val),
        test: costs.test * work.test as f64,
    }
}

/// The largest run that fits in `budget` seconds: every image and every epoch if they fit;
/// else fewer images per class (evenly spaced, never below [`FLOOR`]), then fewer epochs
/// (never below [`MIN_EPOCHS`]). Thinning comes first because a cached epoch costs less than
/// caching (measured: caching 17 ms, an epoch 9 ms per image on Fruits-360 at 187 px), and near-
/// identical images, where a cap costs little, are common in large sets.
pub fn fit(budget: f64, costs: &Costs, work: &Work) -> Plan {
    let plan_share = |cap, epochs, share| plan_for(budget, costs, work, cap, epochs, share);
    let plan = |cap, epochs| plan_share(cap, epochs, 1.0);
    let whole = plan(None, work.epochs);
    if whole.fits {
        return whole;
    }
    if work.floor {
        return fit_over_floor(budget, work, plan_share);
    }
    let min_epochs = work.epochs.min(MIN_EPOCHS);
    for epochs in (min_epochs..=work.epochs).rev() {
        if let Some(p) = largest_cap(work, |cap| plan(cap, epochs)) {
            return p;
        }
    }
    plan(Some(FLOOR), min_epochs)
}

/// `work` with at most `cap` images per class and `epochs` epochs over `share` of their batches,
/// estimated and checked against `budget`.
fn plan_for(
    budget: f64,
    costs: &Costs,
    work: &Work,
    cap: Option<usize>,
    epochs: usize,
    share: f64,
) -> Plan {
    let estimate = estimate_share(costs, work, cap, epochs, share);
    Plan {
        cap,
        epochs,
        share,
        estimate,
        fits: estimate.total() <= budget,
    }
}

/// The plan `plan(Some(cap))` with the largest cap from [`FLOOR`] up to `work`'s largest class
/// that fits, by bisection (the estimate grows with the cap); `None` if not even [`FLOOR`] fits.
fn largest_cap(work: &Work, plan: impl Fn(Option<usize>) -> Plan) -> Option<Plan> {
    let largest = work.train_per_class.iter().copied().max().unwrap_or(0);
    let (mut lo, mut hi) = (FLOOR, largest.max(FLOOR));
    if !plan(Some(lo)).fits {
        return None;
    }
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if plan(Some(mid)).fits {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Some(plan(Some(lo)))
}

/// [`fit`] for a run with the frozen candidate, which needs only one pass over each image: every
/// image is cached and gets the floor first; the fine-tuning epochs take what time is left
/// (fewer epochs, down to [`MIN_EPOCHS`], then a share of each epoch's batches down to
/// [`MIN_EPOCH_SHARE`], then none: the floor alone). Thinning the images comes last, when even
/// the floor over every image and Test do not fit (a thinned set of photos loses views that
/// every later step would have used; the floor on every photo of a 245-photo set scored 5 points
/// above fine-tuning on it).
fn fit_over_floor(
    budget: f64,
    work: &Work,
    plan: impl Fn(Option<usize>, usize, f64) -> Plan,
) -> Plan {
    let floor_only = plan(None, 0, 1.0);
    if floor_only.fits {
        let epoch = plan(None, 1, 1.0).estimate.epochs;
        let left = budget - floor_only.estimate.total();
        let epochs = ((left / epoch.max(1e-9)).floor() as usize).min(work.epochs);
        let min_epochs = work.epochs.min(MIN_EPOCHS);
        if epochs >= min_epochs && epochs > 0 {
            return plan(None, epochs, 1.0);
        }
        // Validation runs whole in a shortened epoch: the share is of the training part.
        let validation = plan(None, 1, 0.0).estimate.epochs;
        let share = (left / min_epochs.max(1) as f64 - validation) / (epoch - validation).max(1e-9);
        if min_epochs > 0 && share >= MIN_EPOCH_SHARE {
            // Rounded down to a hundredth, so that the plan stays within the budget.
            return plan(None, min_epochs, (share * 100.0).floor() / 100.0);
        }
        return floor_only;
    }
    largest_cap(work, |cap| plan(cap, 0, 1.0)).unwrap_or_else(|| plan(Some(FLOOR), 0, 1.0))
}

/// Whether `plan` trains on every image of `work` in the recipe's whole epochs: what a size
/// must allow to be chosen by [`fit_size`].
fn keeps_everything(plan: &Plan, work: &Work) -> bool {
    plan.cap.is_none() && plan.epochs >= work.epochs && plan.share >= 1.0
}

/// Where a planned run must end, for its epochs to keep to it (see [`epoch_share`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deadline {
    /// The budget: the run's end, in seconds from its start.
    pub at: f64,
    /// The planned seconds of one epoch.
    pub epoch: f64,
    /// The planned seconds of Test.
    pub test: f64,
    /// The planned share of each epoch's batches (1: whole epochs).
    pub share: f64,
}

/// The epochs are never shortened below this share of their training images: beyond it the run
/// goes over rather than lose its epochs' worth.
pub const MIN_EPOCH_SHARE: f64 = 0.5;

/// The share of each of the `left` remaining epochs' training images that keeps a run to
/// `deadline` when an epoch took `epoch_seconds` and `now` seconds have passed; `None` when
/// they fit whole. Test's plan is scaled by the epoch's slowdown against its plan (the machine's
/// pace moves within a run: epochs ran up to 25% over the step measured at the start). Never
/// below [`MIN_EPOCH_SHARE`].
pub fn epoch_share(deadline: &Deadline, now: f64, left: usize, epoch_seconds: f64) -> Option<f64> {
    let slower = (epoch_seconds / deadline.epoch.max(1e-9)).max(1.0);
    let time_left = deadline.at - now - deadline.test * slower;
    let need = left as f64 * epoch_seconds;
    (need > time_left).then(|| (time_left / need).clamp(MIN_EPOCH_SHARE, 1.0))
}

/// The optimizer steps each of the `left` remaining epochs of `full` steps may take to keep to
/// `deadline`, after an epoch of `last_steps` steps took `last_seconds` (its pace, as a whole
/// epoch, is what [`epoch_share`] reads), when they now take `current` each; `None` when that
/// fits. Only ever fewer: a run that caught up keeps its cut.
pub fn remaining_steps(
    deadline: &Deadline,
    now: f64,
    left: usize,
    (last_seconds, last_steps): (f64, usize),
    full: usize,
    current: usize,
) -> Option<usize> {
    let whole_epoch = last_seconds * full as f64 / last_steps.max(1) as f64;
    let share = epoch_share(deadline, now, left, whole_epoch)?;
    let steps = ((share * full as f64).ceil() as usize).clamp(1, full);
    (steps < current).then_some(steps)
}

/// More of the near-identical frames when the plan has time to spare: the largest cap from
/// `current` up (`None`: every image) at which `whole` (the training images before the cap) fits
/// `budget` in `plan`'s epochs. `None` when `plan` thins below `current` already, when no class
/// is capped, or when no larger cap fits. The cap on frames saves time (neighbours add little
/// and each costs a pass through the fixed blocks); time left over buys more views (Fruits-360
/// at 171 px, seeds 0-2: 96 frames per class against 53 scored 99.52% against 99.31% on Test
/// on average, Test loss 0.121 against 0.170).
pub fn grow_cap(
    budget: f64,
    costs: &Costs,
    whole: &Work,
    plan: &Plan,
    current: usize,
) -> Option<Plan> {
    let capped = whole.train_per_class.iter().any(|&n| n > current);
    if plan.cap.is_some() || !plan.fits || !capped || plan.share < 1.0 {
        return None;
    }
    // More frames never at the price of the fine-tuning epochs (the frozen candidate's pass
    // over them counted).
    let at = |cap| plan_for(budget, costs, whole, cap, plan.epochs, 1.0);
    let every = at(None);
    let grown = if every.fits {
        every
    } else {
        largest_cap(whole, at)?
    };
    grown.cap.is_none_or(|c| c > current).then_some(grown)
}

/// Pixels between the input sizes the budget may choose: the stride at the cached cut of every
/// registered backbone, so that each step changes the cached grid by one row and column
/// (InceptionV3's 187 px gives 10x10 at `mixed_7`, 171 px 9x9, 139 px 7x7).
pub const SIZE_STEP: i64 = 16;

/// Sizes the budget may run at, largest first: `size`, then down in [`SIZE_STEP`]s to `floor`
/// (none below it; `None`: `size` only).
pub fn sizes(size: i64, floor: Option<i64>) -> Vec<i64> {
    let floor = floor.unwrap_or(size).min(size);
    (0..)
        .map(|k| size - k * SIZE_STEP)
        .take_while(|&s| s >= floor)
        .collect()
}

/// Costs at `to` px from costs measured at `from` px: the work per image grows with its pixels
/// (an estimate, to choose a size; the chosen size is measured again before planning).
pub fn scale(costs: &Costs, from: i64, to: i64) -> Costs {
    let r = (to as f64 / from as f64).powi(2);
    Costs {
        cache: costs.cache * r,
        step: costs.step * r,
        val: costs.val * r,
        test: costs.test * r,
        head: costs.head,
    }
}

/// The largest of `sizes` (largest first) at which every training image of `work` fits the
/// budget, by costs measured at `measured_at` px and scaled; the smallest size if none does (its
/// images are then thinned by [`fit`]). Resolution goes before images, down to the images' own
/// size (the caller's floor): an upsampled small image gains pixels, not detail, while a thinned
/// class loses views (Fruits-360: 139 px with 64 per class scored 98.98%, 187 px with 60 per
/// class 98.72%, in 315 s and 575 s; with a 5 minute budget 187 px kept 20 per class: 94.74%).
pub fn fit_size(
    budget: f64,
    costs: &Costs,
    measured_at: i64,
    sizes: &[i64],
    work: &Work,
) -> Option<i64> {
    let at = |s: i64| fit(budget, &scale(costs, measured_at, s), work);
    sizes
        .iter()
        .copied()
        .find(|&s| keeps_everything(&at(s), work))
        .or(sizes.last().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Caching 20 ms, a training step 10 ms, validation 2 ms, Test 25 ms per image.
    const COSTS: Costs = Costs {
        cache: 0.020,
        step: 0.010,
        val: 0.002,
        test: 0.025,
        head: 0.0,
    };

    fn work(train: &[usize], epochs: usize) -> Work {
        Work {
            train_per_class: train.to_vec(),
            val_per_class: train.iter().map(|n| n / 9).collect(),
            val_fraction: Some(0.1),
            copies: 0,
            test: 1000,
            epochs,
            floor: false,
            spent: 10.0,
        }
    }

    #[test]
    fn slow_epochs_are_shortened_to_keep_the_deadline() {
        // Planned: 300 s, epochs of 45 s, Test 50 s; epoch 1 ended at 120 s.
        let d = Deadline {
            at: 300.0,
            epoch: 45.0,
            test: 50.0,
            share: 1.0,
        };
        // On plan: three more epochs of 45 s and Test fit (120 + 135 + 50 = 305 > 300 by 5 s:
        // shortened a little).
        let on_plan = epoch_share(&d, 120.0, 3, 45.0).unwrap();
        assert!((on_plan - 130.0 / 135.0).abs() < 1e-9, "{on_plan}");
        // Faster than planned: nothing to do.
        assert_eq!(epoch_share(&d, 110.0, 3, 40.0), None);
        // 20% slower: Test is expected 20% slower too; 300 - 120 - 60 = 120 s for 3 x 54 s.
        let slow = epoch_share(&d, 120.0, 3, 54.0).unwrap();
        assert!((slow - 120.0 / 162.0).abs() < 1e-9, "{slow}");
        // Far behind: never below half of each epoch.
        assert_eq!(epoch_share(&d, 250.0, 3, 60.0), Some(MIN_EPOCH_SHARE));
    }

    #[test]
    fn a_cut_epoch_that_still_runs_late_is_cut_again_and_never_lengthened() {
        let d = Deadline {
            at: 300.0,
            epoch: 45.0,
            test: 50.0,
            share: 1.0,
        };
        // Epochs of 100 steps. The first, 54 s: 300 - 120 - 60 = 120 s for 3 x 54: 75 steps.
        assert_eq!(
            remaining_steps(&d, 120.0, 3, (54.0, 100), 100, 100),
            Some(75)
        );
        // Epoch 2 took its 75 steps a little faster (39 s: 52 s a whole epoch): the rest fits.
        assert_eq!(remaining_steps(&d, 159.0, 2, (39.0, 75), 100, 75), None);
        // It took 45 s instead (60 s a whole epoch): 300 - 165 - 50 x 60/45 = 68.3 s for
        // 2 x 60: 57 steps each.
        assert_eq!(remaining_steps(&d, 165.0, 2, (45.0, 75), 100, 75), Some(57));
        // Far behind: never below half of each epoch.
        assert_eq!(remaining_steps(&d, 200.0, 2, (60.0, 75), 100, 75), Some(50));
        // Faster than the cut needs: the cut stays (only ever fewer steps).
        assert_eq!(remaining_steps(&d, 150.0, 2, (30.0, 75), 100, 75), None);
    }

    #[test]
    fn the_estimate_adds_up_each_part() {
        let w = work(&[900, 90], 4);
        let e = estimate(&COSTS, &w, None, 4);
        // 990 training + 110 validation images cached; 4 epochs; 1,000 Test images.
        assert!((e.cache - 0.020 * 1100.0).abs() < 1e-9);
        assert!((e.epochs - 4.0 * (0.010 * 990.0 + 0.002 * 110.0)).abs() < 1e-9);
        assert!((e.test - 25.0).abs() < 1e-9);
        assert!((e.total() - (10.0 + 22.0 + 40.48 + 25.0)).abs() < 1e-9);
        // The frozen candidate adds one pass of the upper blocks over each cached image.
        let with_floor = Work { floor: true, ..w };
        let e = estimate(&COSTS, &with_floor, None, 4);
        assert!((e.floor - 0.002 * 1100.0).abs() < 1e-9);
    }

    #[test]
    fn on_a_machine_three_times_slower_every_image_stays_on_the_frozen_candidate() {
        // 7 classes of 320 photos, validation 35 each, 560 Test: on this cost model the whole
        // run (4 epochs) takes ~200 s and fits 300 s.
        let mut w = work(&[320; 7], 4);
        w.floor = true;
        let p = fit(300.0, &COSTS, &w);
        assert_eq!((p.cap, p.epochs, p.share, p.fits), (None, 4, 1.0, true));
        let times = |k: f64| Costs {
            cache: k * COSTS.cache,
            step: k * COSTS.step,
            val: k * COSTS.val,
            test: k * COSTS.test,
            head: k * COSTS.head,
        };
        // Twice as slow: every image is cached and gets the floor; fine-tuning takes the time
        // that is left (2 epochs).
        let p = fit(300.0, &times(2.0), &w);
        assert_eq!(
            (p.cap, p.epochs, p.share, p.fits),
            (None, 2, 1.0, true),
            "{p:?}"
        );
        // Three times slower: the frozen candidate alone, on every image.
        let slow = times(3.0);
        let p = fit(300.0, &slow, &w);
        assert_eq!((p.cap, p.epochs, p.fits), (None, 0, true), "{p:?}");
        // Between the two, fine-tuning gets a share of each of its 2 epochs.
        let p = fit(300.0, &times(2.5), &w);
        assert!(
            p.cap.is_none() && p.epochs == 2 && p.share < 1.0 && p.fits,
            "{p:?}"
        );
        // Without the floor the same machine thins the photos.
        w.floor = false;
        assert!(fit(300.0, &slow, &w).cap.is_some());
        // With it, thinning comes only when the floor on every image cannot fit.
        w.floor = true;
        let p = fit(60.0, &slow, &w);
        assert!(p.cap.is_some() && p.epochs == 0, "{p:?}");
    }

    #[test]
    fn a_run_that_fits_is_left_whole() {
        let p = fit(1000.0, &COSTS, &work(&[900, 90], 4));
        assert_eq!((p.cap, p.epochs, p.fits), (None, 4, true));
    }

    #[test]
    fn a_tight_budget_thins_large_classes_first_and_never_small_ones() {
        // 50 classes of 1,000 images and one of 10: everything takes ~2,900 s.
        let mut train = vec![1000; 50];
        train.push(10);
        let w = work(&train, 4);
        let p = fit(600.0, &COSTS, &w);
        assert!(p.fits && p.estimate.total() <= 600.0, "{p:?}");
        assert_eq!(p.epochs, 4, "fewer images before fewer epochs");
        let cap = p.cap.unwrap();
        assert!((FLOOR..1000).contains(&cap), "{cap}");
        // The largest cap that fits: one more image per class would not.
        assert!(estimate(&COSTS, &w, Some(cap + 1), 4).total() > 600.0);
        // The class of 10 is whole under any cap the planner makes.
        assert!(cap >= 10);
    }

    #[test]
    fn below_the_floor_epochs_go_next_and_an_impossible_budget_says_so() {
        let w = work(&vec![1000; 200], 4);
        // Test alone (25 s) and the floor of 16 per class at 4 epochs (~220 s) exceed 200 s;
        // at 2 epochs the floor fits (~173 s), with room for a few more images per class.
        let p = fit(200.0, &COSTS, &w);
        assert!(p.fits && p.epochs < 4, "{p:?}");
        assert!(p.cap.unwrap() >= FLOOR);
        let none = fit(30.0, &COSTS, &w);
        assert_eq!(
            (none.cap, none.epochs, none.fits),
            (Some(FLOOR), MIN_EPOCHS, false)
        );
    }

    #[test]
    fn small_images_lose_resolution_before_images_down_to_their_own_size() {
        assert_eq!(sizes(187, Some(107)), [187, 171, 155, 139, 123, 107]);
        assert_eq!(sizes(187, Some(100)), [187, 171, 155, 139, 123, 107]);
        assert_eq!(sizes(299, None), [299]);
        // 95 classes of 64 at 187 px take ~418 s; a 300 s budget fits them whole at 155 px
        // ((155/187)^2 of the work: ~291 s), not at 171 px (~352 s).
        let w = work(&vec![64; 95], 4);
        let at = |s: i64| estimate(&scale(&COSTS, 187, s), &w, None, 4).total();
        assert!(at(187) > 300.0 && at(171) > 300.0 && at(155) <= 300.0);
        let ladder = sizes(187, Some(107));
        assert_eq!(fit_size(300.0, &COSTS, 187, &ladder, &w), Some(155));
        // A roomy budget keeps the recipe's size; without a floor the size never moves, and
        // below every size the smallest is thinned.
        assert_eq!(fit_size(1000.0, &COSTS, 187, &ladder, &w), Some(187));
        assert_eq!(
            fit_size(300.0, &COSTS, 187, &sizes(187, None), &w),
            Some(187)
        );
        assert_eq!(fit_size(60.0, &COSTS, 187, &ladder, &w), Some(107));
    }

    #[test]
    fn time_to_spare_buys_more_frames_and_a_tight_budget_none() {
        // 95 classes of 250 frames, capped at 64 (~418 s of work); 6,080 images at 64 per class.
        let whole = work(&vec![250; 95], 4);
        let capped = work(&vec![64; 95], 4);
        let at = |cap| estimate(&COSTS, &whole, Some(cap), 4).total();
        let plan = fit(600.0, &COSTS, &capped);
        assert_eq!((plan.cap, plan.fits), (None, true));
        let grown = grow_cap(600.0, &COSTS, &whole, &plan, 64).expect("time to spare");
        let cap = grown.cap.unwrap();
        assert!(
            cap > 64 && at(cap) <= 600.0 && at(cap + 1) > 600.0,
            "{grown:?}"
        );
        assert_eq!(grown.epochs, 4);
        // Room for everything: every frame.
        let roomy = fit(5000.0, &COSTS, &capped);
        assert_eq!(
            grow_cap(5000.0, &COSTS, &whole, &roomy, 64).unwrap().cap,
            None
        );
        // A budget that thins below 64 already takes no more; nor does a cap that binds nothing.
        let tight = fit(300.0, &COSTS, &capped);
        assert!(tight.cap.unwrap() < 64);
        assert!(grow_cap(300.0, &COSTS, &whole, &tight, 64).is_none());
        assert!(grow_cap(600.0, &COSTS, &capped, &plan, 64).is_none());
    }
}
