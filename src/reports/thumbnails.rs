//! Small JPEG thumbnails of test images, as data: URIs for the report.
use super::data_uri::data_uri;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Longest side of a thumbnail, in pixels.
pub const SIZE: u32 = 96;

/// Where an image path recorded in metrics.json is now: as written (relative to the current
/// directory, as eval wrote it), else relative to the run folder.
pub fn locate(recorded: &str, run: &Path) -> Option<PathBuf> {
    let p = PathBuf::from(recorded);
    if p.is_file() {
        return Some(p);
    }
    if p.is_relative() {
        let q = run.join(&p);
        if q.is_file() {
            return Some(q);
        }
    }
    None
}

/// The image at `path`, downscaled to fit `SIZE` (never upscaled), as a JPEG data: URI.
pub fn thumbnail(path: &Path) -> Result<String> {
    let img = image::ImageReader::open(path)
        .with_context(|| format!("opening {}", path.display()))?
        .with_guessed_format()?
        .decode()
        .with_context(|| format!("decoding {}", path.display()))?;
    let img = if img.width() > SIZE || img.height() > SIZE {
        img.thumbnail(SIZE, SIZE)
    } else {
        img
    };
    let rgb = img.to_rgb8();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 88)
        .encode_image(&rgb)
        .with_context(|| format!("encoding a thumbnail of {}", path.display()))?;
    Ok(data_uri("image/jpeg", &jpeg))
}
