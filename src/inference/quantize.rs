//! `graft quantize`: a trained run calibrated for int8 inference (post-training static
//! quantization, see `models::int8`) on its own training images, and kept only when int8
//! scores within a tolerance of float32 on the run's Test.
use super::{Predictor, image_batches, predict, score};
use crate::data::labelled::Labelled;
use crate::data::loader::Skips;
use crate::engine::Precision;
use crate::error::bad_input;
use crate::models::int8::{Calibrator, Quantized};
use crate::run::RunFolder;
use crate::run::int8::{Int8Calibration, Int8Check};
use crate::runtime::Runtime;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::Device;

/// Images per calibration batch.
const BATCH: usize = 32;

/// Calibrates `run` on `images` of its training images (spread evenly over them), scores its
/// Test in float32 and in int8, and writes int8.json when int8 loses at most `tolerance` of
/// accuracy (0.003: 0.3 point); a larger loss is a bad-input error with both accuracies, and
/// nothing is written.
pub fn quantize(
    run: &Path,
    images: usize,
    tolerance: f64,
    runtime: Runtime,
) -> Result<Int8Calibration> {
    if runtime.device != Device::Cpu {
        return Err(bad_input(
            "graft quantize: int8 runs on the CPU only; use --device cpu",
        ));
    }
    let mut predictor = Predictor::open(run, Device::Cpu, Some(Precision::Fp32))?;
    let (train, items) = predict::run_parts(run, &predictor)?;
    let paths = calibration_paths(run, &train, images)?;
    let mut calibrator = Calibrator::default();
    let order = (0..paths.len()).collect();
    let pre = predictor.preprocess();
    let mut skips = Skips::default();
    for batch in image_batches(Arc::new(paths), order, pre, BATCH, runtime.workers) {
        skips.report(batch.failures.iter().map(|(_, m)| m));
        if batch.indices.is_empty() {
            continue;
        }
        let backbone = &predictor.model().backbone;
        calibrator.observe(&backbone.blocks, &backbone.normalize(&batch.pixels));
    }
    let ranges = calibrator.ranges(&predictor.model().backbone.blocks);
    let set = Labelled::from_items(&items);
    let classes = predictor.classes().to_vec();
    let mut score = |p: &Predictor| -> Result<f64> {
        let m = score::evaluate(p.model(), &set, &classes, pre, runtime, &mut skips)?;
        Ok(m.accuracy)
    };
    let fp32 = score(&predictor)?;
    predictor.quantize(Quantized::new(&predictor.model().backbone.blocks, &ranges)?);
    let int8 = score(&predictor)?;
    let check = Int8Check {
        images: set.labels.len(),
        fp32_accuracy: fp32,
        int8_accuracy: int8,
        tolerance,
        cpu: crate::engine::cpu_name(),
    };
    if let Some(why) = refusal(&check) {
        return Err(bad_input(format!(
            "{}: int8 is refused: {why}; int8.json not written",
            run.display()
        )));
    }
    let calibration = Int8Calibration {
        calibration_images: calibrator.images(),
        ranges,
        check,
    };
    RunFolder::new(run).write_int8(&calibration)?;
    Ok(calibration)
}

/// Why int8 is refused, when it loses more accuracy than the check allows.
pub fn refusal(check: &Int8Check) -> Option<String> {
    let lost = check.fp32_accuracy - check.int8_accuracy;
    (lost > check.tolerance + 1e-12).then(|| {
        format!(
            "on the run's {} Test images it scores {:.2}% against float32's {:.2}%, {:.2} points lower (allowed: {:.2})",
            check.images,
            100.0 * check.int8_accuracy,
            100.0 * check.fp32_accuracy,
            100.0 * lost,
            100.0 * check.tolerance
        )
    })
}

/// Up to `n` of the run's training images `all`, evenly spread over them (so over its classes).
fn calibration_paths(run: &Path, all: &[PathBuf], n: usize) -> Result<Vec<PathBuf>> {
    if all.is_empty() {
        return Err(bad_input(format!(
            "{}: the run lists no training images to calibrate int8 on",
            run.display()
        )));
    }
    let n = n.clamp(1, all.len());
    Ok((0..n).map(|i| all[i * all.len() / n].clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(fp32: f64, int8: f64) -> Int8Check {
        Int8Check {
            images: 1000,
            fp32_accuracy: fp32,
            int8_accuracy: int8,
            tolerance: 0.003,
            cpu: "test".into(),
        }
    }

    #[test]
    fn int8_is_refused_past_the_tolerance_with_both_accuracies() {
        assert_eq!(refusal(&check(0.950, 0.950)), None);
        assert_eq!(refusal(&check(0.950, 0.947)), None, "0.3 point is allowed");
        assert_eq!(refusal(&check(0.950, 0.960)), None, "a gain is kept");
        let why = refusal(&check(0.950, 0.946)).expect("0.4 point lost");
        assert_eq!(
            why,
            "on the run's 1000 Test images it scores 94.60% against float32's 95.00%, 0.40 points lower (allowed: 0.30)"
        );
    }
}
