//! Running as one rank of several: the launch variables that torchrun, Slurm or a Kubernetes
//! PyTorchJob set, and a torch.distributed process group (c10d's TCPStore rendezvous and Gloo
//! over it) reached through graft's small C++ bridge (`csrc/distributed.cpp`), since tch does
//! not bind c10d.
use anyhow::{Result, anyhow};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::time::Duration;
use tch::Tensor;

#[repr(C)]
struct RawGroup {
    _private: [u8; 0],
}

type Message = *mut c_char;

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
    fn graft_free_message(m: Message);
}

/// Turns the bridge's error message (if any) into an error naming what failed.
fn check(m: Message, what: &str) -> Result<()> {
    if m.is_null() {
        return Ok(());
    }
    let text = unsafe { CStr::from_ptr(m) }.to_string_lossy().into_owned();
    unsafe { graft_free_message(m) };
    Err(anyhow!("{what}: {}", text.trim()))
}

/// Where this process sits among the ranks, as the launcher said (torch.distributed's env://).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// This process's rank, 0..world.
    pub rank: usize,
    /// Number of ranks.
    pub world: usize,
    /// Rank on this machine.
    pub local_rank: usize,
    /// Host of the rendezvous store (rank 0's machine, or torchrun's agent).
    pub master_addr: String,
    /// Its port.
    pub master_port: u16,
    /// torchrun's agent serves the store (TORCHELASTIC_USE_AGENT_STORE): every rank is a
    /// client, and keys live under the restart's prefix.
    pub agent_store: Option<u32>,
}

impl Launch {
    /// The launch read from `var` (the environment, in use): None when WORLD_SIZE is unset or
    /// 1; an error naming the variable when one is missing or malformed.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Launch>> {
        let num = |name: &str| -> Result<Option<usize>> {
            var(name)
                .map(|v| {
                    v.trim().parse::<usize>().map_err(|_| {
                        crate::error::bad_input(format!("{name}={v} is not a whole number"))
                    })
                })
                .transpose()
        };
        let world = num("WORLD_SIZE")?.unwrap_or(1);
        if world <= 1 {
            return Ok(None);
        }
        let need = |name: &str| {
            var(name).ok_or_else(|| {
                crate::error::bad_input(format!(
                    "WORLD_SIZE={world} but {name} is not set (launch with torchrun, or set RANK, MASTER_ADDR and MASTER_PORT)"
                ))
            })
        };
        need("RANK")?;
        let rank = num("RANK")?.unwrap_or(0);
        if rank >= world {
            return Err(crate::error::bad_input(format!(
                "RANK={rank} is not below WORLD_SIZE={world}"
            )));
        }
        let port = need("MASTER_PORT")?;
        let master_port = port.trim().parse().map_err(|_| {
            crate::error::bad_input(format!("MASTER_PORT={port} is not a port number"))
        })?;
        let agent_store = (var("TORCHELASTIC_USE_AGENT_STORE").as_deref() == Some("True"))
            .then(|| num("TORCHELASTIC_RESTART_COUNT").map(|c| c.unwrap_or(0) as u32))
            .transpose()?;
        Ok(Some(Launch {
            rank,
            world,
            local_rank: num("LOCAL_RANK")?.unwrap_or(0),
            master_addr: need("MASTER_ADDR")?,
            master_port,
            agent_store,
        }))
    }

    /// The launch this process was started with (see [`Launch::from_vars`]).
    pub fn from_env() -> Result<Option<Launch>> {
        Self::from_vars(|name| std::env::var(name).ok())
    }
}

/// The contiguous share of `n` items that rank `rank` of `world` takes (shares differ by at most
/// one item; rank order is item order).
pub fn shard(n: usize, rank: usize, world: usize) -> std::ops::Range<usize> {
    let world = world.max(1);
    n * rank / world..n * (rank + 1) / world
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

// The process group is thread-safe (c10d serializes collectives per group).
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
            unsafe {
                graft_group_all_reduce_sum(self.raw, t.as_mut_ptr() as *mut c_void, self.bound_ms())
            },
            &self.what("all-reduce"),
        )
    }

    /// Replaces every rank's `t` with rank `root`'s.
    pub fn broadcast(&self, t: &mut Tensor, root: usize) -> Result<()> {
        check(
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

    /// Sums a count over the ranks.
    pub fn sum_count(&self, n: u64) -> Result<u64> {
        let mut t = Tensor::from_slice(&[n as i64]);
        self.all_reduce_sum(&mut t)?;
        Ok(t.int64_value(&[0]) as u64)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        unsafe { graft_group_free(self.raw) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn launch(vars: &[(&str, &str)]) -> Result<Option<Launch>> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Launch::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn shards_cover_the_items_once_in_order() {
        for (n, world) in [(10, 3), (2, 4), (0, 2), (7, 1)] {
            let all: Vec<usize> = (0..world).flat_map(|r| shard(n, r, world)).collect();
            assert_eq!(all, (0..n).collect::<Vec<_>>());
            let sizes: Vec<usize> = (0..world).map(|r| shard(n, r, world).len()).collect();
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn launch_variables_are_read_as_torch_sets_them() {
        assert_eq!(launch(&[]).unwrap(), None);
        assert_eq!(launch(&[("WORLD_SIZE", "1"), ("RANK", "0")]).unwrap(), None);
        let torchrun = [
            ("WORLD_SIZE", "2"),
            ("RANK", "1"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "127.0.0.1"),
            ("MASTER_PORT", "29500"),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
            ("TORCHELASTIC_RESTART_COUNT", "2"),
        ];
        let l = launch(&torchrun).unwrap().unwrap();
        assert_eq!((l.rank, l.world, l.local_rank), (1, 2, 1));
        assert_eq!(
            (l.master_addr.as_str(), l.master_port),
            ("127.0.0.1", 29500)
        );
        assert_eq!(l.agent_store, Some(2));
        // Missing or malformed variables are named.
        let e = launch(&[("WORLD_SIZE", "2"), ("RANK", "0")]).unwrap_err();
        assert!(e.to_string().contains("MASTER_PORT"), "{e}");
        let e = launch(&[("WORLD_SIZE", "two")]).unwrap_err();
        assert!(e.to_string().contains("WORLD_SIZE=two"), "{e}");
        let e = launch(&[("WORLD_SIZE", "2"), ("RANK", "2")]).unwrap_err();
        assert!(e.to_string().contains("not below"), "{e}");
    }
}
