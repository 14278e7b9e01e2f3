//! Writing files so that a reader never sees half of one: every file graft writes (weights,
//! checkpoints, run files, reports, curves, embeddings) goes through [`write_atomic`].
use anyhow::{Context, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// Writes `path` through `write`, which gets a temporary path in the same folder (with the same
/// extension, for writers that choose the format by it); the file is renamed into place only
/// when `write` succeeded. Missing parent folders are created.
pub fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let suffix = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(".graft-partial-")
        .suffix(&suffix)
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    write(tmp.path()).with_context(|| format!("writing {}", path.display()))?;
    make_readable(tmp.path());
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Temporary files are created private (0600); a finished file gets the usual 0644.
fn make_readable(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644));
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |tmp| Ok(std::fs::write(tmp, bytes)?))
}

/// Writes `value` as pretty JSON to `path` atomically.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    write_bytes(path, &serde_json::to_vec_pretty(value)?)
}

/// Reads a JSON file into `T`; the error names the file and what is wrong in it.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: malformed", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.json");
        write_json(&path, &[1, 2]).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&path).unwrap(), [1, 2]);
        let failed = write_atomic(&path, |tmp| {
            std::fs::write(tmp, b"half")?;
            anyhow::bail!("disk full")
        });
        assert!(failed.is_err());
        assert_eq!(
            read_json::<Vec<i32>>(&path).unwrap(),
            [1, 2],
            "old file kept"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
    }
}
