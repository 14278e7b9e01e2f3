//! Decoding image files as cameras and phones write them: by content, not extension; EXIF
//! orientation applied; JPEG, PNG (8 and 16 bit), WebP, TIFF, GIF (first frame) and BMP; gray,
//! alpha and CMYK to RGB. A file that declares more than [`MAX_PIXELS`] is refused from its
//! header, before any pixel is allocated (a decompression bomb); HEIC gets an error that says how
//! to convert it. A large JPEG that will be shrunk anyway is decoded at 1/2, 1/4 or 1/8 scale in
//! the DCT domain (jpeg-decoder's `scale`): several times faster and a fraction of the memory.
use anyhow::{Context, Result, bail};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};
use std::io::Cursor;
use std::path::Path;

/// The most pixels graft decodes from one file: 100 megapixels (a 12 MP phone photo is 12).
pub const MAX_PIXELS: u64 = 100_000_000;

/// Decodes an image file to upright 8-bit RGB. `target`: the side the image will be shrunk to
/// next, which lets a large JPEG decode at a reduced scale (never below `target` on its shorter
/// side).
pub fn decode(path: &Path, target: Option<u32>) -> Result<RgbImage> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    decode_bytes(&bytes, &path.display().to_string(), target)
}

/// Decodes an image held in memory (see [`decode`]); `name` (a path, a request's part name) is
/// used in errors.
pub fn decode_bytes(bytes: &[u8], name: &str, target: Option<u32>) -> Result<RgbImage> {
    if bytes.is_empty() {
        bail!("{name}: empty file, not an image");
    }
    if let Some(brand) = heif_brand(bytes) {
        bail!(
            "{name}: a HEIC/HEIF photo (brand '{brand}'), which graft cannot decode; convert it to \
             JPEG first, e.g. `heif-convert photo.heic photo.jpg` (Debian package libheif-examples) \
             or `convert photo.heic photo.jpg` (ImageMagick)"
        );
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .with_context(|| format!("{name}: cannot read"))?;
    match reader.format() {
        None => bail!("{name}: not an image (unrecognized format)"),
        Some(ImageFormat::Jpeg) => {
            if !jpeg_is_complete(bytes) {
                bail!("{name}: truncated JPEG (no end-of-image marker after the image data)");
            }
            if let Some(t) = target
                && let Some(img) = jpeg_scaled(bytes, name, t)?
            {
                return Ok(img);
            }
        }
        Some(_) => {}
    }
    // The header is read without limits so that our check, with its clear message, comes first;
    // the decoder then allocates under a limit.
    let mut reader = reader;
    reader.no_limits();
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| anyhow::anyhow!("{name}: cannot decode image: {e}"))?;
    let (w, h) = decoder.dimensions();
    check_size(w, h, name)?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 8); // 16-bit RGBA at the pixel limit
    decoder
        .set_limits(limits)
        .map_err(|e| anyhow::anyhow!("{name}: cannot decode image: {e}"))?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder)
        .map_err(|e| anyhow::anyhow!("{name}: cannot decode image: {e}"))?;
    img.apply_orientation(orientation);
    Ok(img.to_rgb8())
}

/// Refuses an image that declares more than [`MAX_PIXELS`].
fn check_size(w: u32, h: u32, name: &str) -> Result<()> {
    let pixels = w as u64 * h as u64;
    if pixels > MAX_PIXELS {
        bail!(
            "{name}: declares {w} x {h} pixels ({:.0} MP), more than graft decodes ({} MP): \
             refused before decoding (a decompression bomb, or a scan to downscale first)",
            pixels as f64 / 1e6,
            MAX_PIXELS / 1_000_000
        );
    }
    Ok(())
}

/// The brand of an ISO-BMFF file of the HEIF family (HEIC photos from phones), if it is one.
fn heif_brand(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 12 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    let brand = String::from_utf8_lossy(&bytes[8..12]).into_owned();
    let heif = [
        "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1",
    ];
    heif.contains(&brand.as_str()).then_some(brand)
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

/// A JPEG at least twice `target` on its shorter side, decoded at the smallest DCT scale that
/// keeps that side at `target` or more; None when it is not worth it (small, or CMYK, which the
/// image crate converts).
fn jpeg_scaled(bytes: &[u8], name: &str, target: u32) -> Result<Option<RgbImage>> {
    use jpeg_decoder::{Decoder, PixelFormat};
    let mut d = Decoder::new(Cursor::new(bytes));
    if d.read_info().is_err() {
        return Ok(None); // let the image crate report it
    }
    let Some(info) = d.info() else {
        return Ok(None);
    };
    let (w, h) = (info.width as u32, info.height as u32);
    check_size(w, h, name)?;
    let gray = match info.pixel_format {
        PixelFormat::RGB24 => false,
        PixelFormat::L8 => true,
        _ => return Ok(None),
    };
    if w.min(h) < 2 * target {
        return Ok(None);
    }
    // jpeg-decoder picks the smallest scale that reaches the request on either axis: ask on the
    // shorter one only.
    let t = target.min(u16::MAX as u32) as u16;
    let (sw, sh) = if w <= h {
        d.scale(t, u16::MAX)
    } else {
        d.scale(u16::MAX, t)
    }
    .map_err(|e| anyhow::anyhow!("{name}: cannot decode image: {e}"))?;
    let px = d
        .decode()
        .map_err(|e| anyhow::anyhow!("{name}: cannot decode image: {e}"))?;
    let (sw, sh) = (sw as u32, sh as u32);
    let img = if gray {
        image::GrayImage::from_raw(sw, sh, px).map(DynamicImage::ImageLuma8)
    } else {
        RgbImage::from_raw(sw, sh, px).map(DynamicImage::ImageRgb8)
    };
    let Some(mut img) = img else {
        bail!("{name}: the JPEG decoder returned a buffer of the wrong size");
    };
    let orientation = d
        .exif_data()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    img.apply_orientation(orientation);
    Ok(Some(img.to_rgb8()))
}
