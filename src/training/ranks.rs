//! What the ranks of a data-parallel run must hold alike, sent from rank 0: weights it read from
//! a file, and the checkpoint a resumed run starts from.
use super::optim::Optimizer;
use crate::distributed::Group;
use crate::run::history::Progress;
use anyhow::Result;
use tch::{Tensor, nn};

/// Rank 0's values of every variable of `vs` on every rank of `g` (after rank 0 read a file).
pub fn broadcast_vars(vs: &nn::VarStore, g: &Group) -> Result<()> {
    for (_, v) in crate::run::named_vars(vs) {
        broadcast_into(&v, g)?;
    }
    Ok(())
}

/// Rank 0's `t` into every rank's `t`, through a copy: c10d writes memory directly, without the
/// version bump that tells the cached folded weights of a layer to refold.
fn broadcast_into(t: &Tensor, g: &Group) -> Result<()> {
    let mut received = tch::no_grad(|| t.detach().copy());
    g.broadcast(&mut received, 0)?;
    tch::no_grad(|| t.shallow_clone().copy_(&received));
    Ok(())
}

/// The checkpoint rank 0 read, on every rank: weights, optimizer state and progress (the ranks
/// need not share a file system).
pub fn share_checkpoint(
    vs: &nn::VarStore,
    optimizer: &mut Optimizer,
    progress: &Progress,
    g: &Group,
) -> Result<Progress> {
    broadcast_vars(vs, g)?;
    for (name, t) in optimizer.named_state() {
        if name != "step" {
            broadcast_into(&t, g)?;
        }
    }
    optimizer.step = g.broadcast_json(Some(&optimizer.step))?;
    g.broadcast_json(Some(progress))
}
