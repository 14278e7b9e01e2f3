//! The int8 operations of `csrc/int8.cpp`: convolution kernels quantized per output channel and
//! packed once, and the quantized convolution, sum and concatenation of quint8 activations.
use crate::engine::{BridgeMessage, bridge_result, bridge_tensor};
use anyhow::Result;
use std::ffi::c_void;
use tch::Tensor;

unsafe extern "C" {
    fn graft_int8_available() -> bool;
    #[allow(clippy::too_many_arguments)]
    fn graft_int8_pack_conv(
        w: *mut c_void,
        b: *mut c_void,
        sh: i64,
        sw: i64,
        ph: i64,
        pw: i64,
        groups: i64,
        packed: *mut *mut c_void,
    ) -> BridgeMessage;
    fn graft_int8_free(packed: *mut c_void);
    fn graft_int8_conv(
        packed: *mut c_void,
        qx: *mut c_void,
        scale: f64,
        zero_point: i64,
        relu: bool,
        out: *mut *mut c_void,
    ) -> BridgeMessage;
    fn graft_int8_add(
        a: *mut c_void,
        b: *mut c_void,
        scale: f64,
        zero_point: i64,
        out: *mut *mut c_void,
    ) -> BridgeMessage;
    fn graft_int8_cat(
        xs: *const *mut c_void,
        n: i64,
        scale: f64,
        zero_point: i64,
        out: *mut *mut c_void,
    ) -> BridgeMessage;
}

/// Whether this libtorch has the x86 quantized engine that graft's int8 runs on.
pub fn available() -> bool {
    // SAFETY: a query without arguments; it catches every C++ exception itself.
    unsafe { graft_int8_available() }
}

/// A quint8 tensor's scale and zero point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QParams {
    /// The value of one step.
    pub scale: f64,
    /// The integer that stands for 0.0.
    pub zero_point: i64,
}

fn ptr(t: &Tensor) -> *mut c_void {
    t.as_ptr() as *mut c_void
}

/// A convolution's int8 kernel and float32 bias, packed for libtorch's quantized backend.
pub struct Packed(*mut c_void);

// SAFETY: the packed kernel is written once when made and only read by convolutions after.
unsafe impl Send for Packed {}
unsafe impl Sync for Packed {}

impl Drop for Packed {
    fn drop(&mut self) {
        // SAFETY: made by graft_int8_pack_conv and dropped once.
        unsafe { graft_int8_free(self.0) }
    }
}

impl Packed {
    /// Kernel `w` (float32, [O, I/g, kh, kw]) quantized to int8 per output channel
    /// (symmetric), with bias `b`, for a convolution of `stride`, `padding` and `groups`.
    pub fn conv(
        w: &Tensor,
        b: &Tensor,
        stride: i64,
        [ph, pw]: [i64; 2],
        groups: i64,
    ) -> Result<Self> {
        let mut out = std::ptr::null_mut();
        // SAFETY: the tensors are borrowed for the call; `out` outlives it.
        let m = unsafe {
            graft_int8_pack_conv(ptr(w), ptr(b), stride, stride, ph, pw, groups, &mut out)
        };
        bridge_result(m, "packing an int8 convolution")?;
        Ok(Self(out))
    }

    /// The convolution of quint8 `qx`, its output quantized by `out`, then its ReLU when `relu`.
    pub fn run(&self, qx: &Tensor, out: QParams, relu: bool) -> Tensor {
        let y = bridge_tensor("int8 convolution", |o| {
            // SAFETY: the kernel and `qx` are borrowed for the call.
            unsafe { graft_int8_conv(self.0, ptr(qx), out.scale, out.zero_point, relu, o) }
        });
        // libtorch's errors here are shape errors of the caller, which conv2d panics on too.
        y.unwrap_or_else(|e| panic!("{e}"))
    }
}

/// a + b of two quint8 tensors, quantized by `out`.
pub fn add(a: &Tensor, b: &Tensor, out: QParams) -> Tensor {
    let y = bridge_tensor("int8 sum", |o| {
        // SAFETY: the tensors are borrowed for the call.
        unsafe { graft_int8_add(ptr(a), ptr(b), out.scale, out.zero_point, o) }
    });
    y.unwrap_or_else(|e| panic!("{e}"))
}

/// quint8 tensors concatenated along channels, quantized by `out`.
pub fn cat(parts: &[Tensor], out: QParams) -> Tensor {
    let ptrs: Vec<*mut c_void> = parts.iter().map(ptr).collect();
    let y = bridge_tensor("int8 concatenation", |o| {
        // SAFETY: the tensors are borrowed for the call; `ptrs` outlives it.
        unsafe {
            graft_int8_cat(
                ptrs.as_ptr(),
                ptrs.len() as i64,
                out.scale,
                out.zero_point,
                o,
            )
        }
    });
    y.unwrap_or_else(|e| panic!("{e}"))
}
