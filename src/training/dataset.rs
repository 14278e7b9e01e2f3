//! The labelled data of a run: the training folder's classes, the train/validation split, the
//! test set.
use crate::data::folders::ImageFolder;
use crate::data::labelled::{Labelled, stratified_split};
use crate::data::loader::Skips;
use crate::error::bad_input;
use crate::run::config::{TrainConfig, Validation};
use anyhow::Result;

/// The labelled data of a run: classes, train/validation split, and the test set.
pub struct Data {
    /// Class names, sorted.
    pub classes: Vec<String>,
    /// Images the model trains on.
    pub train: Labelled,
    /// Images that choose the best epoch.
    pub val: Labelled,
    /// Images scored once at the end.
    pub test: Option<Labelled>,
}

/// Scans the run's folders and splits them as configured; unreadable entries go to `skips`.
pub fn load_data(cfg: &TrainConfig, skips: &mut Skips) -> Result<Data> {
    let train_folder = ImageFolder::scan(&cfg.train_dir)?;
    skips.report(train_folder.problems.iter());
    let test_folder = match &cfg.test_dir {
        Some(dir) => Some(ImageFolder::scan_with_classes(dir, &train_folder.classes)?),
        None => None,
    };
    if let Some(t) = &test_folder {
        skips.report(t.problems.iter());
    }
    let all = Labelled::from_items(&train_folder.items);
    let (train, val) = match cfg.validation {
        Validation::Split(fraction) => {
            let n = train_folder.classes.len();
            let (t, v) = stratified_split(&train_folder.items, n, fraction, cfg.seed);
            (all.subset(&t), all.subset(&v))
        }
        Validation::Test => match &test_folder {
            Some(test) => (all, Labelled::from_items(&test.items)),
            None => {
                return Err(bad_input(
                    "validation on Test needs a Test folder (--data ROOT with ROOT/Test, or --test DIR)",
                ));
            }
        },
    };
    let (train, val) = match (cfg.max_per_class, &cfg.validation) {
        (Some(max), Validation::Split(f)) => {
            let val_max = ((max as f64 * f / (1.0 - f)).ceil() as usize).max(2);
            (train.cap_per_class(max), val.cap_per_class(val_max))
        }
        (Some(max), Validation::Test) => (train.cap_per_class(max), val),
        (None, _) => (train, val),
    };
    if val.is_empty() {
        return Err(bad_input(format!(
            "{}: no validation images (use --val-split with more images per class)",
            cfg.train_dir.display()
        )));
    }
    Ok(Data {
        classes: train_folder.classes,
        train,
        val,
        test: test_folder.map(|t| Labelled::from_items(&t.items)),
    })
}
