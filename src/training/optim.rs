//! SGD with momentum and Adam, written on tensors so their state can be checkpointed and a
//! resumed run continues exactly (libtorch's optimizers do not expose their buffers through tch).
use serde::{Deserialize, Serialize};
use tch::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerConfig {
    /// PyTorch's SGD: v = momentum * v + g; p -= lr * v (Keras' form is the same for a fixed lr).
    Sgd { lr: f64, momentum: f64 },
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
    },
}

pub struct Optimizer {
    config: OptimizerConfig,
    params: Vec<Tensor>,
    /// SGD: one velocity per parameter. Adam: first then second moments.
    state: Vec<Tensor>,
    pub step: i64,
    /// Multiplies the configured learning rate (set by the schedule before each step).
    pub lr_scale: f64,
}

impl Optimizer {
    pub fn new(config: OptimizerConfig, params: Vec<Tensor>) -> Self {
        let copies = match config {
            OptimizerConfig::Sgd { .. } => 1,
            OptimizerConfig::Adam { .. } => 2,
        };
        let state = (0..copies)
            .flat_map(|_| params.iter().map(|p| p.zeros_like()))
            .collect();
        Self {
            config,
            params,
            state,
            step: 0,
            lr_scale: 1.0,
        }
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    pub fn step(&mut self) {
        self.step += 1;
        let n = self.params.len();
        tch::no_grad(|| match self.config {
            OptimizerConfig::Sgd { lr, momentum } => {
                let lr = lr * self.lr_scale;
                for (p, v) in self.params.iter_mut().zip(self.state.iter_mut()) {
                    let g = p.grad();
                    if !g.defined() {
                        continue;
                    }
                    let _ = v.g_mul_scalar_(momentum).g_add_(&g);
                    let _ = p.g_sub_(&(&*v * lr));
                }
            }
            OptimizerConfig::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                let lr = lr * self.lr_scale;
                let t = self.step as f64;
                let (bc1, bc2) = (1.0 - beta1.powf(t), 1.0 - beta2.powf(t));
                let (m, v) = self.state.split_at_mut(n);
                for ((p, m), v) in self.params.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()) {
                    let g = p.grad();
                    if !g.defined() {
                        continue;
                    }
                    let _ = m.g_mul_scalar_(beta1).g_add_(&(&g * (1.0 - beta1)));
                    let _ = v.g_mul_scalar_(beta2).g_add_(&(&g * &g * (1.0 - beta2)));
                    let denom = (&*v / bc2).sqrt() + eps;
                    let _ = p.g_sub_(&(&*m / &denom * (lr / bc1)));
                }
            }
        });
    }

    /// The optimizer's buffers, named for a checkpoint.
    pub fn named_state(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = self
            .state
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("optim.{i}"), t.shallow_clone()))
            .collect();
        out.push(("optim.step".to_string(), Tensor::from_slice(&[self.step])));
        out
    }

    pub fn load_state(&mut self, named: &[(String, Tensor)]) -> anyhow::Result<()> {
        for (name, t) in named {
            if name == "optim.step" {
                self.step = t.int64_value(&[0]);
            } else if let Some(i) = name
                .strip_prefix("optim.")
                .and_then(|i| i.parse::<usize>().ok())
            {
                let dst = self.state.get_mut(i).ok_or_else(|| {
                    anyhow::anyhow!("checkpoint has optimizer state {i} too many")
                })?;
                tch::no_grad(|| dst.copy_(t));
            }
        }
        Ok(())
    }
}
