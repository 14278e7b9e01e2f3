//! InceptionV3 in the variant of the TF 2015-12-05 ImageNet weights (the FID network): every
//! conv is bias-free + batch norm (eps 1e-3, no scale) + ReLU, average pools exclude the padding,
//! and mixed_10's pool branch is a 3x3 max pool. The Keras variant differs only there (average).
//! Names follow the weight file: `mixed_5.tower_1.conv_2.weight`, under each block's name.
use super::layers::ConvBn;
use super::{Block, BlockModule};
use tch::Tensor;
use tch::nn::{self, ModuleT};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolBranch {
    /// The TF graph's mixed_10 (`tower_2_pool` is a max pool).
    Max,
    /// Keras' InceptionV3 (average pool everywhere).
    Avg,
}

fn avg_pool_3x3(xs: &Tensor) -> Tensor {
    xs.avg_pool2d([3, 3], [1, 1], [1, 1], false, false, None)
}

fn max_pool_3x3_s2(xs: &Tensor) -> Tensor {
    xs.max_pool2d([3, 3], [2, 2], [0, 0], [1, 1], false)
}

/// A chain of convs named conv, conv_1, conv_2... as the weight file's Sequential towers are.
#[derive(Debug)]
struct Tower(Vec<ConvBn>);

fn conv_name(i: usize) -> String {
    if i == 0 {
        "conv".to_string()
    } else {
        format!("conv_{i}")
    }
}

impl Tower {
    /// Each layer: (cout, kernel (h, w), stride); padding is 'same' for stride 1, none for stride 2.
    fn new(p: nn::Path, mut cin: i64, layers: &[(i64, [i64; 2], i64)]) -> Self {
        let convs = layers
            .iter()
            .enumerate()
            .map(|(i, &(cout, k, s))| {
                let pad = if s == 1 { [k[0] / 2, k[1] / 2] } else { [0, 0] };
                let conv = ConvBn::new(&p / conv_name(i).as_str(), cin, cout, k, s, pad);
                cin = cout;
                conv
            })
            .collect();
        Tower(convs)
    }
}

impl ModuleT for Tower {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.0
            .iter()
            .fold(xs.shallow_clone(), |x, c| c.forward_t(&x, train))
    }
}

/// The stem: five convs and two max pools, 299 -> 35 px.
#[derive(Debug)]
struct Stem {
    convs: [ConvBn; 5],
}

impl Stem {
    fn new(p: nn::Path) -> Self {
        Self {
            convs: [
                ConvBn::new(&p / "conv", 3, 32, [3, 3], 2, [0, 0]),
                ConvBn::new(&p / "conv_1", 32, 32, [3, 3], 1, [0, 0]),
                ConvBn::new(&p / "conv_2", 32, 64, [3, 3], 1, [1, 1]),
                ConvBn::new(&p / "conv_3", 64, 80, [1, 1], 1, [0, 0]),
                ConvBn::new(&p / "conv_4", 80, 192, [3, 3], 1, [0, 0]),
            ],
        }
    }
}

impl ModuleT for Stem {
    fn forward_t(&self, xs: &Tensor, t: bool) -> Tensor {
        let c = &self.convs;
        let x = c[2].forward_t(&c[1].forward_t(&c[0].forward_t(xs, t), t), t);
        let x = max_pool_3x3_s2(&x); // pool0
        let x = c[4].forward_t(&c[3].forward_t(&x, t), t);
        max_pool_3x3_s2(&x) // pool1
    }
}

/// The blocks with four branches (1x1 conv, two towers, average pool + 1x1 conv):
/// InceptionA (mixed, mixed_1, mixed_2 at 35x35) and InceptionC (mixed_4 .. mixed_7 at 17x17,
/// factorized 7x7 towers).
#[derive(Debug)]
struct FourBranch {
    conv: ConvBn,
    tower: Tower,
    tower_1: Tower,
    tower_2: ConvBn,
}

impl FourBranch {
    fn new(
        p: nn::Path,
        cin: i64,
        conv: i64,
        tower: &[(i64, [i64; 2], i64)],
        tower_1: &[(i64, [i64; 2], i64)],
        pool: i64,
    ) -> Self {
        Self {
            conv: ConvBn::new(&p / "conv", cin, conv, [1, 1], 1, [0, 0]),
            tower: Tower::new(&p / "tower", cin, tower),
            tower_1: Tower::new(&p / "tower_1", cin, tower_1),
            tower_2: ConvBn::new(&p / "tower_2" / "conv", cin, pool, [1, 1], 1, [0, 0]),
        }
    }

    /// InceptionA: 5x5 and double-3x3 towers.
    fn a(p: nn::Path, cin: i64, pool_features: i64) -> Self {
        let tower = [(48, [1, 1], 1), (64, [5, 5], 1)];
        let tower_1 = [(64, [1, 1], 1), (96, [3, 3], 1), (96, [3, 3], 1)];
        Self::new(p, cin, 64, &tower, &tower_1, pool_features)
    }

    /// InceptionC: 7x7 factorized into 1x7 and 7x1.
    fn c(p: nn::Path, cin: i64, c7: i64) -> Self {
        let (r, c) = ([1, 7], [7, 1]);
        let tower = [(c7, [1, 1], 1), (c7, r, 1), (192, c, 1)];
        let tower_1 = [
            (c7, [1, 1], 1),
            (c7, c, 1),
            (c7, r, 1),
            (c7, c, 1),
            (192, r, 1),
        ];
        Self::new(p, cin, 192, &tower, &tower_1, 192)
    }
}

impl ModuleT for FourBranch {
    fn forward_t(&self, x: &Tensor, t: bool) -> Tensor {
        Tensor::cat(
            &[
                self.conv.forward_t(x, t),
                self.tower.forward_t(x, t),
                self.tower_1.forward_t(x, t),
                self.tower_2.forward_t(&avg_pool_3x3(x), t),
            ],
            1,
        )
    }
}

/// mixed_3: 35 -> 17 px.
#[derive(Debug)]
struct InceptionB {
    conv: ConvBn,
    tower: Tower,
}

impl InceptionB {
    fn new(p: nn::Path, cin: i64) -> Self {
        Self {
            conv: ConvBn::new(&p / "conv", cin, 384, [3, 3], 2, [0, 0]),
            tower: Tower::new(
                &p / "tower",
                cin,
                &[(64, [1, 1], 1), (96, [3, 3], 1), (96, [3, 3], 2)],
            ),
        }
    }
}

impl ModuleT for InceptionB {
    fn forward_t(&self, x: &Tensor, t: bool) -> Tensor {
        Tensor::cat(
            &[
                self.conv.forward_t(x, t),
                self.tower.forward_t(x, t),
                max_pool_3x3_s2(x),
            ],
            1,
        )
    }
}

/// mixed_8: 17 -> 8 px.
#[derive(Debug)]
struct InceptionD {
    tower: Tower,
    tower_1: Tower,
}

impl InceptionD {
    fn new(p: nn::Path, cin: i64) -> Self {
        Self {
            tower: Tower::new(&p / "tower", cin, &[(192, [1, 1], 1), (320, [3, 3], 2)]),
            tower_1: Tower::new(
                &p / "tower_1",
                cin,
                &[
                    (192, [1, 1], 1),
                    (192, [1, 7], 1),
                    (192, [7, 1], 1),
                    (192, [3, 3], 2),
                ],
            ),
        }
    }
}

impl ModuleT for InceptionD {
    fn forward_t(&self, x: &Tensor, t: bool) -> Tensor {
        Tensor::cat(
            &[
                self.tower.forward_t(x, t),
                self.tower_1.forward_t(x, t),
                max_pool_3x3_s2(x),
            ],
            1,
        )
    }
}

/// mixed_9, mixed_10 (8x8, expanded filter banks).
#[derive(Debug)]
struct InceptionE {
    conv: ConvBn,
    tower_conv: ConvBn,
    tower_mixed_conv: ConvBn,
    tower_mixed_conv_1: ConvBn,
    tower_1_conv: ConvBn,
    tower_1_conv_1: ConvBn,
    tower_1_mixed_conv: ConvBn,
    tower_1_mixed_conv_1: ConvBn,
    tower_2_conv: ConvBn,
    pool: PoolBranch,
}

impl InceptionE {
    fn new(p: nn::Path, cin: i64, pool: PoolBranch) -> Self {
        let c = |name: &str, cin, cout, k: [i64; 2]| {
            ConvBn::new(&p / name, cin, cout, k, 1, [k[0] / 2, k[1] / 2])
        };
        Self {
            conv: c("conv", cin, 320, [1, 1]),
            tower_conv: c("tower_conv", cin, 384, [1, 1]),
            tower_mixed_conv: c("tower_mixed_conv", 384, 384, [1, 3]),
            tower_mixed_conv_1: c("tower_mixed_conv_1", 384, 384, [3, 1]),
            tower_1_conv: c("tower_1_conv", cin, 448, [1, 1]),
            tower_1_conv_1: c("tower_1_conv_1", 448, 384, [3, 3]),
            tower_1_mixed_conv: c("tower_1_mixed_conv", 384, 384, [1, 3]),
            tower_1_mixed_conv_1: c("tower_1_mixed_conv_1", 384, 384, [3, 1]),
            tower_2_conv: c("tower_2_conv", cin, 192, [1, 1]),
            pool,
        }
    }
}

impl ModuleT for InceptionE {
    fn forward_t(&self, x: &Tensor, t: bool) -> Tensor {
        let a = self.tower_conv.forward_t(x, t);
        let b = self
            .tower_1_conv_1
            .forward_t(&self.tower_1_conv.forward_t(x, t), t);
        let pooled = match self.pool {
            PoolBranch::Max => x.max_pool2d([3, 3], [1, 1], [1, 1], [1, 1], false),
            PoolBranch::Avg => avg_pool_3x3(x),
        };
        Tensor::cat(
            &[
                self.conv.forward_t(x, t),
                self.tower_mixed_conv.forward_t(&a, t),
                self.tower_mixed_conv_1.forward_t(&a, t),
                self.tower_1_mixed_conv.forward_t(&b, t),
                self.tower_1_mixed_conv_1.forward_t(&b, t),
                self.tower_2_conv.forward_t(&pooled, t),
            ],
            1,
        )
    }
}

/// The blocks in order: stem, mixed, mixed_1 .. mixed_10. Output: 2048 channels at 1/32 scale.
pub fn blocks(p: &nn::Path, mixed_10_pool: PoolBranch) -> Vec<Block> {
    let block =
        |name: &str, f: &dyn Fn(nn::Path) -> Box<dyn BlockModule>| Block::new(name, f(p / name));
    let mut out = vec![block("stem", &|p| Box::new(Stem::new(p)))];
    for (i, (cin, pf)) in [(192, 32), (256, 64), (288, 64)].into_iter().enumerate() {
        out.push(block(&mixed_name(i), &|p| {
            Box::new(FourBranch::a(p, cin, pf))
        }));
    }
    out.push(block("mixed_3", &|p| Box::new(InceptionB::new(p, 288))));
    for (i, c7) in [(4, 128), (5, 160), (6, 160), (7, 192)] {
        out.push(block(&mixed_name(i), &|p| {
            Box::new(FourBranch::c(p, 768, c7))
        }));
    }
    out.push(block("mixed_8", &|p| Box::new(InceptionD::new(p, 768))));
    out.push(block("mixed_9", &|p| {
        Box::new(InceptionE::new(p, 1280, PoolBranch::Avg))
    }));
    out.push(block("mixed_10", &|p| {
        Box::new(InceptionE::new(p, 2048, mixed_10_pool))
    }));
    out
}

fn mixed_name(i: usize) -> String {
    if i == 0 {
        "mixed".to_string()
    } else {
        format!("mixed_{i}")
    }
}
