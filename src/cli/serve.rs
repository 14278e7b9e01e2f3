//! `graft serve`: the tokio runtime, the signal handling and the flags; the service itself is
//! `graft::serve`.
use anyhow::Result;
use graft::engine::Precision;
use graft::error::bad_input;
use graft::serve::config::{self, Limits, LogFormat, ServeConfig};
use graft::serve::{Server, log::Log};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tch::Device;
use tokio::signal::unix::{Signal, SignalKind, signal};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Run folders written by graft train, each served under its folder's name.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Address to listen on (port 0: any free port; the log's "listening" line tells which).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Name of the run at the same position instead of its folder's name (repeatable).
    #[arg(long = "name")]
    names: Vec<String>,
    /// Images per forward pass.
    #[arg(long, default_value_t = Limits::default().max_batch)]
    max_batch: usize,
    /// Milliseconds a batch may wait for requests already being decoded (never when none are).
    #[arg(long, default_value_t = Limits::default().max_wait.as_secs_f64() * 1000.0)]
    max_wait_ms: f64,
    /// Requests waiting per model; when full, requests are answered 503 at once.
    #[arg(long, default_value_t = Limits::default().queue)]
    queue: usize,
    /// Largest request body, in bytes (K, M suffixes accepted); 413 above it.
    #[arg(long, default_value = "16M", value_parser = parse_size)]
    max_body: usize,
    /// Images in one multipart request.
    #[arg(long, default_value_t = Limits::default().max_images)]
    max_images: usize,
    /// Predict requests in progress at once; 503 above it.
    #[arg(long, default_value_t = Limits::default().max_in_flight)]
    max_in_flight: usize,
    /// Seconds from a request's arrival to its answer; 504 after it.
    #[arg(long, default_value_t = Limits::default().timeout.as_secs_f64())]
    timeout: f64,
    /// Image-decoding threads (default: a quarter of the cores, at least one).
    #[arg(long)]
    decode_workers: Option<usize>,
    /// Images waiting for a decoding thread; 503 above it.
    #[arg(long, default_value_t = Limits::default().decode_queue)]
    decode_queue: usize,
    /// Classes per image when the request has no ?top_k=.
    #[arg(long, default_value_t = Limits::default().default_top_k)]
    top_k: usize,
    /// File holding a bearer token that /v1/ requests must send (Authorization: Bearer ...).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Log lines (one per request and per lifecycle event, on stderr) as json or text.
    #[arg(long, default_value = "text", value_parser = ["json", "text"])]
    log_format: String,
    /// Threads for HTTP and I/O (the models and decoders have their own).
    #[arg(long, default_value_t = 2)]
    http_threads: usize,
}

/// `16M`, `512K`, `1048576`.
fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        _ => return Err(format!("'{s}': use bytes, or K or M")),
    };
    let n: usize = digits.parse().map_err(|_| format!("'{s}': not a size"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("'{s}': too large"))
}

fn seconds(flag: &str, s: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| bad_input(format!("{flag}: {s} is not a duration")))
}

fn serve_config(a: &ServeArgs, device: Device, asked: Option<Precision>) -> Result<ServeConfig> {
    let defaults = Limits::default();
    let limits = Limits {
        max_batch: a.max_batch,
        max_wait: seconds("--max-wait-ms", a.max_wait_ms / 1000.0)?,
        queue: a.queue,
        max_body: a.max_body,
        max_images: a.max_images,
        max_in_flight: a.max_in_flight,
        timeout: seconds("--timeout", a.timeout)?,
        decode_workers: a.decode_workers.unwrap_or(defaults.decode_workers),
        decode_queue: a.decode_queue,
        default_top_k: a.top_k,
    };
    Ok(ServeConfig {
        addr: a.addr,
        models: config::sources(&a.runs, &a.names)?,
        limits,
        token: a
            .token_file
            .as_deref()
            .map(config::read_token)
            .transpose()?,
        log_format: if a.log_format == "json" {
            LogFormat::Json
        } else {
            LogFormat::Text
        },
        device,
        precision: asked,
    })
}

pub fn run(a: ServeArgs, device: Device, asked: Option<Precision>) -> Result<()> {
    let config = serve_config(&a, device, asked)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.http_threads.max(1))
        .thread_name("graft-http")
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Registered before binding, so a signal is never missed.
        let signals = (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        );
        let log = Log::new(config.log_format, Box::new(std::io::stderr()));
        let server = Server::bind(config, log).await?;
        server.run(shutdown_signal(signals)).await
    })
}

/// The first SIGINT or SIGTERM starts a graceful shutdown; a second one quits at once.
async fn shutdown_signal((mut int, mut term): (Signal, Signal)) {
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!("graft: second signal: quitting without finishing the requests in flight");
        std::process::exit(130);
    });
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("1G").is_err());
        assert!(parse_size("M").is_err());
    }
}
