//! Training-time augmentation with Keras `ImageDataGenerator` semantics (shear, zoom, horizontal
//! flip), fused with the resize into one bilinear sampling pass.
//!
//! Keras (keras_preprocessing `get_random_transform` / `apply_affine_transform`):
//! - shear: an angle in DEGREES, uniform in [-shear, shear] (the seed's 0.2 is 0.2 degrees);
//! - zoom: zx, zy drawn independently, uniform in [1 - zoom, 1 + zoom]; a factor > 1 samples a
//!   larger part of the input, i.e. zooms OUT;
//! - flip: horizontal, with probability 0.5, applied after the affine transform.
//!
//! The affine matrix is `shear @ zoom` = [[1, -sin s], [0, cos s]] @ [[zx, 0], [0, zy]], taken
//! about the image centre, and maps OUTPUT coordinates to INPUT coordinates (scipy
//! `ndimage.affine_transform`). Keras indexes (row, col), so in that matrix the FIRST axis is the
//! row (vertical, y) and the second the column (horizontal, x):
//!   in_row - c = zx * (out_row - c) - sin(s) * zy * (out_col - c)
//!   in_col - c =                       cos(s) * zy * (out_col - c)
//! i.e. zx scales vertically, zy horizontally, and the shear moves rows as a function of the
//! column. fill_mode 'nearest' (Keras' default) is a clamp of the sampling coordinates.
use crate::data::images::{resize_square, to_chw};
use image::RgbImage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Random transforms applied to training images.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Augment {
    /// Maximum shear angle, in degrees (Keras `shear_range`).
    pub shear: f64,
    /// Zoom range: factors in [1 - zoom, 1 + zoom] (Keras `zoom_range`).
    pub zoom: f64,
    /// Random horizontal flip (Keras `horizontal_flip`).
    pub flip: bool,
}

impl Augment {
    /// No augmentation.
    pub fn none() -> Self {
        Augment {
            shear: 0.0,
            zoom: 0.0,
            flip: false,
        }
    }

    /// The seed program's `ImageDataGenerator(shear_range=0.2, zoom_range=0.2, horizontal_flip=True)`.
    pub fn seed() -> Self {
        Augment {
            shear: 0.2,
            zoom: 0.2,
            flip: true,
        }
    }

    /// Whether it changes nothing.
    pub fn is_identity(&self) -> bool {
        self.shear == 0.0 && self.zoom == 0.0 && !self.flip
    }
}

impl Default for Augment {
    fn default() -> Self {
        Augment::none()
    }
}

/// One drawn transform (explicit parameters).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    /// Shear angle in degrees.
    pub shear_deg: f64,
    /// Zoom factor along rows (vertical), Keras' zx.
    pub zx: f64,
    /// Zoom factor along columns (horizontal), Keras' zy.
    pub zy: f64,
    /// Horizontal flip, applied after the affine part.
    pub flip: bool,
}

impl Transform {
    /// No change.
    pub const IDENTITY: Transform = Transform {
        shear_deg: 0.0,
        zx: 1.0,
        zy: 1.0,
        flip: false,
    };

    /// Draws a transform as Keras does (shear, then zx and zy, then the flip); draws nothing for
    /// the parts `aug` leaves off, so an identity `aug` consumes no randomness.
    pub fn draw(aug: &Augment, rng: &mut impl Rng) -> Self {
        let mut t = Transform::IDENTITY;
        let shear = aug.shear.abs();
        if shear > 0.0 {
            t.shear_deg = uniform(rng, -shear, shear);
        }
        let zoom = aug.zoom.abs();
        if zoom > 0.0 {
            t.zx = uniform(rng, 1.0 - zoom, 1.0 + zoom);
            t.zy = uniform(rng, 1.0 - zoom, 1.0 + zoom);
        }
        if aug.flip {
            t.flip = rng.r#gen::<f64>() < 0.5;
        }
        t
    }

    /// Whether the transform has a shear or zoom part (a flip alone is not resampled).
    pub fn has_affine(&self) -> bool {
        self.shear_deg != 0.0 || self.zx != 1.0 || self.zy != 1.0
    }

    /// Whether it changes nothing.
    pub fn is_identity(&self) -> bool {
        !self.has_affine() && !self.flip
    }
}

/// Uniform in [lo, hi) (never panics on an empty range).
fn uniform(rng: &mut impl Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.r#gen::<f64>()
}

/// Renders `img` into a `size` x `size` CHW u8 buffer (R plane, G plane, B plane): the resize and,
/// when `rng` is given, a random transform drawn from `aug`, in one sampling pass.
pub fn render(img: &RgbImage, size: u32, aug: &Augment, rng: Option<&mut impl Rng>) -> Vec<u8> {
    let t = match rng {
        Some(rng) if !aug.is_identity() => Transform::draw(aug, rng),
        _ => Transform::IDENTITY,
    };
    render_with(img, size, &t)
}

/// Renders with explicit transform parameters.
///
/// Without shear or zoom this is graft's plain resize (`to_chw(&resize_square(..))`, the input
/// itself when the size matches), mirrored when `t.flip`, so that a flip-only transform shows the
/// same pixels as evaluation. Otherwise one bilinear pass samples the source at
/// `(out + 0.5) * src / size - 0.5` after the affine, with coordinates clamped to the image.
pub fn render_with(img: &RgbImage, size: u32, t: &Transform) -> Vec<u8> {
    if !t.has_affine() {
        let mut out = if img.width() == size && img.height() == size {
            to_chw(img)
        } else {
            to_chw(&resize_square(img.clone(), size))
        };
        if t.flip {
            let s = size as usize;
            for row in out.chunks_exact_mut(s.max(1)) {
                row.reverse();
            }
        }
        return out;
    }
    sample_affine(img, size, t)
}

/// Fixed-point precision of the sampling coordinates and bilinear weights (1/2048 pixel).
const FRAC_BITS: u32 = 11;
const ONE: i64 = 1 << FRAC_BITS;

/// The bilinear affine path (see the module comment for the matrix). Coordinates and weights are
/// fixed-point: the source column and its weight depend on the output column only (precomputed),
/// the source row is a per-row base plus a per-column shear term.
fn sample_affine(img: &RgbImage, size: u32, t: &Transform) -> Vec<u8> {
    let s = size as usize;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = vec![0u8; 3 * s * s];
    if s == 0 || w == 0 || h == 0 {
        return out;
    }
    let src = img.as_raw();
    let (sin, cos) = t.shear_deg.to_radians().sin_cos();
    // Output-grid centre, and the scales from the output grid to the source.
    let c = s as f64 / 2.0 - 0.5;
    let sy = h as f64 / s as f64;
    let sx = w as f64 / s as f64;
    let (cy, cx) = (h as f64 / 2.0 - 0.5, w as f64 / 2.0 - 0.5);
    let fixed = |v: f64| (v * ONE as f64).round() as i64;
    let ymax = (h as i64 - 1) * ONE;
    let xmax = (w as f64 - 1.0) * ONE as f64;

    // Per output column: byte offsets of the two source columns, the weight of the second, and
    // the column's shear contribution to the source row.
    let mut cols: Vec<(usize, usize, u32)> = Vec::with_capacity(s);
    let mut row_shift: Vec<i64> = Vec::with_capacity(s);
    for oc in 0..s {
        // Keras flips the output after the transform.
        let col = if t.flip { s - 1 - oc } else { oc };
        let u = col as f64 - c;
        let x = ((cos * t.zy * u * sx + cx) * ONE as f64)
            .round()
            .clamp(0.0, xmax) as i64;
        let x0 = (x >> FRAC_BITS) as usize;
        let x1 = (x0 + 1).min(w - 1);
        cols.push((3 * x0, 3 * x1, (x & (ONE - 1)) as u32));
        row_shift.push(fixed(-sin * t.zy * u * sy));
    }

    let plane = s * s;
    let (r_plane, rest) = out.split_at_mut(plane);
    let (g_plane, b_plane) = rest.split_at_mut(plane);
    let stride = 3 * w;
    let one = ONE as u32;
    let round = 1u32 << (2 * FRAC_BITS - 1);
    for or in 0..s {
        let base = fixed(t.zx * (or as f64 - c) * sy + cy);
        let o = or * s;
        let rows = r_plane[o..o + s]
            .iter_mut()
            .zip(&mut g_plane[o..o + s])
            .zip(&mut b_plane[o..o + s]);
        for (((r, g), b), (&(x0, x1, fx), &shift)) in rows.zip(cols.iter().zip(&row_shift)) {
            let y = (base + shift).clamp(0, ymax);
            let y0 = (y >> FRAC_BITS) as usize;
            let fy = (y & (ONE - 1)) as u32;
            // At the last row fy is 0, so the second row's value does not matter.
            let y1 = if fy == 0 { y0 } else { y0 + 1 };
            let top = &src[y0 * stride..][..stride];
            let bot = &src[y1 * stride..][..stride];
            let (a, bb) = (&top[x0..x0 + 3], &top[x1..x1 + 3]);
            let (cc, d) = (&bot[x0..x0 + 3], &bot[x1..x1 + 3]);
            let px = |k: usize| -> u8 {
                let t0 = a[k] as u32 * (one - fx) + bb[k] as u32 * fx;
                let t1 = cc[k] as u32 * (one - fx) + d[k] as u32 * fx;
                ((t0 * (one - fy) + t1 * fy + round) >> (2 * FRAC_BITS)) as u8
            };
            *r = px(0);
            *g = px(1);
            *b = px(2);
        }
    }
    out
}

/// A per-(seed, epoch, item) RNG, so augmentation is deterministic whatever thread decodes the
/// item (reproducible and resumable training). Distinct triples give distinct ChaCha keys.
pub fn item_rng(seed: u64, epoch: u64, item: u64) -> StdRng {
    let mut key = [0u8; 32];
    key[0..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&epoch.to_le_bytes());
    key[16..24].copy_from_slice(&item.to_le_bytes());
    key[24..32].copy_from_slice(b"graftaug");
    StdRng::from_seed(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::decode;
    use std::path::Path;

    fn demo_image() -> RgbImage {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("demo/fruits-mini/Training/Banana")
            .read_dir()
            .unwrap()
            .map(|e| e.unwrap().path())
            .min()
            .unwrap();
        decode::decode(&p, None).unwrap()
    }

    fn plain(img: &RgbImage, size: u32) -> Vec<u8> {
        to_chw(&resize_square(img.clone(), size))
    }

    fn mirror(chw: &[u8], size: usize) -> Vec<u8> {
        let mut m = chw.to_vec();
        for row in m.chunks_exact_mut(size) {
            row.reverse();
        }
        m
    }

    /// Pixels where some channel is below 230 (the demo photos have white backgrounds).
    fn non_white(chw: &[u8], size: usize) -> Vec<(usize, usize)> {
        let p = size * size;
        (0..p)
            .filter(|&i| chw[i] < 230 || chw[p + i] < 230 || chw[2 * p + i] < 230)
            .map(|i| (i / size, i % size))
            .collect()
    }

    /// (rows, cols) spanned by the fruit: the rows (columns) holding at least 8 non-white pixels,
    /// so that isolated JPEG noise near the borders does not count.
    fn extent(px: &[(usize, usize)], size: usize) -> (usize, usize) {
        let span = |counts: Vec<usize>| {
            let on: Vec<usize> = (0..size).filter(|&i| counts[i] >= 8).collect();
            on.last().unwrap() - on.first().unwrap()
        };
        let (mut rows, mut cols) = (vec![0; size], vec![0; size]);
        for &(r, c) in px {
            rows[r] += 1;
            cols[c] += 1;
        }
        (span(rows), span(cols))
    }

    #[test]
    fn identity_equals_plain_resize() {
        let img = demo_image();
        let mut rng = item_rng(1, 0, 0);
        for size in [64u32, 100, 224, 299] {
            let want = plain(&img, size);
            assert_eq!(
                render(&img, size, &Augment::seed(), None::<&mut StdRng>),
                want
            );
            assert_eq!(render(&img, size, &Augment::none(), Some(&mut rng)), want);
            assert_eq!(render_with(&img, size, &Transform::IDENTITY), want);
        }
        assert_eq!(render_with(&img, 100, &Transform::IDENTITY), to_chw(&img));
        // The affine sampler with an identity matrix is a bilinear resize: close to the plain one.
        let a = sample_affine(&img, 299, &Transform::IDENTITY);
        let b = plain(&img, 299);
        let max = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
        assert!(max <= 2, "max diff {max}");
        assert_eq!(sample_affine(&img, 100, &Transform::IDENTITY), to_chw(&img));
    }

    #[test]
    fn deterministic_per_item() {
        let img = demo_image();
        let aug = Augment::seed();
        let a = render(&img, 299, &aug, Some(&mut item_rng(3, 2, 17)));
        let b = render(&img, 299, &aug, Some(&mut item_rng(3, 2, 17)));
        assert_eq!(a, b);
        let c = render(&img, 299, &aug, Some(&mut item_rng(3, 2, 18)));
        assert_ne!(a, c);
        let d = render(&img, 299, &aug, Some(&mut item_rng(3, 3, 17)));
        assert_ne!(a, d);
        // Drawn parameters stay in Keras' ranges, and both flips occur.
        let mut flips = [0; 2];
        for item in 0..200 {
            let t = Transform::draw(&aug, &mut item_rng(0, 0, item));
            assert!(t.shear_deg.abs() <= 0.2);
            assert!((0.8..=1.2).contains(&t.zx) && (0.8..=1.2).contains(&t.zy));
            flips[t.flip as usize] += 1;
        }
        assert!(flips[0] > 50 && flips[1] > 50, "{flips:?}");
    }

    #[test]
    fn flip_mirrors() {
        let img = demo_image();
        let flip = Transform {
            flip: true,
            ..Transform::IDENTITY
        };
        for size in [100u32, 299] {
            let want = mirror(&plain(&img, size), size as usize);
            assert_eq!(render_with(&img, size, &flip), want);
        }
        // Also in the resampling path (within rounding).
        let z = Transform {
            zx: 1.1,
            zy: 0.9,
            ..Transform::IDENTITY
        };
        let zf = Transform { flip: true, ..z };
        let a = mirror(&render_with(&img, 299, &z), 299);
        let b = render_with(&img, 299, &zf);
        let max = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).max().unwrap();
        assert!(max <= 1, "max diff {max}");
    }

    #[test]
    fn zoom_out_shrinks_the_fruit() {
        let img = demo_image();
        let base = non_white(&plain(&img, 299), 299);
        let out = non_white(
            &render_with(
                &img,
                299,
                &Transform {
                    zx: 1.5,
                    zy: 1.5,
                    ..Transform::IDENTITY
                },
            ),
            299,
        );
        let inn = non_white(
            &render_with(
                &img,
                299,
                &Transform {
                    zx: 0.8,
                    zy: 0.8,
                    ..Transform::IDENTITY
                },
            ),
            299,
        );
        assert!(
            out.len() < base.len() && base.len() < inn.len(),
            "{} {} {}",
            out.len(),
            base.len(),
            inn.len()
        );
        let ratio = out.len() as f64 / base.len() as f64;
        assert!((0.3..0.6).contains(&ratio), "area ratio {ratio}"); // ~ 1 / 1.5^2
    }

    #[test]
    fn zx_is_vertical_zy_horizontal() {
        // A dark 40-row x 60-column rectangle, centred on a white 100 x 100 image.
        let mut img = RgbImage::from_pixel(100, 100, image::Rgb([255, 255, 255]));
        for r in 30..70 {
            for c in 20..80 {
                img.put_pixel(c, r, image::Rgb([40, 90, 20]));
            }
        }
        let (h0, w0) = extent(&non_white(&plain(&img, 299), 299), 299);
        assert!(
            h0.abs_diff(120) <= 3 && w0.abs_diff(180) <= 3,
            "{h0} x {w0}"
        );
        let zx = Transform {
            zx: 2.0,
            ..Transform::IDENTITY
        };
        let (h1, w1) = extent(&non_white(&render_with(&img, 299, &zx), 299), 299);
        assert!(h1.abs_diff(h0 / 2) <= 3, "rows {h0} -> {h1}");
        assert!(w1.abs_diff(w0) <= 3, "cols {w0} -> {w1}");
        let zy = Transform {
            zy: 2.0,
            ..Transform::IDENTITY
        };
        let (h2, w2) = extent(&non_white(&render_with(&img, 299, &zy), 299), 299);
        assert!(w2.abs_diff(w0 / 2) <= 3, "cols {w0} -> {w2}");
        assert!(h2.abs_diff(h0) <= 3, "rows {h0} -> {h2}");
        // On the photo, zooming out vertically keeps the fruit's width.
        let photo = demo_image();
        let (_, pw0) = extent(&non_white(&plain(&photo, 299), 299), 299);
        let (_, pw1) = extent(&non_white(&render_with(&photo, 299, &zx), 299), 299);
        assert!(pw1.abs_diff(pw0) <= 4, "cols {pw0} -> {pw1}");
    }

    #[test]
    fn shear_follows_keras() {
        // A dark dot on white at input (row 30, col 70) of a 101 x 101 image, same output size.
        let mut img = RgbImage::from_pixel(101, 101, image::Rgb([255, 255, 255]));
        for dr in 0..3 {
            for dc in 0..3 {
                img.put_pixel(69 + dc, 29 + dr, image::Rgb([0, 0, 0]));
            }
        }
        let t = Transform {
            shear_deg: 30.0,
            ..Transform::IDENTITY
        };
        let out = render_with(&img, 101, &t);
        // Darkness-weighted centroid of the dot in the output.
        let (mut sw, mut sr, mut sc) = (0.0, 0.0, 0.0);
        for (i, &v) in out[..101 * 101].iter().enumerate() {
            let wgt = 255.0 - v as f64;
            sw += wgt;
            sr += wgt * (i / 101) as f64;
            sc += wgt * (i % 101) as f64;
        }
        let (r, c) = (sr / sw, sc / sw);
        // Keras: in_row - 50 = (out_row - 50) - sin(s) (out_col - 50); in_col - 50 = cos(s) (out_col - 50).
        let (sin, cos) = 30f64.to_radians().sin_cos();
        let want_c = 50.0 + 20.0 / cos;
        let want_r = 50.0 - 20.0 + sin * (want_c - 50.0);
        assert!(
            (c - want_c).abs() <= 1.5 && (r - want_r).abs() <= 1.5,
            "({r}, {c}) vs ({want_r}, {want_c})"
        );
    }

    #[test]
    fn timing_299() {
        let img = demo_image();
        let aug = Augment::seed();
        let n = 200u64;
        let mut checksum = 0u64;
        let start = std::time::Instant::now();
        for item in 0..n {
            let mut t = Transform::draw(&aug, &mut item_rng(0, 0, item));
            if !t.has_affine() {
                t.zx = 1.01;
            }
            checksum += render_with(&img, 299, &t)[299 * 150] as u64;
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / n as f64;
        let start = std::time::Instant::now();
        for _ in 0..n {
            checksum += plain(&img, 299)[299 * 150] as u64;
        }
        let plain_ms = start.elapsed().as_secs_f64() * 1e3 / n as f64;
        println!(
            "augmented render 100x100 -> 299x299: {ms:.3} ms/image (plain resize: {plain_ms:.3} ms) [{checksum}]"
        );
    }
}
