//! Where this process sits among the ranks: the variables torchrun, Slurm or a Kubernetes
//! PyTorchJob set, and the share of the work that follows from them.
use anyhow::Result;

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
