//! A block's computation as a small tree of layers: convolutions and pools combined in
//! sequence, in parallel branches that are concatenated, or around an identity shortcut. The
//! forward pass interprets the tree, and the summary, the graph and model export read the same
//! tree, so a network's description cannot drift from what it computes.
use super::layers::{Conv, Pool};
use super::pass::Pass;
use tch::Tensor;

/// One node of a block's layer tree.
#[derive(Debug)]
pub enum Layer {
    /// Convolution + batch norm + activation.
    Conv(Conv),
    /// Max or average pooling.
    Pool(Pool),
    /// Layers applied one after the other (none: the identity).
    Seq(Vec<Layer>),
    /// Branches applied to the same input, their outputs concatenated along channels.
    Concat(Vec<Layer>),
    /// The inner layer's output plus its input.
    Residual(Box<Layer>),
}

impl Layer {
    /// The outputs that a concatenation takes from this layer: a branch that itself ends in a
    /// concatenation gives its parts, so nested concatenations copy the data once.
    fn parts(&self, xs: &Tensor, pass: Pass) -> Vec<Tensor> {
        match self {
            Layer::Concat(branches) => branches.iter().flat_map(|b| b.parts(xs, pass)).collect(),
            Layer::Seq(layers) => match layers.split_last() {
                Some((last, init)) => {
                    let x = init
                        .iter()
                        .fold(xs.shallow_clone(), |x, l| l.forward(&x, pass));
                    last.parts(&x, pass)
                }
                None => vec![xs.shallow_clone()],
            },
            other => vec![other.forward(xs, pass)],
        }
    }

    /// Every convolution of the tree, in data-flow order (branches in concatenation order).
    pub fn convs(&self) -> Vec<&Conv> {
        let mut out = Vec::new();
        self.visit(&mut |l| {
            if let Layer::Conv(c) = l {
                out.push(c);
            }
        });
        out
    }

    /// Calls `f` on this node and every node under it, depth first, in data-flow order.
    pub fn visit<'a>(&'a self, f: &mut impl FnMut(&'a Layer)) {
        f(self);
        match self {
            Layer::Seq(children) | Layer::Concat(children) => {
                children.iter().for_each(|c| c.visit(f))
            }
            Layer::Residual(body) => body.visit(f),
            Layer::Conv(_) | Layer::Pool(_) => {}
        }
    }
}

impl Layer {
    /// Runs the tree on `xs`.
    pub fn forward(&self, xs: &Tensor, pass: Pass) -> Tensor {
        match self {
            Layer::Conv(c) => c.forward(xs, pass),
            Layer::Pool(p) => p.forward(xs),
            Layer::Seq(layers) => layers
                .iter()
                .fold(xs.shallow_clone(), |x, l| l.forward(&x, pass)),
            Layer::Concat(_) => Tensor::cat(&self.parts(xs, pass), 1),
            Layer::Residual(body) => body.forward(xs, pass) + xs,
        }
    }
}

/// One named stage of a backbone; its variables live under `<name>.` in the var store, so it
/// can be frozen, cut at and cached.
#[derive(Debug)]
pub struct Block {
    /// The block's name (`stem`, `mixed_7`, `blocks.3`).
    pub name: String,
    /// What it computes.
    pub layer: Layer,
}

impl Block {
    /// A block named `name`.
    pub fn new(name: &str, layer: Layer) -> Self {
        Self {
            name: name.to_string(),
            layer,
        }
    }

    /// The var-store prefix of this block's variables.
    pub fn var_prefix(&self) -> String {
        format!("{}.", self.name)
    }

    /// Runs the block.
    pub fn forward(&self, xs: &Tensor, pass: Pass) -> Tensor {
        self.layer.forward(xs, pass)
    }
}
