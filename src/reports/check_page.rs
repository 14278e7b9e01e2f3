//! The dataset check as HTML: a section for the run report (counts and warnings) and a page of
//! its own for `graft check` (with the duplicate pairs side by side, as thumbnails).
use super::html::esc;
use super::thumbnails;
use crate::data::check::{CheckReport, Duplicates, Group};
use crate::data::dataset::ClassCounts;
use anyhow::Result;
use std::path::Path;

const CSS: &str = include_str!("../../assets/report/report.css");

/// Pairs shown with thumbnails per finding (the JSON lists more).
const SHOWN: usize = 40;

/// The per-class table and the warnings: the "Data" section of a run report.
pub fn data_section(description: &str, classes: &[ClassCounts], warnings: &[String]) -> String {
    let rows: String = classes
        .iter()
        .map(|c| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&c.class),
                c.train,
                c.val,
                c.test
            )
        })
        .collect();
    let warn = if warnings.is_empty() {
        "<p class=\"note\">The dataset check found nothing to warn about.</p>".to_string()
    } else {
        let items: String = warnings
            .iter()
            .map(|w| format!("<li>{}</li>", esc(w)))
            .collect();
        format!("<ul class=\"warnings\">{items}</ul>")
    };
    format!(
        "<section id=\"data\"><h2>Data</h2><p>{}</p>{warn}\
<table class=\"grid\" id=\"class-counts\"><thead><tr><th>class</th><th>train</th><th>val</th><th>test</th></tr></thead>\
<tbody>{rows}</tbody></table></section>\n",
        esc(description)
    )
}

fn group_html(g: &Group) -> String {
    let cells: String = g
        .images
        .iter()
        .map(|s| {
            let img = thumbnails::thumbnail(&s.path)
                .map(|uri| format!("<img src=\"{uri}\" alt=\"\">"))
                .unwrap_or_default();
            format!(
                "<figure>{img}<figcaption>{} · {}<br><small>{}</small></figcaption></figure>",
                esc(&s.class),
                esc(&s.part),
                esc(&s.path.display().to_string())
            )
        })
        .collect();
    format!(
        "<div class=\"pair\">{cells}<span>{} bits, difference {:.1}</span></div>",
        g.distance, g.difference
    )
}

fn duplicates_html(title: &str, d: &Duplicates) -> String {
    let list = |name: &str, count: usize, groups: &[Group]| {
        let shown: String = groups.iter().take(SHOWN).map(group_html).collect();
        format!("<h3>{name}: {count}</h3>{shown}")
    };
    format!(
        "<section><h2>{title}</h2><p>{} groups within a class (harmless, but they inflate it).</p>{}{}{}</section>\n",
        d.within_class,
        list(
            "across train and val/test (leakage)",
            d.across_parts_count,
            &d.across_parts
        ),
        list(
            "across classes (label errors?)",
            d.across_classes_count,
            &d.across_classes
        ),
        list(
            "within a class, examples",
            d.within_class,
            &d.within_examples
        ),
    )
}

/// The whole check as a page.
pub fn page(report: &CheckReport) -> String {
    let mut body = data_section(&report.description, &report.classes, &report.warnings());
    let listed = |title: &str, items: Vec<String>| {
        let li: String = items
            .iter()
            .map(|i| format!("<li>{}</li>", esc(i)))
            .collect();
        format!(
            "<section><h2>{title}: {}</h2><ul>{li}</ul></section>\n",
            items.len()
        )
    };
    body += &listed(
        "Unreadable files",
        report
            .unreadable
            .iter()
            .map(|u| format!("{}: {}", u.path.display(), u.reason))
            .collect(),
    );
    body += &listed(
        "Tiny images",
        report
            .tiny
            .iter()
            .map(|t| format!("{} ({}x{})", t.path.display(), t.size.0, t.size.1))
            .collect(),
    );
    body += &duplicates_html("Exact duplicates (same bytes)", &report.exact);
    if let Some(near) = &report.near {
        body += &duplicates_html("Near duplicates (perceptual hash)", near);
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>graft check</title>\
<style>{CSS}\n.pair{{display:flex;gap:8px;align-items:center;margin:6px 0}}.pair figure{{margin:0;width:180px}}\
.pair small{{word-break:break-all;color:#666}}</style></head>\n<body><header><h1>Dataset check</h1></header>\n{body}</body></html>\n"
    )
}

/// Writes the page to `path`.
pub fn write_page(report: &CheckReport, path: &Path) -> Result<()> {
    crate::fsx::write_bytes(path, page(report).as_bytes())
}
