//! `graft check`: the dataset check before training, as a table, JSON or an HTML page.
use anyhow::Result;
use graft::data::check::{self, CheckOptions, CheckReport, NEAR_BITS, NEAR_DIFF};
use graft::data::dataset::thousands;
use graft::data::layout::{self, Source};
use graft::error::bad_input;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Dataset root, in any layout train reads (a single folder is checked whole).
    #[arg(conflicts_with = "labels")]
    pub data: Option<PathBuf>,
    /// A CSV with columns path,label[,split] instead of folders.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Print everything as JSON instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// Also write an HTML page (with the duplicate pairs as thumbnails).
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Near duplicates: perceptual hashes at most this many bits apart (of 64)...
    #[arg(long, default_value_t = NEAR_BITS)]
    pub near_bits: u32,
    /// ...and 16x16 colour thumbnails at most this far apart (mean absolute difference, of 255).
    #[arg(long, default_value_t = NEAR_DIFF)]
    pub near_diff: f64,
    /// Only the cheap part (counts, bytes, headers), as train runs it: no near duplicates.
    #[arg(long)]
    pub quick: bool,
}

pub fn run(a: CheckArgs) -> Result<()> {
    let source = match (&a.data, &a.labels) {
        (Some(root), None) => layout::detect(root, 0.0)?,
        (None, Some(csv)) => Source::Csv {
            path: csv.clone(),
            test_fraction: 0.0,
        },
        _ => return Err(bad_input("give a dataset root, or --labels FILE.csv")),
    };
    let data = source.load(0)?;
    let opts = CheckOptions {
        perceptual: !a.quick,
        near_bits: a.near_bits,
        near_diff: a.near_diff,
    };
    let report = check::check(&data, opts);
    if let Some(path) = &a.html {
        graft::reports::check_page::write_page(&report, path)?;
        eprintln!("graft: wrote {}", path.display());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", summary(&report));
    }
    Ok(())
}

/// The report as a few lines of text.
fn summary(r: &CheckReport) -> String {
    let mut out = format!("{}\n", r.description);
    let mut train: Vec<(usize, &str)> = r
        .classes
        .iter()
        .map(|c| (c.train, c.class.as_str()))
        .collect();
    train.sort();
    if let (Some(min), Some(max)) = (train.first(), train.last()) {
        out += &format!(
            "classes       {}; training images per class: min {} ({}), median {}, max {} ({}); imbalance {:.1}x\n",
            r.classes.len(),
            min.0,
            min.1,
            train[train.len() / 2].0,
            max.0,
            max.1,
            r.imbalance
        );
    }
    out += &format!(
        "images        {} unreadable, {} tiny (< {} px), median aspect {:.2}\n",
        r.unreadable.len(),
        r.tiny.len(),
        check::TINY_SIDE,
        r.median_aspect
    );
    let line = |name: &str, d: &check::Duplicates| {
        format!(
            "{name} within a class {}, across classes {}, across train/test {} (val/test images with a twin in train: {})\n",
            thousands(d.within_class),
            thousands(d.across_classes_count),
            thousands(d.across_parts_count),
            thousands(d.leaked_images)
        )
    };
    out += &line("exact dups   ", &r.exact);
    if let Some(near) = &r.near {
        out += &line("near dups    ", near);
    }
    for w in r.warnings() {
        out += &format!("warning       {w}\n");
    }
    out
}
