//! Building blocks shared by the backbones.
use tch::Tensor;
use tch::nn::{self, ModuleT};

/// Conv (no bias) + batch norm + optional activation, with the parameter names of the
/// TF-InceptionV3 weights: `weight`, `beta`, `mean`, `var` (and `gamma` where the norm scales).
/// Batch norm without scale is what those weights need; `gamma` exists only for weights that
/// carry one (the Keras variant keeps scale=False too, so it is off by default).
#[derive(Debug)]
pub struct ConvBn {
    weight: Tensor,
    gamma: Option<Tensor>,
    beta: Tensor,
    mean: Tensor,
    var: Tensor,
    stride: i64,
    padding: [i64; 2],
    eps: f64,
}

impl ConvBn {
    /// `kernel` and `padding` are (height, width).
    pub fn new(
        p: nn::Path,
        cin: i64,
        cout: i64,
        kernel: [i64; 2],
        stride: i64,
        padding: [i64; 2],
    ) -> Self {
        let init = nn::Init::Kaiming {
            dist: nn::init::NormalOrUniform::Normal,
            fan: nn::init::FanInOut::FanIn,
            non_linearity: nn::init::NonLinearity::ReLU,
        };
        Self {
            weight: p.var("weight", &[cout, cin, kernel[0], kernel[1]], init),
            gamma: None,
            beta: p.zeros("beta", &[cout]),
            mean: p.zeros_no_train("mean", &[cout]),
            var: p.ones_no_train("var", &[cout]),
            stride,
            padding,
            eps: 1e-3,
        }
    }
}

impl ModuleT for ConvBn {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        xs.conv2d(
            &self.weight,
            None::<Tensor>,
            self.stride,
            self.padding,
            1,
            1,
        )
        .batch_norm(
            self.gamma.as_ref(),
            Some(&self.beta),
            Some(&self.mean),
            Some(&self.var),
            train,
            0.01,
            self.eps,
            true,
        )
        .relu()
    }
}

/// TensorFlow 'same' padding for a given input extent: the output is ceil(in / stride) and the
/// extra padding goes to the bottom/right, which differs from PyTorch's symmetric padding when
/// stride is 2 and the input is even.
pub fn tf_same_pad(xs: &Tensor, kernel: i64, stride: i64) -> Tensor {
    let size = xs.size();
    let pad = |extent: i64| ((extent + stride - 1) / stride - 1) * stride + kernel - extent;
    let (ph, pw) = (pad(size[2]).max(0), pad(size[3]).max(0));
    if ph == 0 && pw == 0 {
        return xs.shallow_clone();
    }
    xs.constant_pad_nd([pw / 2, pw - pw / 2, ph / 2, ph - ph / 2])
}

/// Global average pool over the spatial dimensions: [B, C, H, W] -> [B, C].
pub fn global_avg_pool(xs: &Tensor) -> Tensor {
    xs.mean_dim(&[2i64, 3][..], false, None)
}
