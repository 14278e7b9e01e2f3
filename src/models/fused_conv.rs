//! The inference convolution (batch norm folded in), with its activation (ReLU, ReLU6) fused
//! into the same oneDNN kernel on the CPU, in fp32 and in bf16 where oneDNN has bf16 kernels
//! (`csrc/fused_conv.cpp`): a separate activation pass reads and writes the whole output again,
//! and the stems' outputs are the networks' largest. Elsewhere (CUDA, bf16 on a CPU without
//! AVX512-BW/VL/DQ or AVX-NE-CONVERT, where oneDNN's bf16 kernel refuses to run) libtorch's
//! conv2d, the activation left to the caller.
use super::activation::Activation;
use crate::engine::{BridgeMessage, bridge_tensor};
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
        activation: i32,
        out: *mut *mut c_void,
        activation_done: *mut bool,
    ) -> BridgeMessage;
}

/// `xs.conv2d(w, Some(b), stride, padding, 1, groups)` without gradients, under the thread's
/// autocast, and whether `activation` is applied too (where fused; never for `None`).
pub fn conv2d(
    xs: &Tensor,
    (w, b): &(Tensor, Tensor),
    stride: i64,
    [ph, pw]: [i64; 2],
    groups: i64,
    activation: Activation,
) -> (Tensor, bool) {
    let code = match activation {
        Activation::None => 0,
        Activation::Relu => 1,
        Activation::Relu6 => 2,
    };
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
                code,
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
    use crate::engine::{in_bf16, onednn_bf16};
    use crate::models::test_tensors::{channels_last, relative, wavy};

    /// The activation after libtorch's plain convolution.
    fn activate(y: Tensor, activation: Activation) -> Tensor {
        match activation {
            Activation::None => y,
            Activation::Relu => y.relu(),
            Activation::Relu6 => y.relu6(),
        }
    }

    #[test]
    fn a_fused_activation_gives_the_convolution_then_its_activation() {
        let bf16 = onednn_bf16();
        eprintln!(
            "oneDNN bf16 kernels on this CPU: {}; fp32 fused, bf16 {}",
            if bf16 { "yes" } else { "no" },
            if bf16 { "fused" } else { "unfused" }
        );
        // Values beyond 6 too, so ReLU6's upper clamp is exercised.
        let x = channels_last(&(wavy(&[2, 8, 12, 12], 0.37) * 8.0));
        // A plain kernel and a depthwise one (groups = channels).
        for (w, g) in [
            (wavy(&[6, 8, 3, 3], 0.71), 1),
            (wavy(&[8, 1, 3, 3], 0.29), 8),
        ] {
            let b = wavy(&[w.size()[0]], 0.5);
            let wb = (w.shallow_clone(), b.shallow_clone());
            let plain = x.conv2d(&w, Some(&b), 2, [1, 1], 1, g);
            for activation in [Activation::None, Activation::Relu, Activation::Relu6] {
                let want = activate(plain.shallow_clone(), activation);
                let after = |(y, done): (Tensor, bool)| match done {
                    true => y,
                    false => activate(y, activation),
                };
                // fp32: fused wherever there is an activation, equal within fp32 rounding.
                let (y, done) = conv2d(&x, &wb, 2, [1, 1], g, activation);
                assert_eq!(done, activation != Activation::None);
                let ours = relative(&after((y, done)), &want);
                assert!(ours < 1e-5, "groups {g} {activation:?}: fp32 {ours:.2e}");
                // bf16: fused where oneDNN has bf16 kernels, within bf16's own rounding.
                let theirs =
                    in_bf16(|| activate(x.conv2d(&w, Some(&b), 2, [1, 1], 1, g), activation));
                let (y, done) = in_bf16(|| conv2d(&x, &wb, 2, [1, 1], g, activation));
                assert_eq!(done, bf16 && activation != Activation::None);
                let y = after((y, done)).to_kind(tch::Kind::Float);
                assert_eq!(y.size(), want.size());
                let (ours, theirs) = (relative(&y, &want), relative(&theirs, &want));
                assert!(
                    ours < 5e-2 && ours < 2.0 * theirs + 1e-3,
                    "groups {g} {activation:?}: bf16 {ours:.2e} from fp32 (libtorch's: {theirs:.2e})"
                );
            }
        }
    }
}
