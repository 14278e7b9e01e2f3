//! Training curves like the Keras seed's plots ("Model loss", "Model accuracy"): train and
//! validation per epoch, with the best epoch marked. PNG for people and tools, SVG for reports.
use super::fonts::{self, FAMILY};
use super::run_data::RunData;
use crate::run::RunFolder;
use crate::run::history::{self, EpochRecord};
use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Pixel size of both charts.
pub const WIDTH: u32 = 900;
/// Pixel height of both charts.
pub const HEIGHT: u32 = 560;

const TRAIN: RGBColor = RGBColor(31, 119, 180);
const VALIDATION: RGBColor = RGBColor(255, 127, 14);
const BEST: RGBColor = RGBColor(44, 160, 44);

/// The two charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// Training and validation loss.
    Loss,
    /// Training and validation accuracy.
    Accuracy,
}

impl Curve {
    /// Both, in report order.
    pub const ALL: [Curve; 2] = [Curve::Loss, Curve::Accuracy];

    /// File stem in the run folder: `loss` or `accuracy`.
    pub fn stem(self) -> &'static str {
        match self {
            Curve::Loss => "loss",
            Curve::Accuracy => "accuracy",
        }
    }

    /// The chart's title.
    pub fn title(self) -> &'static str {
        match self {
            Curve::Loss => "Model loss",
            Curve::Accuracy => "Model accuracy",
        }
    }

    fn values(self, r: &EpochRecord) -> (f64, f64) {
        match self {
            Curve::Loss => (r.loss, r.val_loss),
            Curve::Accuracy => (r.accuracy, r.val_accuracy),
        }
    }
}

/// The files `write_curves` writes for one curve: (png, svg).
pub fn curve_paths(run: &Path, curve: Curve) -> (PathBuf, PathBuf) {
    (
        run.join(format!("{}.png", curve.stem())),
        run.join(format!("{}.svg", curve.stem())),
    )
}

/// Writes loss.png, loss.svg, accuracy.png and accuracy.svg into the run folder from its
/// history.json (and metrics.json's best epoch when there is one). A run without a completed
/// epoch gets empty charts that say so.
pub fn write_curves(run: &Path) -> Result<()> {
    let (history, best) = match RunData::read(run) {
        Ok(data) => {
            let best = data.best_epoch();
            (data.history, best)
        }
        // Curves need only the history; do not fail on a half-written run folder.
        Err(_) => {
            let h = RunFolder::new(run).read_history()?;
            let best = history::best_epoch(&h);
            (h, best)
        }
    };
    for curve in Curve::ALL {
        let (png, svg) = curve_paths(run, curve);
        crate::fsx::write_bytes(&png, &render_png(curve, &history, best)?)?;
        crate::fsx::write_bytes(&svg, render_svg(curve, &history, best)?.as_bytes())?;
    }
    Ok(())
}

/// The chart as a PNG file's bytes.
pub fn render_png(curve: Curve, history: &[EpochRecord], best: Option<usize>) -> Result<Vec<u8>> {
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, curve, history, best)?;
        root.present()
            .map_err(|e| anyhow!("drawing {}: {e}", curve.stem()))?;
    }
    let img = image::RgbImage::from_raw(WIDTH, HEIGHT, rgb).context("chart buffer size")?;
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)?;
    Ok(png.into_inner())
}

/// The chart as an SVG document.
pub fn render_svg(curve: Curve, history: &[EpochRecord], best: Option<usize>) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, curve, history, best)?;
        root.present()
            .map_err(|e| anyhow!("drawing {}: {e}", curve.stem()))?;
    }
    Ok(svg)
}

/// A y range that shows every finite value with some room, never below zero.
fn y_range(values: &[f64], curve: Curve) -> (f64, f64) {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return (0.0, 1.0);
    }
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { hi.abs().max(0.01) };
    let pad = 0.08 * span;
    let lo = (lo - pad).max(0.0);
    let hi = match curve {
        // Accuracy cannot pass 1; a little room above keeps markers at 1.0 whole.
        Curve::Accuracy => (hi + pad).min(1.0 + pad.min(0.02)),
        Curve::Loss => hi + pad,
    };
    (lo, hi.max(lo + 1e-6))
}

/// The chart the curves are drawn on: epochs by values.
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Train and validation lines, with a dot per epoch.
fn draw_lines<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    curve: Curve,
    history: &[EpochRecord],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for (i, (name, color)) in [("train", TRAIN), ("validation", VALIDATION)]
        .into_iter()
        .enumerate()
    {
        let points: Vec<(f64, f64)> = history
            .iter()
            .map(|r| {
                let (a, b) = curve.values(r);
                (r.epoch as f64, if i == 0 { a } else { b })
            })
            .filter(|(_, v)| v.is_finite())
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(3)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    Ok(())
}

/// A dashed line at the best epoch and a ring on its validation value.
fn draw_best<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    curve: Curve,
    history: &[EpochRecord],
    best: Option<usize>,
    y: std::ops::Range<f64>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let Some(rec) = best.and_then(|b| history.iter().find(|r| r.epoch == b)) else {
        return Ok(());
    };
    let e = rec.epoch as f64;
    let v = curve.values(rec).1;
    chart
        .draw_series(DashedLineSeries::new(
            vec![(e, y.start), (e, y.end)],
            8,
            6,
            BEST.stroke_width(2),
        ))?
        .label(format!("best epoch ({})", rec.epoch))
        .legend(|(x, y)| EmptyElement::at((x, y)) + Circle::new((12, 0), 7, BEST.stroke_width(3)));
    if v.is_finite() {
        chart.draw_series(std::iter::once(Circle::new(
            (e, v),
            9,
            BEST.stroke_width(3),
        )))?;
    }
    Ok(())
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    curve: Curve,
    history: &[EpochRecord],
    best: Option<usize>,
) -> Result<()> {
    fonts::register();
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing {}: {e}", curve.stem());
    root.fill(&WHITE).map_err(err)?;
    let epochs = history.iter().map(|r| r.epoch).max().unwrap_or(1).max(1);
    let all: Vec<f64> = history
        .iter()
        .flat_map(|r| {
            let (a, b) = curve.values(r);
            [a, b]
        })
        .collect();
    let (y0, y1) = y_range(&all, curve);
    let x = 0.6..epochs as f64 + 0.4;
    let mut chart = ChartBuilder::on(root)
        .caption(curve.title(), (FAMILY, 30).into_font())
        .margin(18)
        .x_label_area_size(60)
        .y_label_area_size(92)
        .build_cartesian_2d(x, y0..y1)
        .map_err(err)?;
    // Enough decimals to tell the ticks apart, no more.
    let decimals = (-((y1 - y0) / 4.0).log10()).ceil().clamp(0.0, 5.0) as usize;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(curve.stem())
        .x_labels(epochs.min(15) + 1)
        .x_label_formatter(&|x| {
            // Whole epochs only: a fractional tick gets no label.
            if (x - x.round()).abs() < 1e-6 && x.round() >= 1.0 {
                format!("{}", x.round() as i64)
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| format!("{y:.decimals$}"))
        .label_style((FAMILY, 18))
        .axis_desc_style((FAMILY, 20))
        .light_line_style(RGBColor(246, 246, 246))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(err)?;

    if history.is_empty() {
        let area = chart.plotting_area();
        let (xr, yr) = (area.get_x_range(), area.get_y_range());
        area.draw(&Text::new(
            "no completed epoch yet",
            ((xr.start + xr.end) / 2.0 - 0.25, (yr.start + yr.end) / 2.0),
            (FAMILY, 20).into_font().color(&RGBColor(120, 120, 120)),
        ))
        .map_err(err)?;
        return Ok(());
    }

    draw_lines(&mut chart, curve, history).map_err(err)?;
    draw_best(&mut chart, curve, history, best, y0..y1).map_err(err)?;

    chart
        .configure_series_labels()
        .position(match curve {
            Curve::Loss => SeriesLabelPosition::UpperRight,
            Curve::Accuracy => SeriesLabelPosition::LowerRight,
        })
        .margin(14)
        .legend_area_size(40)
        .label_font((FAMILY, 19))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(190, 190, 190))
        .draw()
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_include_values_and_stay_non_negative() {
        let (lo, hi) = y_range(&[0.99, 1.0, f64::NAN], Curve::Accuracy);
        assert!(lo < 0.99 && (1.0..=1.02).contains(&hi));
        let (lo, hi) = y_range(&[0.01, 2.5], Curve::Loss);
        assert!(lo == 0.0 && hi > 2.5);
        assert_eq!(y_range(&[], Curve::Loss), (0.0, 1.0));
    }
}
