//! A layer table like Keras' model.summary(): one row per block (with its output shape at a
//! given input size) and one per layer under it, read from the block's layer tree (the same
//! tree that runs it), the head when a class count is given, and the totals. The model is built
//! without weights: no weight file is needed.
use crate::engine::Precision;
use crate::models::classifier::{Classifier, DenseLayer, HeadConfig};
use crate::models::layers::Conv;
use crate::models::{Arch, Backbone, Pass};
use crate::run::config::Freeze;
use anyhow::{Result, bail};
use serde::Serialize;
use tch::{Device, Kind, Tensor, nn};

/// What a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// The input image.
    Input,
    /// A backbone block (its parameters total its layers').
    Block,
    /// A layer of a block.
    Layer,
    /// The classification head.
    Head,
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Block name or var-store prefix (`mixed_5.tower_1.conv_2`).
    pub name: String,
    /// What kind of row.
    pub kind: RowKind,
    /// What the row is: "conv 3×3, 64→96 + batch norm", "block", "dense 2048→512"...
    pub layer: String,
    /// Output shape per example (C, H, W) or (features), where known.
    pub output_shape: Option<Vec<i64>>,
    /// Parameters (batch-norm statistics included, as Keras counts them).
    pub params: i64,
    /// Of which trainable.
    pub trainable: i64,
    /// The block this row belongs to (blocks: their own name; head rows: "classifier").
    pub block: String,
}

/// The table and its totals.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Backbone name.
    pub backbone: String,
    /// Input size the shapes are for.
    pub size: i64,
    /// Classes of the head, when shown.
    pub classes: Option<i64>,
    /// The rows in data-flow order.
    pub rows: Vec<Row>,
    /// All parameters (equal to the var store's total).
    pub total: i64,
    /// Trainable parameters.
    pub trainable: i64,
    /// The rest.
    pub non_trainable: i64,
}

/// What to summarize.
pub struct SummaryOptions {
    /// The backbone.
    pub arch: Arch,
    /// Input size in pixels (default: the backbone's native size).
    pub size: Option<i64>,
    /// Add the classification head for this many classes.
    pub classes: Option<i64>,
    /// The head's shape.
    pub head: HeadConfig,
    /// Count these backbone blocks as non-trainable, as a run frozen this way trains them.
    pub freeze: Option<Freeze>,
}

impl SummaryOptions {
    /// The backbone alone at its native size.
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

/// "conv 3×3, 64→96", "depthwise conv 3×3, 32".
pub fn describe_conv(c: &Conv) -> String {
    let [kh, kw] = c.kernel();
    if c.groups() > 1 && c.groups() == c.in_channels() {
        format!("depthwise conv {kh}×{kw}, {}", c.out_channels())
    } else {
        format!("conv {kh}×{kw}, {}→{}", c.in_channels(), c.out_channels())
    }
}

fn numel(t: &Tensor) -> i64 {
    t.size().iter().product()
}

/// (parameters, trainable parameters) of some tensors.
fn count<'a>(tensors: impl IntoIterator<Item = &'a Tensor>, frozen: bool) -> (i64, i64) {
    tensors.into_iter().fold((0, 0), |(p, t), x| {
        let trainable = !frozen && x.requires_grad();
        (p + numel(x), t + if trainable { numel(x) } else { 0 })
    })
}

/// The rows of one conv: one when its batch norm shares its name (TF style), else the conv and
/// the batch norm apart, as the var store groups them.
fn conv_rows(c: &Conv, frozen: bool, block: &str) -> Vec<Row> {
    let tensors = c.tensors();
    let row = |name: &str, layer: String, (params, trainable)| Row {
        name: name.to_string(),
        kind: RowKind::Layer,
        layer,
        output_shape: None,
        params,
        trainable,
        block: block.to_string(),
    };
    if c.norm_name() == c.name() {
        let n = count(tensors.iter().map(|(_, t)| *t), frozen);
        return vec![row(c.name(), describe_conv(c) + " + batch norm", n)];
    }
    let (kernel, norm) = tensors.split_at(1);
    vec![
        row(c.name(), describe_conv(c), count([kernel[0].1], frozen)),
        row(
            c.norm_name(),
            format!("batch norm {}", c.out_channels()),
            count(norm.iter().map(|(_, t)| *t), frozen),
        ),
    ]
}

/// The model's variables, backbone and head (its dense layers, empty without classes).
pub struct Built {
    /// The variables.
    pub vs: nn::VarStore,
    /// The backbone.
    pub backbone: Backbone,
    /// The head's dense layers.
    pub head: Vec<DenseLayer>,
}

/// Builds the backbone, with the head for `classes` classes when given.
pub fn build(arch: Arch, classes: Option<i64>, head: HeadConfig) -> Built {
    let vs = nn::VarStore::new(Device::Cpu);
    let (backbone, head) = match classes {
        Some(n) => {
            let c = Classifier::new(&vs.root(), arch, n, head, Precision::Fp32);
            let layers = c.head_layers();
            (c.backbone, layers)
        }
        None => (
            Backbone::new(&vs.root(), arch, false, Precision::Fp32),
            Vec::new(),
        ),
    };
    Built { vs, backbone, head }
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
                x = backbone.forward_blocks(&x, i, i + 1, Pass::INFERENCE);
                x.size()[1..].to_vec()
            })
            .collect()
    })
}

fn head_rows(built: &Built, opts: &SummaryOptions, features: i64) -> Vec<Row> {
    let vars = built.vs.variables();
    let mut rows = vec![Row {
        name: "global_average_pool".into(),
        kind: RowKind::Head,
        layer: "global average pool".into(),
        output_shape: Some(vec![features]),
        params: 0,
        trainable: 0,
        block: "classifier".into(),
    }];
    for d in &built.head {
        let tensors = ["weight", "bias"].map(|t| &vars[&format!("{}.{t}", d.name)]);
        let (params, trainable) = count(tensors, false);
        let mut layer = format!("dense {}→{}", d.inputs, d.outputs);
        if d.relu {
            layer += " + ReLU";
            if opts.head.dropout > 0.0 {
                layer += &format!(" + dropout {}", opts.head.dropout);
            }
        } else {
            layer += " (logits)";
        }
        rows.push(Row {
            name: d.name.clone(),
            kind: RowKind::Head,
            layer,
            output_shape: Some(vec![d.outputs]),
            params,
            trainable,
            block: "classifier".into(),
        });
    }
    rows
}

/// The table for `opts`.
pub fn summarize(opts: &SummaryOptions) -> Result<Summary> {
    let arch = opts.arch;
    let size = opts.size.unwrap_or(arch.native_size);
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
    let mut rows = vec![Row {
        name: "input".into(),
        kind: RowKind::Input,
        layer: "image, normalized".into(),
        output_shape: Some(vec![3, size, size]),
        params: 0,
        trainable: 0,
        block: String::new(),
    }];
    for (b, block) in backbone.blocks.iter().enumerate() {
        let frozen = b < frozen_blocks;
        let sub: Vec<Row> = block
            .layer
            .convs()
            .into_iter()
            .flat_map(|c| conv_rows(c, frozen, &block.name))
            .collect();
        rows.push(Row {
            name: block.name.clone(),
            kind: RowKind::Block,
            layer: if frozen { "block (frozen)" } else { "block" }.into(),
            output_shape: Some(shapes[b].clone()),
            params: sub.iter().map(|r| r.params).sum(),
            trainable: sub.iter().map(|r| r.trainable).sum(),
            block: block.name.clone(),
        });
        rows.extend(sub);
    }
    if opts.classes.is_some() {
        let features = shapes.last().map_or(0, |s| s[0]);
        rows.extend(head_rows(&built, opts, features));
    }
    let counted = |f: fn(&Row) -> i64| -> i64 {
        rows.iter()
            .filter(|r| matches!(r.kind, RowKind::Layer | RowKind::Head))
            .map(f)
            .sum()
    };
    let (total, trainable) = (counted(|r| r.params), counted(|r| r.trainable));
    let all = crate::weights::count_parameters(&built.vs, "");
    if total != all {
        bail!(
            "summary of {arch} counts {total} parameters but the model has {all}: a layer is not described"
        );
    }
    Ok(Summary {
        backbone: arch.name.into(),
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
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
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
    fn every_backbone_is_described_to_its_last_parameter() {
        for arch in Arch::all() {
            let mut opts = SummaryOptions::new(arch);
            opts.classes = Some(3);
            opts.size = Some(arch.min_size.max(75));
            let s = summarize(&opts).unwrap_or_else(|e| panic!("{arch}: {e:#}"));
            let built = build(arch, Some(3), opts.head);
            assert_eq!(
                s.total,
                crate::weights::count_parameters(&built.vs, ""),
                "{arch}"
            );
        }
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(21802784), "21,802,784");
        assert_eq!(thousands(-1000), "-1,000");
    }
}
