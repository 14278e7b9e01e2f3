//! `graft serve`: trained runs as an HTTP service (tokio + axum) that batches, bounds and
//! measures itself.
//!
//! A request's path: [`middleware`] gives it an id, a timeout, metrics and a log line;
//! [`predict`] admits it (or answers 503 at once), reads its images ([`body`]), decodes them on
//! the bounded [`decode`] pool with the model's own preprocessing (the one `graft predict`
//! uses), and queues them for the model's thread ([`worker`]), which batches whatever arrived
//! together into one forward pass through [`crate::inference::Predictor`]. Every queue is
//! bounded; a full one is a 503 with `Retry-After`, never a growing heap. [`shutdown`] stops
//! accepting on the caller's signal and drains what is in flight.
//!
//! The library installs no signal handler and keeps no global state: the binary builds the
//! tokio runtime, passes the shutdown signal, and decides the exit code.
pub mod api;
pub mod app;
pub mod body;
pub mod config;
pub mod decode;
pub mod log;
pub mod middleware;
pub mod models;
pub mod predict;
pub mod prometheus;
pub mod routes;
pub mod shutdown;
pub mod worker;

use crate::error::bad_input;
use anyhow::{Context, Result};
use app::App;
use config::ServeConfig;
use models::ServedModel;
use prometheus::ServeMetrics;
use serde_json::Value;
use shutdown::Stop;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::net::TcpListener;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// A bound service whose models are loading; [`Server::run`] answers requests.
pub struct Server {
    listener: TcpListener,
    app: Arc<App>,
    threads: Vec<JoinHandle<()>>,
    events: UnboundedReceiver<models::LoadEvent>,
}

impl Server {
    /// Reads every run folder's description (a wrong folder fails here, before the port is
    /// bound), binds the address, and starts each model's thread loading and warming it up.
    pub async fn bind(config: ServeConfig, log: log::Log) -> Result<Self> {
        config.limits.check()?;
        if config.models.is_empty() {
            return Err(bad_input("no run to serve"));
        }
        let metrics = ServeMetrics::new()?;
        let (events_tx, events) = unbounded_channel();
        let mut models = Vec::new();
        let mut threads = Vec::new();
        for source in &config.models {
            let (model, thread) = ServedModel::start(
                source,
                &config.limits,
                &metrics,
                config.device,
                config.precision,
                events_tx.clone(),
            )?;
            models.push(model);
            threads.push(thread);
        }
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("binding {}", config.addr))?;
        let token = config.token.as_deref();
        let app = App::new(models, config.limits, metrics, log, token)?;
        Ok(Self {
            listener,
            app: Arc::new(app),
            threads,
            events,
        })
    }

    /// The address it listens on (the real port when port 0 was asked for).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Answers requests until `signal` resolves (or a model fails to load), then stops taking
    /// connections, answers the requests in flight, and stops the threads. Returns the load
    /// failure, if there was one.
    pub async fn run(self, signal: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let addr = self.local_addr()?;
        let Server {
            listener,
            app,
            threads,
            events,
        } = self;
        let names: Vec<&str> = app.models.iter().map(|m| m.name()).collect();
        let fields = [
            ("addr", Value::from(format!("http://{addr}"))),
            ("models", Value::from(names)),
        ];
        app.log.line("listening", &fields);
        let stop = Stop::default();
        let loading = tokio::spawn(shutdown::watch_loading(app.clone(), events, stop.clone()));
        let service =
            routes::router(app.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let serving = axum::serve(listener, service).with_graceful_shutdown(shutdown::on_signal(
            app.clone(),
            signal,
            stop.clone(),
        ));
        let drained = tokio::select! {
            r = serving => { r?; true }
            () = shutdown::drain_deadline(stop.clone(), app.limits.timeout) => false,
        };
        loading.abort();
        let _ = loading.await;
        let in_flight = app.metrics.in_flight.get();
        app.log.line(
            "stopped",
            &[("drained", drained.into()), ("in_flight", in_flight.into())],
        );
        shutdown::join_threads(app, threads).await;
        stop.into_result()
    }
}
