//! `graft eval` and `graft predict`.
use anyhow::Result;
use graft::engine::Precision;
use graft::inference::{Predictor, predict};
use graft::runtime::Runtime;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Run folder written by graft train.
    #[arg(long)]
    pub run: PathBuf,
    /// Labelled folder (<Class>/*) or a dataset root with a test folder (default: the run's own
    /// Test part).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Print all metrics as JSON.
    #[arg(long)]
    pub json: bool,
    /// Decoding threads (default: a quarter of the cores, at least one).
    #[arg(long)]
    pub workers: Option<usize>,
}

pub fn run(a: EvalArgs, runtime: Runtime, asked: Option<Precision>) -> Result<()> {
    let (m, skipped) = predict::eval(&a.run, a.data.as_deref(), runtime, asked)?;
    if !runtime.leads() {
        return Ok(()); // rank 0 prints them
    }
    if !skipped.is_empty() {
        eprintln!("graft: {} files skipped", skipped.len());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
        return Ok(());
    }
    println!(
        "accuracy {:.4}  loss {:.4}  images {}",
        m.accuracy, m.loss, m.count
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>8}",
        "class", "precision", "recall", "f1", "support"
    );
    for c in &m.per_class {
        println!(
            "{:<28} {:>9.4} {:>9.4} {:>9.4} {:>8}",
            c.class, c.precision, c.recall, c.f1, c.support
        );
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct PredictArgs {
    /// Run folder written by graft train.
    #[arg(long)]
    pub run: PathBuf,
    /// Classes to show per image.
    #[arg(long, default_value_t = 3)]
    pub top_k: usize,
    /// Print the predictions as JSON.
    #[arg(long)]
    pub json: bool,
    /// Decoding threads (default: a quarter of the cores, at least one).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Image files or folders.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

pub fn run_predict(a: PredictArgs, runtime: Runtime, asked: Option<Precision>) -> Result<()> {
    let predictor = Predictor::open(&a.run, runtime.device, asked)?;
    predict::say_precision(&predictor);
    let (preds, skipped) = predict::predict(&predictor, &a.images, a.top_k, runtime)?;
    if !runtime.leads() {
        return Ok(()); // rank 0 prints them
    }
    for msg in &skipped {
        eprintln!("graft: skipped {msg}");
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&preds)?);
    } else {
        for p in &preds {
            println!("{}", p.path);
            for t in &p.top {
                println!("  {:<28} {:>7.2}%", t.class, 100.0 * t.probability);
            }
        }
    }
    if !skipped.is_empty() {
        eprintln!(
            "graft: {} images predicted, {} skipped",
            preds.len(),
            skipped.len()
        );
    }
    Ok(())
}
