//! Decoding throughput on one thread: images/s of graft's decode + resize + CHW layout.
//! Usage: cargo run --release --example decode_speed -- LIST_FILE [SIZE]
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let list = std::fs::read_to_string(&args[1])?;
    let size: u32 = args.get(2).map_or(Ok(100), |s| s.parse())?;
    let paths: Vec<&str> = list.lines().collect();
    let t = Instant::now();
    let preprocess = graft::data::images::Preprocess::squash(size);
    for p in &paths {
        let _ = preprocess.load(std::path::Path::new(p))?;
    }
    println!(
        "{size} px: {:.0} images/s on one thread",
        paths.len() as f64 / t.elapsed().as_secs_f64()
    );
    Ok(())
}
