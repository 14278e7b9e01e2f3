//! int8 inference of a backbone by post-training static quantization. Calibration runs the
//! float32 network over sample images and records the range of the input and of every
//! convolution's, concatenation's and residual sum's output; from those ranges each activation
//! gets one quint8 scale and zero point, each convolution kernel is quantized per output channel
//! to int8 (with the batch norm folded in first), and the blocks run on libtorch's x86 quantized
//! kernels. The last block's output is pooled in float32 for the head.
pub mod calibrate;
pub mod ops;
mod walk;

pub use calibrate::{Calibrator, Range};

use super::layers::{Activation, Conv, Padding, Pool, global_avg_pool, tf_same_pad};
use super::net::Block;
use anyhow::{Result, ensure};
use ops::{Packed, QParams, add, cat};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tch::{Kind, Tensor};
use walk::{Labels, Steps, walk};

/// The largest quint8 activation: 255 where the CPU multiplies bytes with VNNI, else 127, since
/// fbgemm's AVX2 kernel sums pairs of u8 x s8 products in 16 bits, which 8-bit activations can
/// overflow (PyTorch's x86 default, `reduce_range`).
pub fn activation_max() -> i64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512vnni") {
        return 255;
    }
    127
}

/// A scale and zero point covering `[min, max]` (and 0) with `0..=qmax`.
pub fn qparams(min: f64, max: f64, qmax: i64) -> QParams {
    let (lo, hi) = (min.min(0.0), max.max(0.0));
    let scale = ((hi - lo) / qmax as f64).max(1e-8);
    let zero_point = ((-lo / scale).round() as i64).clamp(0, qmax);
    QParams { scale, zero_point }
}

/// Each activation's scale and zero point on this CPU, from its calibrated range.
pub fn activation_params(ranges: &[Range]) -> Vec<QParams> {
    let qmax = activation_max();
    ranges.iter().map(|r| qparams(r.min, r.max, qmax)).collect()
}

/// Packed int8 kernels by slot and padding.
type Kernels = HashMap<(usize, [i64; 2]), Arc<Packed>>;

/// A backbone's int8 form: each activation's scale and zero point, and its convolutions' int8
/// kernels, packed on first use (a TF-'same' convolution's padding depends on its input size).
pub struct Quantized {
    input: QParams,
    slots: Vec<QParams>,
    packed: Mutex<Kernels>,
}

impl std::fmt::Debug for Quantized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Quantized({} activations)", self.slots.len() + 1)
    }
}

impl Quantized {
    /// The int8 form of the network of `blocks` from its calibration `ranges` (as
    /// [`Calibrator::ranges`] gives them); ranges of another network are an error.
    pub fn new(blocks: &[Block], ranges: &[Range]) -> Result<Self> {
        ensure!(
            ops::available(),
            "int8: this libtorch has no x86 quantized engine (fbgemm/oneDNN)"
        );
        let (_, labels) = walk(blocks, &(), &mut Labels);
        let expected: Vec<&str> = std::iter::once("input")
            .chain(labels.iter().map(String::as_str))
            .collect();
        let found: Vec<&str> = ranges.iter().map(|r| r.at.as_str()).collect();
        ensure!(
            found == expected,
            "the int8 calibration is of another network ({} activations calibrated, {} in this one)",
            found.len(),
            expected.len()
        );
        let mut slots = activation_params(ranges);
        Ok(Self {
            input: slots.remove(0),
            slots,
            packed: Mutex::new(HashMap::new()),
        })
    }

    /// Globally pooled float32 features [B, D] of `blocks` on a batch `x` of the network's
    /// (normalized) input.
    pub fn pooled(&self, blocks: &[Block], x: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let q = x.quantize_per_tensor(self.input.scale, self.input.zero_point, Kind::QUInt8);
            let (y, _) = walk(blocks, &q, &mut Int8 { q: self });
            global_avg_pool(&y.dequantize())
        })
    }

    fn kernel(&self, slot: usize, conv: &Conv, padding: [i64; 2]) -> Arc<Packed> {
        let mut packed = self.packed.lock().unwrap_or_else(|e| e.into_inner());
        let p = packed.entry((slot, padding)).or_insert_with(|| {
            let (w, b) = conv.folded();
            let p = Packed::conv(&w, &b, conv.stride(), padding, conv.groups());
            Arc::new(p.unwrap_or_else(|e| panic!("{}: {e}", conv.name())))
        });
        p.clone()
    }
}

/// The int8 network.
struct Int8<'q> {
    q: &'q Quantized,
}

impl Steps for Int8<'_> {
    type T = Tensor;
    fn conv(&mut self, slot: usize, conv: &Conv, x: &Tensor) -> Tensor {
        let (x, padding) = match conv.padding() {
            Padding::Fixed(p) => (x.shallow_clone(), p),
            Padding::TfSame => tf_same_pad(x, conv.kernel()[0], conv.stride()),
        };
        let relu = conv.activation() != Activation::None;
        self.q
            .kernel(slot, conv, padding)
            .run(&x, self.q.slots[slot], relu)
    }
    fn pool(&mut self, pool: &Pool, x: &Tensor) -> Tensor {
        pool.forward(x)
    }
    fn cat(&mut self, slot: usize, parts: Vec<Tensor>) -> Tensor {
        cat(&parts, self.q.slots[slot])
    }
    fn add(&mut self, slot: usize, a: Tensor, b: &Tensor) -> Tensor {
        add(&a, b, self.q.slots[slot])
    }
    fn same(&self, x: &Tensor) -> Tensor {
        x.shallow_clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_tensors::{channels_last, relative, wavy};

    #[test]
    fn qparams_cover_the_range_and_zero_exactly() {
        let q = qparams(-1.0, 3.0, 255);
        assert!((q.scale - 4.0 / 255.0).abs() < 1e-12);
        assert_eq!(q.zero_point, 64); // 1.0 / (4/255) = 63.75
        // A ReLU's output: zero at the bottom; a range that excludes 0 is widened to it.
        assert_eq!(qparams(0.0, 6.0, 255).zero_point, 0);
        assert_eq!(qparams(2.0, 6.0, 127), qparams(0.0, 6.0, 127));
        assert_eq!(qparams(-4.0, -1.0, 255).zero_point, 255);
    }

    #[test]
    fn an_int8_convolution_is_the_float_one_within_its_quantization_steps() {
        if !ops::available() {
            eprintln!("no x86 quantized engine in this libtorch: skipped");
            return;
        }
        let x = channels_last(&(wavy(&[2, 8, 12, 12], 0.37) + 1.7));
        for (w, g) in [
            (wavy(&[6, 8, 3, 3], 0.71), 1),
            (wavy(&[8, 1, 3, 3], 0.29), 8),
        ] {
            let b = wavy(&[w.size()[0]], 0.5);
            let want = x.conv2d(&w, Some(&b), 2, [1, 1], 1, g);
            let lo = want.min().double_value(&[]);
            let hi = want.max().double_value(&[]);
            let qin = qparams(0.0, 3.4, 255);
            let qout = qparams(lo, hi, 255);
            let qx = x.quantize_per_tensor(qin.scale, qin.zero_point, Kind::QUInt8);
            let packed = Packed::conv(&w, &b, 2, [1, 1], g).unwrap();
            let y = packed.run(&qx, qout, false).dequantize();
            assert_eq!(y.size(), want.size());
            let err = relative(&y, &want);
            assert!(err < 0.03, "groups {g}: {err:.4} from float32");
            let relu = packed.run(&qx, qparams(0.0, hi, 255), true).dequantize();
            let err = relative(&relu, &want.relu());
            assert!(err < 0.03, "groups {g}, ReLU: {err:.4} from float32");
        }
    }

    #[test]
    fn a_sum_and_a_concatenation_requantize_to_their_own_range() {
        if !ops::available() {
            return;
        }
        let a = channels_last(&wavy(&[1, 4, 5, 5], 0.3));
        let b = channels_last(&(wavy(&[1, 4, 5, 5], 0.7) * 2.0));
        let q = |t: &Tensor, p: QParams| t.quantize_per_tensor(p.scale, p.zero_point, Kind::QUInt8);
        let (pa, pb) = (qparams(-1.7, 1.7, 255), qparams(-3.4, 3.4, 255));
        let (qa, qb) = (q(&a, pa), q(&b, pb));
        let sum = add(&qa, &qb, qparams(-5.1, 5.1, 255)).dequantize();
        assert!(relative(&sum, &(&a + &b)) < 0.01);
        let both = cat(&[qa, qb], qparams(-3.4, 3.4, 255)).dequantize();
        assert!(relative(&both, &Tensor::cat(&[&a, &b], 1)) < 0.01);
    }
}
