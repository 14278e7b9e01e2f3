//! The report's header, run configuration and timings, and training curves.
use crate::reports::curves::Curve;
use crate::reports::html::{compact, duration, esc, percent};
use crate::reports::run_data::RunData;

fn cfg<'a>(data: &'a RunData, key: &str) -> Option<&'a serde_json::Value> {
    data.config.get(key).filter(|v| !v.is_null())
}

fn cfg_text(data: &RunData, key: &str) -> String {
    cfg(data, key).map(compact).unwrap_or_else(|| "—".into())
}

fn card(label: &str, value: &str, id: &str) -> String {
    format!(
        "<div class=\"card\" id=\"{id}\"><div class=\"value\">{}</div><div class=\"label\">{}</div></div>",
        esc(value),
        esc(label)
    )
}

pub fn header(data: &RunData, name: &str) -> String {
    let classes = data.classes.len();
    let sub = format!(
        "{} at {} px · recipe {} · {} classes · {}",
        cfg_text(data, "backbone"),
        cfg_text(data, "size"),
        cfg_text(data, "recipe"),
        classes,
        match cfg(data, "freeze").map(compact).as_deref() {
            Some("none") => "nothing frozen".to_string(),
            Some("all") => "backbone frozen".to_string(),
            Some(other) => format!("frozen {other}"),
            None => "freeze —".to_string(),
        }
    );
    let m = data.metrics.as_ref();
    let test = data.test();
    let mut cards = String::new();
    cards += &card(
        "test accuracy",
        &test
            .map(|t| percent(t.accuracy))
            .unwrap_or_else(|| "no test set".into()),
        "card-test-accuracy",
    );
    cards += &card(
        "test loss",
        &test
            .map(|t| format!("{:.4}", t.loss))
            .unwrap_or_else(|| "—".into()),
        "card-test-loss",
    );
    let best = data.best_epoch();
    let best_val = m.and_then(|m| m.best_val_accuracy).or_else(|| {
        best.and_then(|b| data.history.iter().find(|r| r.epoch == b))
            .map(|r| r.val_accuracy)
    });
    cards += &card(
        "best epoch",
        &match best {
            Some(b) => format!("{b} of {}", data.history.len()),
            None => "—".into(),
        },
        "card-best-epoch",
    );
    cards += &card(
        "best validation accuracy",
        &best_val.map(percent).unwrap_or_else(|| "—".into()),
        "card-best-val",
    );
    let total = m
        .and_then(|m| m.seconds.as_ref())
        .and_then(|s| s.total)
        .or_else(|| {
            (!data.history.is_empty()).then(|| data.history.iter().map(|r| r.seconds).sum())
        });
    cards += &card(
        "training time",
        &total.map(duration).unwrap_or_else(|| "—".into()),
        "card-time",
    );
    format!(
        "<header><h1>{}</h1><p class=\"sub\">{}</p><div class=\"cards\">{cards}</div></header>\n",
        esc(name),
        esc(&sub)
    )
}

pub fn run_section(data: &RunData) -> String {
    let rows: String = [
        ("recipe", "recipe"),
        ("backbone", "backbone"),
        ("input size (px)", "size"),
        ("head", "head"),
        ("frozen", "freeze"),
        ("feature cache", "cache"),
        ("augmentation", "augment"),
        ("optimizer", "optimizer"),
        ("batch size", "batch_size"),
        ("epochs", "epochs"),
        ("early-stopping patience", "patience"),
        ("validation", "validation"),
        ("seed", "seed"),
        ("training images", "train_dir"),
        ("test images", "test_dir"),
        ("pretrained weights", "weights"),
    ]
    .iter()
    .filter(|(_, key)| data.config.get(key).is_some())
    .map(|(label, key)| {
        let mut v = cfg_text(data, key);
        if *key == "weights" && v == "—" {
            v = "fetched ImageNet weights".into();
        }
        if *key == "test_dir" && v == "—" {
            v = "none".into();
        }
        format!("<tr><th>{label}</th><td>{}</td></tr>", esc(&v))
    })
    .collect();

    let mut timing = String::new();
    let secs = data
        .metrics
        .as_ref()
        .and_then(|m| m.seconds.clone())
        .unwrap_or_default();
    let mut trow = |label: &str, v: Option<f64>| {
        if let Some(v) = v {
            timing += &format!("<tr><th>{label}</th><td>{}</td></tr>", duration(v));
        }
    };
    trow("total", secs.total);
    trow("frozen-feature cache", secs.cache);
    let epochs_sum: f64 = data.history.iter().map(|r| r.seconds).sum();
    trow(
        "epochs",
        secs.epochs
            .or((!data.history.is_empty()).then_some(epochs_sum)),
    );
    if !data.history.is_empty() {
        trow(
            "per epoch (mean)",
            Some(epochs_sum / data.history.len() as f64),
        );
    }
    let planned = cfg(data, "epochs").and_then(|v| v.as_u64());
    let ran = data.history.len();
    let status = match (&data.metrics, planned) {
        (None, _) => {
            format!("{ran} epochs recorded; metrics.json is missing (the run has not finished)")
        }
        (Some(_), Some(p)) if (ran as u64) < p => format!(
            "stopped early after {ran} of {p} epochs (patience {})",
            cfg_text(data, "patience")
        ),
        (Some(_), _) => format!("{ran} epochs"),
    };
    timing += &format!("<tr><th>epochs run</th><td>{}</td></tr>", esc(&status));

    let config_json = serde_json::to_string_pretty(&data.config).unwrap_or_default();
    format!(
        "<section id=\"run\"><h2>Run</h2><div class=\"two\">\
<div><h3>Configuration</h3><table class=\"kv\" id=\"config\">{rows}</table></div>\
<div><h3>Timings</h3><table class=\"kv\" id=\"timings\">{timing}</table></div></div>\
<details><summary>config.json</summary><pre>{}</pre></details></section>\n",
        esc(&config_json)
    )
}

pub fn curves_section(data: &RunData, uris: &[(Curve, String)]) -> String {
    let figures: String = uris
        .iter()
        .map(|(curve, uri)| {
            format!(
                "<figure><img id=\"curve-{stem}\" class=\"curve\" alt=\"{title}: train and validation per epoch\" src=\"{uri}\">\
<figcaption>{title} ({stem}.png / {stem}.svg in the run folder)</figcaption></figure>",
                stem = curve.stem(),
                title = curve.title()
            )
        })
        .collect();
    let best = data.best_epoch();
    let rows: String = data
        .history
        .iter()
        .map(|r| {
            format!(
                "<tr{}><td>{}</td><td>{:.4}</td><td>{}</td><td>{:.4}</td><td>{}</td><td>{}</td></tr>",
                if Some(r.epoch) == best { " class=\"best\"" } else { "" },
                r.epoch,
                r.loss,
                percent(r.accuracy),
                r.val_loss,
                percent(r.val_accuracy),
                duration(r.seconds)
            )
        })
        .collect();
    let table = if data.history.is_empty() {
        "<p class=\"note\">No epoch has completed yet.</p>".to_string()
    } else {
        format!(
            "<table class=\"grid\" id=\"history\"><thead><tr><th>epoch</th><th>loss</th><th>accuracy</th>\
<th>val loss</th><th>val accuracy</th><th>time</th></tr></thead><tbody>{rows}</tbody></table>\
<p class=\"note\">The highlighted row is the best epoch (highest validation accuracy): its weights are the model.</p>"
        )
    };
    format!(
        "<section id=\"curves\"><h2>Training curves</h2><div class=\"curves\">{figures}</div>{table}</section>\n"
    )
}
