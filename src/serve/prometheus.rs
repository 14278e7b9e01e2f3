//! The service's Prometheus metrics, in a registry of its own (no process-global one), written
//! in the Prometheus text format by the `prometheus` crate.
use anyhow::Result;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Latency buckets in seconds: a few ms (health checks) to the request timeout.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every metric the service keeps.
#[derive(Clone)]
pub struct ServeMetrics {
    registry: Registry,
    /// Answers by route (the URL pattern), method and status code.
    pub requests: IntCounterVec,
    /// Time from the request's arrival to its answer, by route.
    pub latency: HistogramVec,
    /// Images per forward pass, by model.
    pub batch_size: HistogramVec,
    /// Seconds per forward pass, by model.
    pub forward_seconds: HistogramVec,
    /// Requests waiting for each model's thread (read when scraped).
    pub queue_depth: IntGaugeVec,
    /// Images decoded for each model.
    pub images_decoded: IntCounterVec,
    /// Images refused as undecodable or empty, by model.
    pub images_rejected: IntCounterVec,
    /// Requests refused because a bound was reached, by model and by the bound (`queue`,
    /// `decode`, `in_flight`, `loading`).
    pub overloaded: IntCounterVec,
    /// Requests being answered now.
    pub in_flight: IntGauge,
    /// 1 once a model is loaded and warm.
    pub ready: IntGaugeVec,
    /// The process's resident memory (read when scraped).
    pub resident_memory: IntGauge,
}

impl ServeMetrics {
    /// A fresh registry holding every metric at zero.
    pub fn new() -> Result<Self> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec> {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: Vec<f64>| {
            let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)?;
            registry.register(Box::new(h.clone()))?;
            Ok::<_, anyhow::Error>(h)
        };
        let gauges = |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec> {
            let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let gauge = |name: &str, help: &str| -> Result<IntGauge> {
            let g = IntGauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let batch_buckets = vec![1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 64.0];
        Ok(Self {
            requests: counter(
                "graft_http_requests_total",
                "HTTP answers by route, method and status",
                &["route", "method", "status"],
            )?,
            latency: histogram(
                "graft_http_request_duration_seconds",
                "Time from request to answer",
                &["route"],
                LATENCY_BUCKETS.to_vec(),
            )?,
            batch_size: histogram(
                "graft_batch_size",
                "Images per forward pass",
                &["model"],
                batch_buckets,
            )?,
            forward_seconds: histogram(
                "graft_forward_seconds",
                "Seconds per forward pass",
                &["model"],
                LATENCY_BUCKETS.to_vec(),
            )?,
            queue_depth: gauges(
                "graft_queue_depth",
                "Requests waiting for the model's thread",
                &["model"],
            )?,
            images_decoded: counter("graft_images_decoded_total", "Images decoded", &["model"])?,
            images_rejected: counter(
                "graft_images_rejected_total",
                "Images refused as undecodable or empty",
                &["model"],
            )?,
            overloaded: counter(
                "graft_overload_rejections_total",
                "Requests answered 503 because a bound was reached",
                &["model", "bound"],
            )?,
            in_flight: gauge("graft_http_requests_in_flight", "Requests being answered")?,
            ready: gauges(
                "graft_model_ready",
                "1 once the model is loaded and warm",
                &["model"],
            )?,
            resident_memory: gauge(
                "process_resident_memory_bytes",
                "Resident memory of the process",
            )?,
            registry,
        })
    }

    /// Prepares the per-model series, so that a scrape shows zeros before the first request.
    pub fn add_model(&self, model: &str) {
        self.queue_depth.with_label_values(&[model]).set(0);
        self.ready.with_label_values(&[model]).set(0);
        self.images_decoded.with_label_values(&[model]);
        self.images_rejected.with_label_values(&[model]);
        self.batch_size.with_label_values(&[model]);
        self.forward_seconds.with_label_values(&[model]);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String> {
        if let Some(rss) = resident_bytes() {
            self.resident_memory.set(rss as i64);
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8(out)?)
    }
}

/// Resident set size from /proc/self/statm (None where there is no /proc).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf reads a constant of the system; no memory is involved.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text_with_labels() {
        let m = ServeMetrics::new().unwrap();
        m.add_model("fruits");
        m.requests
            .with_label_values(&["/healthz", "GET", "200"])
            .inc();
        m.batch_size.with_label_values(&["fruits"]).observe(3.0);
        let text = m.render().unwrap();
        assert!(text.contains(
            "graft_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ));
        assert!(text.contains("graft_batch_size_sum{model=\"fruits\"} 3"));
        assert!(text.contains("# TYPE graft_batch_size histogram"));
        assert!(text.contains("graft_model_ready{model=\"fruits\"} 0"));
    }
}
