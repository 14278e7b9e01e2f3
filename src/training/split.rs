//! The labelled data of a run: the dataset's classes and parts, the train/validation split, the
//! per-class cap.
use crate::data::dataset::{Dataset, thousands};
use crate::data::labelled::{Labelled, stratified_split};
use crate::data::loader::Skips;
use crate::error::bad_input;
use crate::run::config::{TrainConfig, Validation};
use anyhow::Result;

/// The labelled data of a run: classes, train/validation split, and the test set.
pub struct Data {
    /// The dataset as found (its parts before validation is split off and images are capped).
    pub dataset: Dataset,
    /// Class names, sorted.
    pub classes: Vec<String>,
    /// Images the model trains on.
    pub train: Labelled,
    /// Images that choose the best epoch.
    pub val: Labelled,
    /// Images scored once at the end.
    pub test: Option<Labelled>,
    /// Training and validation images before any cap.
    whole: (Labelled, Labelled),
}

/// The run's dataset (`read`, when the plan read it already, else read now) split as
/// configured; unreadable entries go to `skips`.
pub fn load_data(cfg: &TrainConfig, read: Option<Dataset>, skips: &mut Skips) -> Result<Data> {
    let dataset = match read {
        Some(dataset) => dataset,
        None => cfg.load_dataset()?,
    };
    skips.report(dataset.problems.iter());
    say!("graft: {}", dataset.description);
    let all = Labelled::from_items(&dataset.train);
    let test = dataset.test.as_deref().map(Labelled::from_items);
    let (train, val) = match (&cfg.validation, &dataset.val) {
        (Validation::Split(fraction), _) => {
            let n = dataset.classes.len();
            let (t, v) = stratified_split(&dataset.train, n, *fraction, (cfg.holdout, cfg.seed));
            (all.subset(&t), all.subset(&v))
        }
        (Validation::Test, _) => match &test {
            Some(test) => (all, test.clone()),
            None => {
                return Err(bad_input(
                    "validation on Test needs a Test part (--data ROOT with ROOT/Test, or --test DIR)",
                ));
            }
        },
        (Validation::Given, Some(val)) => (all, Labelled::from_items(val)),
        (Validation::Given, None) => {
            return Err(bad_input(format!(
                "{}: the dataset has no validation part (a val folder, or val rows in the CSV)",
                cfg.train_dir.display()
            )));
        }
    };
    if val.is_empty() {
        return Err(bad_input(format!(
            "{}: no validation images (use --val-split with more images per class)",
            cfg.train_dir.display()
        )));
    }
    let mut data = Data {
        classes: dataset.classes.clone(),
        dataset,
        // Filled by `cap` from the whole split.
        train: Labelled::default(),
        val: Labelled::default(),
        test,
        whole: (train, val),
    };
    data.cap(cfg);
    Ok(data)
}

impl Data {
    /// Training and validation images of each class before any cap.
    pub fn whole_counts(&self) -> (Vec<usize>, Vec<usize>) {
        let (train, val) = &self.whole;
        let n = self.classes.len();
        (train.class_counts(n), val.class_counts(n))
    }

    /// Training (and split-off validation) images capped at `cfg.max_per_class` per class,
    /// evenly spaced, from the whole split: the same images whenever the run is resumed.
    pub fn cap(&mut self, cfg: &TrainConfig) {
        let (train, val) = &self.whole;
        (self.train, self.val) = match (cfg.max_per_class, &cfg.validation) {
            (Some(max), Validation::Split(f)) => (
                train.cap_per_class(max),
                val.cap_per_class(super::budget::val_cap(max, *f)),
            ),
            (Some(max), _) => (train.cap_per_class(max), val.clone()),
            (None, _) => (train.clone(), val.clone()),
        };
        if self.train.len() < train.len() {
            say!(
                "graft: training on {} of {} images: at most {} per class, evenly spaced; smaller classes whole (--max-per-class 0 for all)",
                thousands(self.train.len()),
                thousands(train.len()),
                cfg.max_per_class.unwrap_or(0)
            );
        }
    }
}
