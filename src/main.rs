use clap::Parser;

fn main() {
    // Behave like other Unix tools when the reader of our output goes away (`graft ... | head`).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    graft::engine::tune_allocator();
    let cli = graft::cli::Cli::parse();
    if let Err(e) = graft::cli::run(cli) {
        eprintln!("graft: error: {e:#}");
        std::process::exit(1);
    }
}
