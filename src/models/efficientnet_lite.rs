//! EfficientNet-Lite0/1/2: EfficientNet without squeeze-excite, ReLU6 instead of swish, and a
//! fixed stem (32) and head (1280) whose first and last stages are not deepened. Convolutions use
//! TensorFlow 'same' padding. Names follow the PyTorch port's state dict (`_blocks.3._bn1.weight`)
//! with `_blocks.N` renamed to the block `blocks.N` and the stem/head under `stem.`/`head.`.
use super::layers::tf_same_pad;
use super::{Block, BlockModule};
use tch::Tensor;
use tch::nn::{self, Module, ModuleT};

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

fn conv(p: nn::Path, cin: i64, cout: i64, k: i64, groups: i64) -> nn::Conv2D {
    nn::conv2d(
        p,
        cin,
        cout,
        k,
        nn::ConvConfig {
            bias: false,
            groups,
            ..Default::default()
        },
    )
}

#[derive(Debug)]
struct Stem {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
}

impl ModuleT for Stem {
    fn forward_t(&self, xs: &Tensor, t: bool) -> Tensor {
        tf_same_pad(xs, 3, 2)
            .conv2d(&self.conv.ws, None::<Tensor>, 2, 0, 1, 1)
            .apply_t(&self.bn, t)
            .relu6()
    }
}

/// Inverted residual block (MBConv) without squeeze-excite.
#[derive(Debug)]
struct MbConv {
    expand: Option<(nn::Conv2D, nn::BatchNorm)>,
    depthwise: nn::Conv2D,
    bn1: nn::BatchNorm,
    project: nn::Conv2D,
    bn2: nn::BatchNorm,
    kernel: i64,
    stride: i64,
    residual: bool,
}

impl MbConv {
    fn new(p: nn::Path, expand_ratio: i64, kernel: i64, stride: i64, cin: i64, cout: i64) -> Self {
        let mid = cin * expand_ratio;
        let expand = (expand_ratio != 1).then(|| {
            (
                conv(&p / "_expand_conv", cin, mid, 1, 1),
                nn::batch_norm2d(&p / "_bn0", mid, BN),
            )
        });
        Self {
            expand,
            depthwise: conv(&p / "_depthwise_conv", mid, mid, kernel, mid),
            bn1: nn::batch_norm2d(&p / "_bn1", mid, BN),
            project: conv(&p / "_project_conv", mid, cout, 1, 1),
            bn2: nn::batch_norm2d(&p / "_bn2", cout, BN),
            kernel,
            stride,
            residual: stride == 1 && cin == cout,
        }
    }
}

impl ModuleT for MbConv {
    fn forward_t(&self, xs: &Tensor, t: bool) -> Tensor {
        let x = match &self.expand {
            Some((c, bn)) => xs.apply(c).apply_t(bn, t).relu6(),
            None => xs.shallow_clone(),
        };
        let groups = self.depthwise.ws.size()[0];
        let x = tf_same_pad(&x, self.kernel, self.stride)
            .conv2d(
                &self.depthwise.ws,
                None::<Tensor>,
                self.stride,
                0,
                1,
                groups,
            )
            .apply_t(&self.bn1, t)
            .relu6();
        let x = self.project.forward(&x).apply_t(&self.bn2, t);
        if self.residual { x + xs } else { x }
    }
}

#[derive(Debug)]
struct Head {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
}

impl ModuleT for Head {
    fn forward_t(&self, xs: &Tensor, t: bool) -> Tensor {
        xs.apply(&self.conv).apply_t(&self.bn, t).relu6()
    }
}

/// The blocks in order: stem, blocks.0 .. blocks.N, head (1280 channels at 1/32 scale).
pub fn blocks(p: &nn::Path, variant: u8) -> Vec<Block> {
    let (width, depth) = multipliers(variant);
    let stem = p / "stem";
    let mut out = vec![Block::new(
        "stem",
        Box::new(Stem {
            conv: conv(&stem / "_conv_stem", 3, 32, 3, 1),
            bn: nn::batch_norm2d(&stem / "_bn0", 32, BN),
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
            conv: conv(&head / "_conv_head", cin, 1280, 1, 1),
            bn: nn::batch_norm2d(&head / "_bn1", 1280, BN),
        }),
    ));
    out
}
