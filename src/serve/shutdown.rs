//! Stopping well: on the caller's signal (the binary's SIGINT/SIGTERM) or a model that failed
//! to load, the listener closes, requests in flight are answered, and only then do the model
//! and decoding threads finish their queues and stop. A drain that outlasts the request timeout
//! (plus a margin) is cut short rather than hanging forever.
use super::app::App;
use super::models::LoadEvent;
use serde_json::Value;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;

/// Extra time a drain gets beyond the longest a request may take.
const DRAIN_MARGIN: Duration = Duration::from_secs(5);

/// Why the service is stopping.
#[derive(Clone, Default)]
pub struct Stop {
    started: watch::Sender<bool>,
    failure: Arc<Mutex<Option<anyhow::Error>>>,
}

impl Stop {
    /// Resolves once stopping has started.
    pub fn started(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.started.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    /// Starts stopping (again: no effect).
    pub fn start(&self) {
        self.started.send_replace(true);
    }

    /// Stops because of `error`, which [`Stop::into_result`] returns.
    pub fn fail(&self, error: anyhow::Error) {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(error);
        self.start();
    }

    /// The failure that stopped the service, if one did.
    pub fn into_result(self) -> anyhow::Result<()> {
        match self
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Logs the models as they become ready ("ready" once all are), and stops the service when
/// one fails to load.
pub async fn watch_loading(app: Arc<App>, mut events: UnboundedReceiver<LoadEvent>, stop: Stop) {
    while let Some(event) = events.recv().await {
        match event {
            LoadEvent::Ready {
                name,
                seconds,
                precision,
            } => {
                let seconds = (seconds * 100.0).round() / 100.0;
                let fields = [
                    ("model", Value::from(name)),
                    ("seconds", Value::from(seconds)),
                    ("precision", Value::from(precision)),
                ];
                app.log.line("model_ready", &fields);
                if app.ready() {
                    app.log.line("ready", &[]);
                }
            }
            LoadEvent::Failed(e) => {
                app.log
                    .line("model_failed", &[("error", Value::from(format!("{e:#}")))]);
                stop.fail(e);
            }
        }
    }
}

/// Resolves when `signal` fires or the service stops by itself, logging the drain.
pub async fn on_signal(app: Arc<App>, signal: impl Future<Output = ()>, stop: Stop) {
    tokio::select! {
        () = signal => stop.start(),
        () = stop.started() => {}
    }
    let in_flight = app.metrics.in_flight.get();
    app.log
        .line("draining", &[("in_flight", Value::from(in_flight))]);
}

/// Resolves when a drain that started has gone on too long.
pub async fn drain_deadline(stop: Stop, timeout: Duration) {
    stop.started().await;
    tokio::time::sleep(timeout + DRAIN_MARGIN).await;
}

/// Stops the model threads and waits (off the async threads) until they have: the process
/// must not end while one is inside libtorch. Then lets go of the service's state; the last
/// holder's drop joins the decoding threads. A connection may still hold it (a drain cut short,
/// a connection task not yet dropped): the process is ending anyway, and decoding does not touch
/// libtorch.
pub async fn join_threads(app: Arc<App>, threads: Vec<std::thread::JoinHandle<()>>) {
    for model in &app.models {
        model.stop();
    }
    let _ = tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
        drop(app);
    })
    .await;
}
