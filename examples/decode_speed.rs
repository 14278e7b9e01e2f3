//! Decoding throughput on one thread: images/s of graft's decode + resize + CHW layout.
//! Usage: cargo run --release --example decode_speed -- LIST_FILE [SIZE]
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let list = std::fs::read_to_string(&args[1])?;
    let size: u32 = args.get(2).map_or(Ok(100), |s| s.parse())?;
    let paths: Vec<&str> = list.lines().collect();
    let t = Instant::now();
    for p in &paths {
        let _ = graft::data::images::load_chw(std::path::Path::new(p), size)?;
    }
    println!(
        "{size} px: {:.0} images/s on one thread",
        paths.len() as f64 / t.elapsed().as_secs_f64()
    );
    Ok(())
}
