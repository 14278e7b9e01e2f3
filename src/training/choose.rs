//! Which candidate a run keeps: the fine-tuned model replaces the frozen floor only when it gets
//! more of the same validation images right.
use crate::run::candidates::{Candidate, Choice};

/// Compares the two candidates image by image on the same validation images (`frozen[i]`,
/// `tuned[i]`: whether each got image i right). With b images only the fine-tuned one got right
/// and c only the frozen one, the fine-tuned candidate is kept when b > c; on a tie the frozen
/// one, the simpler model, stays (on a small validation set both often read 100%). The standard
/// error of b - c, about sqrt(b + c) (McNemar), is said with it: a margin of one standard error
/// was tried and kept the frozen candidate on two of the six shared sets where fine-tuning
/// scored 2.5 and 3.3 points higher on Test (Oxford 17 flowers: b = 3, c = 1).
pub fn choose(frozen: &[bool], tuned: &[bool]) -> Choice {
    let pairs = frozen.iter().zip(tuned);
    let b = pairs.clone().filter(|&(&f, &t)| t && !f).count();
    let c = pairs.filter(|&(&f, &t)| f && !t).count();
    let n = frozen.len().min(tuned.len());
    let right = |v: &[bool]| v.iter().filter(|&&r| r).count();
    let (rf, rt) = (right(frozen), right(tuned));
    let margin = ((b + c) as f64).sqrt();
    let kept = if b > c {
        Candidate::FineTune
    } else {
        Candidate::Frozen
    };
    let why = format!(
        "on {n} validation images the fine-tuned model got {rt} right, the frozen one {rf}; {b} only the fine-tuned, {c} only the frozen: {}",
        match kept {
            Candidate::FineTune => format!(
                "fine-tuning is ahead by {} (standard error {margin:.1})",
                b as i64 - c as i64
            ),
            Candidate::Frozen => format!(
                "fine-tuning is not ahead ({}, standard error {margin:.1}), so the simpler model stays",
                b as i64 - c as i64
            ),
        }
    );
    Choice {
        kept,
        only_fine_tune: b,
        only_frozen: c,
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(right: usize, of: usize) -> Vec<bool> {
        (0..of).map(|i| i < right).collect()
    }

    #[test]
    fn fine_tuning_is_kept_only_when_it_gets_more_validation_images_right() {
        // Both right on all 24: the frozen floor stays.
        let all = marks(24, 24);
        assert_eq!(choose(&all, &all).kept, Candidate::Frozen);
        // Fine-tuning gets 40 more of 700 right: kept.
        let (frozen, tuned) = (marks(650, 700), marks(690, 700));
        let c = choose(&frozen, &tuned);
        assert_eq!(
            (c.kept, c.only_fine_tune, c.only_frozen),
            (Candidate::FineTune, 40, 0)
        );
        assert!(
            c.why.contains("690 right") && c.why.contains("650"),
            "{}",
            c.why
        );
        assert!(c.why.contains("standard error 6.3"), "{}", c.why);
        // Wins and losses that cancel: the floor stays.
        let frozen: Vec<bool> = (0..100).map(|i| i % 10 != 0).collect();
        let tuned: Vec<bool> = (0..100).map(|i| i % 10 != 5).collect();
        let c = choose(&frozen, &tuned);
        assert_eq!(
            (c.kept, c.only_fine_tune, c.only_frozen),
            (Candidate::Frozen, 10, 10)
        );
        // One image ahead is ahead.
        assert_eq!(
            choose(&marks(59, 60), &marks(60, 60)).kept,
            Candidate::FineTune
        );
        // Three right only by the fine-tuned, one only by the frozen (within one standard
        // error, 2.0): kept.
        let frozen: Vec<bool> = (0..51).map(|i| i > 2).collect();
        let tuned: Vec<bool> = (0..51).map(|i| i != 3).collect();
        let c = choose(&frozen, &tuned);
        assert_eq!(
            (c.kept, c.only_fine_tune, c.only_frozen),
            (Candidate::FineTune, 3, 1)
        );
        // The fine-tuned one worse: the floor.
        assert_eq!(
            choose(&marks(60, 60), &marks(50, 60)).kept,
            Candidate::Frozen
        );
    }
}
