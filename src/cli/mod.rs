//! The command line: argument definitions and dispatch to the library.
mod check;
mod embed;
mod eval;
mod export;
mod quantize;
mod reports;
mod serve;
mod train;
mod weights;

use anyhow::Result;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use graft::distributed::{Group, Launch};
use graft::engine::{self, Precision};
use graft::models::Arch;
use graft::runtime::Runtime;

#[derive(Parser)]
#[command(
    name = "graft",
    version,
    about = "Transfer learning from ImageNet-pretrained CNNs: folders of labelled images in, accurate classifiers out"
)]
pub struct Cli {
    /// CPU threads for libtorch (default: all cores).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// cpu, cuda or cuda:N.
    #[arg(long, global = true, default_value = "cpu")]
    device: String,
    /// Number format of train, eval, predict, embed and serve: fp32, bf16 (convolutions and
    /// matrix products in bfloat16), or auto (the default): for a new run or embed, bf16 on a
    /// CPU with bf16 instructions (AVX512-BF16), else fp32; for eval, predict, serve and
    /// --resume, the precision the run trained in, or fp32 where this device has no bf16
    /// instructions; int8 (eval, predict and serve of a run calibrated by graft quantize):
    /// int8 convolutions on the CPU. Export and weight checks always compute in fp32.
    #[arg(long, global = true, value_name = "auto|fp32|bf16|int8")]
    precision: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch, check and cache pretrained weights.
    #[command(subcommand)]
    Weights(weights::WeightsCommand),
    /// Write one feature vector per image (global average pool of the backbone).
    Embed(embed::EmbedArgs),
    /// Check a dataset before training: counts, unreadable and tiny images, duplicates.
    Check(check::CheckArgs),
    /// Train a classifier on labelled image folders.
    Train(Box<train::TrainArgs>),
    /// Score a trained run on a labelled folder.
    Eval(eval::EvalArgs),
    /// Classify images with a trained run.
    Predict(eval::PredictArgs),
    /// Calibrate a trained run for --precision int8, kept only if its Test accuracy holds.
    Quantize(quantize::QuantizeArgs),
    /// Write a trained run as ONNX or TorchScript, for other runtimes.
    Export(export::ExportArgs),
    /// Serve trained runs over HTTP (batching, bounded queues, metrics).
    Serve(Box<serve::ServeArgs>),
    /// Write RUN/report.html: config, curves, test scores, confusion matrix, worst errors.
    Report(reports::ReportArgs),
    /// Layer table of a backbone (and head): output shapes, parameters, trainable.
    Summary(reports::SummaryArgs),
    /// The architecture as Graphviz DOT (and SVG when `dot` is installed).
    Graph(reports::GraphArgs),
    /// CPU and CUDA devices libtorch can use.
    Devices(reports::DevicesArgs),
}

/// Parses a backbone name, listing the known ones in `--help` and errors.
fn arch_parser() -> impl TypedValueParser<Value = Arch> {
    let names: Vec<&'static str> = Arch::all().map(|a| a.name).collect();
    PossibleValuesParser::new(names).map(|name| Arch::named(&name).expect("a listed name"))
}

/// The backbone argument shared by commands.
#[derive(clap::Args, Clone)]
struct BackboneArgs {
    /// Backbone network.
    #[arg(long, default_value = "inception-v3", value_parser = arch_parser())]
    backbone: Arch,
    /// Weights file (.safetensors, .pt, .pth) instead of the fetched pretrained ones.
    #[arg(long)]
    weights: Option<std::path::PathBuf>,
}

/// The execution context of a command that reads images: `device`, `workers` decoding threads
/// (default: a quarter of the cores), the precision `asked` for (auto: the machine's choice),
/// and the process group when this process is one rank of several.
fn runtime<'g>(
    device: &str,
    workers: Option<usize>,
    asked: Option<Precision>,
    group: Option<&'g Group>,
) -> Result<Runtime<'g>> {
    let mut rt = Runtime::new(engine::parse_device(device)?);
    if let Some(w) = workers {
        rt.workers = w.max(1);
    }
    rt.precision = Precision::resolve(asked, rt.device)?;
    Ok(rt.over(group))
}

/// How long ranks wait for each other: joining, and each exchange of results.
const RANK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The process group this process joins as one rank (torchrun's variables), for commands that
/// share their work between ranks; any other command is refused rather than run once per rank.
fn group(command: &Command) -> Result<Option<Group>> {
    let launch = Launch::from_env()?;
    if let Some(l) = &launch
        && !matches!(
            command,
            Command::Embed(_) | Command::Eval(_) | Command::Predict(_) | Command::Train(_)
        )
    {
        return Err(graft::error::bad_input(format!(
            "WORLD_SIZE={} (rank {}): only graft train, embed, eval and predict run as several ranks; start this command as one process",
            l.world, l.rank
        )));
    }
    launch.map(|l| Group::join(&l, RANK_TIMEOUT)).transpose()
}

/// Runs the command.
pub fn run(cli: Cli) -> Result<()> {
    engine::set_threads(cli.threads);
    let device = cli.device.as_str();
    let asked = cli
        .precision
        .as_deref()
        .map(Precision::parse)
        .transpose()?
        .flatten();
    let group = group(&cli.command)?;
    let group = group.as_ref();
    graft::progress::set_narrates(graft::distributed::leads(group));
    match cli.command {
        Command::Weights(cmd) => weights::run(cmd),
        Command::Embed(_) | Command::Train(_) if asked == Some(Precision::Int8) => {
            Err(graft::error::bad_input(
                "--precision int8 is for a trained run's inference (eval, predict, serve): train in fp32 or bf16, then calibrate the run with graft quantize --run RUN",
            ))
        }
        Command::Embed(args) => {
            let rt = runtime(device, args.workers, asked, group)?;
            embed::run(args, rt)
        }
        Command::Train(args) => {
            let rt = runtime(device, args.workers, asked, group)?;
            train::run(*args, rt, asked)
        }
        Command::Eval(args) => {
            // The model runs in the run's own precision unless one is asked for.
            let rt = runtime(device, args.workers, asked, group)?;
            eval::run(args, rt, asked)
        }
        Command::Predict(args) => {
            let rt = runtime(device, args.workers, asked, group)?;
            eval::run_predict(args, rt, asked)
        }
        Command::Quantize(args) => {
            let rt = runtime(device, args.workers, Some(Precision::Fp32), group)?;
            quantize::run(args, rt)
        }
        Command::Check(args) => check::run(args),
        Command::Export(args) => export::run(args),
        Command::Serve(args) => serve::run(*args, engine::parse_device(device)?, asked),
        Command::Report(args) => reports::run_report(args),
        Command::Summary(args) => reports::run_summary(args),
        Command::Graph(args) => reports::run_graph(args),
        Command::Devices(args) => reports::run_devices(args),
    }
}
