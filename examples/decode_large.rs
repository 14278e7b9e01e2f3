//! Decoding one large photo for a network input: time and peak memory of the full decode against
//! the reduced-scale JPEG decode graft uses when the image will be shrunk anyway. Run each mode in
//! its own process (peak memory is per process).
//! Usage: cargo run --release --example decode_large -- PHOTO.jpg full|scaled [SIZE] [REPEATS]
use graft::data::decode::decode;
use graft::data::images::Preprocess;
use std::time::Instant;

/// A memory figure of this process from /proc/self/status (VmHWM: peak, VmRSS: now), in MiB.
fn status_mib(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::Path::new(&args[1]);
    let scaled = args.get(2).is_some_and(|m| m == "scaled");
    let size: u32 = args.get(3).map_or(Ok(299), |s| s.parse())?;
    let repeats: usize = args.get(4).map_or(Ok(5), |s| s.parse())?;
    let pre = Preprocess::squash(size);
    // What the process holds before decoding (mostly libtorch's libraries).
    let base = status_mib("VmRSS:");
    let mut best = f64::INFINITY;
    let mut dims = (0, 0);
    for _ in 0..repeats {
        let t = Instant::now();
        let img = decode(path, scaled.then_some(size))?;
        dims = img.dimensions();
        let _input = pre.apply(img);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{}: decoded {}x{} then resized to {size}: best of {repeats} {:.1} ms, peak RSS {:.0} MiB ({:.0} MiB above the {:.0} MiB before decoding)",
        if scaled { "scaled" } else { "full" },
        dims.0,
        dims.1,
        best * 1e3,
        status_mib("VmHWM:"),
        status_mib("VmHWM:") - base,
        base
    );
    Ok(())
}
