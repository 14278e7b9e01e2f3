//! graft's side of bench/cpu.sh's forward pass: the forward pass of a trained run (`Predictor::logits`, what
//! `graft predict` runs) on preprocessed images, timed without decoding; the same pixels are
//! written for the other runtimes.
//! Usage: cargo run --release --example export_speed -- RUN LIST BATCH PASSES THREADS PIXELS.npy
use graft::inference::Predictor;
use std::path::Path;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

graft::jemalloc_process_allocator!();

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, run, list, batch, passes, threads, out] = &args[..] else {
        anyhow::bail!("usage: export_speed RUN LIST BATCH PASSES THREADS PIXELS.npy");
    };
    let (batch, passes): (i64, usize) = (batch.parse()?, passes.parse()?);
    graft::engine::set_threads(Some(threads.parse()?));
    // PRECISION=bf16|int8 times another precision (fp32 by default, what the exports compute).
    let precision = std::env::var("PRECISION").unwrap_or_else(|_| "fp32".into());
    let precision = graft::engine::Precision::parse(&precision)?;
    let predictor = Predictor::open(Path::new(run), Device::Cpu, precision)?;
    let pre = predictor.preprocess();
    let s = pre.size as i64;
    let images = std::fs::read_to_string(list)?
        .lines()
        .map(|p| Ok(Tensor::from_slice(&pre.load(Path::new(p))?).view([1, 3, s, s])))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let pixels = Tensor::cat(&images, 0);
    let n = pixels.size()[0];
    anyhow::ensure!(
        n % batch == 0,
        "{n} images do not split into batches of {batch}"
    );
    pixels.to_kind(Kind::Float).write_npy(out)?;
    let batches = pixels.split(batch, 0);
    // One pass to warm up (allocations, folded weights, kernel choice), as the others get.
    for b in &batches {
        let _ = predictor.logits(b);
    }
    let t = Instant::now();
    for _ in 0..passes {
        for b in &batches {
            let _ = predictor.logits(b);
        }
    }
    let rate = (n as usize * passes) as f64 / t.elapsed().as_secs_f64();
    println!("{rate:.2}");
    Ok(())
}
