//! Batch norm over a batch that data-parallel ranks share: while [`batch_norm_over`] runs a
//! training forward pass, every training-mode batch norm of the layers takes its statistics over
//! all ranks' rows (see [`Group::batch_norm`]).
use crate::distributed::Group;
use std::cell::{Cell, RefCell};
use tch::Tensor;

thread_local! {
    /// The group whose ranks each hold part of every training batch, while
    /// [`batch_norm_over`] runs; null otherwise.
    static SYNC: Cell<*const Group> = const { Cell::new(std::ptr::null()) };
    /// The first failure of a synchronised batch norm inside that scope.
    static SYNC_ERROR: RefCell<Option<anyhow::Error>> = const { RefCell::new(None) };
}

/// Runs `f` (a training forward pass) with its batch norms' statistics taken over the whole
/// batch that `group`'s ranks share (see [`Group::batch_norm`]); without a group, as usual.
/// `ModuleT::forward_t` has no room for a group, hence a scoped thread-local; and it cannot
/// fail, so a failed collective is kept, the pass finishes on local statistics, and the error is
/// returned here instead of the result.
pub fn batch_norm_over<R>(group: Option<&Group>, f: impl FnOnce() -> R) -> anyhow::Result<R> {
    let Some(group) = group else {
        return Ok(f());
    };
    struct Reset(*const Group);
    impl Drop for Reset {
        fn drop(&mut self) {
            SYNC.set(self.0);
        }
    }
    let _reset = Reset(SYNC.replace(group as *const Group));
    let out = f();
    match SYNC_ERROR.take() {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// `f` on the group of the enclosing [`batch_norm_over`], if any; None also after a failure.
pub(super) fn in_synced_group(f: impl FnOnce(&Group) -> anyhow::Result<Tensor>) -> Option<Tensor> {
    let group = SYNC.get();
    if group.is_null() || SYNC_ERROR.with_borrow(Option::is_some) {
        return None;
    }
    // Set only for the duration of `batch_norm_over`, which borrows the group.
    match f(unsafe { &*group }) {
        Ok(y) => Some(y),
        Err(e) => {
            SYNC_ERROR.set(Some(e));
            None
        }
    }
}
