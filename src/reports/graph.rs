//! The architecture as Graphviz DOT, like Keras' plot_model but navigable: each block is a
//! cluster holding its parameterized sub-modules; blocks are chained in data-flow order. Inside
//! a block, branches come from the variable names: sub-modules sharing a prefix (`tower_1.*`,
//! `tower_1_*`) form a chain, and branches fan out from the block's input into a concat node.
//! Parameter-free ops (pools, activations) are not drawn, except a pool branch that a concat's
//! channel count reveals. A branch-free block whose output shape equals its input's gets a
//! residual add (MBConv's rule: stride 1 and as many channels out as in).
use super::summary::{self, Group, describe, shape_text, thousands};
use crate::models::Arch;
use crate::models::classifier::HeadConfig;
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};

pub struct GraphOptions {
    pub arch: Arch,
    /// Input size for the shapes in labels (default: the backbone's native size).
    pub size: Option<i64>,
    /// Draw the classification head for this many classes.
    pub classes: Option<i64>,
    pub head: HeadConfig,
}

/// A DOT string literal.
fn q(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

/// The branch a sub-module belongs to, from its name relative to the block: `tower_1.conv_2`
/// and `tower_1_mixed_conv` are in `tower_1`; a top-level `conv` is a branch of its own (None).
fn branch_key(rel: &str) -> Option<String> {
    if let Some((prefix, _)) = rel.rsplit_once('.') {
        return Some(prefix.to_string());
    }
    let rest = rel.strip_prefix("tower")?;
    let digits: String = rest
        .strip_prefix('_')
        .map(|r| r.chars().take_while(|c| c.is_ascii_digit()).collect())
        .unwrap_or_default();
    let key = if digits.is_empty() {
        "tower".to_string()
    } else {
        format!("tower_{digits}")
    };
    // `tower_1_conv`: the digits must end a token.
    let after = &rel[key.len()..];
    if after.is_empty() || after.starts_with('_') {
        Some(key)
    } else {
        Some("tower".to_string())
    }
}

/// Output channels of a module, from its weight.
fn out_channels(g: &Group) -> Option<i64> {
    g.tensors
        .iter()
        .find(|(n, _)| n == "weight")
        .map(|(_, t)| t.size()[0])
}

fn params(g: &Group) -> i64 {
    g.tensors
        .iter()
        .map(|(_, t)| t.size().iter().product::<i64>())
        .sum()
}

fn node(out: &mut String, id: &str, label: &str, g: Option<&Group>, indent: &str) {
    let (fill, tip) = match g {
        Some(g) => {
            let d = describe(g);
            let fill = if d.starts_with("dense") {
                "#d9f0d3"
            } else if d.starts_with("batch norm") {
                "#fff2cc"
            } else {
                "#dbe9f6"
            };
            (
                fill,
                format!("{}: {} params", g.prefix, thousands(params(g))),
            )
        }
        None => ("#eeeeee", id.to_string()),
    };
    let _ = writeln!(
        out,
        "{indent}{} [label={}, fillcolor=\"{fill}\", tooltip={}];",
        q(id),
        q(label),
        q(&tip)
    );
}

/// The DOT text of the architecture.
pub fn dot(opts: &GraphOptions) -> Result<String> {
    let arch = opts.arch;
    let size = opts.size.unwrap_or(arch.native_size());
    arch.check_size(size)?;
    let built = summary::build(arch, opts.classes, opts.head);
    let backbone = &built.backbone;
    let shapes = summary::block_shapes(backbone, size);
    let groups = summary::groups(&built.vs);
    let shape = |s: &[i64]| shape_text(&Some(s.to_vec()));

    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", q(arch.name()));
    out += "  graph [rankdir=TB, compound=true, newrank=true, nodesep=0.25, ranksep=0.35, \
fontname=\"Helvetica,Arial,sans-serif\", fontsize=13, labeljust=l];\n";
    out += "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica,Arial,sans-serif\", \
fontsize=10, height=0.3];\n";
    out += "  edge [color=\"#555555\", arrowsize=0.6];\n";
    let _ = writeln!(
        out,
        "  label={}; labelloc=t;",
        q(&format!("{} at {size} px", arch.name()))
    );
    node(
        &mut out,
        "input",
        &format!("input\n{}", shape(&[3, size, size])),
        None,
        "  ",
    );

    let mut prev = "input".to_string();
    let mut prev_shape = vec![3, size, size];
    for (b, block) in backbone.blocks.iter().enumerate() {
        let vp = block.var_prefix();
        let members: Vec<&Group> = groups
            .iter()
            .filter(|g| format!("{}.", g.prefix).starts_with(&vp))
            .collect();
        let block_params: i64 = members.iter().map(|g| params(g)).sum();
        let _ = writeln!(
            out,
            "  subgraph {} {{",
            q(&format!("cluster_{}", block.name))
        );
        let _ = writeln!(
            out,
            "    label={}; style=\"rounded,filled\"; fillcolor=\"{}\"; color=\"#b8c2d1\";",
            q(&format!(
                "{}  {}  {} params",
                block.name,
                shape(&shapes[b]),
                thousands(block_params)
            )),
            if b % 2 == 0 { "#f7f9fc" } else { "#fdfaf4" }
        );
        let rel = |g: &Group| g.prefix[vp.len()..].to_string();
        let branched = members.iter().any(|g| branch_key(&rel(g)).is_some());
        let mut edges: Vec<(String, String, &str)> = Vec::new();
        for g in &members {
            node(
                &mut out,
                &g.prefix,
                &format!("{}\n{}", rel(g), describe(g)),
                Some(g),
                "    ",
            );
        }
        let output;
        if branched {
            // Branches in order of first appearance.
            let mut branches: Vec<(Option<String>, Vec<&Group>)> = Vec::new();
            for g in &members {
                let key = branch_key(&rel(g));
                match branches
                    .iter_mut()
                    .find(|(k, _)| key.is_some() && *k == key)
                {
                    Some((_, list)) => list.push(g),
                    None => branches.push((key, vec![g])),
                }
            }
            let concat = format!("{}.concat", block.name);
            let mut tails_channels = 0;
            for (key, list) in &branches {
                let mut last: Option<&str> = None;
                for g in list {
                    let r = rel(g);
                    let tail_part = match key {
                        Some(k) => r[k.len()..].to_string(),
                        None => r.clone(),
                    };
                    let from = last.unwrap_or(prev.as_str()).to_string();
                    edges.push((from, g.prefix.clone(), ""));
                    if tail_part.contains("mixed") {
                        // A split: parallel leaves of the last chained module, each to concat.
                        edges.push((g.prefix.clone(), concat.clone(), ""));
                        tails_channels += out_channels(g).unwrap_or(0);
                    } else {
                        last = Some(&g.prefix);
                    }
                }
                let leaves_split = list.iter().any(|g| rel(g).contains("mixed"));
                if let (Some(l), false) = (last, leaves_split) {
                    edges.push((l.to_string(), concat.clone(), ""));
                    tails_channels += list
                        .iter()
                        .find(|g| g.prefix == l)
                        .and_then(|g| out_channels(g))
                        .unwrap_or(0);
                }
            }
            let channels = shapes[b][0];
            if tails_channels > 0 && tails_channels < channels {
                let pool = format!("{}.pool", block.name);
                node(
                    &mut out,
                    &pool,
                    &format!(
                        "pool branch\n{} channels, no params",
                        channels - tails_channels
                    ),
                    None,
                    "    ",
                );
                edges.push((prev.clone(), pool.clone(), ""));
                edges.push((pool, concat.clone(), ""));
            }
            let _ = writeln!(
                out,
                "    {} [label={}, shape=ellipse, fillcolor=\"#e6e6e6\"];",
                q(&concat),
                q(&format!("concat\n{}", shape(&shapes[b])))
            );
            output = concat;
        } else {
            let mut last = prev.clone();
            for g in &members {
                edges.push((last.clone(), g.prefix.clone(), ""));
                last = g.prefix.clone();
            }
            if shapes[b] == prev_shape && !members.is_empty() {
                let add = format!("{}.add", block.name);
                let _ = writeln!(
                    out,
                    "    {} [label=\"+ (residual)\", shape=circle, fillcolor=\"#e6e6e6\", fontsize=9];",
                    q(&add)
                );
                edges.push((last, add.clone(), ""));
                edges.push((prev.clone(), add.clone(), "style=dashed, color=\"#999999\""));
                last = add;
            }
            output = last;
        }
        out += "  }\n";
        for (from, to, style) in edges {
            if style.is_empty() {
                let _ = writeln!(out, "  {} -> {};", q(&from), q(&to));
            } else {
                let _ = writeln!(out, "  {} -> {} [{style}];", q(&from), q(&to));
            }
        }
        prev = output;
        prev_shape = shapes[b].clone();
    }

    if opts.classes.is_some() {
        out += "  subgraph \"cluster_classifier\" {\n    label=\"classifier\"; style=\"rounded,filled\"; fillcolor=\"#f3faf1\"; color=\"#b8c2d1\";\n";
        let features = prev_shape[0];
        node(
            &mut out,
            "global_average_pool",
            &format!("global average pool\n(N, {features})"),
            None,
            "    ",
        );
        let head: Vec<&Group> = groups
            .iter()
            .filter(|g| g.prefix.starts_with("classifier"))
            .collect();
        for g in &head {
            let units = out_channels(g).unwrap_or(0);
            node(
                &mut out,
                &g.prefix,
                &format!("{}\n{}  (N, {units})", g.prefix, describe(g)),
                Some(g),
                "    ",
            );
        }
        out += "  }\n";
        let _ = writeln!(out, "  {} -> \"global_average_pool\";", q(&prev));
        let mut last = "global_average_pool".to_string();
        for g in head {
            let _ = writeln!(out, "  {} -> {};", q(&last), q(&g.prefix));
            last = g.prefix.clone();
        }
    }
    out += "}\n";
    Ok(out)
}

/// Writes the DOT file, and `<out>.svg` next to it when Graphviz's `dot` is installed.
/// Returns the SVG's path, or None (after saying so on stderr) when `dot` is missing.
pub fn write_graph(opts: &GraphOptions, out: &Path) -> Result<Option<PathBuf>> {
    let text = dot(opts)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    let svg = out.with_extension("svg");
    match std::process::Command::new("dot")
        .arg("-Tsvg")
        .arg(out)
        .arg("-o")
        .arg(&svg)
        .output()
    {
        Ok(o) if o.status.success() => Ok(Some(svg)),
        Ok(o) => anyhow::bail!(
            "dot -Tsvg {} failed: {}",
            out.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "graft: Graphviz `dot` is not installed, so only {} was written (no SVG); \
install graphviz (e.g. apt-get install graphviz) or render it elsewhere",
                out.display()
            );
            Ok(None)
        }
        Err(e) => Err(e).context("running dot"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_come_from_names() {
        assert_eq!(branch_key("conv"), None);
        assert_eq!(branch_key("tower.conv_1").as_deref(), Some("tower"));
        assert_eq!(branch_key("tower_1.conv_2").as_deref(), Some("tower_1"));
        assert_eq!(branch_key("tower_conv").as_deref(), Some("tower"));
        assert_eq!(branch_key("tower_mixed_conv_1").as_deref(), Some("tower"));
        assert_eq!(branch_key("tower_1_mixed_conv").as_deref(), Some("tower_1"));
        assert_eq!(branch_key("tower_2_conv").as_deref(), Some("tower_2"));
        assert_eq!(branch_key("_expand_conv"), None);
    }

    #[test]
    fn dot_strings_are_quoted() {
        assert_eq!(q("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    }
}
