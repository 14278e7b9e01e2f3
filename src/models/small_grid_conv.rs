//! A trained convolution with a faster kernel gradient where oneDNN's bf16 one is slow: on the
//! CPU in bf16, for outputs of at most 8x8 positions per image, the gradient of the kernel is one
//! matrix product instead of oneDNN's convolution-backward pass (`csrc/small_grid_conv.cpp`; a
//! training step of InceptionV3's mixed_8..10 at 187 px spends 99.6 against 33 ms a batch of 64
//! on kernel gradients). Elsewhere (fp32, larger grids, CUDA) it is libtorch's conv2d.
use crate::engine::{BridgeMessage, bridge_tensor};
use std::ffi::c_void;
use tch::Tensor;

unsafe extern "C" {
    // csrc/small_grid_conv.cpp
    fn graft_trained_conv2d(
        x: *mut c_void,
        w: *mut c_void,
        sh: i64,
        sw: i64,
        ph: i64,
        pw: i64,
        out: *mut *mut c_void,
    ) -> BridgeMessage;
}

/// `xs.conv2d(w, None, stride, padding, 1, 1)`: a groups-1 convolution without bias, recorded
/// for autograd, under the thread's autocast as conv2d is.
pub fn conv2d(xs: &Tensor, w: &Tensor, stride: i64, padding: [i64; 2]) -> Tensor {
    let ptr = |t: &Tensor| t.as_ptr() as *mut c_void;
    let y = bridge_tensor("convolution", |out| {
        // SAFETY: the tensors are borrowed for the call; `out` outlives it.
        unsafe {
            graft_trained_conv2d(ptr(xs), ptr(w), stride, stride, padding[0], padding[1], out)
        }
    });
    // libtorch's errors here are a caller's shape errors, which conv2d panics on too.
    y.unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::in_bf16;
    use crate::models::test_tensors::{channels_last, relative, wavy};
    use tch::Kind;

    /// The output and both gradients of a convolution of random `x` [N, C, H, W] by a
    /// channels-last kernel [O, C, kh, kw] against a fixed random output weighting, by `conv`.
    fn grads(
        shape: [i64; 4],
        kernel: [i64; 4],
        conv: impl Fn(&Tensor, &Tensor) -> Tensor,
    ) -> [Tensor; 3] {
        let x = channels_last(&wavy(&shape, 0.37)).set_requires_grad(true);
        let w = channels_last(&(wavy(&kernel, 0.71) * 0.1)).set_requires_grad(true);
        let y = conv(&x, &w).to_kind(Kind::Float);
        let weighting = wavy(&y.size(), 0.53);
        (&y * &weighting).sum(Kind::Float).backward();
        [y.detach(), x.grad(), w.grad()]
    }

    #[test]
    fn bf16_kernel_gradients_on_small_grids_match_libtorchs() {
        // (input, kernel, stride, padding): InceptionV3's upper shapes, scaled down; the last
        // two have grids over 8x8, where libtorch's own pass runs.
        let cases = [
            ([4, 64, 4, 4], [48, 64, 1, 1], 1, [0, 0]),
            ([4, 32, 4, 4], [40, 32, 3, 3], 1, [1, 1]),
            ([4, 24, 4, 4], [24, 24, 1, 3], 1, [0, 1]),
            ([4, 24, 4, 4], [24, 24, 3, 1], 1, [1, 0]),
            ([4, 16, 10, 10], [32, 16, 3, 3], 2, [0, 0]),
            ([4, 16, 10, 10], [16, 16, 1, 7], 1, [0, 3]),
            ([4, 16, 12, 12], [16, 16, 1, 1], 1, [0, 0]),
        ];
        for (shape, kernel, s, pad) in cases {
            let exact = grads(shape, kernel, |x, w| {
                x.conv2d(w, None::<Tensor>, s, pad, 1, 1)
            });
            let ours = in_bf16(|| grads(shape, kernel, |x, w| conv2d(x, w, s, pad)));
            let theirs = in_bf16(|| {
                grads(shape, kernel, |x, w| {
                    x.conv2d(w, None::<Tensor>, s, pad, 1, 1)
                })
            });
            for (i, what) in ["output", "input gradient", "kernel gradient"]
                .iter()
                .enumerate()
            {
                assert_eq!(
                    ours[i].size(),
                    exact[i].size(),
                    "{what} {shape:?} {kernel:?}"
                );
                let (e_ours, e_theirs) = (
                    relative(&ours[i], &exact[i]),
                    relative(&theirs[i], &exact[i]),
                );
                // bf16's own rounding, as libtorch's bf16 path has it.
                assert!(
                    e_ours < 5e-2 && e_ours < 2.0 * e_theirs + 1e-3,
                    "{what} of {shape:?} by {kernel:?}: {e_ours:.2e} from fp32 (libtorch's bf16: {e_theirs:.2e})"
                );
            }
            assert_eq!(
                ours[2].kind(),
                Kind::Float,
                "the kernel's gradient in its own type"
            );
        }
    }

    #[test]
    fn fp32_is_libtorchs_conv2d_bit_for_bit() {
        let (shape, kernel) = ([2, 8, 4, 4], [6, 8, 3, 3]);
        let ours = grads(shape, kernel, |x, w| conv2d(x, w, 1, [1, 1]));
        let theirs = grads(shape, kernel, |x, w| {
            x.conv2d(w, None::<Tensor>, 1, [1, 1], 1, 1)
        });
        for (a, b) in ours.iter().zip(&theirs) {
            assert!(a.equal(b));
        }
    }
}
