//! The inference convolution (batch norm folded in), with its ReLU fused into the same oneDNN
//! kernel in bf16 on a CPU whose oneDNN has bf16 kernels (`csrc/fused_conv.cpp`): there a
//! separate bf16 ReLU pass costs as much as half the convolution on the stem's large
//! activations. Elsewhere (fp32, CUDA, a CPU without AVX512-BW/VL/DQ or AVX-NE-CONVERT, where
//! oneDNN's bf16 kernel refuses to run) libtorch's conv2d, the ReLU left to the caller.
use crate::engine::{BridgeMessage, bridge_tensor, onednn_bf16};
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
    weights: &(Tensor, Tensor),
    stride: i64,
    padding: [i64; 2],
    groups: i64,
    relu: bool,
) -> (Tensor, bool) {
    convolve(xs, weights, stride, padding, groups, relu && onednn_bf16())
}

/// [`conv2d`], fusing the ReLU only where `fuse` allows it.
fn convolve(
    xs: &Tensor,
    (w, b): &(Tensor, Tensor),
    stride: i64,
    [ph, pw]: [i64; 2],
    groups: i64,
    fuse: bool,
) -> (Tensor, bool) {
    let ptr = |t: &Tensor| t.as_ptr() as *mut c_void;
    let mut done = false;
    let y = bridge_tensor("convolution", |out| {
        // SAFETY: the tensors are borrowed for the call; `out` and `done` outlive it.
        unsafe {
            graft_inference_conv2d(
                ptr(xs),
                ptr(w),
                ptr(b),
                stride,
                stride,
                ph,
                pw,
                groups,
                fuse,
                out,
                &mut done,
            )
        }
    });
    // libtorch's errors here are a caller's shape errors, which conv2d panics on too.
    (y.unwrap_or_else(|e| panic!("{e}")), done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::in_bf16;
    use crate::models::test_tensors::{channels_last, relative, wavy};

    #[test]
    fn a_fused_relu_gives_the_convolution_then_its_relu() {
        let fuses = onednn_bf16();
        eprintln!(
            "oneDNN bf16 kernels on this CPU: {}; testing {} and the unfused path",
            if fuses { "yes" } else { "no" },
            if fuses {
                "the fused kernel"
            } else {
                "that conv2d does not fuse"
            }
        );
        let x = channels_last(&wavy(&[2, 8, 12, 12], 0.37));
        // A plain kernel and a depthwise one (groups = channels).
        for (w, g) in [
            (wavy(&[6, 8, 3, 3], 0.71), 1),
            (wavy(&[8, 1, 3, 3], 0.29), 8),
        ] {
            let b = wavy(&[w.size()[0]], 0.5);
            let wb = (w.shallow_clone(), b.shallow_clone());
            let want = x.conv2d(&w, Some(&b), 2, [1, 1], 1, g).relu();
            let theirs = in_bf16(|| x.conv2d(&w, Some(&b), 2, [1, 1], 1, g).relu());
            let (y, done) = in_bf16(|| conv2d(&x, &wb, 2, [1, 1], g, true));
            assert_eq!(
                done, fuses,
                "bf16 on the CPU fuses where oneDNN has bf16 kernels"
            );
            let (unfused, not_done) = in_bf16(|| convolve(&x, &wb, 2, [1, 1], g, false));
            assert!(!not_done, "the ReLU is left to the caller where not fused");
            let relu_after = |y: Tensor, done| if done { y } else { y.relu() };
            for y in [relu_after(y, done), unfused.relu()] {
                let y = y.to_kind(tch::Kind::Float);
                assert_eq!(y.size(), want.size());
                let (ours, theirs) = (relative(&y, &want), relative(&theirs, &want));
                // bf16's own rounding, as libtorch's bf16 convolution has it.
                assert!(
                    ours < 5e-2 && ours < 2.0 * theirs + 1e-3,
                    "groups {g}: {ours:.2e} from fp32 (libtorch's bf16: {theirs:.2e})"
                );
            }
            // fp32: libtorch's conv2d, bit for bit, and the ReLU left to the caller.
            let (y, done) = conv2d(&x, &wb, 2, [1, 1], g, true);
            assert!(!done && y.equal(&x.conv2d(&w, Some(&b), 2, [1, 1], 1, g)));
        }
    }
}
