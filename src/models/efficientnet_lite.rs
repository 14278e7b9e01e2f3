//! EfficientNet-Lite0/1/2: EfficientNet without squeeze-excite, ReLU6 instead of swish, and a
//! fixed stem (32) and head (1280) whose first and last stages are not deepened. Convolutions use
//! TensorFlow 'same' padding. Names follow the PyTorch port's state dict (`_blocks.3._bn1.weight`)
//! with `_blocks.N` renamed to the block `blocks.N` and the stem/head under `stem.`/`head.`.
use super::layers::{Conv, FoldCache, Norm, tf_same_pad};
use super::{Block, BlockModule};
use tch::Tensor;
use tch::nn::{self, ModuleT};

const BN: nn::BatchNormConfig = nn::BatchNormConfig {
    cudnn_enabled: true,
    eps: 1e-3,
    momentum: 0.01,
    affine: true,
    ws_init: nn::Init::Const(1.),
    bs_init: nn::Init::Const(0.),
};

/// (expand ratio, kernel, stride, input filters, output filters, repeats) of EfficientNet-B0.
const STAGES: [(i64, i64, i64, i64, i64, usize); 7] = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
];

/// (width, depth) multipliers of Lite0, Lite1, Lite2.
pub fn multipliers(variant: u8) -> (f64, f64) {
    match variant {
        0 => (1.0, 1.0),
        1 => (1.0, 1.1),
        2 => (1.1, 1.2),
        _ => panic!("EfficientNet-Lite{variant} is not supported"),
    }
}

/// TF's round_filters: scale, round to a multiple of 8, never drop more than 10%.
fn round_filters(filters: i64, width: f64) -> i64 {
    let scaled = filters as f64 * width;
    let rounded = (((scaled + 4.0) as i64) / 8 * 8).max(8);
    if (rounded as f64) < 0.9 * scaled {
        rounded + 8
    } else {
        rounded
    }
}

/// Conv (no bias, no padding: 'same' padding is applied before) + batch norm, folded for
/// inference (see `FoldCache`).
#[derive(Debug)]
struct ConvNorm {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
    stride: i64,
    groups: i64,
    fold: FoldCache,
}

impl ConvNorm {
    #[allow(clippy::too_many_arguments)]
    fn new(
        conv: nn::Path,
        bn: nn::Path,
        cin: i64,
        cout: i64,
        k: i64,
        stride: i64,
        groups: i64,
    ) -> Self {
        let config = nn::ConvConfig {
            bias: false,
            groups,
            ..Default::default()
        };
        Self {
            conv: nn::conv2d(conv, cin, cout, k, config),
            bn: nn::batch_norm2d(bn, cout, BN),
            stride,
            groups,
            fold: FoldCache::default(),
        }
    }
}

impl ModuleT for ConvNorm {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let conv = Conv {
            weight: &self.conv.ws,
            stride: self.stride,
            padding: [0, 0],
            groups: self.groups,
        };
        let norm = Norm {
            gamma: self.bn.ws.as_ref(),
            beta: self.bn.bs.as_ref(),
            mean: &self.bn.running_mean,
            var: &self.bn.running_var,
            momentum: BN.momentum,
            eps: BN.eps,
        };
        self.fold.forward(xs, &conv, &norm, train)
    }
}

#[derive(Debug)]
struct Stem {
    conv: ConvNorm,
}

impl ModuleT for Stem {
    fn forward_t(&self, xs: &Tensor, t: bool) -> Tensor {
        self.conv.forward_t(&tf_same_pad(xs, 3, 2), t).relu6()
    }
}

/// Inverted residual block (MBConv) without squeeze-excite.
#[derive(Debug)]
struct MbConv {
    expand: Option<ConvNorm>,
    depthwise: ConvNorm,
    project: ConvNorm,
    kernel: i64,
    stride: i64,
    residual: bool,
}

impl MbConv {
    fn new(p: nn::Path, expand_ratio: i64, kernel: i64, stride: i64, cin: i64, cout: i64) -> Self {
        let mid = cin * expand_ratio;
        let expand = (expand_ratio != 1)
            .then(|| ConvNorm::new(&p / "_expand_conv", &p / "_bn0", cin, mid, 1, 1, 1));
        Self {
            expand,
            depthwise: ConvNorm::new(
                &p / "_depthwise_conv",
                &p / "_bn1",
                mid,
                mid,
                kernel,
                stride,
                mid,
            ),
            project: ConvNorm::new(&p / "_project_conv", &p / "_bn2", mid, cout, 1, 1, 1),
            kernel,
            stride,
            residual: stride == 1 && cin == cout,
        }
    }
}

impl ModuleT for MbConv {
    fn forward_t(&self, xs: &Tensor, t: bool) -> Tensor {
        let x = match &self.expand {
            Some(c) => c.forward_t(xs, t).relu6(),
            None => xs.shallow_clone(),
        };
        let x = self
            .depthwise
            .forward_t(&tf_same_pad(&x, self.kernel, self.stride), t)
            .relu6();
        let x = self.project.forward_t(&x, t);
        if self.residual { x + xs } else { x }
    }
}

#[derive(Debug)]
struct Head {
    conv: ConvNorm,
}

impl ModuleT for Head {
    fn forward_t(&self, xs: &Tensor, t: bool) -> Tensor {
        self.conv.forward_t(xs, t).relu6()
    }
}

/// The blocks in order: stem, blocks.0 .. blocks.N, head (1280 channels at 1/32 scale).
pub fn blocks(p: &nn::Path, variant: u8) -> Vec<Block> {
    let (width, depth) = multipliers(variant);
    let stem = p / "stem";
    let mut out = vec![Block::new(
        "stem",
        Box::new(Stem {
            conv: ConvNorm::new(&stem / "_conv_stem", &stem / "_bn0", 3, 32, 3, 2, 1),
        }) as Box<dyn BlockModule>,
    )];
    let mut cin = 32; // the stem is not widened in Lite
    for (s, &(e, k, stride, _, cout, repeats)) in STAGES.iter().enumerate() {
        let cout = round_filters(cout, width);
        // Lite keeps the first and last stage at one block.
        let repeats = if s == 0 || s == STAGES.len() - 1 {
            repeats
        } else {
            (repeats as f64 * depth).ceil() as usize
        };
        for r in 0..repeats {
            let index = out.len() - 1;
            let stride = if r == 0 { stride } else { 1 };
            let module = MbConv::new(p / "blocks" / index, e, k, stride, cin, cout);
            out.push(Block::new(&format!("blocks.{index}"), Box::new(module)));
            cin = cout;
        }
    }
    let head = p / "head";
    out.push(Block::new(
        "head",
        Box::new(Head {
            conv: ConvNorm::new(&head / "_conv_head", &head / "_bn1", cin, 1280, 1, 1, 1),
        }),
    ));
    out
}
