//! How one forward pass runs: in training mode or not, and in a data-parallel training pass the
//! ranks whose shares of the batch every training-mode batch norm takes its statistics over (see
//! [`Group::batch_norm`]). The layers' forward passes take it as an argument.
use crate::distributed::Group;
use std::cell::RefCell;
use tch::Tensor;

/// One forward pass's mode.
#[derive(Clone, Copy)]
pub struct Pass<'a> {
    /// Training mode: batch statistics in batch norms, dropout in the head.
    pub train: bool,
    /// The ranks whose batch norms are synchronised, in a data-parallel training pass.
    pub sync: Option<&'a SyncNorm<'a>>,
}

impl Pass<'static> {
    /// Inference: running statistics, no dropout.
    pub const INFERENCE: Pass<'static> = Pass {
        train: false,
        sync: None,
    };
    /// Training in one process.
    pub const TRAIN: Pass<'static> = Pass {
        train: true,
        sync: None,
    };
}

impl<'a> Pass<'a> {
    /// Training mode when `train`, else inference.
    pub fn training(train: bool) -> Pass<'static> {
        if train { Pass::TRAIN } else { Pass::INFERENCE }
    }

    /// The same pass with training-mode batch norms only when `train` allows them too.
    pub fn batch_norms_training(self, train: bool) -> Pass<'a> {
        Pass {
            train: self.train && train,
            sync: self.sync,
        }
    }
}

/// Batch norms over the ranks of a group for one training pass, keeping the first failure: a
/// layer's forward pass cannot fail, so a failed collective is kept, the pass finishes on local
/// statistics, and [`batch_norm_over`] returns the error instead of the result.
pub struct SyncNorm<'g> {
    group: &'g Group,
    failure: RefCell<Option<anyhow::Error>>,
}

impl SyncNorm<'_> {
    /// `f` on the group, unless an earlier batch norm of this pass failed; None then or now.
    pub(super) fn apply(&self, f: impl FnOnce(&Group) -> anyhow::Result<Tensor>) -> Option<Tensor> {
        if self.failure.borrow().is_some() {
            return None;
        }
        match f(self.group) {
            Ok(y) => Some(y),
            Err(e) => {
                self.failure.replace(Some(e));
                None
            }
        }
    }
}

/// Runs `f` (a training forward pass) with its batch norms' statistics taken over the whole
/// batch that `group`'s ranks share; without a group, as usual.
pub fn batch_norm_over<R>(group: Option<&Group>, f: impl FnOnce(Pass) -> R) -> anyhow::Result<R> {
    let Some(group) = group else {
        return Ok(f(Pass::TRAIN));
    };
    let sync = SyncNorm {
        group,
        failure: RefCell::new(None),
    };
    let out = f(Pass {
        train: true,
        sync: Some(&sync),
    });
    match sync.failure.into_inner() {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
