//! Curves and report.html of a real small run (trained through the binary on the demo set),
//! rendered in headless Chromium: the page loads without script errors, its self-check (sorting,
//! filtering, the matrix tooltip) passes, and a screenshot is kept at target/report-screenshot.png.
mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const CHROMIUM: &str = "/usr/bin/chromium";

/// One trained demo run, shared by the tests of this file.
fn trained_run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| demo_run("report-run", 4))
}

fn graft_report(run: &Path) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_graft"))
        .arg("report")
        .arg(run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "graft report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = run.join("report.html");
    assert!(String::from_utf8_lossy(&out.stdout).contains("report.html"));
    html
}

fn chromium() -> &'static str {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: .ci/run must install it (apt-get install -y chromium) before the tests"
    );
    CHROMIUM
}

/// Runs headless Chromium on `url` with `extra` arguments; returns (stdout, stderr).
fn run_chromium(url: &str, extra: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("running chromium");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

fn file_url(path: &Path) -> String {
    format!("file://{}", std::fs::canonicalize(path).unwrap().display())
}

/// The value of `attr` in the first tag `<tag ...>` of the dumped DOM.
fn attr(dom: &str, tag: &str, attr: &str) -> Option<String> {
    let start = dom.find(&format!("<{tag} "))?;
    let end = start + dom[start..].find('>')?;
    let open = &dom[start..end];
    let key = format!("{attr}=\"");
    let v = open.find(&key)? + key.len();
    Some(open[v..v + open[v..].find('"')?].to_string())
}

/// Loads the page with its self-check and returns the DOM after the scripts ran.
fn loaded_dom(html: &Path) -> String {
    let (dom, stderr) = run_chromium(&format!("{}#selftest", file_url(html)), &["--dump-dom"]);
    let console: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(console.is_empty(), "console output: {console:#?}");
    assert_eq!(
        attr(&dom, "html", "data-errors").as_deref(),
        Some("0"),
        "script errors"
    );
    assert_eq!(
        attr(&dom, "body", "data-ready").as_deref(),
        Some("1"),
        "the page script did not finish"
    );
    assert_eq!(
        attr(&dom, "body", "data-broken-images").as_deref(),
        Some("0")
    );
    dom
}

#[test]
fn report_of_a_trained_run_renders_in_chromium() {
    let run = trained_run();
    let html = graft_report(run);

    // Curves: PNGs decode at their size, SVGs carry titles and legends.
    for stem in ["loss", "accuracy"] {
        let png = image::open(run.join(format!("{stem}.png"))).expect("decoding the curve PNG");
        assert_eq!((png.width(), png.height()), (900, 560));
        let svg = std::fs::read_to_string(run.join(format!("{stem}.svg"))).unwrap();
        let title = if stem == "loss" {
            "Model loss"
        } else {
            "Model accuracy"
        };
        for text in ["<svg", title, "epoch", "train", "validation", "best epoch"] {
            assert!(svg.contains(text), "{stem}.svg lacks {text:?}");
        }
    }

    // Self-contained: no fetch of anything.
    let page = std::fs::read_to_string(&html).unwrap();
    for remote in ["http://", "https://", "src=\"/", "<link"] {
        assert!(!page.contains(remote), "report refers to {remote}");
    }

    let dom = loaded_dom(&html);
    assert_eq!(attr(&dom, "body", "data-selftest").as_deref(), Some("ok"));
    let tooltip = attr(&dom, "body", "data-tooltip").unwrap();
    assert!(
        tooltip.contains(" → ") && tooltip.contains(": "),
        "{tooltip}"
    );
    for id in ["curve-loss", "curve-accuracy"] {
        let img = attr(&dom, &format!("img id=\"{id}\""), "src").expect(id);
        assert!(img.starts_with("data:image/svg+xml;base64,"));
    }
    assert_eq!(
        attr(&dom, "canvas id=\"matrix\"", "data-drawn").as_deref(),
        Some("6")
    );
    let table = &dom[dom.find("id=\"per-class\"").expect("per-class table")..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(table.matches("<tr data-index=").count(), 6);
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    let errors = metrics["test"]["most_confident_errors"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(dom.matches("<figure class=\"error\"").count(), errors);
    assert_eq!(
        dom.matches("src=\"data:image/jpeg;base64,").count(),
        errors,
        "thumbnails"
    );
    assert_eq!(
        attr(&dom, "body", "data-images"),
        Some((errors + 2).to_string())
    );
    for id in [
        "run",
        "curves",
        "test",
        "confusion",
        "classes",
        "errors",
        "config",
        "timings",
        "history",
    ] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "no #{id}");
    }

    // A screenshot for people.
    let shot = repo().join("target/report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    run_chromium(
        &file_url(&html),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,2400",
        ],
    );
    let img = image::open(&shot).expect("decoding the screenshot");
    assert_eq!((img.width(), img.height()), (1400, 2400));
}

#[test]
fn a_run_without_a_test_set_still_reports() {
    let run = trained_run();
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "classes.json", "history.json", "history.csv"] {
        std::fs::copy(run.join(f), dir.path().join(f)).unwrap();
    }
    let mut metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    metrics["test"] = serde_json::Value::Null;
    metrics["test_accuracy"] = serde_json::Value::Null;
    metrics["test_loss"] = serde_json::Value::Null;
    std::fs::write(dir.path().join("metrics.json"), metrics.to_string()).unwrap();

    let html = graft::reports::write_report(dir.path()).unwrap();
    assert!(dir.path().join("loss.png").exists() && dir.path().join("accuracy.svg").exists());
    let dom = loaded_dom(&html);
    assert_eq!(
        dom.matches("class=\"note no-test\"").count(),
        4,
        "test, matrix, table, errors"
    );
    assert!(dom.contains("This run has no test set"));
    assert!(!dom.contains("<canvas id=\"matrix\""));
    assert!(dom.contains("id=\"curve-loss\""));

    // Still training: no metrics.json at all.
    std::fs::remove_file(dir.path().join("metrics.json")).unwrap();
    let html = graft::reports::write_report(dir.path()).unwrap();
    let page = std::fs::read_to_string(html).unwrap();
    assert!(page.contains("metrics.json is missing"));
}

#[test]
fn curves_of_a_run_without_epochs_say_so() {
    let dir = tempfile::tempdir().unwrap();
    graft::reports::write_curves(dir.path()).unwrap();
    for f in ["loss.png", "loss.svg", "accuracy.png", "accuracy.svg"] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    let svg = std::fs::read_to_string(dir.path().join("loss.svg")).unwrap();
    assert!(svg.contains("no completed epoch yet"));
}
