//! graft: transfer learning from ImageNet-pretrained CNNs on libtorch.
//!
//! The modules form layers; a module imports only from layers below it (checked by
//! `tests/layers.rs` on every `crate::` and `super::` path):
//!
//! 1. foundation: `error`, `cancel`, `engine`, `distributed` (ranks and their process group),
//!    `runtime` (the execution context: device, decoding threads, precision, process group), `fsx`,
//!    `tensor_io`, `progress`, `metrics`
//! 2. `data` (images, folders, splits, loading) and `models` (backbones, their specs, the head)
//! 3. `weights`: pinned pretrained weights, reading and checking weight files
//! 4. `run`: the run folder's typed files and loading a trained model
//! 5. `inference`: preprocessing, forward and scoring for eval, predict, embed and serving
//! 6. `export`: the trained classifier as ONNX or TorchScript, with its metadata
//! 7. `serve`: the HTTP service (batching model threads, decoding pool, routes, metrics, log)
//! 8. `training`: recipes, optimizers, the training loop
//! 9. `reports`: curves, report.html, summary, graph, devices
//!
//! The command line (`src/main.rs`, `src/cli/`) is the binary, above all of them.
#![warn(missing_docs, clippy::too_many_lines)]

// First: the modules below narrate with its `say!` and `say_rank!`.
#[macro_use]
pub mod progress;

pub mod cancel;
pub mod data;
pub mod distributed;
pub mod engine;
pub mod error;
pub mod export;
pub mod fsx;
pub mod inference;
pub mod metrics;
pub mod models;
pub mod reports;
pub mod run;
pub mod runtime;
pub mod serve;
pub mod tensor_io;
pub mod training;
pub mod weights;
