//! The font every chart is drawn with, bundled so that charts render the same on a machine
//! without system fonts (a fresh CI box): DejaVu Sans (assets/fonts, Bitstream Vera license).
use std::sync::Once;

/// The family name charts ask plotters for.
pub const FAMILY: &str = "sans-serif";

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Registers the bundled font with plotters (once per process).
pub fn register() {
    REGISTER.call_once(|| {
        // Other styles (bold) fall back to this one.
        if plotters::style::register_font(FAMILY, plotters::style::FontStyle::Normal, FONT).is_err()
        {
            panic!("the bundled DejaVu Sans font does not parse");
        }
    });
}
