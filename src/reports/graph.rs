//! The architecture as Graphviz DOT, like Keras' plot_model but navigable: each block is a
//! cluster holding its layers, drawn from the block's layer tree (the same tree that runs it):
//! convolutions and pools as nodes, parallel branches fanning out from the block's input into a
//! concat node, identity shortcuts as a residual add. Blocks are chained in data-flow order.
use super::summary::{self, describe_conv, shape_text, thousands};
use crate::models::classifier::HeadConfig;
use crate::models::layers::{Activation, Conv, Pool, PoolKind};
use crate::models::{Arch, Layer};
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// What to draw.
pub struct GraphOptions {
    /// The backbone.
    pub arch: Arch,
    /// Input size for the shapes in labels (default: the backbone's native size).
    pub size: Option<i64>,
    /// Draw the classification head for this many classes.
    pub classes: Option<i64>,
    /// The head's shape.
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

const CONV_FILL: &str = "#dbe9f6";
const DENSE_FILL: &str = "#d9f0d3";
const OP_FILL: &str = "#eeeeee";

fn node(out: &mut String, id: &str, label: &str, fill: &str, tip: &str) {
    let _ = writeln!(
        out,
        "    {} [label={}, fillcolor=\"{fill}\", tooltip={}];",
        q(id),
        q(label),
        q(tip)
    );
}

fn conv_label(c: &Conv) -> String {
    let act = match c.activation() {
        Activation::None => "",
        Activation::Relu => " + ReLU",
        Activation::Relu6 => " + ReLU6",
    };
    format!("{} + batch norm{act}", describe_conv(c))
}

fn pool_label(p: &Pool) -> String {
    let kind = match p.kind {
        PoolKind::Max => "max pool",
        PoolKind::Avg => "average pool",
    };
    format!("{kind} {k}×{k}, stride {}", p.stride, k = p.kernel)
}

/// Draws one block's layer tree: nodes into `nodes`, edges into `edges`.
struct BlockDrawer<'a> {
    block: &'a str,
    nodes: String,
    edges: Vec<(String, String, &'static str)>,
    joins: usize,
}

impl BlockDrawer<'_> {
    /// The name of `id` inside its block (`tower_1.conv_2`).
    fn relative<'s>(&self, id: &'s str) -> &'s str {
        id.strip_prefix(self.block)
            .and_then(|r| r.strip_prefix('.'))
            .unwrap_or(id)
    }

    /// One node fed by all of `inputs`: a concat node when there are several.
    fn join(&mut self, inputs: Vec<String>, shape: &str) -> String {
        if inputs.len() == 1 {
            return inputs.into_iter().next().expect("one input");
        }
        let id = match self.joins {
            0 => format!("{}.concat", self.block),
            n => format!("{}.concat_{n}", self.block),
        };
        self.joins += 1;
        let _ = writeln!(
            self.nodes,
            "    {} [label={}, shape=ellipse, fillcolor=\"#e6e6e6\"];",
            q(&id),
            q(&format!("concat\n{shape}"))
        );
        for i in inputs {
            self.edges.push((i, id.clone(), ""));
        }
        id
    }

    /// Draws `layer` fed by `inputs`; returns its open outputs (a concatenation's branches stay
    /// open until something consumes them, so nested concatenations draw as one).
    fn draw(&mut self, layer: &Layer, inputs: Vec<String>) -> Vec<String> {
        match layer {
            Layer::Conv(c) => {
                let from = self.join(inputs, "");
                let params: i64 = c.tensors().iter().map(|(_, t)| t.numel() as i64).sum();
                let label = format!("{}\n{}", self.relative(c.name()), conv_label(c));
                let tip = format!("{}: {} params", c.name(), thousands(params));
                node(&mut self.nodes, c.name(), &label, CONV_FILL, &tip);
                self.edges.push((from, c.name().to_string(), ""));
                vec![c.name().to_string()]
            }
            Layer::Pool(p) => {
                let from = self.join(inputs, "");
                let label = format!("{}\n{}", self.relative(&p.name), pool_label(p));
                node(&mut self.nodes, &p.name, &label, OP_FILL, "no parameters");
                self.edges.push((from, p.name.clone(), ""));
                vec![p.name.clone()]
            }
            Layer::Seq(layers) => layers.iter().fold(inputs, |x, l| self.draw(l, x)),
            Layer::Concat(branches) => branches
                .iter()
                .flat_map(|b| self.draw(b, inputs.clone()))
                .collect(),
            Layer::Residual(body) => {
                let x = self.join(inputs, "");
                let outs = self.draw(body, vec![x.clone()]);
                let y = self.join(outs, "");
                let add = format!("{}.add", self.block);
                let _ = writeln!(
                    self.nodes,
                    "    {} [label=\"+ (residual)\", shape=circle, fillcolor=\"#e6e6e6\", fontsize=9];",
                    q(&add)
                );
                self.edges.push((y, add.clone(), ""));
                self.edges
                    .push((x, add.clone(), "style=dashed, color=\"#999999\""));
                vec![add]
            }
        }
    }
}

fn write_edges(out: &mut String, edges: Vec<(String, String, &str)>) {
    for (from, to, style) in edges {
        if style.is_empty() {
            let _ = writeln!(out, "  {} -> {};", q(&from), q(&to));
        } else {
            let _ = writeln!(out, "  {} -> {} [{style}];", q(&from), q(&to));
        }
    }
}

fn preamble(out: &mut String, arch: Arch, size: i64) {
    let _ = writeln!(out, "digraph {} {{", q(arch.name));
    *out += "  graph [rankdir=TB, compound=true, newrank=true, nodesep=0.25, ranksep=0.35, \
fontname=\"Helvetica,Arial,sans-serif\", fontsize=13, labeljust=l];\n";
    *out += "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica,Arial,sans-serif\", \
fontsize=10, height=0.3];\n";
    *out += "  edge [color=\"#555555\", arrowsize=0.6];\n";
    let _ = writeln!(
        out,
        "  label={}; labelloc=t;",
        q(&format!("{} at {size} px", arch.name))
    );
    let input = format!("input\n{}", shape_text(&Some(vec![3, size, size])));
    let _ = writeln!(
        out,
        "  \"input\" [label={}, fillcolor=\"{OP_FILL}\", tooltip=\"input\"];",
        q(&input)
    );
}

fn head(out: &mut String, built: &summary::Built, features: i64, prev: &str) {
    *out += "  subgraph \"cluster_classifier\" {\n    label=\"classifier\"; style=\"rounded,filled\"; fillcolor=\"#f3faf1\"; color=\"#b8c2d1\";\n";
    let pool_label = format!("global average pool\n(N, {features})");
    node(
        out,
        "global_average_pool",
        &pool_label,
        OP_FILL,
        "no parameters",
    );
    for d in &built.head {
        let relu = if d.relu { " + ReLU" } else { "" };
        let label = format!(
            "{}\ndense {}→{}{relu}  (N, {})",
            d.name, d.inputs, d.outputs, d.outputs
        );
        let params = (d.inputs + 1) * d.outputs;
        node(
            out,
            &d.name,
            &label,
            DENSE_FILL,
            &format!("{}: {} params", d.name, thousands(params)),
        );
    }
    *out += "  }\n";
    let mut edges = vec![(prev.to_string(), "global_average_pool".to_string(), "")];
    let mut last = "global_average_pool".to_string();
    for d in &built.head {
        edges.push((last, d.name.clone(), ""));
        last = d.name.clone();
    }
    write_edges(out, edges);
}

/// The DOT text of the architecture.
pub fn dot(opts: &GraphOptions) -> Result<String> {
    let arch = opts.arch;
    let size = opts.size.unwrap_or(arch.native_size);
    arch.check_size(size)?;
    let built = summary::build(arch, opts.classes, opts.head);
    let shapes = summary::block_shapes(&built.backbone, size);
    let mut out = String::new();
    preamble(&mut out, arch, size);
    let mut prev = "input".to_string();
    for (b, block) in built.backbone.blocks.iter().enumerate() {
        let params: i64 = block
            .layer
            .convs()
            .iter()
            .flat_map(|c| c.tensors())
            .map(|(_, t)| t.numel() as i64)
            .sum();
        let shape = shape_text(&Some(shapes[b].clone()));
        let _ = writeln!(
            out,
            "  subgraph {} {{",
            q(&format!("cluster_{}", block.name))
        );
        let _ = writeln!(
            out,
            "    label={}; style=\"rounded,filled\"; fillcolor=\"{}\"; color=\"#b8c2d1\";",
            q(&format!(
                "{}  {shape}  {} params",
                block.name,
                thousands(params)
            )),
            if b % 2 == 0 { "#f7f9fc" } else { "#fdfaf4" }
        );
        let mut d = BlockDrawer {
            block: &block.name,
            nodes: String::new(),
            edges: Vec::new(),
            joins: 0,
        };
        let outs = d.draw(&block.layer, vec![prev.clone()]);
        prev = d.join(outs, &shape);
        out += &d.nodes;
        out += "  }\n";
        write_edges(&mut out, d.edges);
    }
    if opts.classes.is_some() {
        head(&mut out, &built, shapes.last().map_or(0, |s| s[0]), &prev);
    }
    out += "}\n";
    Ok(out)
}

/// Writes the DOT file, and `<out>.svg` next to it when Graphviz's `dot` is installed.
/// Returns the SVG's path, or None (after saying so on stderr) when `dot` is missing.
pub fn write_graph(opts: &GraphOptions, out: &Path) -> Result<Option<PathBuf>> {
    let text = dot(opts)?;
    crate::fsx::write_bytes(out, text.as_bytes())?;
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
    fn every_backbone_draws_from_input_to_logits() {
        for arch in Arch::all() {
            let opts = GraphOptions {
                arch,
                size: Some(arch.min_size.max(75)),
                classes: Some(3),
                head: HeadConfig::seed(),
            };
            let dot = dot(&opts).unwrap();
            assert!(dot.contains("\"input\" -> \"stem."), "{arch}");
            assert!(dot.contains("-> \"classifier.logits\";"), "{arch}");
        }
    }

    #[test]
    fn dot_strings_are_quoted() {
        assert_eq!(q("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    }
}
