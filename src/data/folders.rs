//! Labelled image folders (`ROOT/<Class>/.../<image>`) and a stratified train/validation split.
//!
//! Classes are the sub-folder names of ROOT, sorted in byte order; the images of a class are the
//! files under its folder (recursively) with an image extension, sorted by path. Hidden files and
//! folders (name starting with '.') are ignored, as are plain files directly in ROOT.
use crate::data::images::has_image_extension;
use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub path: PathBuf,
    pub label: usize,
}

#[derive(Debug, Clone)]
pub struct ImageFolder {
    pub root: PathBuf,
    /// Class names; `Item::label` indexes this list.
    pub classes: Vec<String>,
    /// Sorted by (label, path).
    pub items: Vec<Item>,
}

impl ImageFolder {
    /// Scans ROOT/<Class>/...: the classes are the sub-folder names, sorted.
    pub fn scan(root: &Path) -> Result<Self> {
        let folders = class_folders(root)?;
        let classes: Vec<String> = folders.iter().map(|(name, _)| name.clone()).collect();
        let mut items = Vec::new();
        for (label, (_, dir)) in folders.iter().enumerate() {
            push_class_images(dir, label, &mut items)?;
        }
        finish(root, classes, items)
    }

    /// Scans ROOT/<Class>/... with the labels of `classes` (the training classes). A class folder
    /// not among `classes` is an error; classes absent from ROOT are fine.
    pub fn scan_with_classes(root: &Path, classes: &[String]) -> Result<Self> {
        let folders = class_folders(root)?;
        let mut items = Vec::new();
        for (name, dir) in &folders {
            let Some(label) = classes.iter().position(|c| c == name) else {
                bail!(
                    "{}: class '{name}' is not among the {} training classes",
                    dir.display(),
                    classes.len()
                );
            };
            push_class_images(dir, label, &mut items)?;
        }
        finish(root, classes.to_vec(), items)
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

    pub fn paths(&self) -> Vec<PathBuf> {
        self.items.iter().map(|i| i.path.clone()).collect()
    }

    pub fn labels(&self) -> Vec<usize> {
        self.items.iter().map(|i| i.label).collect()
    }
}

fn finish(root: &Path, classes: Vec<String>, mut items: Vec<Item>) -> Result<ImageFolder> {
    if items.is_empty() {
        bail!("{}: no images found", root.display());
    }
    items.sort_by(|a, b| a.label.cmp(&b.label).then_with(|| a.path.cmp(&b.path)));
    Ok(ImageFolder {
        root: root.to_path_buf(),
        classes,
        items,
    })
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn list_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read folder", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("{}: cannot read folder", dir.display()))?;
    entries.retain(|p| !is_hidden(p));
    entries.sort();
    Ok(entries)
}

/// The (name, path) of each class sub-folder of `root`, sorted by name (byte order).
fn class_folders(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    if !root.exists() {
        bail!("{}: no such folder", root.display());
    }
    if !root.is_dir() {
        bail!(
            "{}: not a folder (expected ROOT/<class>/<images>)",
            root.display()
        );
    }
    let mut folders = Vec::new();
    let mut loose_images = 0usize;
    for path in list_dir(root)? {
        if path.is_dir() {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .with_context(|| format!("{}: class folder name is not UTF-8", path.display()))?
                .to_string();
            folders.push((name, path));
        } else if has_image_extension(&path) {
            loose_images += 1;
        }
    }
    if folders.is_empty() {
        if loose_images > 0 {
            bail!(
                "{}: no class sub-folders (found {loose_images} images directly in it; \
                 expected ROOT/<class>/<images>)",
                root.display()
            );
        }
        bail!(
            "{}: no class sub-folders (expected ROOT/<class>/<images>)",
            root.display()
        );
    }
    folders.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(folders)
}

fn push_class_images(dir: &Path, label: usize, items: &mut Vec<Item>) -> Result<()> {
    let mut paths = Vec::new();
    walk_images(dir, &mut paths)?;
    if paths.is_empty() {
        bail!("{}: class folder has no images", dir.display());
    }
    paths.sort();
    items.extend(paths.into_iter().map(|path| Item { path, label }));
    Ok(())
}

fn walk_images(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for path in list_dir(dir)? {
        if path.is_dir() {
            walk_images(&path, out)?;
        } else if has_image_extension(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Stratified, seeded split of item indices into (train, validation), both sorted.
///
/// In each class of n items, round(n * fraction) go to validation (at least 1 when n >= 2 and
/// fraction > 0, and at most n - 1 so that every class keeps a training item; a class of one item
/// stays in training), chosen by a seeded shuffle. `fraction` is clamped to [0, 1]; 0 puts
/// everything in training. Labels >= `n_classes` are handled as extra classes.
pub fn stratified_split(
    items: &[Item],
    n_classes: usize,
    fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let fraction = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    };
    let n_groups = items
        .iter()
        .map(|i| i.label + 1)
        .max()
        .unwrap_or(0)
        .max(n_classes);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_groups];
    for (i, item) in items.iter().enumerate() {
        by_class[item.label].push(i);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut train = Vec::with_capacity(items.len());
    let mut val = Vec::new();
    for mut members in by_class {
        let n = members.len();
        let mut k = (n as f64 * fraction).round() as usize;
        if fraction > 0.0 && n >= 2 {
            k = k.max(1);
        }
        k = k.min(n.saturating_sub(1));
        if k > 0 {
            members.shuffle(&mut rng);
        }
        val.extend_from_slice(&members[..k]);
        train.extend_from_slice(&members[k..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
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

    #[test]
    fn stratified_split_properties() {
        let f = ImageFolder::scan(&demo().join("Training")).unwrap();
        let nc = f.classes.len();
        let (train, val) = stratified_split(&f.items, nc, 0.2, 7);
        // Sorted, disjoint, covering.
        assert!(train.windows(2).all(|w| w[0] < w[1]));
        assert!(val.windows(2).all(|w| w[0] < w[1]));
        let mut all: Vec<usize> = train.iter().chain(&val).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..f.items.len()).collect::<Vec<_>>());
        // Every class in validation, with round(24 * 0.2) = 5 (+-1) items.
        let mut per_class = vec![0usize; nc];
        for &i in &val {
            per_class[f.items[i].label] += 1;
        }
        for &c in &per_class {
            assert!((4..=6).contains(&c), "{per_class:?}");
        }
        // Deterministic for a seed, different for another.
        assert_eq!(
            stratified_split(&f.items, nc, 0.2, 7),
            (train.clone(), val.clone())
        );
        assert_ne!(stratified_split(&f.items, nc, 0.2, 8).1, val);
        // Fraction 0: all train.
        let (t0, v0) = stratified_split(&f.items, nc, 0.0, 7);
        assert!(v0.is_empty());
        assert_eq!(t0.len(), f.items.len());
    }

    #[test]
    fn stratified_split_small_classes() {
        let item = |label| Item {
            path: PathBuf::from("x.jpg"),
            label,
        };
        // Class 0: 1 item, class 1: 2 items, class 2: 10 items.
        let mut items = vec![item(0), item(1), item(1)];
        items.extend((0..10).map(|_| item(2)));
        let (train, val) = stratified_split(&items, 3, 0.01, 1);
        let labels: Vec<usize> = val.iter().map(|&i| items[i].label).collect();
        assert_eq!(labels.len(), 2);
        assert!(labels.contains(&1) && labels.contains(&2));
        assert!(train.contains(&0));
        // A large fraction still leaves one training item per class.
        let (train, _) = stratified_split(&items, 3, 1.0, 1);
        let mut tl: Vec<usize> = train.iter().map(|&i| items[i].label).collect();
        tl.dedup();
        assert_eq!(tl, vec![0, 1, 2]);
    }
}
