//! A dataset's labelled images split into train, validation and test, whatever layout they came
//! from (`data::layout`), and the record of that split that a run keeps.
use super::folders::Item;
use crate::error::bad_input;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The labelled images of a dataset, split into its parts.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Class names (sorted; labels index this list).
    pub classes: Vec<String>,
    /// Training images.
    pub train: Vec<Item>,
    /// The dataset's own validation images, if it has them.
    pub val: Option<Vec<Item>>,
    /// Test images, if any.
    pub test: Option<Vec<Item>>,
    /// Entries that could not be read, each named with the reason.
    pub problems: Vec<String>,
    /// What was found where, in one line.
    pub description: String,
}

/// Checks that every part that exists has images, and describes the dataset.
pub fn finish(
    classes: Vec<String>,
    train: Vec<Item>,
    val: Option<Vec<Item>>,
    test: Option<Vec<Item>>,
    problems: Vec<String>,
    from: String,
) -> Result<Dataset> {
    if train.is_empty() {
        return Err(bad_input(format!("{from}: no training images")));
    }
    let count = |p: &Option<Vec<Item>>| p.as_ref().map(|v| v.len());
    let mut parts = vec![format!("train {}", thousands(train.len()))];
    for (name, n) in [("val", count(&val)), ("test", count(&test))] {
        if let Some(n) = n {
            parts.push(format!("{name} {}", thousands(n)));
        }
    }
    let description = format!(
        "{} images in {} classes, from {from}",
        parts.join(" / "),
        classes.len()
    );
    Ok(Dataset {
        classes,
        train,
        val,
        test,
        problems,
        description,
    })
}

/// 1204 -> "1,204".
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Images per class of some items, by class name (classes without images included).
pub fn class_counts(classes: &[String], items: &[Item]) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = classes.iter().map(|c| (c.clone(), 0)).collect();
    for item in items {
        if let Some(c) = classes.get(item.label) {
            *counts.entry(c.clone()).or_default() += 1;
        }
    }
    counts
}

/// Images of one class in each part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassCounts {
    /// Class name.
    pub class: String,
    /// Training images used.
    pub train: usize,
    /// Validation images.
    pub val: usize,
    /// Test images.
    pub test: usize,
}

impl Dataset {
    /// Images per class in each part, in label order.
    pub fn counts(&self) -> Vec<ClassCounts> {
        let count = |items: Option<&Vec<Item>>, c: usize| {
            items.map_or(0, |v| v.iter().filter(|i| i.label == c).count())
        };
        (0..self.classes.len())
            .map(|c| ClassCounts {
                class: self.classes[c].clone(),
                train: count(Some(&self.train), c),
                val: count(self.val.as_ref(), c),
                test: count(self.test.as_ref(), c),
            })
            .collect()
    }
}

/// A dataset's split into parts as a run records it (split.json), so that eval can score the
/// same Test later, even when graft made the split.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SplitFile {
    /// Class names.
    pub classes: Vec<String>,
    /// (path, class) of every Test image.
    pub test: Vec<(PathBuf, String)>,
    /// (path, class) of every training image.
    pub train: Vec<(PathBuf, String)>,
}

impl SplitFile {
    /// The record of `data`'s train and test parts.
    pub fn of(data: &Dataset) -> Self {
        let named = |items: &[Item]| {
            items
                .iter()
                .map(|i| (i.path.clone(), data.classes[i.label].clone()))
                .collect()
        };
        Self {
            classes: data.classes.clone(),
            test: data.test.as_deref().map(named).unwrap_or_default(),
            train: named(&data.train),
        }
    }

    /// The Test items, labelled by this file's class list.
    pub fn test_items(&self) -> Result<Vec<Item>> {
        self.test
            .iter()
            .map(|(path, class)| {
                let label = self
                    .classes
                    .iter()
                    .position(|c| c == class)
                    .with_context(|| {
                        format!(
                            "split.json: class '{class}' of {} is not in its class list",
                            path.display()
                        )
                    })?;
                Ok(Item {
                    path: path.clone(),
                    label,
                })
            })
            .collect()
    }
}
