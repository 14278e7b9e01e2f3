//! graft: transfer learning from ImageNet-pretrained CNNs on libtorch.
pub mod cli;
pub mod data;
pub mod embed;
pub mod engine;
pub mod evaluation;
pub mod models;
pub mod progress;
pub mod reports;
pub mod tensor_io;
pub mod training;
pub mod weights;
