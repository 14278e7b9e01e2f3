//! dataset.json: what a run trained and was scored on, class by class, and what the dataset
//! check warned about; split.json: the exact split when graft made it, so that eval can score
//! the same Test.
use super::config::FORMAT_VERSION;
pub use crate::data::dataset::ClassCounts;
use serde::{Deserialize, Serialize};

fn version_1() -> u32 {
    1
}

/// dataset.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetSummary {
    /// Run-folder format.
    #[serde(default = "version_1")]
    pub format_version: u32,
    /// What was found where, in one line.
    pub description: String,
    /// Per class, in label order.
    pub classes: Vec<ClassCounts>,
    /// Largest over smallest training class.
    pub imbalance: f64,
    /// What the dataset check found worth a look (duplicates across parts, tiny images...).
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl DatasetSummary {
    /// The summary of per-class counts, with the imbalance ratio computed.
    pub fn new(description: String, classes: Vec<ClassCounts>, warnings: Vec<String>) -> Self {
        let train = classes.iter().map(|c| c.train);
        let (max, min) = (train.clone().max().unwrap_or(0), train.min().unwrap_or(0));
        Self {
            format_version: FORMAT_VERSION,
            description,
            classes,
            imbalance: if min > 0 {
                max as f64 / min as f64
            } else {
                f64::INFINITY
            },
            warnings,
        }
    }
}
