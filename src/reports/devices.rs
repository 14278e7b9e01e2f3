//! What graft can compute on: the CPU (model, cores, libtorch threads, the vector/matrix
//! extensions libtorch's kernels use) and every CUDA device libtorch sees.
use serde::Serialize;

/// CPU flags that decide which libtorch (oneDNN, FBGEMM) kernels run.
const RELEVANT_FLAGS: [&str; 13] = [
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
];

/// The CPU.
#[derive(Debug, Clone, Serialize)]
pub struct CpuInfo {
    /// Model name from /proc/cpuinfo.
    pub model: String,
    /// Physical cores (logical when the kernel does not say).
    pub cores: usize,
    /// Logical processors.
    pub logical: usize,
    /// Threads libtorch uses for one operation.
    pub torch_threads: usize,
    /// The relevant instruction-set extensions present.
    pub extensions: Vec<String>,
    /// What `--precision auto` picks on this CPU.
    pub auto_precision: crate::engine::Precision,
    /// The largest activation `--precision int8` uses here (255 with AVX512-VNNI, else 127),
    /// or None where this libtorch has no x86 quantized engine.
    pub int8_activation_max: Option<i64>,
}

/// What the linked libtorch was built with.
#[derive(Debug, Clone, Serialize)]
pub struct LibtorchBuild {
    /// Built with CUDA.
    pub cuda: bool,
    /// Built with oneDNN (MKL-DNN).
    pub mkldnn: bool,
    /// Built with MKL.
    pub mkl: bool,
    /// Built with OpenMP.
    pub openmp: bool,
}

/// One CUDA device.
#[derive(Debug, Clone, Serialize)]
pub struct CudaDevice {
    /// `cuda:N`'s N.
    pub index: usize,
    /// From nvidia-smi; None when it is not installed.
    pub name: Option<String>,
    /// Memory in MiB (from nvidia-smi).
    pub memory_mib: Option<u64>,
    /// Compute capability, e.g. "9.0" (from nvidia-smi).
    pub compute_capability: Option<String>,
}

/// Everything graft can compute on.
#[derive(Debug, Clone, Serialize)]
pub struct Devices {
    /// The CPU.
    pub cpu: CpuInfo,
    /// What libtorch was built with.
    pub libtorch: LibtorchBuild,
    /// Every CUDA device libtorch sees.
    pub cuda_devices: Vec<CudaDevice>,
    /// Whether cuDNN is available.
    pub cudnn_available: bool,
    /// e.g. 90100 for 9.1.0, when cuDNN is available.
    pub cudnn_version: Option<i64>,
    /// Why device names or memory are missing, if they are.
    pub notes: Vec<String>,
}

/// Parses /proc/cpuinfo text.
pub fn parse_cpuinfo(text: &str) -> (String, usize, usize, Vec<String>) {
    let mut model = String::new();
    let mut logical = 0;
    let mut cores = std::collections::HashSet::new();
    let mut physical_id = String::new();
    let mut flags: Vec<String> = Vec::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" => logical += 1,
            "model name" if model.is_empty() => model = value.to_string(),
            "physical id" => physical_id = value.to_string(),
            "core id" => {
                cores.insert((physical_id.clone(), value.to_string()));
            }
            "flags" if flags.is_empty() => {
                let present: std::collections::HashSet<&str> = value.split_whitespace().collect();
                flags = RELEVANT_FLAGS
                    .iter()
                    .filter(|f| present.contains(*f))
                    .map(|f| f.to_string())
                    .collect();
            }
            _ => {}
        }
    }
    let cores = if cores.is_empty() {
        logical
    } else {
        cores.len()
    };
    (model, cores, logical, flags)
}

fn cpu() -> CpuInfo {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let (mut model, mut cores, mut logical, extensions) = parse_cpuinfo(&text);
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    if logical == 0 {
        logical = available;
        cores = available;
    }
    if model.is_empty() {
        model = format!("unknown ({})", std::env::consts::ARCH);
    }
    CpuInfo {
        model,
        cores,
        logical,
        torch_threads: crate::engine::threads(),
        auto_precision: crate::engine::Precision::auto(tch::Device::Cpu),
        int8_activation_max: crate::models::int8::ops::available()
            .then(crate::models::int8::activation_max),
        extensions,
    }
}

/// One GPU as nvidia-smi lists it: name, memory in MiB, compute capability.
pub type GpuRow = (String, Option<u64>, Option<String>);

/// Every GPU from nvidia-smi, None when it is missing.
fn nvidia_smi() -> Option<Vec<GpuRow>> {
    let out = std::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=name,memory.total,compute_cap",
            "--format=csv,noheader,nounits",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(parse_nvidia_smi(&String::from_utf8_lossy(&out.stdout)))
}

/// (name, memory MiB, compute capability) per line of nvidia-smi's CSV output.
pub fn parse_nvidia_smi(text: &str) -> Vec<GpuRow> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            let name = f.first().copied().unwrap_or("").to_string();
            let mem = f
                .get(1)
                .and_then(|m| m.split_whitespace().next())
                .and_then(|m| m.parse().ok());
            let cap = f
                .get(2)
                .filter(|c| !c.is_empty() && !c.contains("N/A"))
                .map(|c| c.to_string());
            (name, mem, cap)
        })
        .collect()
}

/// Looks at the machine and libtorch.
pub fn detect() -> Devices {
    let count = tch::Cuda::device_count().max(0) as usize;
    let cudnn_available = count > 0 && tch::Cuda::cudnn_is_available();
    let mut notes = Vec::new();
    let smi = if count > 0 { nvidia_smi() } else { None };
    if count > 0 && smi.is_none() {
        notes.push("nvidia-smi is not installed: device names and memory are unknown".into());
    }
    let cuda_devices = (0..count)
        .map(|i| {
            let info = smi.as_ref().and_then(|s| s.get(i));
            CudaDevice {
                index: i,
                name: info.map(|x| x.0.clone()),
                memory_mib: info.and_then(|x| x.1),
                compute_capability: info.and_then(|x| x.2.clone()),
            }
        })
        .collect();
    Devices {
        cpu: cpu(),
        libtorch: LibtorchBuild {
            cuda: tch::utils::has_cuda() || cuda_library_loaded(),
            mkldnn: tch::utils::has_mkldnn(),
            mkl: tch::utils::has_mkl(),
            openmp: tch::utils::has_openmp(),
        },
        cuda_devices,
        cudnn_available,
        cudnn_version: cudnn_available.then(tch::utils::version_cudnn),
        notes,
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// cuDNN's integer version as text: 90100 -> "9.1.0", 8902 -> "8.9.2".
pub fn cudnn_version_text(v: i64) -> String {
    if v >= 10000 {
        format!("{}.{}.{}", v / 10000, (v / 100) % 100, v % 100)
    } else {
        format!("{}.{}.{}", v / 1000, (v / 100) % 10, v % 100)
    }
}

/// Whether this process loaded libtorch_cuda: a CUDA build of libtorch, even when no GPU is
/// present (libtorch's own `hasCUDA` also needs a device).
fn cuda_library_loaded() -> bool {
    std::fs::read_to_string("/proc/self/maps").is_ok_and(|maps| maps.contains("libtorch_cuda.so"))
}

/// The listing as text.
pub fn render_text(d: &Devices) -> String {
    let c = &d.cpu;
    let mut s = format!(
        "CPU   {}\n      {} cores, {} logical processors; libtorch uses {} threads\n      \
extensions: {}\n      precision: {} (--precision auto); int8: {}\n",
        c.model,
        c.cores,
        c.logical,
        c.torch_threads,
        if c.extensions.is_empty() {
            "none of avx/avx2/avx512/amx".to_string()
        } else {
            c.extensions.join(" ")
        },
        c.auto_precision,
        match c.int8_activation_max {
            Some(255) => "activations 0..255 (AVX512-VNNI)",
            Some(_) => "activations 0..127 (no AVX512-VNNI)",
            None => "unavailable (this libtorch has no x86 quantized engine)",
        }
    );
    let l = &d.libtorch;
    s += &format!(
        "      libtorch build: CUDA {}, oneDNN {}, MKL {}, OpenMP {}\n",
        yes(l.cuda),
        yes(l.mkldnn),
        yes(l.mkl),
        yes(l.openmp)
    );
    if d.cuda_devices.is_empty() {
        s += if l.cuda {
            "GPU   none: libtorch has CUDA support but sees no CUDA device (no GPU or no driver); graft runs on the CPU\n"
        } else {
            "GPU   none: this libtorch is CPU-only, so no CUDA device can be used; graft runs on the CPU\n"
        };
        return s;
    }
    for g in &d.cuda_devices {
        s += &format!(
            "GPU   cuda:{}  {}\n      memory {}, compute capability {}\n",
            g.index,
            g.name.as_deref().unwrap_or("(name unknown)"),
            g.memory_mib
                .map(|m| format!("{:.1} GiB", m as f64 / 1024.0))
                .unwrap_or_else(|| "unknown".into()),
            g.compute_capability.as_deref().unwrap_or("unknown")
        );
    }
    s += &format!(
        "      cuDNN {}\n",
        match (d.cudnn_available, d.cudnn_version) {
            (true, Some(v)) => format!("available, version {}", cudnn_version_text(v)),
            (true, None) => "available".into(),
            (false, _) => "not available".into(),
        }
    );
    for n in &d.notes {
        s += &format!("note: {n}\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_gives_model_cores_and_extensions() {
        let text = "processor\t: 0\nmodel name\t: Example CPU\nphysical id\t: 0\ncore id\t: 0\n\
flags\t\t: fpu sse avx avx2 fma avx512f amx_tile amx_bf16\n\n\
processor\t: 1\nmodel name\t: Example CPU\nphysical id\t: 0\ncore id\t: 0\nflags\t\t: fpu\n";
        let (model, cores, logical, ext) = parse_cpuinfo(text);
        assert_eq!(model, "Example CPU");
        assert_eq!((cores, logical), (1, 2));
        assert_eq!(
            ext,
            ["avx", "avx2", "fma", "avx512f", "amx_tile", "amx_bf16"]
        );
    }

    #[test]
    fn nvidia_smi_lines_parse() {
        let rows = parse_nvidia_smi("NVIDIA H100 80GB HBM3, 81559, 9.0\nTesla T4, 15360, [N/A]\n");
        assert_eq!(
            rows[0],
            (
                "NVIDIA H100 80GB HBM3".into(),
                Some(81559),
                Some("9.0".into())
            )
        );
        assert_eq!(rows[1].1, Some(15360));
        assert_eq!(rows[1].2, None);
        assert_eq!(cudnn_version_text(90100), "9.1.0");
        assert_eq!(cudnn_version_text(8902), "8.9.2");
    }
}
