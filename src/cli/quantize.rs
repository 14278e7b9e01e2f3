//! `graft quantize`.
use anyhow::Result;
use graft::inference::quantize;
use graft::runtime::Runtime;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct QuantizeArgs {
    /// Run folder written by graft train.
    #[arg(long)]
    pub run: PathBuf,
    /// Training images to calibrate on (spread evenly over the run's training images).
    #[arg(long, default_value_t = 512)]
    pub images: usize,
    /// The most Test accuracy int8 may lose against fp32, in points; more and int8 is refused.
    #[arg(long, default_value_t = 0.3)]
    pub tolerance: f64,
    /// Decoding threads (default: a quarter of the cores, at least one).
    #[arg(long)]
    pub workers: Option<usize>,
}

pub fn run(a: QuantizeArgs, runtime: Runtime) -> Result<()> {
    let c = quantize::quantize(&a.run, a.images, a.tolerance / 100.0, runtime)?;
    let k = &c.check;
    println!(
        "int8 kept: Test accuracy {:.2}% (fp32 {:.2}%, {:+.2} points) on {} images; calibrated on {} training images; {} written",
        100.0 * k.int8_accuracy,
        100.0 * k.fp32_accuracy,
        100.0 * (k.int8_accuracy - k.fp32_accuracy),
        k.images,
        c.calibration_images,
        a.run.join("int8.json").display()
    );
    Ok(())
}
