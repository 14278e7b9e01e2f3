//! The layers the backbones are built from: a convolution with its batch norm and activation
//! (the batch norm folded into the convolution for inference), and pooling. Each keeps the
//! parameters its forward pass uses, so the same values describe the network (summary, graph,
//! export) and run it.
pub use super::activation::Activation;
use super::pass::Pass;
use super::{fused_conv, small_grid_conv};
use std::sync::Mutex;
use tch::Tensor;
use tch::nn;

/// How a convolution pads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// The same padding on both sides of each dimension, (height, width).
    Fixed([i64; 2]),
    /// TensorFlow's 'same': the output is ceil(input / stride) and the odd pixel of padding goes
    /// to the bottom/right (PyTorch's symmetric padding differs for stride 2 and even inputs).
    TfSame,
}

/// The batch norm that follows a convolution: optional scale, shift, running statistics.
#[derive(Debug)]
pub struct BatchNorm {
    /// Var-store prefix of its tensors (the convolution's own for TF-style layers).
    pub name: String,
    gamma: Option<Tensor>,
    beta: Tensor,
    mean: Tensor,
    var: Tensor,
    eps: f64,
    momentum: f64,
}

/// Convolution (no bias) + batch norm + activation, run as one: plain while training or while
/// autograd records the weights, and otherwise (inference on frozen weights, or trainable ones
/// under no_grad for validation and Test) with the batch norm folded into the convolution,
/// W * gamma / sqrt(var + eps) and beta - mean * gamma / sqrt(var + eps): one pass less over
/// every activation (measured 1.1-1.2x on CPU).
#[derive(Debug)]
pub struct Conv {
    name: String,
    weight: Tensor,
    norm: BatchNorm,
    stride: i64,
    padding: Padding,
    groups: i64,
    activation: Activation,
    fold: FoldCache,
}

/// Dotted var-store prefix of a path, e.g. `mixed_5.tower_1.conv_2`.
pub fn path_name(p: &nn::Path) -> String {
    p.components().collect::<Vec<_>>().join(".")
}

impl Conv {
    /// The TF-InceptionV3 layer: kernel `weight`, batch norm without scale (`beta`, `mean`,
    /// `var`, eps 1e-3) under the same path, then ReLU. `kernel` and `padding` are (h, w).
    pub fn tf_inception(
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
        let name = path_name(&p);
        Self {
            weight: p.var("weight", &[cout, cin, kernel[0], kernel[1]], init),
            norm: BatchNorm {
                name: name.clone(),
                gamma: None,
                beta: p.zeros("beta", &[cout]),
                mean: p.zeros_no_train("mean", &[cout]),
                var: p.ones_no_train("var", &[cout]),
                eps: 1e-3,
                momentum: 0.01,
            },
            name,
            stride,
            padding: Padding::Fixed(padding),
            groups: 1,
            activation: Activation::Relu,
            fold: FoldCache::default(),
        }
    }

    /// The PyTorch-port layer (EfficientNet-Lite): a square kernel `weight` under `conv`, a
    /// batch norm (`weight`, `bias`, `running_mean`, `running_var`, eps 1e-3) under `bn`, TF
    /// 'same' padding.
    #[allow(clippy::too_many_arguments)]
    pub fn pytorch(
        conv: nn::Path,
        bn: nn::Path,
        cin: i64,
        cout: i64,
        kernel: i64,
        stride: i64,
        groups: i64,
        activation: Activation,
    ) -> Self {
        let config = nn::ConvConfig {
            bias: false,
            groups,
            ..Default::default()
        };
        let bn_config = nn::BatchNormConfig {
            eps: 1e-3,
            momentum: 0.01,
            ..Default::default()
        };
        let (name, norm_name) = (path_name(&conv), path_name(&bn));
        let c = nn::conv2d(conv, cin, cout, kernel, config);
        let b = nn::batch_norm2d(bn, cout, bn_config);
        Self {
            name,
            weight: c.ws,
            norm: BatchNorm {
                name: norm_name,
                gamma: b.ws,
                beta: b.bs.expect("affine batch norm has a shift"),
                mean: b.running_mean,
                var: b.running_var,
                eps: bn_config.eps,
                momentum: bn_config.momentum,
            },
            stride,
            padding: Padding::TfSame,
            groups,
            activation,
            fold: FoldCache::default(),
        }
    }

    /// Var-store prefix of the kernel.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Var-store prefix of the batch norm (equal to `name()` for TF-style layers).
    pub fn norm_name(&self) -> &str {
        &self.norm.name
    }
    /// Input channels.
    pub fn in_channels(&self) -> i64 {
        self.weight.size()[1] * self.groups
    }
    /// Output channels.
    pub fn out_channels(&self) -> i64 {
        self.weight.size()[0]
    }
    /// Kernel (height, width).
    pub fn kernel(&self) -> [i64; 2] {
        let s = self.weight.size();
        [s[2], s[3]]
    }
    /// Stride in both dimensions.
    pub fn stride(&self) -> i64 {
        self.stride
    }
    /// Padding rule.
    pub fn padding(&self) -> Padding {
        self.padding
    }
    /// Channel groups (groups == input channels: depthwise).
    pub fn groups(&self) -> i64 {
        self.groups
    }
    /// The activation after the batch norm.
    pub fn activation(&self) -> Activation {
        self.activation
    }
    /// Batch norm epsilon.
    pub fn eps(&self) -> f64 {
        self.norm.eps
    }

    /// The kernel's tensors and the batch norm's, with their var-store names.
    pub fn tensors(&self) -> Vec<(String, &Tensor)> {
        let (c, n) = (&self.name, &self.norm.name);
        let mut out = vec![(format!("{c}.weight"), &self.weight)];
        let [g, b, m, v] = match c == n {
            true => ["gamma", "beta", "mean", "var"],
            false => ["weight", "bias", "running_mean", "running_var"],
        };
        if let Some(gamma) = &self.norm.gamma {
            out.push((format!("{n}.{g}"), gamma));
        }
        out.push((format!("{n}.{b}"), &self.norm.beta));
        out.push((format!("{n}.{m}"), &self.norm.mean));
        out.push((format!("{n}.{v}"), &self.norm.var));
        out
    }

    /// The kernel and bias with the batch norm folded in (what inference runs).
    pub fn folded(&self) -> (Tensor, Tensor) {
        self.fold.get(&self.weight, &self.norm)
    }
}

impl Conv {
    /// Runs the layer (see the type's description for the folded inference path).
    pub fn forward(&self, xs: &Tensor, pass: Pass) -> Tensor {
        let train = pass.train;
        let k = self.kernel();
        let (xs, pad) = match self.padding {
            Padding::Fixed(p) => (xs.shallow_clone(), p),
            Padding::TfSame => tf_same_pad(xs, k[0], self.stride),
        };
        let (s, g) = (self.stride, self.groups);
        let mut y = if !train && !records_grad(&self.weight) {
            match fused_conv::conv2d(&xs, &self.folded(), s, pad, g, self.activation) {
                (y, true) => return y,
                (y, false) => y,
            }
        } else {
            let n = &self.norm;
            let y = match g {
                1 => small_grid_conv::conv2d(&xs, &self.weight, s, pad),
                _ => xs.conv2d(&self.weight, None::<Tensor>, s, pad, 1, g),
            };
            let synced = pass.sync.filter(|_| train).map(|sync| {
                sync.apply(|group| {
                    let (gamma, beta) = (n.gamma.as_ref(), &n.beta);
                    group.batch_norm(&y, gamma, beta, &n.mean, &n.var, n.momentum, n.eps)
                })
            });
            match synced.flatten() {
                Some(y) => y,
                None => y.batch_norm(
                    n.gamma.as_ref(),
                    Some(&n.beta),
                    Some(&n.mean),
                    Some(&n.var),
                    train,
                    n.momentum,
                    n.eps,
                    true,
                ),
            }
        };
        match self.activation {
            Activation::None => y,
            Activation::Relu => y.relu_(),
            Activation::Relu6 => y.relu6_(),
        }
    }
}

/// Whether autograd would record an op on `t` here: it needs gradients and grad mode is on
/// (a view is free and inherits exactly that).
fn records_grad(t: &Tensor) -> bool {
    t.requires_grad() && t.view_as(t).requires_grad()
}

/// The folded weights of one conv + batch norm, kept while the tensors they came from are
/// unchanged (their versions and storage are the key), so an optimizer step or a weight load
/// refolds.
#[derive(Debug, Default)]
struct FoldCache(Mutex<Option<Folded>>);

#[derive(Debug)]
struct Folded {
    key: Vec<i64>,
    weight: Tensor,
    bias: Tensor,
}

impl FoldCache {
    fn get(&self, weight: &Tensor, norm: &BatchNorm) -> (Tensor, Tensor) {
        let tensors = [
            Some(weight),
            norm.gamma.as_ref(),
            Some(&norm.beta),
            Some(&norm.mean),
            Some(&norm.var),
        ];
        let key: Vec<i64> = tensors
            .into_iter()
            .flatten()
            .flat_map(|t| [t.internal_version(), t.data_ptr() as i64])
            .collect();
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_none_or(|f| f.key != key) {
            let (weight, bias) = tch::no_grad(|| {
                let mut scale = (&norm.var + norm.eps).rsqrt();
                if let Some(g) = &norm.gamma {
                    scale *= g;
                }
                let w = channels_last(&(weight * scale.view([-1, 1, 1, 1])));
                (w, &norm.beta - &norm.mean * &scale)
            });
            *guard = Some(Folded { key, weight, bias });
        }
        let f = guard.as_ref().expect("set above");
        (f.weight.shallow_clone(), f.bias.shallow_clone())
    }
}

/// Max or average pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// Maximum over the window.
    Max,
    /// Mean over the window; padded positions are not counted (TensorFlow's and Keras' rule,
    /// unlike the default of PyTorch and tch).
    Avg,
}

/// A square pooling window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// A name for the graph (pools have no variables): `<block>.<branch>.pool`.
    pub name: String,
    /// Max or average.
    pub kind: PoolKind,
    /// Window side.
    pub kernel: i64,
    /// Step.
    pub stride: i64,
    /// Zero padding on each side.
    pub padding: i64,
}

impl Pool {
    /// A pool named `name` under the path `p`.
    pub fn new(p: &nn::Path, name: &str, kind: PoolKind, kernel: i64, stride: i64) -> Self {
        let prefix = path_name(p);
        Self {
            name: if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            },
            kind,
            kernel,
            stride,
            padding: 0,
        }
    }

    /// The same pool with `padding` on each side.
    pub fn padded(mut self, padding: i64) -> Self {
        self.padding = padding;
        self
    }

    /// Pools `xs`.
    pub fn forward(&self, xs: &Tensor) -> Tensor {
        let (k, s, p) = ([self.kernel; 2], [self.stride; 2], [self.padding; 2]);
        match self.kind {
            PoolKind::Max => xs.max_pool2d(k, s, p, [1, 1], false),
            PoolKind::Avg => xs.avg_pool2d(k, s, p, false, false, None),
        }
    }
}

/// The same NCHW tensor with NHWC strides ("channels last"): oneDNN's fast layout for convs on
/// CPU (about 1.3x at 100 px, measured) and the tensor-core layout on GPUs. No copy when the
/// tensor already has it.
pub fn channels_last(t: &Tensor) -> Tensor {
    if t.dim() != 4 {
        return t.shallow_clone();
    }
    t.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// TensorFlow 'same' padding (see [`Padding::TfSame`]): the convolution's symmetric padding,
/// and the input with only an odd pixel (bottom/right) padded here, a copy only then.
pub fn tf_same_pad(xs: &Tensor, kernel: i64, stride: i64) -> (Tensor, [i64; 2]) {
    let size = xs.size();
    let pad =
        |extent: i64| (((extent + stride - 1) / stride - 1) * stride + kernel - extent).max(0);
    let (ph, pw) = (pad(size[2]), pad(size[3]));
    let xs = match (ph % 2, pw % 2) {
        (0, 0) => xs.shallow_clone(),
        (h, w) => xs.constant_pad_nd([0, w, 0, h]),
    };
    (xs, [ph / 2, pw / 2])
}

/// Global average pool over the spatial dimensions: [B, C, H, W] -> [B, C].
pub fn global_avg_pool(xs: &Tensor) -> Tensor {
    xs.mean_dim(&[2i64, 3][..], false, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// Validation runs trainable weights with the batch norm folded in: it must equal the plain
    /// conv + batch norm, and follow the weights after an optimizer step changes them in place.
    #[test]
    fn folded_inference_follows_trainable_weights() {
        let vs = nn::VarStore::new(Device::Cpu);
        let conv = Conv::tf_inception(vs.root() / "c", 4, 6, [3, 3], 1, [1, 1]);
        tch::no_grad(|| {
            for (name, mut t) in vs.variables() {
                if name.ends_with("var") {
                    t.copy_(&(Tensor::rand_like(&t) + 0.5));
                } else {
                    t.copy_(&Tensor::randn_like(&t));
                }
            }
        });
        let x = Tensor::randn([2, 4, 5, 5], (Kind::Float, Device::Cpu));
        let plain = |x: &Tensor| conv.forward(x, Pass::INFERENCE); // grad mode on: not folded
        let close = |a: &Tensor, b: &Tensor| {
            let err = (a - b).abs().max().double_value(&[]);
            assert!(err < 1e-4, "max difference {err}");
        };
        let folded = tch::no_grad(|| conv.forward(&x, Pass::INFERENCE));
        close(&folded, &plain(&x).detach());
        assert!(
            plain(&x).requires_grad(),
            "training path must keep the graph"
        );

        tch::no_grad(|| {
            let mut w = conv.weight.shallow_clone();
            let _ = w.g_mul_scalar_(-2.0);
        });
        let refolded = tch::no_grad(|| conv.forward(&x, Pass::INFERENCE));
        close(&refolded, &plain(&x).detach());
        assert!((&refolded - &folded).abs().max().double_value(&[]) > 1e-2);
    }

    #[test]
    fn a_conv_lists_exactly_its_variables() {
        let vs = nn::VarStore::new(Device::Cpu);
        let tf = Conv::tf_inception(vs.root() / "a", 3, 8, [1, 3], 2, [0, 1]);
        let pt = Conv::pytorch(
            vs.root() / "b",
            vs.root() / "bn",
            8,
            8,
            3,
            1,
            8,
            Activation::Relu6,
        );
        let mut listed: Vec<String> = tf.tensors().into_iter().map(|(n, _)| n).collect();
        listed.extend(pt.tensors().into_iter().map(|(n, _)| n));
        listed.sort();
        let mut vars: Vec<String> = vs.variables().into_keys().collect();
        vars.sort();
        assert_eq!(listed, vars);
        assert_eq!((pt.in_channels(), pt.groups(), tf.kernel()), (8, 8, [1, 3]));
    }
}
