//! The layouts people keep datasets in: a root with train/val/test folders (Fruits-360's
//! `Training`/`Test`; Keras', fastai's and Ultralytics' `train`, `val` or `valid`, `test`), one
//! folder of class folders that graft splits itself, or a CSV of `path,label[,split]`. Every
//! layout ends as the same [`Dataset`].
use super::dataset::{Dataset, finish};
use super::folders::ImageFolder;
use super::labelled::{Holdout, stratified_split};
use crate::error::bad_input;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// Folder names of each part, compared without case.
const TRAIN_NAMES: [&str; 2] = ["train", "training"];
const VAL_NAMES: [&str; 3] = ["val", "valid", "validation"];
const TEST_NAMES: [&str; 2] = ["test", "testing"];

/// Share of each class held out as Test when graft splits a dataset itself.
pub const DEFAULT_TEST_SPLIT: f64 = 0.2;

/// How a dataset is given.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Folders of class folders for each part.
    Folders {
        /// Training images.
        train: PathBuf,
        /// Validation images, when the dataset has its own.
        val: Option<PathBuf>,
        /// Test images.
        test: Option<PathBuf>,
    },
    /// One folder of class folders: a seeded, stratified share of each class becomes Test.
    Single {
        /// The folder.
        root: PathBuf,
        /// Share of each class held out for Test.
        test_fraction: f64,
    },
    /// A CSV with a header `path,label` and optionally `split` (train, val or test); without a
    /// split column, Test is held out as for a single folder.
    Csv {
        /// The CSV file; relative paths in it are relative to its folder.
        path: PathBuf,
        /// Share held out for Test when the file has no split column.
        test_fraction: f64,
    },
}

/// The part of `root` named like a train, val or test folder (any case).
fn part(root: &Path, names: &[&str]) -> Option<PathBuf> {
    let entries = std::fs::read_dir(root).ok()?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().to_lowercase());
            name.is_some_and(|n| names.contains(&n.as_str()))
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

/// Recognizes the layout of a dataset root: train/val/test folders, else one folder of class
/// folders (then `test_fraction` of each class becomes Test).
pub fn detect(root: &Path, test_fraction: f64) -> Result<Source> {
    if !root.is_dir() {
        return Err(bad_input(format!("{}: no such folder", root.display())));
    }
    match part(root, &TRAIN_NAMES) {
        Some(train) => Ok(Source::Folders {
            train,
            val: part(root, &VAL_NAMES),
            test: part(root, &TEST_NAMES),
        }),
        None => Ok(Source::Single {
            root: root.to_path_buf(),
            test_fraction,
        }),
    }
}

/// The test folder of a dataset root (`Test`, `test`, `testing`), if it has one.
pub fn test_folder(root: &Path) -> Option<PathBuf> {
    part(root, &TEST_NAMES)
}

impl Source {
    /// Reads the dataset; `seed` decides graft's own Test split where there is one (a random
    /// pick: [`Source::load_split`] chooses the rule).
    pub fn load(&self, seed: u64) -> Result<Dataset> {
        self.load_split(Holdout::Random, seed)
    }

    /// Reads the dataset; graft's own Test split, where there is one, is held out by `holdout`
    /// with `seed`.
    pub fn load_split(&self, holdout: Holdout, seed: u64) -> Result<Dataset> {
        match self {
            Source::Folders { train, val, test } => {
                load_folders(train, val.as_deref(), test.as_deref())
            }
            Source::Single {
                root,
                test_fraction,
            } => {
                let folder = ImageFolder::scan(root)?;
                let n = folder.classes.len();
                let (train, test) =
                    stratified_split(&folder.items, n, *test_fraction, (holdout, seed));
                let pick =
                    |idx: Vec<usize>| idx.into_iter().map(|i| folder.items[i].clone()).collect();
                let from = format!(
                    "{} (Test: {:.0}% of each class, {})",
                    root.display(),
                    100.0 * test_fraction,
                    holdout.describe()
                );
                finish(
                    folder.classes,
                    pick(train),
                    None,
                    Some(pick(test)),
                    folder.problems,
                    from,
                )
            }
            Source::Csv {
                path,
                test_fraction,
            } => super::labels_csv::load(path, *test_fraction, (holdout, seed)),
        }
    }
}

fn load_folders(train: &Path, val: Option<&Path>, test: Option<&Path>) -> Result<Dataset> {
    let t = ImageFolder::scan(train)?;
    let mut problems = t.problems;
    let mut others = Vec::new();
    for dir in [val, test] {
        others.push(match dir {
            Some(d) => {
                let f = ImageFolder::scan_with_classes(d, &t.classes)?;
                problems.extend(f.problems);
                Some(f.items)
            }
            None => None,
        });
    }
    let from: Vec<String> = [Some(train), val, test]
        .into_iter()
        .flatten()
        .map(|p| p.display().to_string())
        .collect();
    let [v, s] = [others.remove(0), others.remove(0)];
    finish(t.classes, t.items, v, s, problems, from.join(", "))
}
