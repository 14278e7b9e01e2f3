//! `graft export`.
use anyhow::Result;
use graft::export::{self, BatchDim, Format, Options};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Onnx,
    Torchscript,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Run folder written by graft train.
    pub run: PathBuf,
    /// onnx (onnxruntime and other ONNX runtimes) or torchscript (PyTorch, libtorch).
    #[arg(long, value_enum)]
    pub format: FormatArg,
    /// Output file (default: RUN/model.onnx or RUN/model.pt).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Batch dimension of the ONNX input and outputs: dynamic, or a fixed number of images.
    #[arg(long, default_value = "dynamic")]
    pub batch: BatchDim,
    /// Take uint8 [N, H, W, 3] RGB images of any size and resize them inside the model.
    #[arg(long)]
    pub with_preprocessing: bool,
    /// ONNX in int8 (QDQ form) with the run's calibration from graft quantize.
    #[arg(long)]
    pub int8: bool,
}

pub fn run(a: ExportArgs) -> Result<()> {
    let opts = Options {
        format: match a.format {
            FormatArg::Onnx => Format::Onnx,
            FormatArg::Torchscript => Format::TorchScript,
        },
        batch: a.batch,
        preprocessing: a.with_preprocessing,
        int8: a.int8,
    };
    let e = export::export(&a.run, a.out.as_deref(), opts)?;
    let m = &e.metadata;
    println!("{} ({:.1} MB)", e.path.display(), e.bytes as f64 / 1e6);
    println!("  input    {}", m.input);
    println!("  outputs  {}", m.outputs);
    println!("  classes  {} ({})", m.classes.len(), m.classes.join(", "));
    println!("  resize   {}", m.resize);
    if let Some(err) = e.checked_error {
        println!(
            "  checked  loaded back by libtorch: logits equal graft's to {err:.1e} (relative)"
        );
    }
    Ok(())
}
