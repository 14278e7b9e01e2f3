//! Load generator for `graft serve` (and any service with the same predict API): POSTs image
//! files as raw bodies to URL and prints one JSON line (answers by status, throughput of 200s,
//! latency percentiles of 200s, and the resident memory of `--pid` while it ran).
//!
//! Closed loop: `--concurrency C` clients, each sending its next request when the last is
//! answered. Open loop: `--rate R` requests per second whatever the answers (overload tests).
//!
//! Usage: cargo run --release --example serve_load -- URL --images A.jpg B.jpg ...
//!        [--concurrency C | --rate R] [--duration S] [--warmup S] [--pid PID] [--raw]
use clap::Parser;
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// The predict URL.
    url: String,
    /// Image files, sent in turn.
    #[arg(long, required = true, num_args = 1..)]
    images: Vec<PathBuf>,
    /// Clients, each waiting for its answer before the next request.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Requests per second, sent whatever the answers (instead of --concurrency).
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds measured.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Seconds of load before measuring (closed loop).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// A process whose resident memory is sampled every second.
    #[arg(long)]
    pid: Option<u32>,
    /// Seconds a request may take before it counts as an error.
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
    /// Also print every 200's latency ("ok_ms"), for merging runs.
    #[arg(long)]
    raw: bool,
}

/// What was measured.
#[derive(Default)]
struct Tally {
    ok_ms: Vec<f64>,
    unavailable: usize,
    other: usize,
    errors: usize,
}

impl Tally {
    fn record(&mut self, result: Result<u16, reqwest::Error>, ms: f64) {
        match result {
            Ok(200) => self.ok_ms.push(ms),
            Ok(503) => self.unavailable += 1,
            Ok(_) => self.other += 1,
            Err(_) => self.errors += 1,
        }
    }
}

struct Load {
    client: reqwest::Client,
    url: String,
    bodies: Vec<Vec<u8>>,
    next: AtomicUsize,
    tally: Mutex<Tally>,
}

impl Load {
    async fn send(&self) -> (Result<u16, reqwest::Error>, f64) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.bodies.len();
        let start = Instant::now();
        let result = async {
            let r = self
                .client
                .post(&self.url)
                .header("content-type", "application/octet-stream")
                .body(self.bodies[i].clone())
                .send()
                .await?;
            let status = r.status().as_u16();
            r.bytes().await?;
            Ok(status)
        }
        .await;
        (result, start.elapsed().as_secs_f64() * 1e3)
    }
}

/// `concurrency` clients for warmup + duration; the answers that arrive inside the measured
/// window count (as load generators such as wrk count them).
async fn closed_loop(load: Arc<Load>, a: &Args) -> f64 {
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(a.warmup);
    let end = measure_from + Duration::from_secs_f64(a.duration);
    let workers: Vec<_> = (0..a.concurrency)
        .map(|_| {
            let load = load.clone();
            tokio::spawn(async move {
                while Instant::now() < end {
                    let (result, ms) = load.send().await;
                    let done = Instant::now();
                    if done >= measure_from && done <= end {
                        load.tally.lock().unwrap().record(result, ms);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    a.duration
}

/// `rate` requests per second for `duration`, each answered or not; waits for every answer.
async fn open_loop(load: Arc<Load>, rate: f64, a: &Args) -> f64 {
    let start = Instant::now();
    let total = (rate * a.duration).round() as usize;
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        tokio::time::sleep_until((start + Duration::from_secs_f64(i as f64 / rate)).into()).await;
        let load = load.clone();
        tasks.push(tokio::spawn(async move {
            let (result, ms) = load.send().await;
            load.tally.lock().unwrap().record(result, ms);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed().as_secs_f64()
}

fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let bodies = a
        .images
        .iter()
        .map(std::fs::read)
        .collect::<Result<_, _>>()?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs_f64(a.timeout))
        .pool_max_idle_per_host(1024)
        .build()?;
    let load = Arc::new(Load {
        client,
        url: a.url.clone(),
        bodies,
        next: AtomicUsize::new(0),
        tally: Mutex::default(),
    });
    let rss = Arc::new(Mutex::new(Vec::new()));
    let sampler = a.pid.map(|pid| {
        let rss = rss.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Some(mb) = rss_mb(pid) {
                    rss.lock().unwrap().push(mb);
                }
            }
        })
    });
    let seconds = match a.rate {
        Some(rate) => open_loop(load.clone(), rate, &a).await,
        None => closed_loop(load.clone(), &a).await,
    };
    if let Some(s) = sampler {
        s.abort();
    }
    let mut tally = std::mem::take(&mut *load.tally.lock().unwrap());
    tally.ok_ms.sort_by(f64::total_cmp);
    let rss = rss.lock().unwrap().clone();
    let ms = |p| (percentile(&tally.ok_ms, p) * 10.0).round() / 10.0;
    let round = |x: f64| (x * 10.0).round() / 10.0;
    let mut out = json!({
        "mode": if a.rate.is_some() { "open" } else { "closed" },
        "concurrency": a.concurrency,
        "rate": a.rate,
        "seconds": round(seconds),
        "ok": tally.ok_ms.len(),
        "unavailable": tally.unavailable,
        "other_status": tally.other,
        "errors": tally.errors,
        "throughput": round(tally.ok_ms.len() as f64 / seconds),
        "p50_ms": ms(50.0),
        "p90_ms": ms(90.0),
        "p99_ms": ms(99.0),
        "max_ms": ms(100.0),
        "rss_mb": rss.iter().map(|m| round(*m)).collect::<Vec<_>>(),
    });
    if a.raw {
        out["ok_ms"] = json!(tally.ok_ms.iter().map(|m| round(*m)).collect::<Vec<_>>());
    }
    println!("{out}");
    Ok(())
}
