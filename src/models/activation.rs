//! The non-linearity after a convolution (its own module: the layers and the fused kernels
//! both name it).

/// The non-linearity after a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// None (a linear projection).
    None,
    /// max(x, 0).
    Relu,
    /// min(max(x, 0), 6).
    Relu6,
}
