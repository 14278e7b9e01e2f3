//! The served models: each run's description, read from its run folder before the port is bound
//! (so a wrong folder fails at once, as bad input), and the thread that loads, warms up and
//! then owns its predictor.
use super::config::{Limits, ModelSource};
use super::decode::Refused;
use super::prometheus::ServeMetrics;
use super::worker::{Batcher, Job};
use crate::data::images::Preprocess;
use crate::engine::Precision;
use crate::error::bad_input;
use crate::inference::Predictor;
use crate::run::RunFolder;
use anyhow::Result;
use crossbeam_channel::{Sender, TrySendError, bounded};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;
use tch::Device;
use tokio::sync::mpsc::UnboundedSender;

/// What `GET /v1/models/{name}` tells about a model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelDescription {
    /// The name in URLs.
    pub name: String,
    /// The pretrained network it was trained from.
    pub backbone: String,
    /// Side of the square input in pixels (images of any size are resized to it).
    pub input_size: i64,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Accuracy on the run's test set (None: it had none).
    pub test_accuracy: Option<f64>,
    /// The training recipe.
    pub recipe: String,
    /// Loaded and warm.
    pub ready: bool,
}

/// A model's load ending, reported to the server.
pub enum LoadEvent {
    /// Loaded and warm after `seconds`.
    Ready {
        /// The model.
        name: String,
        /// Load and warm-up time.
        seconds: f64,
        /// What it computes in ("bf16", or "fp32 (why)" where not the run's own).
        precision: String,
    },
    /// It could not be loaded; the service stops.
    Failed(anyhow::Error),
}

/// One model being served: its description and the queue to its thread.
pub struct ServedModel {
    description: ModelDescription,
    /// None once stopped: the thread's queue is closed.
    tx: Mutex<Option<Sender<Job>>>,
    /// Set when the service stops: the thread leaves what is queued and ends.
    stopping: Arc<AtomicBool>,
    preprocess: Arc<OnceLock<Preprocess>>,
    /// Requests being decoded for it.
    pub decoding: Arc<AtomicUsize>,
}

impl ServedModel {
    /// Reads the run folder's description and starts the thread that loads the model (the
    /// returned handle joins it once every sender is gone).
    pub fn start(
        source: &ModelSource,
        limits: &Limits,
        metrics: &ServeMetrics,
        device: Device,
        asked: Option<Precision>,
        events: UnboundedSender<LoadEvent>,
    ) -> Result<(Arc<Self>, JoinHandle<()>)> {
        let description = describe(source)?;
        let (tx, rx) = bounded::<Job>(limits.queue);
        let model = Arc::new(Self {
            description,
            tx: Mutex::new(Some(tx)),
            stopping: Arc::default(),
            preprocess: Arc::default(),
            decoding: Arc::default(),
        });
        metrics.add_model(&source.name);
        let batcher = Batcher {
            name: source.name.clone(),
            limits: limits.clone(),
            metrics: metrics.clone(),
            decoding: model.decoding.clone(),
            stopping: model.stopping.clone(),
        };
        let (source, preprocess) = (source.clone(), model.preprocess.clone());
        let expected = model.description.classes.clone();
        let thread = std::thread::Builder::new()
            .name(format!("graft-model-{}", source.name))
            .spawn(move || {
                let start = Instant::now();
                let predictor = match open(&source, device, asked, &expected) {
                    Ok(p) => p,
                    Err(e) => return drop(events.send(LoadEvent::Failed(e))),
                };
                if !batcher.warm_up(&predictor) {
                    return;
                }
                let _ = preprocess.set(predictor.preprocess());
                batcher
                    .metrics
                    .ready
                    .with_label_values(&[&source.name])
                    .set(1);
                let seconds = start.elapsed().as_secs_f64();
                let precision = match predictor.precision() {
                    (p, Some(why)) => format!("{p} ({why})"),
                    (p, None) => p.to_string(),
                };
                let _ = events.send(LoadEvent::Ready {
                    name: source.name.clone(),
                    seconds,
                    precision,
                });
                batcher.run(&predictor, &rx);
            })?;
        Ok((model, thread))
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.description.name
    }

    /// Its description, with whether it is ready now.
    pub fn description(&self) -> ModelDescription {
        ModelDescription {
            ready: self.is_ready(),
            ..self.description.clone()
        }
    }

    /// Number of classes.
    pub fn class_count(&self) -> usize {
        self.description.classes.len()
    }

    /// Loaded and warm.
    pub fn is_ready(&self) -> bool {
        self.preprocess.get().is_some()
    }

    /// How request images become this model's input: the predictor's own preprocessing, the
    /// one `graft predict` uses (None while loading).
    pub fn preprocess(&self) -> Option<Preprocess> {
        self.preprocess.get().copied()
    }

    /// Queues a job for the model's thread, refusing at once when the queue is full.
    pub fn enqueue(&self, job: Job) -> Result<(), Refused> {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = tx.as_ref() else {
            return Err(Refused::Closed);
        };
        match tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Refused::Full),
            Err(TrySendError::Disconnected(_)) => Err(Refused::Closed),
        }
    }

    /// Requests waiting for the thread.
    pub fn queued(&self) -> usize {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        tx.as_ref().map_or(0, Sender::len)
    }

    /// Tells the thread to end after the batch it is running (leaving what is queued: the
    /// service is stopping) and closes its queue, which wakes it if idle. The process must not
    /// end while a thread is inside libtorch: its exit handlers tear libtorch down under it.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// The run folder's settings, classes and test score; an incomplete folder is bad input.
fn describe(source: &ModelSource) -> Result<ModelDescription> {
    let folder = RunFolder::new(&source.run);
    let config = folder.read_config()?;
    let classes = folder.read_classes()?;
    if !folder.model().is_file() {
        return Err(bad_input(format!(
            "{}: no model.safetensors (the run did not finish)",
            source.run.display()
        )));
    }
    let test_accuracy = folder.read_metrics()?.and_then(|m| m.test_accuracy);
    Ok(ModelDescription {
        name: source.name.clone(),
        backbone: config.backbone.name().to_string(),
        input_size: config.size,
        classes,
        test_accuracy,
        recipe: config.recipe,
        ready: false,
    })
}

/// Loads the predictor; its classes must be those described (the folder did not change since).
fn open(
    source: &ModelSource,
    device: Device,
    asked: Option<Precision>,
    classes: &[String],
) -> Result<Predictor> {
    let predictor = Predictor::open(&source.run, device, asked)?;
    if predictor.classes() != classes {
        return Err(bad_input(format!(
            "{}: classes.json changed while the service started",
            source.run.display()
        )));
    }
    Ok(predictor)
}
