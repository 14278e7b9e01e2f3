//! `graft embed`.
use super::BackboneArgs;
use anyhow::Result;
use graft::inference::embed::{self, EmbedOptions, Format};
use graft::runtime::Runtime;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Safetensors,
    Json,
}

#[derive(clap::Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub backbone: BackboneArgs,
    /// Input size in pixels (default: the backbone's native size).
    #[arg(long)]
    pub size: Option<i64>,
    /// How non-square images are made square: squash, crop or pad.
    #[arg(long, default_value = "squash")]
    pub resize: graft::data::images::ResizeRule,
    /// Images per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Decoding threads (default: a quarter of the cores, at least one).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
    /// safetensors: tensor `features` [N, D], paths in the metadata; json: [{"path", "features"}].
    #[arg(long, value_enum, default_value = "safetensors")]
    pub format: FormatArg,
    /// Image files or folders (searched recursively).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

pub fn run(args: EmbedArgs, runtime: Runtime) -> Result<()> {
    let group = runtime.group;
    graft::say!("graft: precision: {}", runtime.precision);
    let opts = EmbedOptions {
        arch: args.backbone.backbone,
        weights: args.backbone.weights,
        size: args.size,
        resize: args.resize,
        batch_size: args.batch,
        runtime,
        inputs: args.inputs,
        out: args.out,
        format: match args.format {
            FormatArg::Safetensors => Format::Safetensors,
            FormatArg::Json => Format::Json,
        },
    };
    let s = embed::embed(&opts)?;
    let rank = group.map_or(String::new(), |g| {
        format!("rank {} of {}: ", g.rank, g.world)
    });
    graft::say_rank!(
        "graft: {rank}embedded {} images in {:.1} s ({:.1} images/s)",
        s.embedded,
        s.seconds,
        s.embedded as f64 / s.seconds.max(1e-9),
    );
    if s.wrote {
        eprintln!(
            "graft: wrote {} rows to {}, skipped {}",
            s.total,
            opts.out.display(),
            s.skipped.len()
        );
    }
    Ok(())
}
