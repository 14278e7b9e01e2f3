//! Turning decoded images into network inputs: the resize rules and the one preprocessing path.
use super::decode;
use anyhow::Result;
use fast_image_resize::{FilterType::Bilinear, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;
use image::imageops::FilterType;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File extensions taken when walking folders (files named explicitly are always tried). HEIC
/// files are taken so that they are reported (with how to convert them), not silently left out.
pub const IMAGE_EXTENSIONS: [&str; 12] = [
    "jpg", "jpeg", "jfif", "png", "bmp", "webp", "tif", "tiff", "gif", "heic", "heif", "avif",
];

/// Whether `path` has one of [`IMAGE_EXTENSIONS`] (any case).
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// How an image of any shape becomes a square input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeRule {
    /// The whole image, stretched to a square (the seed's rule; aspect ratio not kept).
    #[default]
    Squash,
    /// The largest centred square, resized (the sides of a wide photo are cut off).
    Crop,
    /// The whole image, aspect kept, centred on a mid-gray square (128, which the backbones'
    /// normalization maps to about 0).
    Pad,
}

impl std::str::FromStr for ResizeRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "squash" => Ok(ResizeRule::Squash),
            "crop" => Ok(ResizeRule::Crop),
            "pad" => Ok(ResizeRule::Pad),
            _ => Err(format!("unknown resize rule '{s}' (squash, crop or pad)")),
        }
    }
}

/// The gray that pads an image to a square.
pub const PAD_GRAY: u8 = 128;

impl ResizeRule {
    /// The image made square by this rule, at its own resolution (for augmentation, which
    /// samples the square afterwards).
    pub fn square(self, img: RgbImage) -> RgbImage {
        let (w, h) = img.dimensions();
        if w == h {
            return img;
        }
        match self {
            ResizeRule::Squash => img,
            ResizeRule::Crop => {
                let s = w.min(h);
                image::imageops::crop_imm(&img, (w - s) / 2, (h - s) / 2, s, s).to_image()
            }
            ResizeRule::Pad => {
                let s = w.max(h);
                let mut out = RgbImage::from_pixel(s, s, image::Rgb([PAD_GRAY; 3]));
                image::imageops::replace(
                    &mut out,
                    &img,
                    ((s - w) / 2).into(),
                    ((s - h) / 2).into(),
                );
                out
            }
        }
    }
}

/// How an image file becomes a network input: decoded upright (`data::decode`), made square by
/// the run's resize rule at `size` x `size`, laid out as CHW bytes. The one path for evaluation,
/// prediction, embedding and serving; training adds augmentation on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preprocess {
    /// Side of the square input, in pixels.
    pub size: u32,
    /// How a non-square image is made square.
    pub resize: ResizeRule,
}

impl Preprocess {
    /// Squash to `size` (the rule of runs before resize rules existed).
    pub fn squash(size: u32) -> Self {
        Self {
            size,
            resize: ResizeRule::Squash,
        }
    }

    /// Decodes, resizes and lays out the image file at `path`.
    pub fn load(&self, path: &Path) -> Result<Vec<u8>> {
        Ok(self.apply(decode::decode(path, Some(self.size))?))
    }

    /// Decodes, resizes and lays out an image held in memory; `name` is used in errors.
    pub fn load_bytes(&self, bytes: &[u8], name: &str) -> Result<Vec<u8>> {
        Ok(self.apply(decode::decode_bytes(bytes, name, Some(self.size))?))
    }

    /// Resizes and lays out a decoded image.
    pub fn apply(&self, img: RgbImage) -> Vec<u8> {
        to_chw(&self.resize_only(img))
    }

    /// The decoded image at `size` x `size` by the resize rule (HWC).
    pub fn resize_only(&self, img: RgbImage) -> RgbImage {
        let (w, h) = img.dimensions();
        let s = self.size;
        if w == h || self.resize == ResizeRule::Squash {
            return resize_square(img, s);
        }
        let img = &img;
        match self.resize {
            ResizeRule::Squash => unreachable!("handled above"),
            ResizeRule::Crop => {
                let m = w.min(h);
                resize(img, Some(((w - m) / 2, (h - m) / 2, m, m)), (s, s))
            }
            ResizeRule::Pad => {
                let fit = |a: u32| {
                    ((a as u64 * s as u64 + w.max(h) as u64 / 2) / w.max(h) as u64).max(1) as u32
                };
                let inner = resize(img, None, (fit(w), fit(h)));
                let mut out = RgbImage::from_pixel(s, s, image::Rgb([PAD_GRAY; 3]));
                let (x, y) = ((s - inner.width()) / 2, (s - inner.height()) / 2);
                image::imageops::replace(&mut out, &inner, x.into(), y.into());
                out
            }
        }
    }
}

/// Resizes (the part `crop` = (left, top, width, height) of) `img` to `to` (bilinear,
/// antialiased when shrinking: the image crate's Triangle filter), with fast_image_resize's
/// SIMD, about 10x faster than the image crate; that matters because decoding shares the cores
/// with the network.
fn resize(img: &RgbImage, crop: Option<(u32, u32, u32, u32)>, to: (u32, u32)) -> RgbImage {
    let (w, h) = img.dimensions();
    let resized = fast_image_resize::images::ImageRef::new(w, h, img.as_raw(), PixelType::U8x3)
        .ok()
        .and_then(|src| {
            let mut dst = fast_image_resize::images::Image::new(to.0, to.1, PixelType::U8x3);
            let mut options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(Bilinear));
            if let Some((l, t, cw, ch)) = crop {
                options = options.crop(l as f64, t as f64, cw as f64, ch as f64);
            }
            Resizer::new().resize(&src, &mut dst, &options).ok()?;
            RgbImage::from_raw(to.0, to.1, dst.into_vec())
        });
    // Both calls only fail on inconsistent buffer sizes, which an RgbImage cannot have; the
    // image crate stays as the fallback rather than a panic.
    resized.unwrap_or_else(|| {
        let (l, t, cw, ch) = crop.unwrap_or((0, 0, w, h));
        let part = image::imageops::crop_imm(img, l, t, cw, ch).to_image();
        image::imageops::resize(&part, to.0, to.1, FilterType::Triangle)
    })
}

/// Resizes to `size` x `size` (squash), unless it already is.
pub fn resize_square(img: RgbImage, size: u32) -> RgbImage {
    if img.width() == size && img.height() == size {
        return img;
    }
    resize(&img, None, (size, size))
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
        let img = decode::decode(&photo, None).unwrap();
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
