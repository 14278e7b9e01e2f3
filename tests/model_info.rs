//! `graft summary`, `graft graph` and `graft devices`: parameter counts that match Keras, the
//! architecture graph, and the device listing. No weights are needed.

use graft::models::Arch;

fn arch(name: &str) -> Arch {
    Arch::named(name).unwrap()
}
use graft::reports::summary::{self, RowKind, SummaryOptions};
use serde_json::Value;
use std::process::Command;

fn graft(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(args)
        .output()
        .expect("running graft");
    assert!(
        out.status.success(),
        "graft {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Keras' InceptionV3(include_top=False): conv kernels + batch-norm beta, moving mean and
/// moving variance; the moving statistics are not trainable.
const INCEPTION_TOTAL: i64 = 21_802_784;
const INCEPTION_TRAINABLE: i64 = 21_768_352;
/// The seed's head for 120 classes: Dense(512) and Dense(120) with biases.
const SEED_HEAD_120: i64 = 1_049_088 + 61_560;

#[test]
fn inception_v3_parameter_counts_match_keras() {
    let s = summary::summarize(&SummaryOptions::new(arch("inception-v3"))).unwrap();
    assert_eq!(s.total, INCEPTION_TOTAL);
    assert_eq!(s.trainable, INCEPTION_TRAINABLE);
    assert_eq!(s.non_trainable, 34_432);
    // One row per block with its output shape at 299 px, and the conv units under it.
    let blocks: Vec<&summary::Row> = s.rows.iter().filter(|r| r.kind == RowKind::Block).collect();
    assert_eq!(blocks.len(), 12);
    assert_eq!(blocks[0].output_shape.as_deref(), Some(&[192, 35, 35][..]));
    assert_eq!(blocks[11].output_shape.as_deref(), Some(&[2048, 8, 8][..]));
    let conv = s
        .rows
        .iter()
        .find(|r| r.name == "mixed_5.tower_1.conv_2")
        .expect("a row per conv unit");
    assert_eq!(conv.kind, RowKind::Layer);
    assert_eq!(conv.layer, "conv 1×7, 160→160 + batch norm");
    assert_eq!(conv.params, 160 * 160 * 7 + 3 * 160);
    assert_eq!(conv.trainable, 160 * 160 * 7 + 160);
    let block_sum: i64 = blocks.iter().map(|r| r.params).sum();
    assert_eq!(block_sum, INCEPTION_TOTAL, "block rows total their layers");
}

#[test]
fn summary_with_the_seed_head_for_120_classes() {
    let out = graft(&[
        "summary",
        "--backbone",
        "inception-v3",
        "--classes",
        "120",
        "--json",
    ]);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["total"], INCEPTION_TOTAL + SEED_HEAD_120);
    assert_eq!(s["trainable"], INCEPTION_TRAINABLE + SEED_HEAD_120);
    assert_eq!(s["non_trainable"], 34_432);
    let rows = s["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    let tail = &names[names.len() - 3..];
    assert_eq!(
        tail,
        [
            "global_average_pool",
            "classifier.dense",
            "classifier.logits"
        ]
    );
    let logits = rows.last().unwrap();
    assert_eq!(logits["output_shape"], serde_json::json!([120]));
    assert_eq!(logits["params"], 61_560);

    // The text table: Keras' totals lines, shapes at the asked size.
    let text = graft(&["summary", "--classes", "120", "--size", "150"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("Total params: 22,913,432"), "{text}");
    assert!(text.contains("Trainable params: 22,879,000"), "{text}");
    assert!(text.contains("Non-trainable params: 34,432"), "{text}");
    assert!(
        text.contains("(N, 2048, 3, 3)"),
        "mixed_10 at 150 px:\n{text}"
    );
}

#[test]
fn freezing_moves_blocks_to_non_trainable() {
    let mut opts = SummaryOptions::new(arch("inception-v3"));
    opts.size = Some(75);
    opts.classes = Some(10);
    opts.freeze = Some("all".parse().unwrap());
    let s = summary::summarize(&opts).unwrap();
    assert_eq!(
        s.trainable,
        2048 * 512 + 512 + 512 * 10 + 10,
        "only the head trains"
    );
    assert_eq!(s.total, INCEPTION_TOTAL + 2048 * 512 + 512 + 512 * 10 + 10);
}

#[test]
fn efficientnet_summary_counts_every_variable() {
    let built = summary::build(
        arch("efficientnet-lite0"),
        None,
        graft::models::classifier::HeadConfig::seed(),
    );
    let all: i64 = built
        .vs
        .variables()
        .values()
        .map(|t| t.size().iter().product::<i64>())
        .sum();
    let s = summary::summarize(&SummaryOptions::new(arch("efficientnet-lite0"))).unwrap();
    assert_eq!(s.total, all);
    assert!(
        s.rows
            .iter()
            .any(|r| r.layer.starts_with("depthwise conv 3×3"))
    );
    assert!(s.rows.iter().any(|r| r.layer.starts_with("batch norm")));
}

#[test]
fn graph_draws_blocks_as_clusters_in_data_flow_order() {
    let dir = tempfile::tempdir().unwrap();
    let dot_file = dir.path().join("inception.dot");
    let out = graft(&[
        "graph",
        "--backbone",
        "inception-v3",
        "--classes",
        "5",
        "--out",
        dot_file.to_str().unwrap(),
    ]);
    let dot = std::fs::read_to_string(&dot_file).unwrap();
    assert!(dot.starts_with("digraph \"inception-v3\" {"));
    let blocks = [
        "stem", "mixed", "mixed_1", "mixed_2", "mixed_3", "mixed_4", "mixed_5", "mixed_6",
        "mixed_7", "mixed_8", "mixed_9", "mixed_10",
    ];
    for b in blocks {
        assert!(
            dot.contains(&format!("subgraph \"cluster_{b}\" {{")),
            "no cluster for {b}"
        );
    }
    assert!(dot.contains("\"mixed_5.tower_1.conv_2\" [label=\"tower_1.conv_2\\nconv 1×7"));
    // Data flow: input -> stem chain (convs and pools) -> mixed's branches -> concat -> ... -> head.
    for edge in [
        "\"input\" -> \"stem.conv\";",
        "\"stem.conv_4\" -> \"stem.pool_1\";",
        "\"stem.pool_1\" -> \"mixed.conv\";",
        "\"stem.pool_1\" -> \"mixed.tower_1.conv\";",
        "\"mixed.tower_2.pool\" -> \"mixed.tower_2.conv\";",
        "\"mixed.tower_1.conv\" -> \"mixed.tower_1.conv_1\";",
        "\"mixed.tower_1.conv_2\" -> \"mixed.concat\";",
        "\"mixed.concat\" -> \"mixed_1.tower.conv\";",
        "\"mixed_9.tower_conv\" -> \"mixed_9.tower_mixed_conv\";",
        "\"mixed_9.tower_conv\" -> \"mixed_9.tower_mixed_conv_1\";",
        "\"mixed_10.concat\" -> \"global_average_pool\";",
        "\"classifier.dense\" -> \"classifier.logits\";",
    ] {
        assert!(dot.contains(edge), "missing edge {edge}");
    }
    // mixed_3's max-pool branch: a node of its own, into the concat.
    assert!(dot.contains("\"mixed_3.pool\" -> \"mixed_3.concat\";"));
    assert!(dot.contains("max pool 3×3, stride 2"));
    let svg = dot_file.with_extension("svg");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if std::path::Path::new("/usr/bin/dot").exists() {
        let text = std::fs::read_to_string(&svg).expect("dot installed: an SVG next to the DOT");
        assert!(text.contains("<svg") && text.contains("mixed_10"));
    } else {
        assert!(stderr.contains("not installed"), "{stderr}");
    }

    // Without Graphviz on PATH: the DOT still, no SVG, and a word on stderr.
    let plain = dir.path().join("plain.dot");
    let out = Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(["graph", "--backbone", "efficientnet-lite0", "--out"])
        .arg(&plain)
        .env("PATH", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(plain.exists() && !plain.with_extension("svg").exists());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Graphviz `dot` is not installed"),
        "{stderr}"
    );
    let dot = std::fs::read_to_string(&plain).unwrap();
    assert_eq!(
        dot.matches("(residual)").count(),
        9,
        "MBConv skips of Lite0"
    );
}

#[test]
fn devices_lists_the_cpu_and_every_cuda_device() {
    let out = graft(&["devices", "--json"]);
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(d["cpu"]["logical"].as_u64().unwrap() >= 1);
    assert!(d["cpu"]["torch_threads"].as_u64().unwrap() >= 1);
    assert!(!d["cpu"]["model"].as_str().unwrap().is_empty());
    assert!(d["cpu"]["extensions"].is_array());
    // bf16 by default exactly where the CPU has the instructions for it.
    let has_bf16 = d["cpu"]["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "avx512_bf16");
    let auto = if has_bf16 { "bf16" } else { "fp32" };
    assert_eq!(d["cpu"]["auto_precision"], auto);
    let cuda = tch::Cuda::device_count() as usize;
    assert_eq!(d["cuda_devices"].as_array().unwrap().len(), cuda);

    let text = String::from_utf8(graft(&["devices"]).stdout).unwrap();
    assert!(text.starts_with("CPU "), "{text}");
    if cuda == 0 {
        assert!(text.contains("GPU   none"), "{text}");
    } else {
        assert!(text.contains("cuda:0") && text.contains("cuDNN"), "{text}");
    }
}
