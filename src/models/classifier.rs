//! Backbone + classification head: global average pool -> Dense(hidden) ReLU [-> dropout] ->
//! Dense(classes). Blocks before `trainable_from` are frozen: they run in inference mode without
//! gradients, so their outputs can also be computed once and cached.
use super::{Arch, Backbone, Pass, layers};
use crate::engine::Precision;
use serde::{Deserialize, Serialize};
use tch::Tensor;
use tch::nn::{self, Module};

/// Variables of the head live under this prefix; everything else is the backbone.
pub const HEAD_PREFIX: &str = "classifier.";

/// The classification head's shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HeadConfig {
    /// Units of the hidden dense layer (0: logits straight from the pooled features).
    pub hidden: i64,
    /// Dropout after the hidden layer while training (0: none).
    pub dropout: f64,
    /// How the dense weights start (absent in older runs: kaiming).
    #[serde(default)]
    pub init: HeadInit,
}

/// The starting weights of the head's dense layers (biases: U(±1/sqrt(fan_in)) either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadInit {
    /// U(±sqrt(6 / fan_in)), Kaiming for ReLU: tch's default, near Keras' Glorot for the seed.
    #[default]
    Kaiming,
    /// U(±1 / sqrt(fan_in)), PyTorch's `nn.Linear` default, 2.45x smaller: on the fast recipe
    /// it scored better by validation on both shared sets (docs/recipe.md).
    Torch,
}

impl std::str::FromStr for HeadInit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "kaiming" => Ok(HeadInit::Kaiming),
            "torch" => Ok(HeadInit::Torch),
            _ => Err(format!("unknown head init '{s}' (torch or kaiming)")),
        }
    }
}

impl HeadInit {
    fn linear(self, fan_in: i64) -> nn::LinearConfig {
        match self {
            HeadInit::Kaiming => Default::default(),
            HeadInit::Torch => {
                let bound = 1.0 / (fan_in as f64).sqrt();
                nn::LinearConfig {
                    ws_init: nn::Init::Uniform {
                        lo: -bound,
                        up: bound,
                    },
                    ..Default::default()
                }
            }
        }
    }
}

impl HeadConfig {
    /// The seed's head: Dense 512 ReLU, no dropout.
    pub fn seed() -> Self {
        Self {
            hidden: 512,
            dropout: 0.0,
            init: HeadInit::Kaiming,
        }
    }
}

/// One dense layer of the head, as summaries and graphs show it.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseLayer {
    /// Var-store prefix (`classifier.dense`, `classifier.logits`).
    pub name: String,
    /// Input features.
    pub inputs: i64,
    /// Output features.
    pub outputs: i64,
    /// Whether a ReLU (and the head's dropout) follows it.
    pub relu: bool,
}

/// Which rows of a training batch this process holds: `offset..offset + its rows` of `rows`.
/// The head's dropout masks are drawn for the whole batch and sliced, so a batch split between
/// data-parallel ranks drops the same units as one process would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Rows of the whole batch.
    pub rows: i64,
    /// Index of this process's first row.
    pub offset: i64,
}

impl Part {
    /// The whole batch of `rows` rows.
    pub fn whole(rows: i64) -> Self {
        Self { rows, offset: 0 }
    }
}

/// The classification head alone: Dense(hidden) ReLU [-> dropout] -> Dense(classes), its
/// variables under `classifier.` of the root it is built on, named as a [`Classifier`]'s. Built
/// apart, it trains on pooled features and its weights copy into a classifier by name.
#[derive(Debug)]
pub struct Head {
    hidden: Option<nn::Linear>,
    logits: nn::Linear,
    dropout: f64,
}

impl Head {
    /// A new head over `features` inputs, started as `cfg` says.
    pub fn new(root: &nn::Path, features: i64, classes: i64, cfg: HeadConfig) -> Self {
        let p = root / "classifier";
        let mut inputs = features;
        let hidden = (cfg.hidden > 0).then(|| {
            let l = nn::linear(&p / "dense", inputs, cfg.hidden, cfg.init.linear(inputs));
            inputs = cfg.hidden;
            l
        });
        let logits = nn::linear(&p / "logits", inputs, classes, cfg.init.linear(inputs));
        Self {
            hidden,
            logits,
            dropout: cfg.dropout,
        }
    }

    /// Logits of pooled features [B, features] in float32; `train` applies dropout.
    pub fn forward(&self, pooled: &Tensor, train: bool) -> Tensor {
        let x = match &self.hidden {
            Some(dense) => dense.forward(pooled).relu().dropout(self.dropout, train),
            None => pooled.shallow_clone(),
        };
        self.logits.forward(&x)
    }
}

/// A backbone with a classification head.
#[derive(Debug)]
pub struct Classifier {
    /// The pretrained network.
    pub backbone: Backbone,
    head: Head,
    /// Index of the first backbone block that trains (blocks.len(): the whole backbone is frozen).
    pub trainable_from: usize,
    /// Whether batch norm in the trainable blocks uses batch statistics while training (false:
    /// the pretrained statistics stay fixed, the usual choice for transfer learning).
    pub batchnorm_train: bool,
}

impl Classifier {
    /// Builds the backbone (without its ImageNet top) and a new head for `classes` classes.
    /// Runs in `precision`.
    pub fn new(
        root: &nn::Path,
        arch: Arch,
        classes: i64,
        head: HeadConfig,
        precision: Precision,
    ) -> Self {
        let backbone = Backbone::new(root, arch, false, precision);
        let head = Head::new(root, arch.feature_dim, classes, head);
        Self {
            backbone,
            head,
            trainable_from: 0,
            batchnorm_train: true,
        }
    }

    /// The frozen network's globally pooled features of the frozen blocks' output `frozen` (the
    /// rest of the backbone in inference mode, without gradients), in float32: what the head of a
    /// wholly frozen network is trained on.
    pub fn pooled_from_frozen(&self, frozen: &Tensor) -> Tensor {
        let b = &self.backbone;
        tch::no_grad(|| {
            let x = b.forward_blocks(
                &super::channels_last(frozen),
                self.trainable_from,
                b.blocks.len(),
                Pass::INFERENCE,
            );
            super::float32(layers::global_avg_pool(&x))
        })
    }

    /// Output of the frozen blocks, in inference mode and without gradients.
    pub fn frozen_features(&self, pixels: &Tensor) -> Tensor {
        tch::no_grad(|| {
            self.backbone.forward_blocks(
                &self.backbone.normalize(pixels),
                0,
                self.trainable_from,
                Pass::INFERENCE,
            )
        })
    }

    /// Logits from the frozen blocks' output (e.g. a cached one).
    pub fn forward_from_frozen(&self, frozen: &Tensor, pass: Pass) -> Tensor {
        self.forward_part(frozen, pass, Part::whole(frozen.size()[0]))
    }

    /// [`forward_from_frozen`](Self::forward_from_frozen) on `part` of a batch.
    pub fn forward_part(&self, frozen: &Tensor, pass: Pass, part: Part) -> Tensor {
        let b = &self.backbone;
        let x = b.forward_blocks(
            &super::channels_last(frozen),
            self.trainable_from,
            b.blocks.len(),
            pass.batch_norms_training(self.batchnorm_train),
        );
        self.head(&layers::global_avg_pool(&x), pass.train.then_some(part))
    }

    /// Logits of u8 pixels [B, 3, H, W], in inference mode.
    pub fn forward(&self, pixels: &Tensor) -> Tensor {
        if self.backbone.int8.is_some() {
            return tch::no_grad(|| self.head(&self.backbone.features(pixels), None));
        }
        self.forward_from_frozen(&self.frozen_features(pixels), Pass::INFERENCE)
    }

    /// The logits of u8 pixels as `part` of a batch.
    pub fn forward_pixels_part(&self, pixels: &Tensor, pass: Pass, part: Part) -> Tensor {
        self.forward_part(&self.frozen_features(pixels), pass, part)
    }

    /// The head's dense layers in order.
    pub fn head_layers(&self) -> Vec<DenseLayer> {
        let dense = |name: &str, l: &nn::Linear, relu| {
            let s = l.ws.size();
            DenseLayer {
                name: format!("{HEAD_PREFIX}{name}"),
                inputs: s[1],
                outputs: s[0],
                relu,
            }
        };
        let mut out: Vec<DenseLayer> = self
            .head
            .hidden
            .iter()
            .map(|h| dense("dense", h, true))
            .collect();
        out.push(dense("logits", &self.head.logits, false));
        out
    }

    /// Dropout rate after the hidden layer.
    pub fn dropout(&self) -> f64 {
        self.head.dropout
    }

    /// Training when `part` is given. Logits in float32 whatever the precision.
    fn head(&self, features: &Tensor, part: Option<Part>) -> Tensor {
        super::float32(
            self.backbone
                .precision
                .run(|| self.head_in_precision(features, part)),
        )
    }

    fn head_in_precision(&self, features: &Tensor, part: Option<Part>) -> Tensor {
        let head = &self.head;
        let x = match &head.hidden {
            Some(dense) => {
                let x = dense.forward(features).relu();
                match part.filter(|_| head.dropout > 0.0) {
                    Some(part) => self.dropout_mask(&x, part) * x,
                    None => x,
                }
            }
            None => features.shallow_clone(),
        };
        head.logits.forward(&x)
    }

    /// Inverted dropout's mask for `part` of the batch: keep with probability 1 - p, scaled by
    /// 1 / (1 - p); drawn as torch's dropout draws it for the whole batch, then sliced.
    fn dropout_mask(&self, x: &Tensor, part: Part) -> Tensor {
        let keep = 1.0 - self.head.dropout;
        let mut shape = x.size();
        shape[0] = part.rows;
        let mut mask = Tensor::empty(shape, (x.kind(), x.device()));
        let _ = mask.bernoulli_float_(keep);
        (mask / keep).narrow(0, part.offset, x.size()[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// The head starts within PyTorch's bound for `torch`, and up to 2.45x wider for `kaiming`.
    #[test]
    fn head_init_sets_the_bound_of_the_dense_weights() {
        let widest = |init| {
            let vs = nn::VarStore::new(Device::Cpu);
            let head = HeadConfig {
                hidden: 512,
                dropout: 0.0,
                init,
            };
            let arch = Arch::named("inception-v3").unwrap();
            let model = Classifier::new(&vs.root(), arch, 95, head, Precision::Fp32);
            let w = |l: &nn::Linear| l.ws.abs().max().double_value(&[]);
            let dense = model.head.hidden.as_ref().unwrap();
            assert_eq!(model.head.logits.ws.kind(), Kind::Float);
            (
                w(dense) * 2048f64.sqrt(),
                w(&model.head.logits) * 512f64.sqrt(),
            )
        };
        let (dense, logits) = widest(HeadInit::Torch);
        assert!((0.99..=1.0).contains(&dense) && (0.95..=1.0).contains(&logits));
        let (dense, logits) = widest(HeadInit::Kaiming);
        let bound = 6f64.sqrt();
        assert!(dense > 0.99 * bound && dense <= bound && logits > 0.95 * bound);
    }
}
