//! Pretrained backbones as sequences of named blocks, so that later stages can freeze, cut and
//! cache at any block. Features are a global average pool over the last block, so any input
//! size the network accepts works (not only the weight file's fixed 8x8 pool).
pub mod classifier;
pub mod efficientnet_lite;
pub mod inception_v3;
pub mod layers;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

/// A module that can stand as one block of a backbone.
pub trait BlockModule: ModuleT {}
impl<T: ModuleT> BlockModule for T {}

/// One named stage of a backbone; its variables live under `<name>.` in the var store.
#[derive(Debug)]
pub struct Block {
    pub name: String,
    module: Box<dyn BlockModule>,
}

impl Block {
    pub fn new(name: &str, module: Box<dyn BlockModule>) -> Self {
        Self {
            name: name.to_string(),
            module,
        }
    }
    /// The var-store prefix of this block's variables.
    pub fn var_prefix(&self) -> String {
        format!("{}.", self.name)
    }
}

/// The architectures graft knows, by their CLI names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// InceptionV3, TF 2015-12-05 ImageNet weights (the seed's network).
    #[value(name = "inception-v3")]
    InceptionV3,
    /// InceptionV3 as Keras builds it (average pool in mixed_10), for Keras-trained weights.
    #[value(name = "inception-v3-keras")]
    InceptionV3Keras,
    #[value(name = "efficientnet-lite0")]
    EfficientNetLite0,
    #[value(name = "efficientnet-lite1")]
    EfficientNetLite1,
    #[value(name = "efficientnet-lite2")]
    EfficientNetLite2,
}

/// The input normalization a backbone's weights were trained with: x' = (pixel - mean) / scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: f64,
    pub scale: f64,
}

impl Arch {
    pub const ALL: [Arch; 5] = [
        Arch::InceptionV3,
        Arch::InceptionV3Keras,
        Arch::EfficientNetLite0,
        Arch::EfficientNetLite1,
        Arch::EfficientNetLite2,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Arch::InceptionV3 => "inception-v3",
            Arch::InceptionV3Keras => "inception-v3-keras",
            Arch::EfficientNetLite0 => "efficientnet-lite0",
            Arch::EfficientNetLite1 => "efficientnet-lite1",
            Arch::EfficientNetLite2 => "efficientnet-lite2",
        }
    }

    pub fn from_name(name: &str) -> Result<Arch> {
        match Arch::ALL.into_iter().find(|a| a.name() == name) {
            Some(a) => Ok(a),
            None => bail!(
                "unknown backbone '{name}' (known: {})",
                Arch::ALL.map(|a| a.name()).join(", ")
            ),
        }
    }

    pub fn normalization(self) -> Normalization {
        match self {
            Arch::InceptionV3 | Arch::InceptionV3Keras => Normalization {
                mean: 128.0,
                scale: 128.0,
            },
            _ => Normalization {
                mean: 127.0,
                scale: 128.0,
            },
        }
    }

    /// The resolution the weights were trained at.
    pub fn native_size(self) -> i64 {
        match self {
            Arch::InceptionV3 | Arch::InceptionV3Keras => 299,
            Arch::EfficientNetLite0 => 224,
            Arch::EfficientNetLite1 => 240,
            Arch::EfficientNetLite2 => 260,
        }
    }

    /// The smallest input the network accepts (InceptionV3's valid convs need 75 px).
    pub fn min_size(self) -> i64 {
        match self {
            Arch::InceptionV3 | Arch::InceptionV3Keras => 75,
            _ => 32,
        }
    }

    pub fn feature_dim(self) -> i64 {
        match self {
            Arch::InceptionV3 | Arch::InceptionV3Keras => 2048,
            _ => 1280,
        }
    }

    /// Classes of the ImageNet classifier the weight file carries, if any.
    pub fn imagenet_classes(self) -> Option<i64> {
        match self {
            Arch::InceptionV3 | Arch::InceptionV3Keras => None,
            _ => Some(1000),
        }
    }

    pub fn check_size(self, size: i64) -> Result<()> {
        if size < self.min_size() {
            bail!(
                "{} needs inputs of at least {} px, got {size}",
                self.name(),
                self.min_size()
            );
        }
        Ok(())
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

/// Puts every conv kernel of `vs` in channels-last layout (values unchanged; files are written
/// contiguous, so saved weights do not depend on it).
pub fn use_channels_last(vs: &nn::VarStore) {
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            if v.dim() == 4 {
                let cl = channels_last(&v);
                v.set_data(&cl);
            }
        }
    });
}

/// A pretrained CNN without its top: named blocks, then global average pooling.
#[derive(Debug)]
pub struct Backbone {
    pub arch: Arch,
    pub blocks: Vec<Block>,
    /// The ImageNet classifier (`top.*`), built when asked for and the weights carry one.
    pub imagenet_top: Option<nn::Linear>,
}

impl Backbone {
    pub fn new(p: &nn::Path, arch: Arch, with_imagenet_top: bool) -> Self {
        let blocks = match arch {
            Arch::InceptionV3 => inception_v3::blocks(p, inception_v3::PoolBranch::Max),
            Arch::InceptionV3Keras => inception_v3::blocks(p, inception_v3::PoolBranch::Avg),
            Arch::EfficientNetLite0 => efficientnet_lite::blocks(p, 0),
            Arch::EfficientNetLite1 => efficientnet_lite::blocks(p, 1),
            Arch::EfficientNetLite2 => efficientnet_lite::blocks(p, 2),
        };
        let imagenet_top = match arch.imagenet_classes() {
            Some(n) if with_imagenet_top => Some(nn::linear(
                p / "top",
                arch.feature_dim(),
                n,
                Default::default(),
            )),
            _ => None,
        };
        Self {
            arch,
            blocks,
            imagenet_top,
        }
    }

    pub fn block_names(&self) -> Vec<&str> {
        self.blocks.iter().map(|b| b.name.as_str()).collect()
    }

    pub fn block_index(&self, name: &str) -> Result<usize> {
        match self.blocks.iter().position(|b| b.name == name) {
            Some(i) => Ok(i),
            None => bail!(
                "{} has no block '{name}' (blocks: {})",
                self.arch.name(),
                self.block_names().join(", ")
            ),
        }
    }

    /// Pixels (any numeric kind, 0..255, NCHW RGB) to the network's input range.
    pub fn normalize(&self, pixels: &Tensor) -> Tensor {
        let n = self.arch.normalization();
        channels_last(&((pixels.to_kind(Kind::Float) - n.mean) / n.scale))
    }

    /// Runs blocks `from..to` on `xs` (already normalized, or a cached block output).
    pub fn forward_blocks(&self, xs: &Tensor, from: usize, to: usize, train: bool) -> Tensor {
        self.blocks[from..to]
            .iter()
            .fold(xs.shallow_clone(), |x, b| b.module.forward_t(&x, train))
    }

    /// Pixels to pooled features [B, feature_dim], in inference mode.
    pub fn features(&self, pixels: &Tensor) -> Tensor {
        let x = self.forward_blocks(&self.normalize(pixels), 0, self.blocks.len(), false);
        layers::global_avg_pool(&x)
    }

    /// ImageNet logits from pooled features, where the backbone has its classifier.
    pub fn imagenet_logits(&self, features: &Tensor) -> Option<Tensor> {
        self.imagenet_top.as_ref().map(|top| features.apply(top))
    }
}
