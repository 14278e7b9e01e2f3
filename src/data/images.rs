//! Finding and decoding images. Decoding goes by content, not by extension; grayscale, RGBA and
//! 16-bit images become 8-bit RGB. A file that does not decode is an error naming the file.
use anyhow::{Context, Result, bail};
use fast_image_resize::{FilterType::Bilinear, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;
use image::imageops::FilterType;
use std::path::Path;

/// File extensions taken when walking folders (files named explicitly are always tried).
pub const IMAGE_EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "bmp", "jfif"];

/// Whether `path` has one of [`IMAGE_EXTENSIONS`] (any case).
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// How an image file becomes a network input: decoded by content, resized to `size` x `size`
/// (the whole image, aspect ratio not kept, as the seed did), laid out as CHW bytes. The one
/// path for evaluation, prediction, embedding and serving; training adds augmentation on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preprocess {
    /// Side of the square input, in pixels.
    pub size: u32,
}

impl Preprocess {
    /// Decodes, resizes and lays out the image file at `path`.
    pub fn load(&self, path: &Path) -> Result<Vec<u8>> {
        Ok(self.apply(decode(path)?))
    }

    /// Decodes, resizes and lays out an image held in memory; `name` is used in errors.
    pub fn load_bytes(&self, bytes: &[u8], name: &str) -> Result<Vec<u8>> {
        Ok(self.apply(decode_bytes(bytes, name)?))
    }

    /// Resizes and lays out a decoded image.
    pub fn apply(&self, img: RgbImage) -> Vec<u8> {
        to_chw(&resize_square(img, self.size))
    }
}

/// Decodes an image file to 8-bit RGB.
pub fn decode(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    decode_bytes(&bytes, &path.display().to_string())
}

/// Decodes an image held in memory to 8-bit RGB; `name` (a path, a request's part name) is
/// used in errors.
pub fn decode_bytes(bytes: &[u8], name: &str) -> Result<RgbImage> {
    if bytes.is_empty() {
        bail!("{name}: empty file, not an image");
    }
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .with_context(|| format!("{name}: cannot read"))?;
    match reader.format() {
        None => bail!("{name}: not an image (unrecognized format)"),
        Some(image::ImageFormat::Jpeg) if !jpeg_is_complete(bytes) => {
            bail!("{name}: truncated JPEG (no end-of-image marker after the image data)")
        }
        Some(_) => {}
    }
    let img = reader
        .decode()
        .map_err(|e| anyhow::anyhow!("{name}: cannot decode image: {e}"))?;
    Ok(img.to_rgb8())
}

/// The JPEG decoder fills a cut-off image with gray instead of failing, so a truncated file is
/// caught here: the end-of-image marker must follow the last start-of-scan. (Inside scan data
/// 0xFF is always stuffed, so FF D9 there is the real marker; an EXIF thumbnail's EOI comes
/// before the main scan.)
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    let last_eoi = bytes.windows(2).rposition(|w| w == [0xFF, 0xD9]);
    matches!((last_sos, last_eoi), (Some(s), Some(e)) if e > s)
}

/// Resizes to `size` x `size` (bilinear, antialiased when shrinking: the image crate's Triangle
/// filter) unless it already is. fast_image_resize does it with SIMD, about 10x faster than the
/// image crate; that matters because decoding shares the cores with the network.
pub fn resize_square(img: RgbImage, size: u32) -> RgbImage {
    if img.width() == size && img.height() == size {
        return img;
    }
    let (w, h) = (img.width(), img.height());
    let resized = fast_image_resize::images::ImageRef::new(w, h, img.as_raw(), PixelType::U8x3)
        .ok()
        .and_then(|src| {
            let mut dst = fast_image_resize::images::Image::new(size, size, PixelType::U8x3);
            let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(Bilinear));
            Resizer::new().resize(&src, &mut dst, &options).ok()?;
            RgbImage::from_raw(size, size, dst.into_vec())
        });
    // Both calls only fail on inconsistent buffer sizes, which an RgbImage cannot have; the
    // image crate stays as the fallback rather than a panic.
    resized.unwrap_or_else(|| image::imageops::resize(&img, size, size, FilterType::Triangle))
}

/// Interleaved RGB (HWC) to planar (CHW), the layout the network takes.
pub fn to_chw(img: &RgbImage) -> Vec<u8> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = vec![0u8; 3 * w * h];
    for (i, px) in img.as_raw().chunks_exact(3).enumerate() {
        out[i] = px[0];
        out[w * h + i] = px[1];
        out[2 * w * h + i] = px[2];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SIMD resize keeps the image crate's Triangle semantics (pixel centres, antialiasing
    /// when shrinking): on a real photo, up and down, pixels differ by rounding only.
    #[test]
    fn fast_resize_matches_the_image_crate_triangle_filter() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/fruits-mini/Training");
        let class = std::fs::read_dir(&dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let photo = std::fs::read_dir(&class)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let img = decode(&photo).unwrap();
        for size in [37, 199, 299] {
            let ours = resize_square(img.clone(), size);
            let reference = image::imageops::resize(&img, size, size, FilterType::Triangle);
            let diffs: Vec<i32> = ours
                .as_raw()
                .iter()
                .zip(reference.as_raw())
                .map(|(&a, &b)| (a as i32 - b as i32).abs())
                .collect();
            let max = *diffs.iter().max().unwrap();
            let mean = diffs.iter().sum::<i32>() as f64 / diffs.len() as f64;
            assert!(max <= 1 && mean < 0.1, "{size} px: max {max}, mean {mean}");
        }
    }
}
