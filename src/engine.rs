//! The compute engine: libtorch device choice, thread count, number formats, the allocator, and
//! the C++ bridge's error messages. What one command computes on is [`crate::runtime::Runtime`].
use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
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
    // SAFETY: glibc's own statistics and trim, callable at any time from any thread.
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
    /// int8 convolutions on a calibrated run (`graft quantize`), for inference on the CPU; the
    /// head and everything that is not a backbone block in float32.
    Int8,
}

impl Precision {
    /// bf16 on a CPU with bf16 instructions (AVX512-BF16: 2.3x fp32's convolution throughput
    /// on an AMD EPYC, 1.8x a training step); fp32 elsewhere, where bf16 would be emulated and
    /// slower, and on CUDA, where graft has not been measured yet.
    pub fn auto(device: Device) -> Self {
        if device == Device::Cpu && cpu_has_bf16() && onednn_bf16() {
            Self::Bf16
        } else {
            Self::Fp32
        }
    }

    /// `auto` (None: the caller's choice, see [`resolve`](Self::resolve)), `fp32`, `bf16` or
    /// `int8`.
    pub fn parse(spec: &str) -> Result<Option<Self>> {
        match spec.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(None),
            "fp32" | "float32" => Ok(Some(Self::Fp32)),
            "bf16" | "bfloat16" => Ok(Some(Self::Bf16)),
            "int8" => Ok(Some(Self::Int8)),
            other => Err(crate::error::bad_input(format!(
                "unknown precision '{other}' (use auto, fp32, bf16 or int8)"
            ))),
        }
    }

    /// `asked`, or [`auto`](Self::auto)'s choice when None; bf16 refused where the CPU cannot
    /// run it (see [`usable_on`](Self::usable_on)).
    pub fn resolve(asked: Option<Self>, device: Device) -> Result<Self> {
        asked.map_or(Ok(Self::auto(device)), |p| p.usable_on(device))
    }

    /// `self`, unless it is bf16 on a CPU whose oneDNN has no bf16 kernels (they need
    /// AVX512-BW/VL/DQ or AVX-NE-CONVERT): there libtorch's bf16 convolutions would raise or
    /// fall back to reference loops, so it is a bad-input error that says what is missing.
    pub fn usable_on(self, device: Device) -> Result<Self> {
        if self == Self::Int8 && device != Device::Cpu {
            return Err(crate::error::bad_input(
                "--precision int8 runs on the CPU only; use --device cpu, or fp32/bf16 on a GPU",
            ));
        }
        if self == Self::Bf16 && device == Device::Cpu && !onednn_bf16() {
            return Err(crate::error::bad_input(
                "--precision bf16: this CPU lacks the instructions libtorch's bf16 kernels need (oneDNN: AVX512-BW/VL/DQ or AVX-NE-CONVERT); use --precision fp32 or auto",
            ));
        }
        Ok(self)
    }

    /// The precision to run a trained run in: `asked` when given (checked as by
    /// [`resolve`](Self::resolve)); else the one it trained in where this device computes that
    /// natively, and fp32 where it does not. The second value says why, when it is not the
    /// run's own.
    pub fn for_run(
        trained: Self,
        asked: Option<Self>,
        device: Device,
    ) -> Result<(Self, Option<String>)> {
        if let Some(p) = asked {
            let why = (p != trained).then(|| format!("as asked; the run trained in {trained}"));
            return Ok((p.usable_on(device)?, why));
        }
        if trained == Self::Bf16 && Self::auto(device) != Self::Bf16 {
            let why = "the run trained in bf16, which this device does not compute natively (a CPU with AVX512-BF16 does)";
            return Ok((Self::Fp32, Some(why.into())));
        }
        Ok((trained, None))
    }

    /// Runs `f` in this precision: under bf16, with libtorch's autocast on for this thread
    /// (autocast state is per thread); nested calls share the outermost region.
    pub fn run<T>(self, f: impl FnOnce() -> T) -> T {
        match self {
            Self::Bf16 => in_bf16(f),
            Self::Fp32 | Self::Int8 => f(),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fp32 => "fp32",
            Self::Bf16 => "bf16",
            Self::Int8 => "int8",
        })
    }
}

/// The CPU's model name (/proc/cpuinfo), or "unknown CPU".
pub fn cpu_name() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
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

/// Whether oneDNN runs bf16 kernels on this CPU (libtorch's own check; AVX512-BW/VL/DQ or
/// AVX-NE-CONVERT), so that graft's fused bf16 convolution may be used.
pub fn onednn_bf16() -> bool {
    // SAFETY: a query without arguments; it catches every C++ exception itself.
    unsafe { graft_onednn_bf16() }
}

unsafe extern "C" {
    fn graft_autocast_bf16_begin() -> bool;
    fn graft_autocast_bf16_end();
    fn graft_free_message(m: BridgeMessage);
    fn graft_onednn_bf16() -> bool;
}

/// An error message from graft's C++ bridge (`csrc/`), or null for success.
pub(crate) type BridgeMessage = *mut std::ffi::c_char;

/// Turns the bridge's error message (if any) into an error naming what failed.
pub(crate) fn bridge_result(m: BridgeMessage, what: &str) -> Result<()> {
    if m.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null message is a NUL-terminated string the bridge allocated for us.
    let text = unsafe { std::ffi::CStr::from_ptr(m) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: freed once, by the bridge's own allocator, after the text was copied out.
    unsafe { graft_free_message(m) };
    Err(anyhow::anyhow!("{what}: {}", text.trim()))
}

/// The new tensor of a bridge call that makes one: `call` is given the slot the bridge writes
/// its `at::Tensor*` into, and returns the bridge's message (an error names `what`).
pub(crate) fn bridge_tensor(
    what: &str,
    call: impl FnOnce(*mut *mut std::ffi::c_void) -> BridgeMessage,
) -> Result<tch::Tensor> {
    let mut out = std::ptr::null_mut();
    bridge_result(call(&mut out), what)?;
    // SAFETY: on success the bridge stored a new at::Tensor it allocated with `new`; the Tensor
    // takes ownership and frees it.
    Ok(unsafe { tch::Tensor::from_ptr(out as *mut _) })
}

/// Runs `f` with libtorch's bf16 autocast on for this thread.
pub fn in_bf16<T>(f: impl FnOnce() -> T) -> T {
    struct End;
    impl Drop for End {
        fn drop(&mut self) {
            // SAFETY: only made when begin turned autocast on, so begin and end pair up.
            unsafe { graft_autocast_bf16_end() }
        }
    }
    // SAFETY: thread-local autocast state, restored by End (also on unwinding).
    let _end = unsafe { graft_autocast_bf16_begin() }.then_some(End);
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run trained in bf16 evaluates on any CPU: in bf16 where it computes bf16 natively, in
    /// fp32 (said) elsewhere; bf16 asked for where oneDNN has no bf16 kernels is a bad-input
    /// error (exit 2), never a panic.
    #[test]
    fn a_bf16_run_runs_in_bf16_only_where_the_cpu_computes_it() {
        let native = Precision::auto(Device::Cpu) == Precision::Bf16;
        eprintln!(
            "this CPU: bf16 natively {native}, oneDNN bf16 kernels {}",
            onednn_bf16()
        );
        let (p, why) = Precision::for_run(Precision::Bf16, None, Device::Cpu).unwrap();
        if native {
            assert_eq!((p, why), (Precision::Bf16, None));
        } else {
            assert_eq!(p, Precision::Fp32);
            assert!(why.unwrap().contains("trained in bf16"));
        }
        let fp32 = Precision::for_run(Precision::Fp32, None, Device::Cpu).unwrap();
        assert_eq!(fp32, (Precision::Fp32, None));
        let asked = Precision::for_run(Precision::Bf16, Some(Precision::Fp32), Device::Cpu);
        assert_eq!(asked.unwrap().0, Precision::Fp32);
        match Precision::Bf16.usable_on(Device::Cpu) {
            Ok(p) => assert!(onednn_bf16() && p == Precision::Bf16),
            Err(e) => {
                assert!(!onednn_bf16());
                let kind = crate::error::kind(&e);
                assert!(
                    matches!(kind, Some(crate::error::Error::BadInput(_))),
                    "{e}"
                );
                assert!(e.to_string().contains("AVX512-BW"), "{e}");
            }
        }
        assert_eq!(Precision::parse("auto").unwrap(), None);
        assert!(Precision::parse("fp16").is_err());
    }
}
