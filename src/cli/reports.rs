//! Commands that describe rather than train: report, summary, graph, devices.
use anyhow::Result;
use graft::models::Arch;
use graft::models::classifier::HeadConfig;
use graft::reports::{devices, graph, summary};
use graft::run::config::Freeze;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Run folder written by graft train.
    pub run: PathBuf,
}

pub fn run_report(a: ReportArgs) -> Result<()> {
    let path = graft::reports::write_report(&a.run)?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("{} ({:.1} KiB)", path.display(), size as f64 / 1024.0);
    Ok(())
}

/// The model a summary or graph describes.
#[derive(clap::Args)]
pub struct ModelArgs {
    /// Backbone network.
    #[arg(long, default_value = "inception-v3", value_parser = super::arch_parser())]
    pub backbone: Arch,
    /// Input size in pixels for the output shapes (default: the backbone's native size).
    #[arg(long)]
    pub size: Option<i64>,
    /// Add the classification head for this many classes.
    #[arg(long)]
    pub classes: Option<i64>,
    /// Units of the head's hidden dense layer (0: none).
    #[arg(long, default_value_t = 512)]
    pub hidden: i64,
}

impl ModelArgs {
    fn head(&self) -> HeadConfig {
        HeadConfig {
            hidden: self.hidden,
            ..HeadConfig::seed()
        }
    }
}

#[derive(clap::Args)]
pub struct SummaryArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Count blocks as frozen like train does: none, all, or a block name (frozen through it).
    #[arg(long)]
    pub freeze: Option<Freeze>,
    /// Print the table as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run_summary(a: SummaryArgs) -> Result<()> {
    let s = summary::summarize(&summary::SummaryOptions {
        arch: a.model.backbone,
        size: a.model.size,
        classes: a.model.classes,
        head: a.model.head(),
        freeze: a.freeze.clone(),
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", summary::render_text(&s));
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// DOT file to write; the SVG goes next to it (same name, .svg) when Graphviz is installed.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run_graph(a: GraphArgs) -> Result<()> {
    let opts = graph::GraphOptions {
        arch: a.model.backbone,
        size: a.model.size,
        classes: a.model.classes,
        head: a.model.head(),
    };
    let svg = graph::write_graph(&opts, &a.out)?;
    println!("{}", a.out.display());
    if let Some(svg) = svg {
        println!("{}", svg.display());
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct DevicesArgs {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run_devices(a: DevicesArgs) -> Result<()> {
    let d = devices::detect();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print!("{}", devices::render_text(&d));
    }
    Ok(())
}
