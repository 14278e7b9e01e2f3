//! The fast recipe adapted to the data it meets: what it reads from the dataset (image sizes,
//! how alike neighbouring images are) and from the backbone's spec, what it chooses, and why.
//! Rules key on measured properties, never on a dataset's name, classes or counts.
use crate::data::check::Traits;
use crate::data::labelled::Holdout;
use crate::run::config::TrainConfig;
use crate::training::budget::{self, SIZE_STEP};

/// A setting the plan chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// The input size.
    Size,
    /// The per-class cap.
    Cap,
    /// How held-out images are picked.
    Holdout,
    /// The time budget.
    Budget,
}

/// A share of near-identical neighbouring pairs from which a dataset reads as video frames or
/// bursts, where evenly spaced images carry what the rest would.
pub const FRAMES_FROM: f64 = 0.5;

/// Adapts a fast-recipe config to `traits`; returns each choice with its reason. Other recipes
/// are left as they are (the seed recipe is the reference experiment).
pub fn adapt(cfg: &mut TrainConfig, traits: &Traits) -> Vec<(Setting, String)> {
    if cfg.recipe != "fast" {
        return Vec::new();
    }
    let native = cfg.backbone.native_size;
    let side = traits.median_short_side as i64;
    // The pretrained features are best at the size the network learned them (the frozen
    // candidate uses them as they are): the native size, which a time budget may lower, down
    // to the images' own size, rather than thin the images.
    cfg.size = native;
    cfg.size_floor = (side < native).then(|| {
        let steps = (native - side.max(cfg.backbone.min_size)) / SIZE_STEP;
        native - steps * SIZE_STEP
    });
    let size = if side >= native {
        format!(
            "{native} px, the network's native size: the images are larger (median shorter side {side} px)"
        )
    } else {
        format!(
            "{native} px, the network's native size, though the images are smaller (median shorter side {side} px)"
        )
    };
    let size = match cfg.size_floor {
        Some(floor) if floor < cfg.size => format!(
            "{size}; a time budget may lower it to {floor} px, not below the images' own size, rather than thin the images"
        ),
        _ => size,
    };
    let share = traits.near_identical_neighbours;
    let pct = 100.0 * share;
    let pairs = traits.pairs;
    let frames = share >= FRAMES_FROM;
    let cap = if frames {
        let max = cfg.max_per_class.unwrap_or(64);
        cfg.max_per_class = Some(max);
        cfg.cap_grows = true;
        format!(
            "{max} images per class, evenly spaced (smaller classes whole; a time budget takes more where it has time to spare): {pct:.0}% of {pairs} neighbouring pairs are near-identical, like frames of a video"
        )
    } else {
        cfg.max_per_class = None;
        cfg.cap_grows = false;
        format!("every image: only {pct:.0}% of {pairs} neighbouring pairs are near-identical")
    };
    let holdout = if frames {
        cfg.holdout = Holdout::Blocks;
        "held out (validation, and Test where graft splits it): one run of consecutive images per class, since a random pick would sit between near-identical training frames and read as if seen".to_string()
    } else {
        cfg.holdout = Holdout::Random;
        "held out (validation, and Test where graft splits it): a random pick per class".to_string()
    };
    let seconds = budget::default_seconds(traits.images);
    cfg.time_budget = Some(seconds);
    let budget = format!(
        "a time budget of {seconds:.0} s for the whole run: {:.0} s, or {:.1} ms for each of the {} images it reads when that is more",
        budget::DEFAULT_SECONDS,
        1000.0 * budget::DEFAULT_SECONDS_PER_IMAGE,
        traits.images
    );
    vec![
        (Setting::Size, size),
        (Setting::Cap, cap),
        (Setting::Holdout, holdout),
        (Setting::Budget, budget),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Arch;

    fn traits(side: u32, near: f64) -> Traits {
        Traits {
            median_short_side: side,
            near_identical_neighbours: near,
            pairs: 400,
            images: 1_200,
        }
    }

    #[test]
    fn the_default_budget_grows_with_the_images_read_beyond_five_minutes() {
        let arch = Arch::named("inception-v3").unwrap();
        let budget_for = |images| {
            let mut cfg = crate::training::recipe::fast(arch, "t".into(), None);
            let why = adapt(
                &mut cfg,
                &Traits {
                    images,
                    ..traits(100, 0.9)
                },
            );
            assert!(why[3].1.contains(&format!("{images} images")), "{why:?}");
            cfg.time_budget.unwrap()
        };
        assert_eq!(budget_for(600), 300.0);
        assert_eq!(budget_for(32_674), 300.0);
        // A set 2.5x as large: 11.6 minutes.
        assert!((budget_for(82_110) - 697.9).abs() < 0.1);
    }

    #[test]
    fn small_video_frames_and_large_photos_get_different_plans() {
        let arch = Arch::named("inception-v3").unwrap();
        let fresh = || crate::training::recipe::fast(arch, "t".into(), None);
        // 100 px frames of turning fruit: the native 299 px, capped at 64 per class.
        let mut frames = fresh();
        let why = adapt(&mut frames, &traits(100, 0.93));
        assert_eq!((frames.size, frames.max_per_class), (299, Some(64)));
        // A budget with time to spare may take more frames.
        assert!(frames.cap_grows);
        assert_eq!(frames.holdout, Holdout::Blocks);
        // A budget may lower its 299 px to 107 px (the images are 100 px), not below.
        assert_eq!(frames.size_floor, Some(107));
        assert!(why[1].1.contains("93% of 400"), "{why:?}");
        // 400 px photos, each its own: native size, every image.
        let mut photos = fresh();
        adapt(&mut photos, &traits(400, 0.02));
        assert_eq!((photos.size, photos.max_per_class), (299, None));
        assert!(!photos.cap_grows);
        assert_eq!(photos.holdout, Holdout::Random);
        assert_eq!(photos.size_floor, None);
        // Both are small sets: the 5-minute budget.
        assert_eq!(
            (frames.time_budget, photos.time_budget),
            (Some(300.0), Some(300.0))
        );
        // The seed recipe is left alone.
        let mut seed = crate::training::recipe::seed(arch, "t".into(), None);
        assert!(adapt(&mut seed, &traits(400, 0.02)).is_empty());
        assert_eq!((seed.size, seed.max_per_class), (299, None));
    }
}
