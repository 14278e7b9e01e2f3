//! The execution context of everything that computes: the libtorch device, the threads that
//! decode images ahead of it, the number format, and, in a data-parallel run, the process group
//! this process is one rank of. One value, cheap to copy, passed to whatever computes.
use crate::distributed::Group;
use crate::engine::Precision;
use tch::Device;

/// Where and how work runs.
#[derive(Clone, Copy)]
pub struct Runtime<'g> {
    /// The libtorch device.
    pub device: Device,
    /// Image-decoding threads.
    pub workers: usize,
    /// The number format of convolutions and matrix products.
    pub precision: Precision,
    /// The ranks this process shares its work with; None for a single process.
    pub group: Option<&'g Group>,
}

impl Runtime<'static> {
    /// One process on `device`, in float32, with the default decoding threads (see
    /// [`default_workers`]).
    pub fn new(device: Device) -> Self {
        Self {
            device,
            workers: default_workers(),
            precision: Precision::Fp32,
            group: None,
        }
    }
}

impl<'g> Runtime<'g> {
    /// The same context in `precision`.
    pub fn in_precision(self, precision: Precision) -> Self {
        Self { precision, ..self }
    }

    /// The same context as one rank of `group` (None: alone).
    pub fn over<'h>(self, group: Option<&'h Group>) -> Runtime<'h> {
        Runtime {
            device: self.device,
            workers: self.workers,
            precision: self.precision,
            group,
        }
    }

    /// Whether this process speaks for all (writes, prints the results): alone, or rank 0.
    pub fn leads(&self) -> bool {
        crate::distributed::leads(self.group)
    }

    /// This process's rank and the number of ranks ((0, 1) alone).
    pub fn rank_of_world(&self) -> (usize, usize) {
        self.group.map_or((0, 1), |g| (g.rank, g.world))
    }
}

impl std::fmt::Debug for Runtime<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("device", &self.device)
            .field("workers", &self.workers)
            .field("precision", &self.precision)
            .field("ranks", &self.rank_of_world())
            .finish()
    }
}

/// Default decode workers: a quarter of the cores (at least one), leaving the rest to libtorch.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() / 4)
        .unwrap_or(1)
        .max(1)
}
