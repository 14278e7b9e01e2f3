//! The report's header, run configuration and timings, and training curves.
use crate::reports::curves::Curve;
use crate::reports::html::{compact, duration, esc, percent};
use crate::reports::run_data::RunData;
use crate::run::candidates::Candidate;
use crate::run::config::TrainConfig;

/// A config value in one line, as the report shows it.
fn text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .map(|v| compact(&v))
        .unwrap_or_else(|_| "—".into())
}

fn card(label: &str, value: &str, id: &str) -> String {
    format!(
        "<div class=\"card\" id=\"{id}\"><div class=\"value\">{}</div><div class=\"label\">{}</div></div>",
        esc(value),
        esc(label)
    )
}

/// The page header: the run's name, what it trained, and the headline numbers.
pub fn header(data: &RunData, name: &str) -> String {
    let c = &data.config;
    let sub = format!(
        "{} at {} px · recipe {} · {} classes · {}",
        c.backbone,
        c.size,
        c.recipe,
        data.classes.len(),
        c.freeze
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
    let best_val = m.map(|m| m.best_val_accuracy).or_else(|| {
        best.and_then(|b| data.history.iter().find(|r| r.epoch == b))
            .map(|r| r.val_accuracy)
    });
    let kept = m.and_then(|m| m.choice.as_ref()).map(|c| c.kept);
    cards += &card(
        "best epoch",
        &match (best, kept) {
            (_, Some(Candidate::Frozen)) => "the frozen candidate".into(),
            (Some(b), _) => format!("{b} of {}", data.history.len()),
            (None, _) => "—".into(),
        },
        "card-best-epoch",
    );
    cards += &card(
        "best validation accuracy",
        &best_val.map(percent).unwrap_or_else(|| "—".into()),
        "card-best-val",
    );
    let total = m.map(|m| m.seconds.total).or_else(|| {
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

/// How many processes trained the run, and how.
fn processes(c: &TrainConfig) -> String {
    c.distributed.as_ref().map_or("1".into(), |d| {
        format!(
            "{} (data-parallel, torch.distributed {}; the batch size is the global batch)",
            d.world_size, d.backend
        )
    })
}

/// The run's configuration and timings.
pub fn run_section(data: &RunData) -> String {
    let c = &data.config;
    let rows: String = [
        ("recipe", c.recipe.clone()),
        ("backbone", c.backbone.to_string()),
        ("input size (px)", c.size.to_string()),
        ("head", text(&c.head)),
        ("frozen", text(&c.freeze)),
        ("feature cache", c.cache.to_string()),
        ("augmentation", text(&c.augment)),
        ("optimizer", text(&c.optimizer)),
        ("batch size", c.batch_size.to_string()),
        ("processes", processes(c)),
        ("precision", c.precision.to_string()),
        ("epochs", c.epochs.to_string()),
        ("early-stopping patience", c.patience.to_string()),
        ("validation", text(&c.validation)),
        ("seed", c.seed.to_string()),
        ("training images", c.train_dir.display().to_string()),
        (
            "test images",
            c.test_dir
                .as_ref()
                .map_or("none".into(), |d| d.display().to_string()),
        ),
        (
            "pretrained weights",
            c.weights
                .as_ref()
                .map_or("fetched ImageNet weights".into(), |w| {
                    w.display().to_string()
                }),
        ),
    ]
    .iter()
    .map(|(label, v)| format!("<tr><th>{label}</th><td>{}</td></tr>", esc(v)))
    .collect();

    let mut timing = String::new();
    let secs = data.metrics.as_ref().map(|m| m.seconds.clone());
    let mut trow = |label: &str, v: Option<f64>| {
        if let Some(v) = v {
            timing += &format!("<tr><th>{label}</th><td>{}</td></tr>", duration(v));
        }
    };
    trow("total", secs.as_ref().map(|s| s.total));
    trow("frozen-feature cache", secs.as_ref().map(|s| s.cache));
    let epochs_sum: f64 = data.history.iter().map(|r| r.seconds).sum();
    trow(
        "epochs",
        secs.as_ref()
            .map(|s| s.epochs)
            .or((!data.history.is_empty()).then_some(epochs_sum)),
    );
    if !data.history.is_empty() {
        trow(
            "per epoch (mean)",
            Some(epochs_sum / data.history.len() as f64),
        );
    }
    let (planned, ran) = (c.epochs, data.history.len());
    let status = match &data.metrics {
        None => {
            format!("{ran} epochs recorded; metrics.json is missing (the run has not finished)")
        }
        Some(_) if ran < planned => format!(
            "stopped early after {ran} of {planned} epochs (patience {})",
            c.patience
        ),
        Some(_) => format!("{ran} epochs"),
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

/// The training curves and the per-epoch table.
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
<p class=\"note\">The highlighted row is the best epoch (lowest validation loss): its weights are the model.</p>"
        )
    };
    format!(
        "<section id=\"curves\"><h2>Training curves</h2><div class=\"curves\">{figures}</div>{table}</section>\n"
    )
}
