//! Labelled image folders (`ROOT/<Class>/.../<image>`).
//!
//! Classes are the sub-folder names of ROOT, sorted in byte order; the images of a class are the
//! files under its folder (recursively) with an image extension, sorted by path, found by the
//! crate's one walker (`data::walk`: hidden entries skipped, links followed once). Plain files
//! directly in ROOT are ignored.
use super::images::has_image_extension;
use super::walk;
use crate::error::bad_input;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// One labelled image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The image file.
    pub path: PathBuf,
    /// Index into the folder's class list.
    pub label: usize,
}

/// A scanned labelled folder.
#[derive(Debug, Clone)]
pub struct ImageFolder {
    /// The folder scanned.
    pub root: PathBuf,
    /// Class names; `Item::label` indexes this list.
    pub classes: Vec<String>,
    /// Sorted by (label, path).
    pub items: Vec<Item>,
    /// Entries the walker could not read (path and reason), skipped.
    pub problems: Vec<String>,
}

impl ImageFolder {
    /// Scans ROOT/<Class>/...: the classes are the sub-folder names, sorted.
    pub fn scan(root: &Path) -> Result<Self> {
        let folders = class_folders(root)?;
        let classes: Vec<String> = folders.iter().map(|(name, _)| name.clone()).collect();
        let (mut items, mut problems) = (Vec::new(), Vec::new());
        for (label, (_, dir)) in folders.iter().enumerate() {
            push_class_images(dir, label, &mut items, &mut problems)?;
        }
        finish(root, classes, items, problems)
    }

    /// Scans ROOT/<Class>/... with the labels of `classes` (the training classes). A class folder
    /// not among `classes` is an error; classes absent from ROOT are fine.
    pub fn scan_with_classes(root: &Path, classes: &[String]) -> Result<Self> {
        let folders = class_folders(root)?;
        let (mut items, mut problems) = (Vec::new(), Vec::new());
        for (name, dir) in &folders {
            let Some(label) = classes.iter().position(|c| c == name) else {
                return Err(bad_input(format!(
                    "{}: class '{name}' is not among the {} training classes",
                    dir.display(),
                    classes.len()
                )));
            };
            push_class_images(dir, label, &mut items, &mut problems)?;
        }
        finish(root, classes.to_vec(), items, problems)
    }

    /// Number of items of each class, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.classes.len()];
        for item in &self.items {
            if item.label >= counts.len() {
                counts.resize(item.label + 1, 0);
            }
            counts[item.label] += 1;
        }
        counts
    }
}

fn finish(
    root: &Path,
    classes: Vec<String>,
    mut items: Vec<Item>,
    problems: Vec<String>,
) -> Result<ImageFolder> {
    if items.is_empty() {
        return Err(bad_input(format!("{}: no images found", root.display())));
    }
    items.sort_by(|a, b| a.label.cmp(&b.label).then_with(|| a.path.cmp(&b.path)));
    Ok(ImageFolder {
        root: root.to_path_buf(),
        classes,
        items,
        problems,
    })
}

/// The (name, path) of each class sub-folder of `root`, sorted by name (byte order).
fn class_folders(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    if !root.exists() {
        return Err(bad_input(format!("{}: no such folder", root.display())));
    }
    if !root.is_dir() {
        return Err(bad_input(format!(
            "{}: not a folder (expected ROOT/<class>/<images>)",
            root.display()
        )));
    }
    let folders = walk::sub_folders(root)?;
    if folders.is_empty() {
        let loose = std::fs::read_dir(root)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| has_image_extension(&e.path()))
                    .count()
            })
            .unwrap_or(0);
        let found = if loose > 0 {
            format!("found {loose} images directly in it; ")
        } else {
            String::new()
        };
        return Err(bad_input(format!(
            "{}: no class sub-folders ({found}expected ROOT/<class>/<images>)",
            root.display()
        )));
    }
    Ok(folders)
}

fn push_class_images(
    dir: &Path,
    label: usize,
    items: &mut Vec<Item>,
    problems: &mut Vec<String>,
) -> Result<()> {
    let found = walk::images_under(dir);
    problems.extend(found.problems);
    if found.files.is_empty() {
        return Err(bad_input(format!(
            "{}: class folder has no images",
            dir.display()
        )));
    }
    let mut paths = found.files;
    paths.sort();
    items.extend(paths.into_iter().map(|path| Item { path, label }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/fruits-mini")
    }

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            let dest = to.join(p.file_name().unwrap());
            if p.is_dir() {
                copy_dir(&p, &dest);
            } else {
                std::fs::copy(&p, &dest).unwrap();
            }
        }
    }

    #[test]
    fn scans_demo_training() {
        let f = ImageFolder::scan(&demo().join("Training")).unwrap();
        assert_eq!(f.classes.len(), 6);
        let mut sorted = f.classes.clone();
        sorted.sort();
        assert_eq!(f.classes, sorted);
        assert_eq!(f.classes[0], "Apple Golden 1");
        assert_eq!(f.class_counts(), vec![24; 6]);
        for item in &f.items {
            let parent = item.path.parent().unwrap().file_name().unwrap();
            assert_eq!(parent.to_str().unwrap(), f.classes[item.label]);
        }
        // Sorted by (label, path).
        assert!(
            f.items
                .windows(2)
                .all(|w| (w[0].label, &w[0].path) < (w[1].label, &w[1].path))
        );
    }

    #[test]
    fn test_set_maps_training_labels() {
        let train = ImageFolder::scan(&demo().join("Training")).unwrap();
        // Reverse the class list: labels must follow the given list, not the folder order.
        let rev: Vec<String> = train.classes.iter().rev().cloned().collect();
        let test = ImageFolder::scan_with_classes(&demo().join("Test"), &rev).unwrap();
        assert_eq!(test.classes, rev);
        assert!(!test.items.is_empty());
        for item in &test.items {
            let parent = item.path.parent().unwrap().file_name().unwrap();
            assert_eq!(parent.to_str().unwrap(), rev[item.label]);
        }
        let same = ImageFolder::scan_with_classes(&demo().join("Test"), &train.classes).unwrap();
        let plain = ImageFolder::scan(&demo().join("Test")).unwrap();
        assert_eq!(same.items, plain.items);
        // Classes absent from the test folder are fine.
        let mut more = train.classes.clone();
        more.push("Zucchini".into());
        let t = ImageFolder::scan_with_classes(&demo().join("Test"), &more).unwrap();
        assert_eq!(t.class_counts()[6], 0);
    }

    #[test]
    fn errors_name_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("Training");
        copy_dir(&demo().join("Training/Banana"), &root.join("Banana"));
        copy_dir(&demo().join("Training/Kiwi"), &root.join("Kiwi"));
        // Hidden entries are ignored.
        std::fs::create_dir_all(root.join(".cache")).unwrap();
        std::fs::write(root.join("Kiwi/.hidden.jpg"), b"x").unwrap();
        let f = ImageFolder::scan(&root).unwrap();
        assert_eq!(f.classes, vec!["Banana".to_string(), "Kiwi".to_string()]);
        assert_eq!(f.class_counts(), vec![24, 24]);

        // An empty class folder (only a non-image file in it).
        let empty = root.join("Lemon");
        std::fs::create_dir_all(&empty).unwrap();
        std::fs::write(empty.join("notes.txt"), b"x").unwrap();
        let e = format!("{:#}", ImageFolder::scan(&root).unwrap_err());
        assert!(
            e.contains("Lemon") && e.contains("class folder has no images"),
            "{e}"
        );
        let classes = vec![
            "Banana".to_string(),
            "Kiwi".to_string(),
            "Lemon".to_string(),
        ];
        let e = format!(
            "{:#}",
            ImageFolder::scan_with_classes(&root, &classes).unwrap_err()
        );
        assert!(e.contains("class folder has no images"), "{e}");
        std::fs::remove_dir_all(&empty).unwrap();

        // An extra class in the test folder.
        let test = tmp.path().join("Test");
        copy_dir(&demo().join("Test/Banana"), &test.join("Banana"));
        copy_dir(&demo().join("Test/Strawberry"), &test.join("Strawberry"));
        let e = format!(
            "{:#}",
            ImageFolder::scan_with_classes(&test, &f.classes).unwrap_err()
        );
        assert!(
            e.contains("Strawberry") && e.contains("is not among the 2 training classes"),
            "{e}"
        );

        // A missing root.
        let missing = tmp.path().join("nope");
        let e = format!("{:#}", ImageFolder::scan(&missing).unwrap_err());
        assert!(e.contains("nope") && e.contains("no such folder"), "{e}");

        // A root that is a file.
        let file = root
            .join("Banana")
            .read_dir()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let e = format!("{:#}", ImageFolder::scan(&file).unwrap_err());
        assert!(e.contains("not a folder"), "{e}");

        // A root with images but no class folders.
        let flat = tmp.path().join("flat");
        copy_dir(&demo().join("Test/Banana"), &flat);
        let e = format!("{:#}", ImageFolder::scan(&flat).unwrap_err());
        assert!(
            e.contains("flat") && e.contains("no class sub-folders"),
            "{e}"
        );
        let bare = tmp.path().join("bare");
        std::fs::create_dir_all(&bare).unwrap();
        let e = format!("{:#}", ImageFolder::scan(&bare).unwrap_err());
        assert!(
            e.contains("bare") && e.contains("no class sub-folders"),
            "{e}"
        );
    }

    #[test]
    fn recursive_class_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        copy_dir(&demo().join("Test/Kiwi"), &root.join("Kiwi/sub"));
        copy_dir(&demo().join("Test/Lemon"), &root.join("Lemon"));
        let f = ImageFolder::scan(root).unwrap();
        let n_kiwi = std::fs::read_dir(demo().join("Test/Kiwi")).unwrap().count();
        assert_eq!(f.class_counts()[0], n_kiwi);
    }
}
