//! What a person reads about a model or a run: training curves, the HTML run report, the layer
//! summary, the architecture graph and the compute devices. Nothing here trains; everything reads
//! run folders or builds a model without weights.
pub mod check_page;
pub mod curves;
pub mod data_uri;
pub mod devices;
pub mod fonts;
pub mod graph;
pub mod html;
pub mod report;
pub mod run_data;
pub mod summary;
pub mod thumbnails;

pub use curves::write_curves;
pub use report::write_report;
