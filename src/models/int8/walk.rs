//! The walk over a backbone's layer trees that calibration and the int8 network share, so
//! both number the quantized activations (slots) the same way.
use crate::models::layers::{Conv, Pool};
use crate::models::net::{Block, Layer};

/// What a walk over a backbone's layer trees does at each node. Convolutions, concatenations
/// and residual sums each get the next slot: their outputs are the activations quantized on
/// their own.
pub(super) trait Steps {
    type T;
    fn conv(&mut self, slot: usize, conv: &Conv, x: &Self::T) -> Self::T;
    fn pool(&mut self, pool: &Pool, x: &Self::T) -> Self::T;
    fn cat(&mut self, slot: usize, parts: Vec<Self::T>) -> Self::T;
    fn add(&mut self, slot: usize, a: Self::T, b: &Self::T) -> Self::T;
    fn same(&self, x: &Self::T) -> Self::T;
}

struct Walk<'s, S> {
    steps: &'s mut S,
    labels: Vec<String>,
    block: String,
}

impl<S: Steps> Walk<'_, S> {
    fn slot(&mut self, label: String) -> usize {
        self.labels.push(label);
        self.labels.len() - 1
    }

    fn layer(&mut self, l: &Layer, x: &S::T) -> S::T {
        match l {
            Layer::Conv(c) => {
                let s = self.slot(c.name().to_string());
                self.steps.conv(s, c, x)
            }
            Layer::Pool(p) => self.steps.pool(p, x),
            Layer::Seq(layers) => {
                let mut x = self.steps.same(x);
                for l in layers {
                    x = self.layer(l, &x);
                }
                x
            }
            Layer::Concat(_) => {
                let parts = self.parts(l, x);
                let s = self.slot(format!("{}.concat", self.block));
                self.steps.cat(s, parts)
            }
            Layer::Residual(body) => {
                let y = self.layer(body, x);
                let s = self.slot(format!("{}.sum", self.block));
                self.steps.add(s, y, x)
            }
        }
    }

    /// As `Layer::parts`: nested concatenations give their parts to the outer one.
    fn parts(&mut self, l: &Layer, x: &S::T) -> Vec<S::T> {
        match l {
            Layer::Concat(branches) => branches.iter().flat_map(|b| self.parts(b, x)).collect(),
            Layer::Seq(layers) => match layers.split_last() {
                Some((last, init)) => {
                    let mut x = self.steps.same(x);
                    for l in init {
                        x = self.layer(l, &x);
                    }
                    self.parts(last, &x)
                }
                None => vec![self.steps.same(x)],
            },
            other => vec![self.layer(other, x)],
        }
    }
}

/// Runs `steps` over `blocks` from `x`: the output and the slots' labels.
pub(super) fn walk<S: Steps>(blocks: &[Block], x: &S::T, steps: &mut S) -> (S::T, Vec<String>) {
    let mut w = Walk {
        steps,
        labels: Vec::new(),
        block: String::new(),
    };
    let mut x = w.steps.same(x);
    for b in blocks {
        w.block = b.name.clone();
        x = w.layer(&b.layer, &x);
    }
    (x, w.labels)
}

/// The slots' labels alone.
pub(super) struct Labels;

impl Steps for Labels {
    type T = ();
    fn conv(&mut self, _: usize, _: &Conv, _: &()) {}
    fn pool(&mut self, _: &Pool, _: &()) {}
    fn cat(&mut self, _: usize, _: Vec<()>) {}
    fn add(&mut self, _: usize, _: (), _: &()) {}
    fn same(&self, _: &()) {}
}
