use clap::Parser;

fn main() {
    graft::engine::tune_allocator();
    let cli = graft::cli::Cli::parse();
    if let Err(e) = graft::cli::run(cli) {
        eprintln!("graft: error: {e:#}");
        std::process::exit(1);
    }
}
