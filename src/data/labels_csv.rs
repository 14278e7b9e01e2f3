//! Labels from a CSV file: a header row with `path` and `label` columns and optionally `split`
//! (train, val or test; also training, valid, validation, testing). Paths are absolute or
//! relative to the CSV's folder. A missing image file or an unknown split value is an error that
//! names the row.
use super::dataset::{Dataset, finish};
use super::folders::Item;
use super::labelled::{Holdout, stratified_split};
use crate::error::bad_input;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// One row: the image, its class, and its part when the file says.
struct Row {
    path: PathBuf,
    label: String,
    split: Option<usize>,
}

const PARTS: [&[&str]; 3] = [
    &["train", "training"],
    &["val", "valid", "validation"],
    &["test", "testing"],
];

fn column(headers: &csv::StringRecord, name: &str) -> Option<usize> {
    headers
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case(name))
}

fn read_rows(path: &Path) -> Result<(Vec<Row>, bool)> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| bad_input(format!("{}: cannot read: {e}", path.display())))?;
    let headers = reader
        .headers()
        .with_context(|| format!("{}: no header row", path.display()))?
        .clone();
    let (Some(p), Some(l)) = (column(&headers, "path"), column(&headers, "label")) else {
        return Err(bad_input(format!(
            "{}: the header must name a `path` and a `label` column (optionally `split`), found: {}",
            path.display(),
            headers.iter().collect::<Vec<_>>().join(", ")
        )));
    };
    let s = column(&headers, "split");
    let base = path.parent().unwrap_or(Path::new("."));
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2; // 1-based, after the header
        let record =
            record.map_err(|e| bad_input(format!("{}: line {line}: {e}", path.display())))?;
        let field = |c: usize| record.get(c).unwrap_or("").to_string();
        let file = base.join(field(p));
        if !file.is_file() {
            return Err(bad_input(format!(
                "{}: line {line}: image file {} does not exist",
                path.display(),
                file.display()
            )));
        }
        let split = match s.map(field) {
            None => None,
            Some(v) => Some(
                PARTS
                    .iter()
                    .position(|names| names.iter().any(|n| n.eq_ignore_ascii_case(&v)))
                    .ok_or_else(|| {
                        bad_input(format!(
                            "{}: line {line}: unknown split '{v}' (use train, val or test)",
                            path.display()
                        ))
                    })?,
            ),
        };
        rows.push(Row {
            path: file,
            label: field(l),
            split,
        });
    }
    Ok((rows, s.is_some()))
}

/// Reads the dataset a CSV describes; without a split column, `test_fraction` of each class
/// becomes Test, held out by `split` (rule, seed).
pub fn load(path: &Path, test_fraction: f64, split: (Holdout, u64)) -> Result<Dataset> {
    let (rows, has_split) = read_rows(path)?;
    let mut classes: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
    classes.sort();
    classes.dedup();
    let item = |r: &Row| Item {
        path: r.path.clone(),
        label: classes.binary_search(&r.label).expect("listed above"),
    };
    let mut parts: [Vec<Item>; 3] = Default::default();
    for r in &rows {
        parts[r.split.unwrap_or(0)].push(item(r));
    }
    for p in &mut parts {
        p.sort_by(|a, b| (a.label, &a.path).cmp(&(b.label, &b.path)));
    }
    let [train, val, test] = parts;
    let from = path.display().to_string();
    if has_split {
        let some = |v: Vec<Item>| (!v.is_empty()).then_some(v);
        return finish(classes, train, some(val), some(test), Vec::new(), from);
    }
    let (t, s) = stratified_split(&train, classes.len(), test_fraction, split);
    let pick = |idx: Vec<usize>| idx.into_iter().map(|i| train[i].clone()).collect();
    let from = format!(
        "{from} (Test: {:.0}% of each class, {})",
        100.0 * test_fraction,
        split.0.describe()
    );
    finish(
        classes.clone(),
        pick(t),
        None,
        Some(pick(s)),
        Vec::new(),
        from,
    )
}
