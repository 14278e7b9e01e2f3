//! The command line: argument definitions and dispatch to the library.
mod embed;
mod eval;
mod reports;
mod train;
mod weights;

use crate::engine;
use crate::models::Arch;
use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "graft",
    version,
    about = "Transfer learning from ImageNet-pretrained CNNs: folders of labelled images in, accurate classifiers out"
)]
pub struct Cli {
    /// CPU threads for libtorch (default: all cores).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
    /// cpu, cuda or cuda:N.
    #[arg(long, global = true, default_value = "cpu")]
    pub device: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Fetch, check and cache pretrained weights.
    #[command(subcommand)]
    Weights(weights::WeightsCommand),
    /// Write one feature vector per image (global average pool of the backbone).
    Embed(embed::EmbedArgs),
    /// Train a classifier on labelled image folders.
    Train(train::TrainArgs),
    /// Score a trained run on a labelled folder.
    Eval(eval::EvalArgs),
    /// Classify images with a trained run.
    Predict(eval::PredictArgs),
    /// Write RUN/report.html: config, curves, test scores, confusion matrix, worst errors.
    Report(reports::ReportArgs),
    /// Layer table of a backbone (and head): output shapes, parameters, trainable.
    Summary(reports::SummaryArgs),
    /// The architecture as Graphviz DOT (and SVG when `dot` is installed).
    Graph(reports::GraphArgs),
    /// CPU and CUDA devices libtorch can use.
    Devices(reports::DevicesArgs),
}

/// The backbone argument shared by commands.
#[derive(clap::Args, Clone)]
pub struct BackboneArgs {
    /// Backbone network.
    #[arg(long, value_enum, default_value = "inception-v3")]
    pub backbone: Arch,
    /// Weights file (.safetensors, .pt, .pth) instead of the fetched pretrained ones.
    #[arg(long)]
    pub weights: Option<std::path::PathBuf>,
}

pub fn run(cli: Cli) -> Result<()> {
    engine::set_threads(cli.threads);
    match cli.command {
        Command::Weights(cmd) => weights::run(cmd),
        Command::Embed(args) => embed::run(args, engine::parse_device(&cli.device)?),
        Command::Train(args) => train::run(args, engine::parse_device(&cli.device)?),
        Command::Eval(args) => eval::run(args, engine::parse_device(&cli.device)?),
        Command::Predict(args) => eval::run_predict(args, engine::parse_device(&cli.device)?),
        Command::Report(args) => reports::run_report(args),
        Command::Summary(args) => reports::run_summary(args),
        Command::Graph(args) => reports::run_graph(args),
        Command::Devices(args) => reports::run_devices(args),
    }
}
