//! Pretrained backbones as sequences of named blocks, so that later stages can freeze, cut and
//! cache at any block. Features are a global average pool over the last block, so any input
//! size the network accepts works (not only the weight file's fixed 8x8 pool).
//!
//! Adding a backbone: one model file that defines its `BackboneSpec`s, plus its line in
//! `backbones!` below.
pub mod activation;
pub mod classifier;
pub mod fused_conv;
pub mod int8;
pub mod layers;
pub mod net;
pub mod pass;
pub mod small_grid_conv;
pub mod spec;
#[cfg(test)]
mod test_tensors;

pub use layers::channels_last;
pub use net::{Block, Layer};
pub use pass::Pass;
pub use spec::{BackboneSpec, Normalization, WeightFormat, WeightPin};

use crate::engine::Precision;
use anyhow::{Result, bail};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tch::nn;
use tch::{Device, Kind, Tensor};

/// Declares the model files and lists their specs in [`REGISTRY`].
macro_rules! backbones {
    ($($module:ident: [$($spec:ident),+ $(,)?]),+ $(,)?) => {
        $(pub mod $module;)+
        /// Every backbone graft knows, in the order listings show them.
        pub static REGISTRY: &[&BackboneSpec] = &[$($(&$module::$spec),+),+];
    };
}

backbones! {
    inception_v3: [INCEPTION_V3, INCEPTION_V3_KERAS],
    efficientnet_lite: [EFFICIENTNET_LITE0, EFFICIENTNET_LITE1, EFFICIENTNET_LITE2],
}

/// A backbone graft knows: a handle on its [`BackboneSpec`]. Written as its name (in
/// config.json, cache files, reports); read from its name or a former spelling.
#[derive(Clone, Copy)]
pub struct Arch(&'static BackboneSpec);

impl std::ops::Deref for Arch {
    type Target = BackboneSpec;
    fn deref(&self) -> &BackboneSpec {
        self.0
    }
}

impl Arch {
    /// Every known backbone.
    pub fn all() -> impl Iterator<Item = Arch> {
        REGISTRY.iter().map(|s| Arch(s))
    }

    /// The backbone called `name` (or a spelling older graft versions wrote).
    pub fn named(name: &str) -> Result<Arch> {
        match Arch::all().find(|a| a.name == name || a.former_names.contains(&name)) {
            Some(a) => Ok(a),
            None => bail!(
                "unknown backbone '{name}' (known: {})",
                Arch::all().map(|a| a.name).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// Its one name.
    pub fn name(self) -> &'static str {
        self.0.name
    }

    /// Refuses an input size below the network's minimum.
    pub fn check_size(self, size: i64) -> Result<()> {
        if size < self.min_size {
            return Err(crate::error::bad_input(format!(
                "{} needs inputs of at least {} px, got {size}",
                self.name, self.min_size
            )));
        }
        Ok(())
    }
}

impl PartialEq for Arch {
    fn eq(&self, other: &Arch) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}
impl Eq for Arch {}

impl std::hash::Hash for Arch {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.name.hash(state)
    }
}

impl std::fmt::Debug for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name)
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name)
    }
}

impl std::str::FromStr for Arch {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Arch> {
        Arch::named(s)
    }
}

impl Serialize for Arch {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name)
    }
}

impl<'de> Deserialize<'de> for Arch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Arch, D::Error> {
        let name = String::deserialize(d)?;
        Arch::named(&name).map_err(serde::de::Error::custom)
    }
}

/// Moves a model's variables to `device` and puts every conv kernel in channels-last layout
/// (values unchanged; files are written contiguous, so saved weights do not depend on it).
pub fn place(vs: &mut nn::VarStore, device: Device) {
    vs.set_device(device);
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
    /// Which network.
    pub arch: Arch,
    /// Its blocks in order.
    pub blocks: Vec<Block>,
    /// The ImageNet classifier (`top.*`), built when asked for and the weights carry one.
    pub imagenet_top: Option<nn::Linear>,
    /// The number format its convolutions and matrix products run in.
    pub precision: Precision,
    /// Its int8 form, when it runs in int8 (inference only; see [`int8`]).
    pub int8: Option<int8::Quantized>,
}

/// `t` as float32 (the same tensor, and no traced op, when it is already).
pub fn float32(t: Tensor) -> Tensor {
    if t.kind() == Kind::Float {
        t
    } else {
        t.to_dtype(Kind::Float, false, false)
    }
}

impl Backbone {
    /// Builds the network under `p` (randomly initialized; weights are loaded separately), to
    /// run in `precision`.
    pub fn new(p: &nn::Path, arch: Arch, with_imagenet_top: bool, precision: Precision) -> Self {
        let imagenet_top = arch
            .imagenet_classes
            .filter(|_| with_imagenet_top)
            .map(|n| nn::linear(p / "top", arch.feature_dim, n, Default::default()));
        Self {
            arch,
            blocks: (arch.blocks)(p),
            imagenet_top,
            precision,
            int8: None,
        }
    }

    /// Block names in order.
    pub fn block_names(&self) -> Vec<&str> {
        self.blocks.iter().map(|b| b.name.as_str()).collect()
    }

    /// Position of the block called `name`; an unknown name is an error listing the blocks.
    pub fn block_index(&self, name: &str) -> Result<usize> {
        match self.blocks.iter().position(|b| b.name == name) {
            Some(i) => Ok(i),
            None => Err(crate::error::bad_input(format!(
                "{} has no block '{name}' (blocks: {})",
                self.arch.name,
                self.block_names().join(", ")
            ))),
        }
    }

    /// Pixels (any numeric kind, 0..255, NCHW RGB) to the network's input range.
    pub fn normalize(&self, pixels: &Tensor) -> Tensor {
        let n = self.arch.normalization;
        // to_dtype, unlike to_kind, names no device, so a traced graph (graft export) is not
        // tied to the CPU it was traced on.
        let x = pixels.to_dtype(Kind::Float, false, false);
        channels_last(&((x - n.mean) / n.scale))
    }

    /// Runs blocks `from..to` on `xs` (already normalized, or a cached block output), in the
    /// network's precision (a bf16 output under bf16).
    pub fn forward_blocks(&self, xs: &Tensor, from: usize, to: usize, pass: Pass) -> Tensor {
        self.precision.run(|| {
            self.blocks[from..to]
                .iter()
                .fold(xs.shallow_clone(), |x, b| b.forward(&x, pass))
        })
    }

    /// Pixels to pooled features [B, feature_dim], in inference mode, as float32.
    pub fn features(&self, pixels: &Tensor) -> Tensor {
        if let Some(q) = &self.int8 {
            return q.pooled(&self.blocks, &self.normalize(pixels));
        }
        let x = self.forward_blocks(
            &self.normalize(pixels),
            0,
            self.blocks.len(),
            Pass::INFERENCE,
        );
        float32(layers::global_avg_pool(&x))
    }

    /// ImageNet logits from pooled features, where the backbone has its classifier.
    pub fn imagenet_logits(&self, features: &Tensor) -> Option<Tensor> {
        self.imagenet_top.as_ref().map(|top| features.apply(top))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_former_spellings_still_read() {
        for arch in Arch::all() {
            let json = serde_json::to_string(&arch).unwrap();
            assert_eq!(json, format!("\"{}\"", arch.name));
            assert_eq!(serde_json::from_str::<Arch>(&json).unwrap(), arch);
        }
        let old: Arch = serde_json::from_str("\"efficient-net-lite0\"").unwrap();
        assert_eq!(old.name(), "efficientnet-lite0");
        assert!(Arch::named("resnet-50").is_err());
    }

    #[test]
    fn every_spec_builds_its_declared_shape() {
        for arch in Arch::all() {
            let vs = nn::VarStore::new(Device::Cpu);
            let net = Backbone::new(&vs.root(), arch, false, Precision::Fp32);
            net.block_index(arch.recipe.freeze_through).unwrap();
            let x = Tensor::zeros(
                [1, 3, arch.min_size, arch.min_size],
                (Kind::Float, Device::Cpu),
            );
            let f = tch::no_grad(|| net.features(&x));
            assert_eq!(f.size(), [1, arch.feature_dim], "{arch}");
        }
    }
}
