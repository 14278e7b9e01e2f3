//! Scoring a trained classifier: metrics on labelled folders, predictions on images.
pub mod metrics;
pub mod predict;
