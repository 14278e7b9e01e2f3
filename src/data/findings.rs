//! What the dataset check (`data::check`) reports, and the warnings drawn from it.
use super::dataset::ClassCounts;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A shorter side below this many pixels makes an image "tiny".
pub const TINY_SIDE: u32 = 32;
/// Two perceptual hashes (64-bit gradient hashes) at most this many bits apart make a
/// candidate near pair...
pub const NEAR_BITS: u32 = 6;
/// ...that is one when their 16x16 colour thumbnails differ by at most this much on average (of
/// 255): the gradient hash alone sees no colour, and calls two round fruits on white the same.
pub const NEAR_DIFF: f64 = 6.0;
/// A largest-to-smallest class ratio from which the check warns about imbalance.
pub const IMBALANCED: f64 = 4.0;

/// One image as the check saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    /// The file.
    pub path: PathBuf,
    /// Its class.
    pub class: String,
    /// train, val or test.
    pub part: String,
}

/// Images with the same content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    /// The images, in dataset order.
    pub images: Vec<Seen>,
    /// Hash bits apart (0 for exact duplicates).
    pub distance: u32,
    /// Mean absolute difference of the colour thumbnails (0 for exact duplicates).
    #[serde(default)]
    pub difference: f64,
}

/// Duplicates of one kind, where they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Duplicates {
    /// Groups inside one class and part (harmless, but inflate a class).
    pub within_class: usize,
    /// Groups whose images carry different classes (a label error, or classes that overlap).
    pub across_classes: Vec<Group>,
    /// How many groups span classes (all counted, the first [`LISTED`] listed).
    pub across_classes_count: usize,
    /// Groups that span train and val/test of the same class: the score measures memory.
    pub across_parts: Vec<Group>,
    /// How many groups span parts.
    pub across_parts_count: usize,
    /// How many val/test images have such a twin in train (each counted once).
    #[serde(default)]
    pub leaked_images: usize,
    /// A few within-class groups, to look at.
    pub within_examples: Vec<Group>,
}

/// A file that could not be used.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Unreadable {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// An image smaller than [`TINY_SIDE`] on a side.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tiny {
    /// The file.
    pub path: PathBuf,
    /// Width, height.
    pub size: (u32, u32),
}

/// Everything the check found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckReport {
    /// What was found where, in one line.
    pub description: String,
    /// Images per class in each part.
    pub classes: Vec<ClassCounts>,
    /// Largest over smallest training class.
    pub imbalance: f64,
    /// Median width / height of the training images (1 for square ones).
    pub median_aspect: f64,
    /// Files that could not be read or decoded.
    pub unreadable: Vec<Unreadable>,
    /// Tiny images.
    pub tiny: Vec<Tiny>,
    /// Byte-identical files.
    pub exact: Duplicates,
    /// Perceptually near-identical images (None when not computed).
    pub near: Option<Duplicates>,
}

impl CheckReport {
    /// One line per thing worth a look, for a training log and the run report.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.imbalance >= IMBALANCED {
            out.push(format!(
                "classes are imbalanced: the largest has {:.1}x the images of the smallest (train balances them by default: see --balance)",
                self.imbalance
            ));
        }
        if !self.unreadable.is_empty() {
            out.push(format!(
                "{} files cannot be read (they are skipped)",
                self.unreadable.len()
            ));
        }
        if !self.tiny.is_empty() {
            out.push(format!(
                "{} images are smaller than {TINY_SIDE} px on a side",
                self.tiny.len()
            ));
        }
        for (kind, d) in [
            ("identical", Some(&self.exact)),
            ("near-identical", self.near.as_ref()),
        ] {
            let Some(d) = d else { continue };
            if d.across_parts_count > 0 {
                out.push(format!(
                    "{} val/test images have a twin in train ({kind}): the test score will be optimistic",
                    d.leaked_images
                ));
            }
            if d.across_classes_count > 0 {
                out.push(format!(
                    "{} groups of {kind} images carry different classes: label errors?",
                    d.across_classes_count
                ));
            }
        }
        out
    }
}
