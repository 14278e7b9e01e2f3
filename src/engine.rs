//! The compute engine: libtorch device choice, thread count, precision, and the allocator.
use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use tch::Device;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[doc(hidden)]
pub use tikv_jemallocator;

/// Makes jemalloc the malloc of the whole process, libtorch's buffers included (jemalloc then
/// exports `malloc` and its kin, which the dynamic linker binds for libtorch too), keeping freed
/// pages mapped for reuse. glibc cannot keep blocks over 32 MiB in its heap (its largest mmap
/// threshold), so every pass through the network mapped and faulted in its largest activations
/// again, and trimming its fragmenting heap to bound memory (below) faulted in more: measured on
/// Fruits-360 at 187 px, caching 17.1 s against 23.1-24.3 s, scoring Test 52 s against 72-76 s,
/// the same epochs, peak RSS 1.26 against 1.12 GiB. Invoke once, at a binary's root (the `graft`
/// binary and the speed examples do; the library leaves a program's allocator to the program).
#[macro_export]
macro_rules! jemalloc_process_allocator {
    () => {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        #[global_allocator]
        static ALLOCATOR: $crate::engine::tikv_jemallocator::Jemalloc =
            $crate::engine::tikv_jemallocator::Jemalloc;

        /// jemalloc's settings, read at its start: freed pages stay mapped for the next batch
        /// instead of going back to the OS after ten seconds (its default) to be faulted in again.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        #[unsafe(no_mangle)]
        #[allow(non_upper_case_globals)]
        pub static malloc_conf: &[u8; 36] = b"dirty_decay_ms:-1,muzzy_decay_ms:-1\0";
    };
}

/// Free heap above which [`release_free_memory`] hands pages back: a few batches' buffers.
const FREE_HEAP_LIMIT: usize = 512 << 20;

/// Hands the heap's free pages back to the OS (glibc's `malloc_trim`) once more than
/// [`FREE_HEAP_LIMIT`] of it is free, for programs on glibc's malloc (under
/// [`jemalloc_process_allocator!`] glibc's heap stays empty and this does nothing). Called after
/// each batch of a whole-network pass: on glibc the freed space was not reused from batch to
/// batch, and scoring Fruits-360's Test grew by ~55 MB/s to 6-13 GiB (in use: 290 MB; free in the
/// heap: the rest). Trimming after every batch kept it at 1.0 GiB but made caching and Test ~12%
/// slower per image (the buffers faulted in again each batch); the limit trims every few batches
/// instead. The training steps on the cache are left alone (their buffers are reused).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        if libc::mallinfo2().fordblks > FREE_HEAP_LIMIT {
            libc::malloc_trim(0);
        }
    }
}

/// Parses `cpu`, `cuda` or `cuda:N`, refusing a CUDA device that is not there.
pub fn parse_device(spec: &str) -> Result<Device> {
    let spec = spec.trim().to_ascii_lowercase();
    if spec == "cpu" {
        return Ok(Device::Cpu);
    }
    let index = match spec.as_str() {
        "cuda" | "gpu" => 0,
        s => match s
            .strip_prefix("cuda:")
            .and_then(|i| i.parse::<usize>().ok())
        {
            Some(i) => i,
            None => bail!("unknown device '{spec}' (use cpu, cuda or cuda:N)"),
        },
    };
    let count = tch::Cuda::device_count() as usize;
    if count == 0 {
        return Err(crate::error::bad_input(format!(
            "device '{spec}' requested, but no CUDA device is available (libtorch sees none); use --device cpu"
        )));
    }
    if index >= count {
        bail!(
            "device '{spec}' requested, but only {count} CUDA device(s) exist (cuda:0..cuda:{})",
            count - 1
        );
    }
    Ok(Device::Cuda(index))
}

/// Where inference and training run: the libtorch device, and the threads that decode images
/// ahead of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Runtime {
    /// The libtorch device.
    pub device: Device,
    /// Image-decoding threads.
    pub workers: usize,
}

impl Runtime {
    /// `device` with the default number of decoding threads (see [`default_workers`]).
    pub fn new(device: Device) -> Self {
        Self {
            device,
            workers: default_workers(),
        }
    }
}

/// Default decode workers: a quarter of the cores (at least one), leaving the rest to libtorch.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() / 4)
        .unwrap_or(1)
        .max(1)
}

/// "cpu (2 threads)" or "cuda:0", for logs.
pub fn describe(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => format!("cpu ({} threads)", threads()),
    }
}

/// Sets libtorch's intra-op threads (all cores when None).
pub fn set_threads(threads: Option<usize>) {
    if let Some(n) = threads {
        tch::set_num_threads(n.max(1) as i32);
    }
}

/// Threads libtorch will use for one operation.
pub fn threads() -> usize {
    tch::get_num_threads().max(1) as usize
}

/// The number format convolutions and matrix products compute in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// float32 throughout.
    Fp32,
    /// bfloat16 for convolutions and matrix products (libtorch's autocast), float32 for the
    /// rest (batch-norm statistics, losses, optimizer state, the weights themselves).
    Bf16,
}

impl Precision {
    /// bf16 on a CPU with bf16 instructions (AVX512-BF16: 2.3x fp32's convolution throughput
    /// here, 1.8x a training step); fp32 elsewhere, where bf16 would be emulated and slower,
    /// and on CUDA, where graft has not been measured yet.
    pub fn auto(device: Device) -> Self {
        if device == Device::Cpu && cpu_has_bf16() {
            Self::Bf16
        } else {
            Self::Fp32
        }
    }

    /// `auto`, `fp32` or `bf16`.
    pub fn parse(spec: &str, device: Device) -> Result<Self> {
        match spec.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::auto(device)),
            "fp32" | "float32" => Ok(Self::Fp32),
            "bf16" | "bfloat16" => Ok(Self::Bf16),
            other => Err(crate::error::bad_input(format!(
                "unknown precision '{other}' (use auto, fp32 or bf16)"
            ))),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fp32 => "fp32",
            Self::Bf16 => "bf16",
        })
    }
}

fn cpu_has_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The process's precision: fp32 unless the program sets another (the `graft` binary sets its
/// `--precision`), so library users and tests get exact float32 by default.
static BF16: AtomicBool = AtomicBool::new(false);

/// Sets the precision of every forward and backward pass from now on.
pub fn set_precision(p: Precision) {
    BF16.store(p == Precision::Bf16, Ordering::Relaxed);
}

/// The precision set by [`set_precision`].
pub fn precision() -> Precision {
    if BF16.load(Ordering::Relaxed) {
        Precision::Bf16
    } else {
        Precision::Fp32
    }
}

unsafe extern "C" {
    fn graft_autocast_bf16_begin() -> bool;
    fn graft_autocast_bf16_end();
    fn graft_free_message(m: BridgeMessage);
}

/// An error message from graft's C++ bridge (`csrc/`), or null for success.
pub(crate) type BridgeMessage = *mut std::ffi::c_char;

/// Turns the bridge's error message (if any) into an error naming what failed.
pub(crate) fn bridge_result(m: BridgeMessage, what: &str) -> Result<()> {
    if m.is_null() {
        return Ok(());
    }
    let text = unsafe { std::ffi::CStr::from_ptr(m) }
        .to_string_lossy()
        .into_owned();
    unsafe { graft_free_message(m) };
    Err(anyhow::anyhow!("{what}: {}", text.trim()))
}

/// Runs `f` in the process's precision: under bf16, with libtorch's autocast on for this thread
/// (autocast state is per thread); nested calls share the outermost region.
pub fn in_precision<T>(f: impl FnOnce() -> T) -> T {
    match precision() {
        Precision::Bf16 => in_bf16(f),
        Precision::Fp32 => f(),
    }
}

/// Runs `f` with libtorch's bf16 autocast on for this thread, whatever the process's precision.
pub fn in_bf16<T>(f: impl FnOnce() -> T) -> T {
    struct End;
    impl Drop for End {
        fn drop(&mut self) {
            unsafe { graft_autocast_bf16_end() }
        }
    }
    let _end = unsafe { graft_autocast_bf16_begin() }.then_some(End);
    f()
}
