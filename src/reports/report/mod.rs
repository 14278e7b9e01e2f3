//! `report.html`: one self-contained page about a run (styles, script, charts and thumbnails
//! inline; nothing is fetched). Sections: the run (config, timings), the training curves, the
//! test score, the confusion matrix, per-class metrics and the most confidently wrong images.
mod run;
mod test_section;

use super::curves::{self, Curve};
use super::data_uri::data_uri;
use super::html::{esc, script_json};
use super::run_data::RunData;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

const CSS: &str = include_str!("../../../assets/report/report.css");
const JS: &str = include_str!("../../../assets/report/report.js");

/// Counts script errors from the very start, so a test can read them off the DOM.
const ERROR_COUNTER: &str = "window.__errors=[];\
window.addEventListener('error',function(e){window.__errors.push(String(e.message));\
document.documentElement.setAttribute('data-errors',String(window.__errors.length));});";

/// (Re)writes the run's curves and `RUN/report.html`; returns the report's path.
pub fn write_report(run: &Path) -> Result<PathBuf> {
    let data = RunData::read(run)?;
    curves::write_curves(run)?;
    let html = render(&data)?;
    let path = run.join("report.html");
    crate::fsx::write_bytes(&path, html.as_bytes())?;
    Ok(path)
}

/// The page for a run whose curves are already written.
pub fn render(data: &RunData) -> Result<String> {
    let mut curve_uris = Vec::new();
    for curve in Curve::ALL {
        let (_, svg) = curves::curve_paths(&data.root, curve);
        let bytes = std::fs::read(&svg).with_context(|| format!("reading {}", svg.display()))?;
        curve_uris.push((curve, data_uri("image/svg+xml", &bytes)));
    }
    let name = data.name();
    let mut body = String::new();
    body += &run::header(data, &name);
    body += &nav(data);
    body += &run::run_section(data);
    if let Some(d) = &data.dataset {
        body += &super::check_page::data_section(&d.description, &d.classes, &d.warnings);
    }
    body += &run::curves_section(data, &curve_uris);
    body += &test_section::score_section(data);
    body += &test_section::confusion_section(data);
    body += &test_section::per_class_section(data);
    body += &test_section::errors_section(data);
    body += &format!(
        "<footer>Written by graft {} from {}.</footer>\n",
        env!("CARGO_PKG_VERSION"),
        esc(&data.root.display().to_string())
    );
    let json = test_section::script_data(data);
    Ok(format!(
        "<!doctype html>\n<html lang=\"en\" data-errors=\"0\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>graft report: {title}</title>\n<script>{ERROR_COUNTER}</script>\n<style>\n{CSS}</style>\n</head>\n\
<body data-ready=\"0\">\n{body}<div id=\"tooltip\" role=\"tooltip\" hidden></div>\n\
<script type=\"application/json\" id=\"report-data\">{json}</script>\n<script>\n{JS}</script>\n</body>\n</html>\n",
        title = esc(&name),
        json = script_json(&json),
    ))
}

fn nav(data: &RunData) -> String {
    let mut links = vec![("run", "Run")];
    if data.dataset.is_some() {
        links.push(("data", "Data"));
    }
    links.extend([("curves", "Curves"), ("test", "Test set")]);
    if data.test().is_some() {
        links.extend([
            ("confusion", "Confusion matrix"),
            ("classes", "Per-class metrics"),
            ("errors", "Confident errors"),
        ]);
    }
    let items: String = links
        .iter()
        .map(|(id, label)| format!("<a href=\"#{id}\">{label}</a>"))
        .collect();
    format!("<nav>{items}</nav>\n")
}
