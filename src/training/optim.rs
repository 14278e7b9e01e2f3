//! SGD with momentum and Adam, written on tensors so their state can be checkpointed and a
//! resumed run continues exactly (libtorch's optimizers do not expose their buffers through tch).
pub use crate::run::config::OptimizerConfig;
use tch::Tensor;

/// The optimizer of a run, its state kept in tensors.
pub struct Optimizer {
    config: OptimizerConfig,
    params: Vec<Tensor>,
    /// SGD: one velocity per parameter. Adam: first then second moments.
    state: Vec<Tensor>,
    /// Updates done.
    pub step: i64,
    /// Multiplies the configured learning rate (set by the schedule before each step).
    pub lr_scale: f64,
}

impl Optimizer {
    /// An optimizer for `params`, with zeroed state.
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

    /// The parameters it updates.
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// Zeroes the parameters' gradients.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// One update from the current gradients.
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
                    // In place, one temporary per moment: the update is memory-bound.
                    // m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
                    // p -= lr / bc1 * m / (sqrt(v / bc2) + eps), the last as p += m / d with
                    // d = (sqrt(v) + eps sqrt(bc2)) * -(bc1 / (lr sqrt(bc2))).
                    let _ = m.lerp_(&g, 1.0 - beta1);
                    let _ = v.lerp_(&(&g * &g), 1.0 - beta2);
                    let mut d = v.sqrt();
                    let _ = d
                        .g_add_scalar_(eps * bc2.sqrt())
                        .g_mul_scalar_(-bc1 / (lr * bc2.sqrt()));
                    let _ = p.addcdiv_(m, &d);
                }
            }
        });
    }

    /// The optimizer's buffers, named for a checkpoint ("0", "1", ... and "step").
    pub fn named_state(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = self
            .state
            .iter()
            .enumerate()
            .map(|(i, t)| (i.to_string(), t.shallow_clone()))
            .collect();
        out.push(("step".to_string(), Tensor::from_slice(&[self.step])));
        out
    }

    /// Restores buffers saved by [`named_state`](Self::named_state).
    pub fn load_state(&mut self, named: &[(String, Tensor)]) -> anyhow::Result<()> {
        for (name, t) in named {
            if name == "step" {
                self.step = t.int64_value(&[0]);
            } else if let Ok(i) = name.parse::<usize>() {
                let dst = self.state.get_mut(i).ok_or_else(|| {
                    anyhow::anyhow!("checkpoint has optimizer state {i} too many")
                })?;
                tch::no_grad(|| dst.copy_(t));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    /// Runs `steps` updates of a 3-element parameter under constant gradients `g(step)`.
    fn run(config: OptimizerConfig, lr_scale: f64, grads: &[[f64; 3]]) -> Vec<f64> {
        let p = Tensor::from_slice(&[0.5f64, -1.0, 2.0]).set_requires_grad(true);
        let mut opt = Optimizer::new(config, vec![p.shallow_clone()]);
        opt.lr_scale = lr_scale;
        for g in grads {
            opt.zero_grad();
            let target = Tensor::from_slice(g);
            (&p * &target).sum(Kind::Double).backward(); // d/dp = g
            opt.step();
        }
        Vec::<f64>::try_from(&p.detach()).unwrap()
    }

    #[test]
    fn adam_matches_the_textbook_update() {
        let (lr, b1, b2, eps) = (0.01, 0.9, 0.999, 1e-7);
        let grads = [[0.3, -2.0, 1e-3], [-0.1, -1.5, 4.0], [0.2, 0.0, -3.0]];
        let got = run(
            OptimizerConfig::Adam {
                lr,
                beta1: b1,
                beta2: b2,
                eps,
            },
            0.5,
            &grads,
        );
        let mut want = [0.5f64, -1.0, 2.0];
        let (mut m, mut v) = ([0.0f64; 3], [0.0f64; 3]);
        for (t, g) in grads.iter().enumerate() {
            let t = (t + 1) as i32;
            for i in 0..3 {
                m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                let (mh, vh) = (m[i] / (1.0 - b1.powi(t)), v[i] / (1.0 - b2.powi(t)));
                want[i] -= 0.5 * lr * mh / (vh.sqrt() + eps);
            }
        }
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn sgd_momentum_matches_pytorch() {
        let (lr, mu) = (0.1, 0.9);
        let grads = [[1.0, -2.0, 0.5], [0.5, 0.5, 0.5]];
        let got = run(OptimizerConfig::Sgd { lr, momentum: mu }, 1.0, &grads);
        let mut want = [0.5f64, -1.0, 2.0];
        let mut vel = [0.0f64; 3];
        for g in grads {
            for i in 0..3 {
                vel[i] = mu * vel[i] + g[i];
                want[i] -= lr * vel[i];
            }
        }
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{got:?} vs {want:?}");
        }
    }
}
