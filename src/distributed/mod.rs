//! Running as one rank of several: the launch variables that torchrun, Slurm or a Kubernetes
//! PyTorchJob set, and a torch.distributed process group (c10d's TCPStore rendezvous and Gloo
//! over it) reached through graft's small C++ bridge (`csrc/distributed.cpp`), since tch does
//! not bind c10d.
mod launch;

use crate::engine::{BridgeMessage as Message, bridge_result as check, bridge_tensor};
use anyhow::{Result, anyhow};
pub use launch::{Launch, shard};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::ffi::{CString, c_char, c_int, c_void};
use std::time::Duration;
use tch::Tensor;

#[repr(C)]
struct RawGroup {
    _private: [u8; 0],
}

// Tensors cross as tch's handle (`Tensor::as_mut_ptr`), which is an `at::Tensor*` in C++.

unsafe extern "C" {
    #[allow(clippy::too_many_arguments)]
    fn graft_group_join(
        host: *const c_char,
        port: u16,
        rank: c_int,
        world: c_int,
        timeout_ms: i64,
        agent_store: c_int,
        prefix: *const c_char,
        ifname: *const c_char,
        out: *mut *mut RawGroup,
    ) -> Message;
    fn graft_group_free(g: *mut RawGroup);
    fn graft_group_all_reduce_sum(g: *mut RawGroup, t: *mut c_void, timeout_ms: i64) -> Message;
    fn graft_group_broadcast(
        g: *mut RawGroup,
        t: *mut c_void,
        root: c_int,
        timeout_ms: i64,
    ) -> Message;
    fn graft_group_all_gather(
        g: *mut RawGroup,
        t: *mut c_void,
        out: *mut c_void,
        timeout_ms: i64,
    ) -> Message;
    fn graft_group_barrier(g: *mut RawGroup, timeout_ms: i64) -> Message;
    #[allow(clippy::too_many_arguments)]
    fn graft_sync_batch_norm(
        g: *mut RawGroup,
        x: *mut c_void,
        gamma: *mut c_void,
        beta: *mut c_void,
        running_mean: *mut c_void,
        running_var: *mut c_void,
        momentum: f64,
        eps: f64,
        timeout_ms: i64,
        out: *mut *mut c_void,
    ) -> Message;
}

/// Gradients are all-reduced in buckets of about this many bytes (PyTorch DDP's default).
pub const BUCKET_BYTES: usize = 25 << 20;

/// Whether this process speaks for all (writes, prints the results): one process, or rank 0.
pub fn leads(group: Option<&Group>) -> bool {
    group.is_none_or(|g| g.rank == 0)
}

/// The items `0..n` this process takes: its shard as one of `group`'s ranks, else all of them.
pub fn share(n: usize, group: Option<&Group>) -> std::ops::Range<usize> {
    group.map_or(0..n, |g| shard(n, g.rank, g.world))
}

/// A joined process group: collectives over every rank, each bounded by the join's timeout
/// (a rank that died makes the others fail within it instead of hanging; one whose connection
/// closed, at once), or by more where [`Group::allow_for`] says the others may be behind.
pub struct Group {
    raw: *mut RawGroup,
    timeout: Duration,
    bound: std::cell::Cell<Duration>,
    /// This process's rank.
    pub rank: usize,
    /// Number of ranks.
    pub world: usize,
}

// SAFETY: the process group may move between threads: c10d serializes collectives per group,
// and the raw handle is owned by this value alone (freed once, in Drop).
unsafe impl Send for Group {}

impl Group {
    /// Joins the ranks of `launch` (Gloo; GLOO_SOCKET_IFNAME picks the network interface, as in
    /// PyTorch); fails after `timeout` if they do not all arrive.
    pub fn join(launch: &Launch, timeout: Duration) -> Result<Group> {
        let host = CString::new(launch.master_addr.as_str())?;
        let prefix = launch
            .agent_store
            .map(|restart| format!("/worker/attempt_{restart}"))
            .unwrap_or_default();
        let prefix = CString::new(prefix)?;
        let ifname = CString::new(std::env::var("GLOO_SOCKET_IFNAME").unwrap_or_default())?;
        let mut raw = std::ptr::null_mut();
        // SAFETY: the C strings outlive the call; `raw` is written only on success.
        let m = unsafe {
            graft_group_join(
                host.as_ptr(),
                launch.master_port,
                launch.rank as c_int,
                launch.world as c_int,
                timeout.as_millis() as i64,
                launch.agent_store.is_some() as c_int,
                prefix.as_ptr(),
                ifname.as_ptr(),
                &mut raw,
            )
        };
        let what = format!(
            "joining the process group as rank {} of {} at {}:{}",
            launch.rank, launch.world, launch.master_addr, launch.master_port
        );
        check(m, &what)?;
        Ok(Group {
            raw,
            timeout,
            bound: std::cell::Cell::new(timeout),
            rank: launch.rank,
            world: launch.world,
        })
    }

    /// Lets the next collectives wait `work` more than the join's timeout, twice over: after a
    /// rank spent `work` on its share, the others, with shares of the same size, may still be
    /// at theirs.
    pub fn allow_for(&self, work: Duration) {
        self.bound.set(self.timeout + 2 * work);
    }

    fn bound_ms(&self) -> i64 {
        self.bound.get().as_millis() as i64
    }

    /// Names a collective and how long it waits, for its error.
    fn what(&self, name: &str) -> String {
        format!(
            "{name} (rank {} of {}, waiting at most {} s for the others)",
            self.rank,
            self.world,
            self.bound.get().as_secs()
        )
    }

    /// Sums `t` over the ranks, in place on every rank.
    pub fn all_reduce_sum(&self, t: &mut Tensor) -> Result<()> {
        check(
            // SAFETY: the group is joined and live; the tensors are borrowed for the call.
            unsafe {
                graft_group_all_reduce_sum(self.raw, t.as_mut_ptr() as *mut c_void, self.bound_ms())
            },
            &self.what("all-reduce"),
        )
    }

    /// Replaces every rank's `t` with rank `root`'s.
    pub fn broadcast(&self, t: &mut Tensor, root: usize) -> Result<()> {
        check(
            // SAFETY: the group is joined and live; the tensors are borrowed for the call.
            unsafe {
                graft_group_broadcast(
                    self.raw,
                    t.as_mut_ptr() as *mut c_void,
                    root as c_int,
                    self.bound_ms(),
                )
            },
            &self.what("broadcast"),
        )
    }

    /// Every rank's `t` (the same shape on each), stacked in rank order: [world, ...].
    pub fn all_gather(&self, t: &Tensor) -> Result<Tensor> {
        let mut shape = vec![self.world as i64];
        shape.extend(t.size());
        let mut out = Tensor::empty(shape, (t.kind(), t.device()));
        let mut t = t.contiguous();
        check(
            // SAFETY: the group is joined and live; the tensors are borrowed for the call.
            unsafe {
                graft_group_all_gather(
                    self.raw,
                    t.as_mut_ptr() as *mut c_void,
                    out.as_mut_ptr() as *mut c_void,
                    self.bound_ms(),
                )
            },
            &self.what("all-gather"),
        )?;
        Ok(out)
    }

    /// Returns once every rank has reached it.
    pub fn barrier(&self) -> Result<()> {
        check(
            // SAFETY: the group is joined and live; the tensors are borrowed for the call.
            unsafe { graft_group_barrier(self.raw, self.bound_ms()) },
            &self.what("barrier"),
        )
    }

    /// Every rank's rows ([k, ...], k may differ between ranks, the rest of the shape may not),
    /// concatenated in rank order, on every rank.
    pub fn all_gather_rows(&self, rows: &Tensor) -> Result<Tensor> {
        let counts = self.all_gather(&Tensor::from_slice(&[rows.size()[0]]))?;
        let counts = Vec::<i64>::try_from(&counts.flatten(0, -1))?;
        let most = counts.iter().copied().max().unwrap_or(0);
        if most == 0 {
            return Ok(rows.shallow_clone());
        }
        let mut pad = rows.size();
        pad[0] = most - pad[0];
        let padded = Tensor::cat(
            &[rows, &Tensor::zeros(pad, (rows.kind(), rows.device()))],
            0,
        );
        let all = self.all_gather(&padded)?;
        let parts: Vec<Tensor> = counts
            .iter()
            .enumerate()
            .map(|(r, &k)| all.get(r as i64).narrow(0, 0, k))
            .collect();
        Ok(Tensor::cat(&parts, 0))
    }

    /// Every rank's `items`, concatenated in rank order, on every rank (sent as JSON).
    pub fn all_gather_json<T: Serialize + DeserializeOwned>(&self, items: &[T]) -> Result<Vec<T>> {
        let bytes = serde_json::to_vec(items)?;
        let all = Vec::<u8>::try_from(&self.all_gather_rows(&Tensor::from_slice(&bytes))?)?;
        // Each rank's part is one JSON list; they follow each other without separators.
        let mut out = Vec::new();
        for part in serde_json::Deserializer::from_slice(&all).into_iter::<Vec<T>>() {
            out.extend(part?);
        }
        Ok(out)
    }

    /// Training-mode batch norm of `x` [N, C, H, W] whose statistics (and, in the backward pass,
    /// gradient sums) cover every rank's rows: the whole global batch, as one process sees it.
    /// Updates the running statistics like torch's batch norm.
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm(
        &self,
        x: &Tensor,
        gamma: Option<&Tensor>,
        beta: &Tensor,
        running_mean: &Tensor,
        running_var: &Tensor,
        momentum: f64,
        eps: f64,
    ) -> Result<Tensor> {
        let ptr = |t: &Tensor| t.as_ptr() as *mut c_void;
        bridge_tensor(&self.what("batch-norm statistics"), |out| {
            // SAFETY: the group is joined and live; the tensors are borrowed for the call.
            unsafe {
                graft_sync_batch_norm(
                    self.raw,
                    ptr(x),
                    gamma.map_or(std::ptr::null_mut(), ptr),
                    ptr(beta),
                    ptr(running_mean),
                    ptr(running_var),
                    momentum,
                    eps,
                    self.bound_ms(),
                    out,
                )
            }
        })
    }

    /// Sums the gradients of `params` over the ranks, in place, in buckets of about
    /// [`BUCKET_BYTES`] (one flat copy each: a few large messages instead of one per tensor).
    /// Returns the bytes each rank sent into the sums.
    pub fn all_reduce_grads(&self, params: &[Tensor]) -> Result<usize> {
        let grads: Vec<Tensor> = params.iter().map(Tensor::grad).collect();
        if let Some(i) = grads.iter().position(|g| !g.defined()) {
            return Err(anyhow!(
                "parameter {i} of {} has no gradient to all-reduce",
                grads.len()
            ));
        }
        let mut bytes = 0;
        let mut start = 0;
        while start < grads.len() {
            let mut end = start;
            let mut bucket = 0;
            while end < grads.len() && (end == start || bucket < BUCKET_BYTES) {
                bucket += grads[end].numel() * grads[end].kind().elt_size_in_bytes();
                end += 1;
            }
            let part = &grads[start..end];
            let flat: Vec<Tensor> = part.iter().map(|g| g.reshape([-1])).collect();
            let mut flat = Tensor::cat(&flat, 0);
            self.all_reduce_sum(&mut flat)?;
            let mut offset = 0;
            for g in part {
                let n = g.numel() as i64;
                tch::no_grad(|| {
                    g.shallow_clone()
                        .copy_(&flat.narrow(0, offset, n).view_as(g))
                });
                offset += n;
            }
            bytes += bucket;
            start = end;
        }
        Ok(bytes)
    }

    /// Rank 0's `value` on every rank (sent as JSON); the other ranks' `value` is not read
    /// and may be None.
    pub fn broadcast_json<T: Serialize + DeserializeOwned>(&self, value: Option<&T>) -> Result<T> {
        let bytes = match (self.rank, value) {
            (0, Some(v)) => serde_json::to_vec(v)?,
            (0, None) => return Err(anyhow!("rank 0 has no value to broadcast")),
            _ => Vec::new(),
        };
        let mut len = Tensor::from_slice(&[bytes.len() as i64]);
        self.broadcast(&mut len, 0)?;
        let mut t = if self.rank == 0 {
            Tensor::from_slice(&bytes)
        } else {
            Tensor::zeros(
                [len.int64_value(&[0])],
                (tch::Kind::Uint8, tch::Device::Cpu),
            )
        };
        self.broadcast(&mut t, 0)?;
        Ok(serde_json::from_slice(&Vec::<u8>::try_from(&t)?)?)
    }

    /// Sums a count over the ranks.
    pub fn sum_count(&self, n: u64) -> Result<u64> {
        let mut t = Tensor::from_slice(&[n as i64]);
        self.all_reduce_sum(&mut t)?;
        Ok(t.int64_value(&[0]) as u64)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: the handle came from a successful join and is freed only here.
        unsafe { graft_group_free(self.raw) }
    }
}
