//! The one folder walker of graft: training, evaluation, prediction and embedding all find
//! their images here, by the same rules. Entries are visited in name order; hidden files and
//! folders (a name starting with '.', such as macOS' `._photo.jpg`) are skipped; symbolic links
//! are followed, but a folder is entered and a file listed once only, so a link loop or a second
//! link to the same place adds nothing. What cannot be read (a permission error, a loop) is
//! named in `problems` and skipped.
use super::images::has_image_extension;
use anyhow::{Result, bail};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use walkdir::{DirEntry, WalkDir};

/// Image files found under some roots, and what was skipped on the way.
#[derive(Debug, Default, Clone)]
pub struct Found {
    /// Image files, in walk order, each once.
    pub files: Vec<PathBuf>,
    /// Entries that could not be read, each with its path and the reason.
    pub problems: Vec<String>,
}

fn is_hidden(entry: &DirEntry) -> bool {
    entry.depth() > 0 && entry.file_name().to_string_lossy().starts_with('.')
}

/// The identity of a file or folder, whatever link led to it.
fn identity(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}

/// Image files (by extension) under the folder `root`, recursively.
pub fn images_under(root: &Path) -> Found {
    let mut found = Found::default();
    let mut seen = HashSet::new();
    walk_into(root, &mut found, &mut seen);
    found
}

fn walk_into(root: &Path, found: &mut Found, seen: &mut HashSet<PathBuf>) {
    let walker = WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| !is_hidden(e));
    let mut entered = HashSet::new();
    let mut it = walker;
    while let Some(entry) = it.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                found.problems.push(walk_error(&e));
                continue;
            }
        };
        let Some(id) = identity(entry.path()) else {
            continue; // a dangling link
        };
        if entry.file_type().is_dir() {
            // A second link to a folder already walked: do not walk it again.
            if !entered.insert(id) {
                it.skip_current_dir();
            }
        } else if has_image_extension(entry.path()) && seen.insert(id) {
            found.files.push(entry.into_path());
        }
    }
}

fn walk_error(e: &walkdir::Error) -> String {
    let path = e
        .path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "?".into());
    if e.loop_ancestor().is_some() {
        format!("{path}: a symbolic link back into its own folder (followed once)")
    } else if let Some(io) = e.io_error() {
        format!("{path}: cannot read ({io})")
    } else {
        format!("{path}: {e}")
    }
}

/// Expands files and folders into image files: a folder is walked (see the module comment), a
/// file named as such is taken whatever its extension. A path that does not exist is an error.
pub fn collect_inputs(inputs: &[PathBuf]) -> Result<Found> {
    let mut found = Found::default();
    let mut seen = HashSet::new();
    for input in inputs {
        if input.is_dir() {
            walk_into(input, &mut found, &mut seen);
        } else if input.is_file() {
            if identity(input).is_none_or(|id| seen.insert(id)) {
                found.files.push(input.clone());
            }
        } else {
            bail!(crate::error::bad_input(format!(
                "{}: no such file or folder",
                input.display()
            )));
        }
    }
    Ok(found)
}

/// The visible sub-folders of `dir` (links followed), sorted by name, with their names.
pub fn sub_folders(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let walker = WalkDir::new(dir)
        .min_depth(1)
        .max_depth(1)
        .follow_links(true)
        .sort_by_file_name();
    for entry in walker.into_iter().filter_entry(|e| !is_hidden(e)) {
        let entry = entry.map_err(|e| crate::error::bad_input(walk_error(&e)))?;
        if entry.file_type().is_dir() {
            let name = entry.file_name().to_string_lossy().into_owned();
            out.push((name, entry.into_path()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn a_symlink_loop_is_walked_once_and_hidden_files_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("photos");
        touch(&root.join("a/1.jpg"));
        touch(&root.join("a/._1.jpg"));
        touch(&root.join(".thumbs/2.jpg"));
        touch(&root.join("b/notes.txt"));
        std::os::unix::fs::symlink(&root, root.join("a/loop")).unwrap();
        std::os::unix::fs::symlink(root.join("a"), root.join("c")).unwrap();
        let found = images_under(&root);
        assert_eq!(found.files, [root.join("a/1.jpg")], "{found:?}");
        assert_eq!(found.problems.len(), 1, "{found:?}");
        assert!(found.problems[0].contains("loop"), "{found:?}");
        // Named inputs: a file twice (once through a folder) is listed once.
        let both = collect_inputs(&[root.join("a/1.jpg"), root.clone()]).unwrap();
        assert_eq!(both.files, [root.join("a/1.jpg")]);
        let missing = collect_inputs(&[root.join("nope")]).unwrap_err();
        assert!(format!("{missing}").contains("nope"));
    }

    #[test]
    fn names_that_are_not_utf8_are_found_and_shown_lossily() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let class = dir.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
        touch(&class.join(std::ffi::OsStr::from_bytes(b"\xff.jpg")));
        let folders = sub_folders(dir.path()).unwrap();
        assert_eq!(folders[0].0, "caf\u{FFFD}");
        let found = images_under(&folders[0].1);
        assert_eq!(found.files.len(), 1);
        assert!(
            found.files[0]
                .display()
                .to_string()
                .ends_with("\u{FFFD}.jpg")
        );
    }
}
