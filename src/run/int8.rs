//! int8.json: a run's int8 calibration (`graft quantize`), the activations' ranges that
//! `--precision int8` quantizes with, and the accuracy check it passed.
use super::{RunFolder, malformed};
use crate::error::bad_input;
use crate::fsx;
use crate::models::int8::Range;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What `graft quantize` measured and keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Int8Calibration {
    /// Training images the ranges were taken over.
    pub calibration_images: usize,
    /// The activations' ranges, in the order the network computes them.
    pub ranges: Vec<Range>,
    /// The accuracy check on the run's Test.
    pub check: Int8Check,
}

/// float32 against int8 on the same Test images, on the machine that calibrated.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Int8Check {
    /// Test images scored.
    pub images: usize,
    /// float32 accuracy.
    pub fp32_accuracy: f64,
    /// int8 accuracy.
    pub int8_accuracy: f64,
    /// The largest loss of accuracy allowed (a fraction: 0.003 is 0.3 point).
    pub tolerance: f64,
    /// The CPU that measured them.
    pub cpu: String,
}

impl RunFolder {
    /// int8.json.
    pub fn int8(&self) -> PathBuf {
        self.root.join("int8.json")
    }

    /// Writes int8.json.
    pub fn write_int8(&self, calibration: &Int8Calibration) -> Result<()> {
        fsx::write_json(&self.int8(), calibration)
    }

    /// Reads int8.json; a run without one is told how to calibrate it.
    pub fn read_int8(&self) -> Result<Int8Calibration> {
        if !self.int8().is_file() {
            return Err(bad_input(format!(
                "{}: --precision int8 needs the run calibrated first: graft quantize --run {}",
                self.root.display(),
                self.root.display()
            )));
        }
        fsx::read_json(&self.int8()).map_err(malformed)
    }
}
