//! The report's test-set sections: score, confusion matrix, per-class metrics and the most
//! confidently wrong images. Each says so plainly when the run has no test set.
use crate::metrics::Metrics;
use crate::reports::html::{esc, percent};
use crate::reports::run_data::RunData;
use crate::reports::thumbnails;
use serde_json::json;

/// Off-diagonal cells listed beside the matrix.
const TOP_CONFUSIONS: usize = 20;

fn no_test(data: &RunData) -> String {
    match &data.metrics {
        None => "<p class=\"note no-test\">metrics.json is missing: the run has not finished, so there is no test score yet.</p>".into(),
        Some(_) => "<p class=\"note no-test\">This run has no test set (metrics.json has no test metrics): \
train with a Test folder, or score it with <code>graft eval</code>.</p>".into(),
    }
}

pub fn score_section(data: &RunData) -> String {
    let body = match data.test() {
        None => no_test(data),
        Some(t) => {
            let correct = (t.accuracy * t.count as f64).round() as usize;
            let worst = t
                .per_class
                .iter()
                .filter(|c| c.support > 0)
                .min_by(|a, b| a.f1.total_cmp(&b.f1));
            let mut rows = format!(
                "<tr><th>accuracy</th><td id=\"test-accuracy\">{}</td></tr>\
<tr><th>loss (cross-entropy)</th><td id=\"test-loss\">{:.4}</td></tr>\
<tr><th>images</th><td>{} ({correct} right, {} wrong)</td></tr>",
                percent(t.accuracy),
                t.loss,
                t.count,
                t.count - correct.min(t.count)
            );
            if let Some(w) = worst {
                rows += &format!(
                    "<tr><th>weakest class (F1)</th><td>{} ({:.3})</td></tr>",
                    esc(&w.class),
                    w.f1
                );
            }
            format!("<table class=\"kv\" id=\"test-score\">{rows}</table>")
        }
    };
    format!("<section id=\"test\"><h2>Test set</h2>{body}</section>\n")
}

/// The largest off-diagonal cells: (true, predicted, count).
fn top_confusions(t: &Metrics) -> Vec<(usize, usize, usize)> {
    let mut cells: Vec<(usize, usize, usize)> = t
        .confusion
        .iter()
        .enumerate()
        .flat_map(|(i, row)| {
            row.iter()
                .enumerate()
                .filter(move |&(j, &c)| j != i && c > 0)
                .map(move |(j, &c)| (i, j, c))
        })
        .collect();
    cells.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
    cells.truncate(TOP_CONFUSIONS);
    cells
}

pub fn confusion_section(data: &RunData) -> String {
    let Some(t) = data.test() else {
        return format!(
            "<section id=\"confusion\"><h2>Confusion matrix</h2>{}</section>\n",
            no_test(data)
        );
    };
    let n = t.per_class.len();
    let name = |i: usize| esc(&t.per_class[i].class);
    let top: String = top_confusions(t)
        .iter()
        .map(|&(i, j, c)| {
            let support = t.per_class[i].support.max(1);
            format!(
                "<tr><td>{}</td><td>→</td><td>{}</td><td class=\"num\">{c}</td><td class=\"num\">{}</td></tr>",
                name(i),
                name(j),
                percent(c as f64 / support as f64)
            )
        })
        .collect();
    let top = if top.is_empty() {
        "<p class=\"note\">No test image was misclassified.</p>".to_string()
    } else {
        format!(
            "<table class=\"grid\" id=\"top-confusions\"><thead><tr><th>true</th><th></th><th>predicted</th>\
<th>count</th><th>of true</th></tr></thead><tbody>{top}</tbody></table>"
        )
    };
    format!(
        "<section id=\"confusion\"><h2>Confusion matrix</h2>\
<p class=\"note\">{n} classes; rows are the true class, columns the predicted one. Blue: right \
(share of the class), red: wrong (darker is more). Hover a cell for its count; zoom and scroll for detail.</p>\
<div class=\"controls\">\
<label>order <select id=\"matrix-order\"><option value=\"name\">by name</option>\
<option value=\"recall\">worst recall first</option><option value=\"errors\">most confused first</option>\
<option value=\"support\">largest first</option></select></label>\
<label>values <select id=\"matrix-scale\"><option value=\"count\">counts</option>\
<option value=\"row\">share of true class</option></select></label>\
<label>zoom <input type=\"range\" id=\"matrix-zoom\" min=\"3\" max=\"40\" step=\"1\"></label>\
<span id=\"matrix-zoom-value\"></span></div>\
<div class=\"matrix-layout\"><div class=\"matrix-scroll\" id=\"matrix-scroll\">\
<div class=\"matrix-stack\"><canvas id=\"matrix\" aria-label=\"confusion matrix\"></canvas>\
<canvas id=\"matrix-overlay\"></canvas></div></div>\
<div class=\"top-confusions\"><h3>Most frequent confusions</h3>{top}</div></div></section>\n"
    )
}

pub fn per_class_section(data: &RunData) -> String {
    let Some(t) = data.test() else {
        return format!(
            "<section id=\"classes\"><h2>Per-class metrics</h2>{}</section>\n",
            no_test(data)
        );
    };
    let rows: String = t
        .per_class
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let num = |v: f64| {
                format!(
                    "<td class=\"num\" data-value=\"{v}\"><span class=\"bar\" style=\"--v:{:.4}\"></span>{v:.3}</td>",
                    v.clamp(0.0, 1.0)
                )
            };
            format!(
                "<tr data-index=\"{i}\"><td data-value=\"{name}\">{name}</td>{}{}{}<td class=\"num\" data-value=\"{s}\">{s}</td></tr>",
                num(c.precision),
                num(c.recall),
                num(c.f1),
                name = esc(&c.class),
                s = c.support
            )
        })
        .collect();
    format!(
        "<section id=\"classes\"><h2>Per-class metrics</h2>\
<div class=\"controls\"><input type=\"search\" id=\"class-filter\" placeholder=\"filter classes\" aria-label=\"filter classes\">\
<span class=\"note\">Click a column header to sort.</span></div>\
<div class=\"classes-wrap\"><table class=\"grid sortable\" id=\"per-class\"><thead><tr>\
<th data-key=\"class\" data-type=\"text\">class</th><th data-key=\"precision\" class=\"num\">precision</th>\
<th data-key=\"recall\" class=\"num\">recall</th><th data-key=\"f1\" class=\"num\">F1</th><th data-key=\"support\" class=\"num\">support</th>\
</tr></thead><tbody>{rows}</tbody></table></div></section>\n"
    )
}

pub fn errors_section(data: &RunData) -> String {
    let Some(t) = data.test() else {
        return format!(
            "<section id=\"errors\"><h2>Most confident errors</h2>{}</section>\n",
            no_test(data)
        );
    };
    if t.most_confident_errors.is_empty() {
        return "<section id=\"errors\"><h2>Most confident errors</h2><p class=\"note\">No test image was misclassified.</p></section>\n".into();
    }
    let cards: String = t
        .most_confident_errors
        .iter()
        .map(|e| {
            let img = match thumbnails::locate(&e.path, &data.root)
                .ok_or_else(|| anyhow::anyhow!("not found"))
                .and_then(|p| thumbnails::thumbnail(&p))
            {
                Ok(uri) => format!("<img src=\"{uri}\" alt=\"{}\">", esc(&e.path)),
                Err(err) => format!(
                    "<div class=\"missing\">image {}</div>",
                    esc(&format!("{err:#}").chars().take(60).collect::<String>())
                ),
            };
            format!(
                "<figure class=\"error\" title=\"{path}\">{img}<figcaption>\
<div><span class=\"k\">true</span> {truth}</div><div><span class=\"k\">predicted</span> <b>{pred}</b></div>\
<div class=\"conf\">{conf}</div></figcaption></figure>",
                path = esc(&e.path),
                truth = esc(&e.true_class),
                pred = esc(&e.predicted_class),
                conf = percent(e.confidence)
            )
        })
        .collect();
    format!(
        "<section id=\"errors\"><h2>Most confident errors</h2>\
<p class=\"note\">The {} test images the model got wrong with the highest confidence (hover for the file).</p>\
<div class=\"errors\" id=\"error-gallery\">{cards}</div></section>\n",
        t.most_confident_errors.len()
    )
}

/// What the page's script draws from: classes, the confusion matrix, per-class metrics.
pub fn script_data(data: &RunData) -> serde_json::Value {
    match data.test() {
        None => json!({ "test": null }),
        Some(t) => json!({
            "test": {
                "classes": t.per_class.iter().map(|c| &c.class).collect::<Vec<_>>(),
                "confusion": t.confusion,
                "recall": t.per_class.iter().map(|c| c.recall).collect::<Vec<_>>(),
                "support": t.per_class.iter().map(|c| c.support).collect::<Vec<_>>(),
            }
        }),
    }
}
