//! Photos as cameras and phones write them: every EXIF orientation turned upright, the other
//! formats decoded to the same pixels, a decompression bomb refused from its header, HEIC named,
//! and a large JPEG decoded at a reduced DCT scale to nearly the pixels of a full decode.
mod common;

use common::*;
use graft::data::decode::{decode, decode_bytes};
use graft::data::images::{Preprocess, ResizeRule};
use image::{ImageEncoder, RgbImage};
use std::path::PathBuf;

fn formats(name: &str) -> PathBuf {
    fixture("formats").join(name)
}

fn upright() -> RgbImage {
    image::open(formats("upright.png")).unwrap().to_rgb8()
}

/// Mean absolute difference per channel value (images of the same size).
fn mean_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "sizes differ");
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (x as i64 - y as i64).unsigned_abs())
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

#[test]
fn every_exif_orientation_decodes_upright() {
    let want = upright();
    let mirrored = image::imageops::flip_horizontal(&want);
    for k in 1..=8 {
        let got = decode(&formats(&format!("orientation_{k}.jpg")), None).unwrap();
        let d = mean_diff(&got, &want);
        assert!(
            d < 3.0,
            "orientation {k}: mean difference {d} from the upright picture"
        );
        assert!(
            mean_diff(&got, &mirrored) > 4.0 * d.max(1.0),
            "orientation {k}: not telling"
        );
    }
}

#[test]
fn other_formats_decode_to_the_same_picture() {
    let want = upright();
    let exact = |name: &str| mean_diff(&decode(&formats(name), None).unwrap(), &want);
    assert_eq!(exact("lossless.webp"), 0.0);
    assert_eq!(exact("image.tiff"), 0.0);
    assert!(exact("cmyk.jpg") < 4.0, "CMYK JPEG: {}", exact("cmyk.jpg"));
    // GIF: the first frame (the second is the negative), in 256 colours.
    assert!(
        exact("animated.gif") < 12.0,
        "GIF: {}",
        exact("animated.gif")
    );
    // Gray (with alpha, or 16 bits) becomes gray RGB: the same gray from both (Pillow made them
    // from one luma conversion), the luma of the upright picture up to rounding.
    let luma = image::DynamicImage::ImageRgb8(want.clone()).to_luma8();
    let gray = image::DynamicImage::ImageLuma8(luma).to_rgb8();
    let gray_alpha = decode(&formats("gray_alpha.png"), None).unwrap();
    let gray16 = decode(&formats("gray16.png"), None).unwrap();
    assert_eq!(mean_diff(&gray_alpha, &gray16), 0.0);
    assert!(
        gray_alpha
            .pixels()
            .all(|p| p.0[0] == p.0[1] && p.0[1] == p.0[2])
    );
    let d = mean_diff(&gray_alpha, &gray);
    assert!(d < 1.5, "gray: {d}");
    // 16-bit RGB PNG, and PNG/WebP carrying an EXIF orientation (written here).
    let dir = tempfile::tempdir().unwrap();
    let wide: image::ImageBuffer<image::Rgb<u16>, Vec<u16>> =
        image::ImageBuffer::from_fn(want.width(), want.height(), |x, y| {
            image::Rgb(want.get_pixel(x, y).0.map(|v| v as u16 * 257))
        });
    let png16 = dir.path().join("rgb16.png");
    wide.save(&png16).unwrap();
    assert_eq!(mean_diff(&decode(&png16, None).unwrap(), &want), 0.0);
    let exif = exif_of(&formats("orientation_6.jpg"));
    // Orientation 6: shown turned 90 degrees clockwise, so stored turned the other way.
    let stored = image::imageops::rotate270(&want);
    let mut png = Vec::new();
    let mut enc = image::codecs::png::PngEncoder::new(&mut png);
    enc.set_exif_metadata(exif.clone()).unwrap();
    enc.write_image(
        stored.as_raw(),
        stored.width(),
        stored.height(),
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    let got = decode_bytes(&png, "rotated.png", None).unwrap();
    assert_eq!(mean_diff(&got, &want), 0.0, "PNG with EXIF orientation");
}

/// The EXIF chunk of a JPEG fixture.
fn exif_of(path: &std::path::Path) -> Vec<u8> {
    use image::ImageDecoder;
    let bytes = std::fs::read(path).unwrap();
    let mut d = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(bytes)).unwrap();
    d.exif_metadata().unwrap().expect("the fixture has EXIF")
}

/// Peak resident memory of this process so far, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A PNG of `w` x `h` RGB pixels whose pixel data is one empty zlib stream: a few dozen bytes
/// that claim gigabytes.
fn bomb_png(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn a_decompression_bomb_is_refused_before_anything_is_allocated() {
    let before = peak_rss_kib();
    let bomb = bomb_png(100_000, 100_000); // 30 GB of RGB
    let err = format!("{:#}", decode_bytes(&bomb, "bomb.png", None).unwrap_err());
    assert!(
        err.contains("bomb.png") && err.contains("100000 x 100000"),
        "{err}"
    );
    let grown = peak_rss_kib().saturating_sub(before);
    assert!(
        grown < 64 * 1024,
        "peak memory grew by {grown} KiB while refusing"
    );
    // Within the limit, the same kind of file is simply a broken image.
    let small = format!(
        "{:#}",
        decode_bytes(&bomb_png(64, 64), "small.png", None).unwrap_err()
    );
    assert!(
        small.contains("small.png") && !small.contains("bomb"),
        "{small}"
    );
}

#[test]
fn heic_is_named_with_a_way_to_convert_it() {
    let mut heic = vec![0, 0, 0, 24];
    heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
    let err = format!(
        "{:#}",
        decode_bytes(&heic, "IMG_0001.HEIC", None).unwrap_err()
    );
    assert!(
        err.contains("IMG_0001.HEIC") && err.contains("HEIC") && err.contains("heif-convert"),
        "{err}"
    );
}

#[test]
fn a_large_jpeg_decodes_at_a_reduced_scale_to_nearly_the_full_decode() {
    // A 12-megapixel photo (the upright picture enlarged), with EXIF orientation 6.
    let want = upright();
    let big = image::imageops::resize(&want, 4000, 2667, image::imageops::FilterType::Triangle);
    let stored = image::imageops::rotate270(&big);
    let mut jpeg = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90);
    enc.set_exif_metadata(exif_of(&formats("orientation_6.jpg")))
        .unwrap();
    enc.write_image(
        stored.as_raw(),
        stored.width(),
        stored.height(),
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    let full = decode_bytes(&jpeg, "big.jpg", None).unwrap();
    assert_eq!(full.dimensions(), (4000, 2667), "upright at full size");
    let small = image::imageops::resize(
        &full,
        want.width(),
        want.height(),
        image::imageops::FilterType::Triangle,
    );
    assert!(
        mean_diff(&small, &want) < 3.0,
        "upright: {}",
        mean_diff(&small, &want)
    );
    let scaled = decode_bytes(&jpeg, "big.jpg", Some(299)).unwrap();
    assert_eq!(
        scaled.dimensions(),
        (500, 334),
        "1/8 scale, upright, short side >= 299"
    );
    for resize in [ResizeRule::Squash, ResizeRule::Crop, ResizeRule::Pad] {
        let pre = Preprocess { size: 299, resize };
        let (a, b) = (
            pre.resize_only(full.clone()),
            pre.resize_only(scaled.clone()),
        );
        let d = mean_diff(&a, &b);
        assert!(
            d < 2.0,
            "{resize:?}: scaled decode differs by {d} on average"
        );
    }
}

#[test]
fn resize_rules_keep_what_they_promise() {
    let wide = RgbImage::from_fn(200, 100, |x, _| image::Rgb([(x % 256) as u8, 0, 0]));
    let pre = |resize| Preprocess { size: 50, resize };
    let squash = pre(ResizeRule::Squash).resize_only(wide.clone());
    let crop = pre(ResizeRule::Crop).resize_only(wide.clone());
    let pad = pre(ResizeRule::Pad).resize_only(wide.clone());
    for img in [&squash, &crop, &pad] {
        assert_eq!(img.dimensions(), (50, 50));
    }
    // Crop keeps the middle (x 50..150), squash everything (x 0..200).
    let red = |img: &RgbImage, x| img.get_pixel(x, 25).0[0] as i32;
    assert!((red(&crop, 0) - 51).abs() <= 3 && (red(&crop, 49) - 148).abs() <= 3);
    assert!(red(&squash, 0) <= 3 && (red(&squash, 49) - 197).abs() <= 3);
    // Pad keeps the aspect: 50 x 25 of picture between gray bands.
    assert_eq!(pad.get_pixel(25, 5).0, [128; 3]);
    assert_eq!(pad.get_pixel(25, 45).0, [128; 3]);
    assert!(pad.get_pixel(25, 25).0[1] == 0 && pad.get_pixel(25, 25).0[0] != 128);
    let _ = demo();
}
