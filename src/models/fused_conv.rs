//! The inference convolution (batch norm folded in), with its ReLU fused into the same oneDNN
//! kernel in bf16 on the CPU (`csrc/fused_conv.cpp`): there a separate bf16 ReLU pass costs as
//! much as half the convolution on the stem's large activations. Elsewhere libtorch's conv2d.
use crate::engine::{BridgeMessage, bridge_result};
use std::ffi::c_void;
use tch::Tensor;

unsafe extern "C" {
    // csrc/fused_conv.cpp
    #[allow(clippy::too_many_arguments)]
    fn graft_inference_conv2d(
        x: *mut c_void,
        w: *mut c_void,
        b: *mut c_void,
        sh: i64,
        sw: i64,
        ph: i64,
        pw: i64,
        groups: i64,
        relu: bool,
        out: *mut *mut c_void,
        relu_done: *mut bool,
    ) -> BridgeMessage;
}

/// `xs.conv2d(w, Some(b), stride, padding, 1, groups)` without gradients, under the thread's
/// autocast, and whether its ReLU is applied too (asked for by `relu`; done where fused).
pub fn conv2d(
    xs: &Tensor,
    (w, b): &(Tensor, Tensor),
    stride: i64,
    padding: [i64; 2],
    groups: i64,
    relu: bool,
) -> (Tensor, bool) {
    let ptr = |t: &Tensor| t.as_ptr() as *mut c_void;
    let (mut out, mut done) = (std::ptr::null_mut(), false);
    let [ph, pw] = padding;
    let message = unsafe {
        let (x, w, b) = (ptr(xs), ptr(w), ptr(b));
        graft_inference_conv2d(
            x, w, b, stride, stride, ph, pw, groups, relu, &mut out, &mut done,
        )
    };
    // libtorch's errors here are a caller's shape errors, which conv2d panics on too.
    if let Err(e) = bridge_result(message, "convolution") {
        panic!("{e}")
    }
    // A new at::Tensor the bridge allocated: the Tensor owns and frees it.
    (unsafe { Tensor::from_ptr(out as *mut _) }, done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::in_bf16;
    use tch::{Device, Kind};

    fn wavy(shape: &[i64], step: f64) -> Tensor {
        let n = shape.iter().product::<i64>();
        ((Tensor::arange(n, (Kind::Float, Device::Cpu)) * step).sin() * 1.7).reshape(shape)
    }

    #[test]
    fn a_fused_relu_gives_the_convolution_then_its_relu() {
        let x = wavy(&[2, 8, 12, 12], 0.37)
            .permute([0, 2, 3, 1])
            .contiguous()
            .permute([0, 3, 1, 2]);
        // A plain kernel and a depthwise one (groups = channels).
        for (w, g) in [
            (wavy(&[6, 8, 3, 3], 0.71), 1),
            (wavy(&[8, 1, 3, 3], 0.29), 8),
        ] {
            let b = wavy(&[w.size()[0]], 0.5);
            let want = x.conv2d(&w, Some(&b), 2, [1, 1], 1, g).relu();
            let (y, done) = in_bf16(|| {
                conv2d(
                    &x,
                    &(w.shallow_clone(), b.shallow_clone()),
                    2,
                    [1, 1],
                    g,
                    true,
                )
            });
            assert!(done, "bf16 on the CPU fuses");
            let theirs = in_bf16(|| x.conv2d(&w, Some(&b), 2, [1, 1], 1, g).relu());
            let from_fp32 = |t: &Tensor| {
                let t = t.to_kind(Kind::Float);
                assert_eq!(t.size(), want.size());
                (&t - &want).norm().double_value(&[]) / want.norm().double_value(&[])
            };
            let (ours, theirs) = (from_fp32(&y), from_fp32(&theirs));
            // bf16's own rounding, as libtorch's bf16 convolution has it.
            assert!(
                ours < 5e-2 && ours < 2.0 * theirs + 1e-3,
                "groups {g}: {ours:.2e} from fp32 (libtorch's bf16: {theirs:.2e})"
            );
            // fp32: libtorch's conv2d, bit for bit, and the ReLU left to the caller.
            let (y, done) = conv2d(
                &x,
                &(w.shallow_clone(), b.shallow_clone()),
                2,
                [1, 1],
                g,
                true,
            );
            assert!(!done && y.equal(&x.conv2d(&w, Some(&b), 2, [1, 1], 1, g)));
        }
    }
}
