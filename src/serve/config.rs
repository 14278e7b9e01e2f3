//! What `graft serve` is told: the runs to load under their names, the address, and the limits
//! that keep the service bounded whatever the load.
use crate::error::bad_input;
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tch::Device;

/// One run folder, served under a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSource {
    /// The name in URLs (`/v1/models/{name}`).
    pub name: String,
    /// The run folder.
    pub run: PathBuf,
}

impl ModelSource {
    /// `run` served as `name`, or under the run folder's own name.
    pub fn new(run: &Path, name: Option<&str>) -> Result<Self> {
        let name = match name {
            Some(n) => n.to_string(),
            None => folder_name(run)?,
        };
        check_name(&name)?;
        Ok(Self {
            name,
            run: run.to_path_buf(),
        })
    }
}

/// The last component of `run` (`runs/fruits/` and `.` work too).
fn folder_name(run: &Path) -> Result<String> {
    let full = run
        .canonicalize()
        .map_err(|e| bad_input(format!("{}: {e}", run.display())))?;
    full.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| bad_input(format!("{}: no folder name; give --name", run.display())))
}

/// A name goes into URLs unescaped, so it keeps to letters, digits, `.`, `_` and `-`.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(bad_input(format!(
            "model name '{name}': use 1 to 64 letters, digits, '.', '_' or '-' (give --name)"
        )))
    }
}

/// Pairs runs with names: the i-th `--name` names the i-th run; the others keep their folder's.
pub fn sources(runs: &[PathBuf], names: &[String]) -> Result<Vec<ModelSource>> {
    if names.len() > runs.len() {
        return Err(bad_input(format!(
            "{} names for {} runs: each --name names the run at the same position",
            names.len(),
            runs.len()
        )));
    }
    let out: Vec<ModelSource> = runs
        .iter()
        .enumerate()
        .map(|(i, run)| ModelSource::new(run, names.get(i).map(String::as_str)))
        .collect::<Result<_>>()?;
    for (i, m) in out.iter().enumerate() {
        if out[..i].iter().any(|o| o.name == m.name) {
            return Err(bad_input(format!(
                "two runs would be served as '{}': give them different --name",
                m.name
            )));
        }
    }
    Ok(out)
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// `key=value` pairs, for people.
    Text,
}

/// Bounds on work and memory. Everything that could grow with load has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Images per forward pass.
    pub max_batch: usize,
    /// How long a batch may wait for requests that are already being decoded (never when none
    /// are: an idle service answers at once).
    pub max_wait: Duration,
    /// Requests waiting for each model; a full queue is answered 503 at once.
    pub queue: usize,
    /// Request body size in bytes (413 above it).
    pub max_body: usize,
    /// Images in one request (multipart).
    pub max_images: usize,
    /// Requests being read, decoded, queued or computed at once; 503 above it.
    pub max_in_flight: usize,
    /// From the first byte of the request to the answer (504 after it).
    pub timeout: Duration,
    /// Image-decoding threads.
    pub decode_workers: usize,
    /// Images waiting for a decoding thread; 503 above it.
    pub decode_queue: usize,
    /// Classes per image when the request does not say (`?top_k=`).
    pub default_top_k: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_batch: 8,
            max_wait: Duration::from_millis(2),
            queue: 64,
            max_body: 16 << 20,
            max_images: 32,
            max_in_flight: 256,
            timeout: Duration::from_secs(30),
            decode_workers: crate::runtime::default_workers(),
            decode_queue: 256,
            default_top_k: 3,
        }
    }
}

impl Limits {
    /// Refuses limits that would make the service unable to answer.
    pub fn check(&self) -> Result<()> {
        let positive = [
            ("--max-batch", self.max_batch),
            ("--queue", self.queue),
            ("--max-body", self.max_body),
            ("--max-images", self.max_images),
            ("--max-in-flight", self.max_in_flight),
            ("--decode-workers", self.decode_workers),
            ("--decode-queue", self.decode_queue),
            ("--top-k", self.default_top_k),
        ];
        if let Some((flag, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(bad_input(format!("{flag} must be at least 1")));
        }
        if self.timeout.is_zero() {
            return Err(bad_input("--timeout must be above 0"));
        }
        Ok(())
    }
}

/// Everything a service needs to start.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen (port 0: any free port; the bound address is logged).
    pub addr: SocketAddr,
    /// The models, each on its own thread.
    pub models: Vec<ModelSource>,
    /// Bounds on work and memory.
    pub limits: Limits,
    /// Bearer token the `/v1/` routes require (None: open).
    pub token: Option<String>,
    /// Log line format.
    pub log_format: LogFormat,
    /// Where the models run.
    pub device: Device,
    /// The number format asked for (None: each run's own, where the device computes it
    /// natively; see [`crate::engine::Precision::for_run`]).
    pub precision: Option<crate::engine::Precision>,
}

/// Reads a bearer token from `path` (surrounding whitespace dropped); an empty file is refused.
pub fn read_token(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the token file {}", path.display()))
        .map_err(|e| bad_input(format!("{e:#}")))?;
    let token = text.trim();
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad_input(format!(
            "{}: the token file must hold one token without spaces",
            path.display()
        )));
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_folders_or_flags_and_must_be_unique_and_url_safe() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("fruits-a");
        let b = dir.path().join("other");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let got = sources(&[a.clone(), b.clone()], &["fruits".into()]).unwrap();
        assert_eq!(got[0].name, "fruits");
        assert_eq!(got[1].name, "other");
        assert!(sources(&[a.clone(), a.clone()], &[]).is_err());
        assert!(sources(std::slice::from_ref(&a), &["x".into(), "y".into()]).is_err());
        assert!(sources(&[a], &["../etc".into()]).is_err());
        assert!(sources(&[b], &["with space".into()]).is_err());
    }

    #[test]
    fn zero_limits_are_refused() {
        assert!(Limits::default().check().is_ok());
        let l = Limits {
            queue: 0,
            ..Limits::default()
        };
        assert!(l.check().unwrap_err().to_string().contains("--queue"));
    }
}
