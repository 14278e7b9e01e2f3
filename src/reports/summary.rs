//! A layer table like Keras' model.summary(): one row per block (with its output shape at a
//! given input size) and per parameterized sub-module under it (grouped by var-store prefix, e.g.
//! `mixed_5.tower_1.conv_2`), the head when a class count is given, and the totals. The model
//! is built without weights: no weight file is needed.
use crate::models::classifier::{Classifier, HeadConfig};
use crate::models::{Arch, Backbone};
use crate::training::config::Freeze;
use anyhow::{Result, bail};
use serde::Serialize;
use std::collections::HashMap;
use tch::{Device, Kind, Tensor, nn};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    Input,
    Block,
    Layer,
    Head,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Block name or var-store prefix (`mixed_5.tower_1.conv_2`).
    pub name: String,
    pub kind: RowKind,
    /// What the row is: "conv 3×3, 64→96 + batch norm", "block", "dense 2048→512"...
    pub layer: String,
    /// Output shape per example (C, H, W) or (features), where known.
    pub output_shape: Option<Vec<i64>>,
    pub params: i64,
    pub trainable: i64,
    /// The block this row belongs to (blocks: their own name; head rows: "classifier").
    pub block: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub backbone: String,
    pub size: i64,
    pub classes: Option<i64>,
    pub rows: Vec<Row>,
    pub total: i64,
    pub trainable: i64,
    pub non_trainable: i64,
}

pub struct SummaryOptions {
    pub arch: Arch,
    /// Input size in pixels (default: the backbone's native size).
    pub size: Option<i64>,
    /// Add the classification head for this many classes.
    pub classes: Option<i64>,
    pub head: HeadConfig,
    /// Count these backbone blocks as non-trainable, as a run frozen this way trains them.
    pub freeze: Option<Freeze>,
}

impl SummaryOptions {
    pub fn new(arch: Arch) -> Self {
        Self {
            arch,
            size: None,
            classes: None,
            head: HeadConfig::seed(),
            freeze: None,
        }
    }
}

/// One var-store prefix (up to the last dot) and its tensors, in creation order.
pub struct Group {
    pub prefix: String,
    pub tensors: Vec<(String, Tensor)>,
}

/// The variables of `vs` grouped by prefix, in the order the model created them.
pub fn groups(vs: &nn::VarStore) -> Vec<Group> {
    let named = vs.variables();
    let by_ptr: HashMap<usize, &String> = named
        .iter()
        .map(|(name, t)| (t.data_ptr() as usize, name))
        .collect();
    let mut ordered: Vec<&String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for t in vs.trainable_variables() {
        if let Some(name) = by_ptr.get(&(t.data_ptr() as usize))
            && seen.insert(*name)
        {
            ordered.push(name);
        }
    }
    let mut rest: Vec<&String> = named.keys().filter(|n| !seen.contains(n)).collect();
    rest.sort();
    let mut out: Vec<Group> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut add = |name: &String| {
        let (prefix, leaf) = name.rsplit_once('.').unwrap_or(("", name.as_str()));
        let i = *index.entry(prefix.to_string()).or_insert_with(|| {
            out.push(Group {
                prefix: prefix.to_string(),
                tensors: Vec::new(),
            });
            out.len() - 1
        });
        out[i]
            .tensors
            .push((leaf.to_string(), named[name].shallow_clone()));
    };
    for name in ordered {
        add(name);
    }
    // Non-trainable tensors (batch-norm statistics) join their module's group.
    for name in rest {
        add(name);
    }
    out
}

/// What a group of tensors is, from their names and shapes.
pub fn describe(g: &Group) -> String {
    let get = |leaf: &str| {
        g.tensors
            .iter()
            .find(|(n, _)| n == leaf)
            .map(|(_, t)| t.size())
    };
    let has_bn_stats = get("mean").is_some() || get("running_mean").is_some();
    match get("weight").as_deref() {
        Some([o, i, kh, kw]) => {
            let conv = if *i == 1 && *o > 1 && g.prefix.contains("depthwise") {
                format!("depthwise conv {kh}×{kw}, {o}")
            } else {
                format!("conv {kh}×{kw}, {i}→{o}")
            };
            if has_bn_stats {
                format!("{conv} + batch norm")
            } else {
                conv
            }
        }
        Some([o, i]) => format!("dense {i}→{o}"),
        Some([c]) if has_bn_stats => format!("batch norm {c}"),
        _ => g
            .tensors
            .iter()
            .map(|(n, t)| format!("{n}{:?}", t.size()))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn numel(t: &Tensor) -> i64 {
    t.size().iter().product()
}

/// The model's variables and blocks (the backbone alone, or with the head).
pub struct Built {
    pub vs: nn::VarStore,
    pub backbone: Backbone,
}

pub fn build(arch: Arch, classes: Option<i64>, head: HeadConfig) -> Built {
    let vs = nn::VarStore::new(Device::Cpu);
    let backbone = match classes {
        Some(n) => Classifier::new(&vs.root(), arch, n, head).backbone,
        None => Backbone::new(&vs.root(), arch, false),
    };
    Built { vs, backbone }
}

/// Per-example output shape of each block for a zero image of `size` px.
pub fn block_shapes(backbone: &Backbone, size: i64) -> Vec<Vec<i64>> {
    tch::no_grad(|| {
        let mut x = backbone.normalize(&Tensor::zeros(
            [1, 3, size, size],
            (Kind::Float, Device::Cpu),
        ));
        (0..backbone.blocks.len())
            .map(|i| {
                x = backbone.forward_blocks(&x, i, i + 1, false);
                x.size()[1..].to_vec()
            })
            .collect()
    })
}

pub fn summarize(opts: &SummaryOptions) -> Result<Summary> {
    let arch = opts.arch;
    let size = opts.size.unwrap_or(arch.native_size());
    arch.check_size(size)?;
    if let Some(n) = opts.classes
        && n < 1
    {
        bail!("--classes must be at least 1");
    }
    let built = build(arch, opts.classes, opts.head);
    let backbone = &built.backbone;
    let frozen_blocks = match &opts.freeze {
        None | Some(Freeze::None) => 0,
        Some(Freeze::All) => backbone.blocks.len(),
        Some(Freeze::Through(b)) => backbone.block_index(b)? + 1,
    };
    let shapes = block_shapes(backbone, size);
    let groups = groups(&built.vs);
    let block_of = |prefix: &str| {
        let dotted = format!("{prefix}.");
        backbone
            .blocks
            .iter()
            .position(|b| dotted.starts_with(&b.var_prefix()))
    };

    let mut rows = vec![Row {
        name: "input".into(),
        kind: RowKind::Input,
        layer: "image, normalized".into(),
        output_shape: Some(vec![3, size, size]),
        params: 0,
        trainable: 0,
        block: String::new(),
    }];
    let mut per_block: Vec<Vec<Row>> = vec![Vec::new(); backbone.blocks.len()];
    let mut head_rows: Vec<Row> = Vec::new();
    for g in &groups {
        let params: i64 = g.tensors.iter().map(|(_, t)| numel(t)).sum();
        let block = block_of(&g.prefix);
        let frozen = block.is_some_and(|b| b < frozen_blocks);
        let trainable: i64 = if frozen {
            0
        } else {
            g.tensors
                .iter()
                .filter(|(_, t)| t.requires_grad())
                .map(|(_, t)| numel(t))
                .sum()
        };
        let mut row = Row {
            name: g.prefix.clone(),
            kind: RowKind::Layer,
            layer: describe(g),
            output_shape: None,
            params,
            trainable,
            block: String::new(),
        };
        match block {
            Some(b) => {
                row.block = backbone.blocks[b].name.clone();
                per_block[b].push(row);
            }
            None => {
                row.kind = RowKind::Head;
                row.block = "classifier".into();
                // Dense layers: (features) out.
                if let Some((_, w)) = g.tensors.iter().find(|(n, _)| n == "weight")
                    && w.dim() == 2
                {
                    row.output_shape = Some(vec![w.size()[0]]);
                }
                head_rows.push(row);
            }
        }
    }
    for (b, block) in backbone.blocks.iter().enumerate() {
        let sub = std::mem::take(&mut per_block[b]);
        rows.push(Row {
            name: block.name.clone(),
            kind: RowKind::Block,
            layer: if b < frozen_blocks {
                "block (frozen)".into()
            } else {
                "block".into()
            },
            output_shape: Some(shapes[b].clone()),
            params: sub.iter().map(|r| r.params).sum(),
            trainable: sub.iter().map(|r| r.trainable).sum(),
            block: block.name.clone(),
        });
        rows.extend(sub);
    }
    if opts.classes.is_some() {
        rows.push(Row {
            name: "global_average_pool".into(),
            kind: RowKind::Head,
            layer: "global average pool".into(),
            output_shape: shapes.last().map(|s| vec![s[0]]),
            params: 0,
            trainable: 0,
            block: "classifier".into(),
        });
        let last = head_rows.len();
        for (i, mut r) in head_rows.into_iter().enumerate() {
            if i + 1 < last {
                r.layer += " + ReLU";
                if opts.head.dropout > 0.0 {
                    r.layer += &format!(" + dropout {}", opts.head.dropout);
                }
            } else {
                r.layer += " (logits)";
            }
            rows.push(r);
        }
    }
    let total: i64 = rows
        .iter()
        .filter(|r| matches!(r.kind, RowKind::Layer | RowKind::Head))
        .map(|r| r.params)
        .sum();
    let trainable: i64 = rows
        .iter()
        .filter(|r| matches!(r.kind, RowKind::Layer | RowKind::Head))
        .map(|r| r.trainable)
        .sum();
    Ok(Summary {
        backbone: arch.name().into(),
        size,
        classes: opts.classes,
        rows,
        total,
        trainable,
        non_trainable: total - trainable,
    })
}

/// "(N, 192, 35, 35)"
pub fn shape_text(shape: &Option<Vec<i64>>) -> String {
    match shape {
        None => String::new(),
        Some(s) => {
            let dims: Vec<String> = s.iter().map(|d| d.to_string()).collect();
            format!("(N, {})", dims.join(", "))
        }
    }
}

/// 21802784 -> "21,802,784"
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The table as text, Keras style.
pub fn render_text(s: &Summary) -> String {
    let name_of = |r: &Row| match r.kind {
        RowKind::Layer => format!("  {}", r.name),
        _ => r.name.clone(),
    };
    let w_name = s
        .rows
        .iter()
        .map(|r| name_of(r).chars().count())
        .max()
        .unwrap_or(10)
        .max(10);
    let w_layer = s
        .rows
        .iter()
        .map(|r| r.layer.chars().count())
        .max()
        .unwrap_or(10)
        .max(5);
    let w_shape = s
        .rows
        .iter()
        .map(|r| shape_text(&r.output_shape).len())
        .max()
        .unwrap_or(12)
        .max(12);
    let (w_p, w_t) = (12, 12);
    let width = w_name + w_layer + w_shape + w_p + w_t + 8;
    let mut out = format!(
        "Model: {}{} at {} px\n",
        s.backbone,
        s.classes
            .map(|c| format!(" + classifier ({c} classes)"))
            .unwrap_or_default(),
        s.size
    );
    let line = |c: char| c.to_string().repeat(width) + "\n";
    out += &line('─');
    out += &format!(
        "{:<w_name$}  {:<w_layer$}  {:<w_shape$}  {:>w_p$}  {:>w_t$}\n",
        "Layer", "Type", "Output shape", "Param #", "Trainable"
    );
    out += &line('═');
    for (i, r) in s.rows.iter().enumerate() {
        if r.kind == RowKind::Block
            || (r.kind == RowKind::Head && i > 0 && s.rows[i - 1].kind != RowKind::Head)
        {
            out += &line('─');
        }
        let params = if r.kind == RowKind::Input {
            String::new()
        } else {
            thousands(r.params)
        };
        let trainable = if r.kind == RowKind::Input {
            String::new()
        } else {
            thousands(r.trainable)
        };
        let line = format!(
            "{:<w_name$}  {:<w_layer$}  {:<w_shape$}  {:>w_p$}  {:>w_t$}",
            name_of(r),
            r.layer,
            shape_text(&r.output_shape),
            params,
            trainable
        );
        out += line.trim_end();
        out += "\n";
    }
    out += &line('═');
    out += &format!("Total params: {}\n", thousands(s.total));
    out += &format!("Trainable params: {}\n", thousands(s.trainable));
    out += &format!("Non-trainable params: {}\n", thousands(s.non_trainable));
    out += "Shapes are per example (N = batch), channels first; block rows total their layers.\n";
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(21802784), "21,802,784");
        assert_eq!(thousands(-1000), "-1,000");
    }
}
